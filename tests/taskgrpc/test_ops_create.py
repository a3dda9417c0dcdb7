"""taskgrpc._ops.create, driven by a scripted driver and a fake clock: ids given or derived,
outcomes in doubt reconciled by a lookup so nothing is sent twice, conflicts, and deadlines.

Every test asserts the exact sequence of Call/Sleep actions an operation yields.
"""

from __future__ import annotations

import grpc
import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from tgsupport import (
    ScriptedDriver,
    StubLimiter,
    bad_status,
    budget,
    multi,
    simple_task,
    uaid,
    unavailable,
)

from taskgrpc import RetryPolicy, _ops
from taskgrpc import errors as e

U = uaid()


# --- create ------------------------------------------------------------------------------


def post(tasks):
    return s.PostTasksRequest(user_app_id=U, tasks=tasks)


def lookup(ids):
    # label-order tasks are hidden from ListTasks unless asked for; a lookup must see them all
    return s.ListTasksRequest(
        user_app_id=U, page=1, per_page=1000, ids=ids, including_label_order_tasks=True
    )


def stored(task):
    out = r.Task()
    out.CopyFrom(task)
    out.user_id, out.app_id = "user1", "app1"
    out.status.code = sc.TASK_IN_PROGRESS
    return out


A, B, C = simple_task("a"), simple_task("b"), simple_task("c")


def test_create_success_returns_tasks_in_input_order(clock):
    driver = ScriptedDriver([multi(stored(C), stored(A), stored(B))], clock)
    got = driver.run(_ops.create(post([A, B, C]), budget(clock=clock)))
    assert got == [stored(A), stored(B), stored(C)]
    assert driver.shape() == [("Call", "PostTasks")]
    assert driver.calls[0].request == post([A, B, C])


def test_create_without_ids_returns_the_response_tasks(clock):
    anon = simple_task()
    made = stored(anon)
    made.id = "f" * 32
    driver = ScriptedDriver([multi(made)], clock)
    assert driver.run(_ops.create(post([anon]), budget(clock=clock))) == [made]
    assert driver.calls[0].request == post([anon])


@pytest.mark.parametrize("code", [sc.CONN_THROTTLED, sc.RPC_REQUEST_QUEUE_FULL])
def test_create_nothing_done_is_resent_even_without_ids(clock, code):
    anon = simple_task(name="x")
    made = stored(anon)
    driver = ScriptedDriver([multi(status=bad_status(code)), multi(made)], clock)
    assert driver.run(_ops.create(post([anon]), budget(clock=clock))) == [made]
    assert driver.shape() == [("Call", "PostTasks"), ("Sleep", 1.0), ("Call", "PostTasks")]
    assert driver.calls[0].request == driver.calls[1].request == post([anon])


@pytest.mark.parametrize(
    "failure",
    [
        lambda: unavailable("PostTasks"),
        lambda: e.DeadlineExceededError(grpc.StatusCode.DEADLINE_EXCEEDED, "late", "PostTasks"),
        lambda: multi(status=bad_status(sc.TRY_AGAIN)),
        lambda: multi(status=bad_status(sc.RPC_REQUEST_TIMEOUT)),
    ],
)
def test_create_unknown_outcome_without_ids_is_not_resent(clock, failure):
    anon = simple_task(name="x")
    driver = ScriptedDriver([failure()], clock)
    with pytest.raises(e.OutcomeUnknownError) as info:
        driver.run(_ops.create(post([anon]), budget(clock=clock)))
    assert driver.shape() == [("Call", "PostTasks")]
    assert info.value.tasks == [anon]
    assert isinstance(info.value.cause, e.TaskgrpcError)


def test_create_unknown_outcome_with_ids_reconciles_and_resends_only_missing(clock):
    driver = ScriptedDriver(
        [unavailable("PostTasks"), multi(stored(A)), multi(stored(B), stored(C))], clock
    )
    got = driver.run(_ops.create(post([A, B, C]), budget(clock=clock)))
    assert got == [stored(A), stored(B), stored(C)]
    assert driver.shape() == [
        ("Call", "PostTasks"),
        ("Sleep", 1.0),
        ("Call", "ListTasks"),
        ("Call", "PostTasks"),
    ]
    assert driver.calls[0].request == post([A, B, C])
    assert driver.calls[1].request == lookup(["a", "b", "c"])
    assert driver.calls[2].request == post([B, C])


def test_create_unknown_outcome_all_landed_sends_no_second_post(clock):
    driver = ScriptedDriver(
        [multi(status=bad_status(sc.TRY_AGAIN)), multi(stored(B), stored(A))], clock
    )
    assert driver.run(_ops.create(post([A, B]), budget(clock=clock))) == [stored(A), stored(B)]
    assert driver.shape() == [("Call", "PostTasks"), ("Sleep", 1.0), ("Call", "ListTasks")]
    assert driver.calls[1].request == lookup(["a", "b"])


def test_create_conflict_after_uncertain_is_reconciled(clock):
    # The first post landed late: the lookup misses it, the re-post conflicts, a second lookup
    # finds it. The caller gets the tasks, not a ConflictError.
    conflict = multi(status=bad_status(sc.TASK_CONFLICT, "Task id 'a' already exists"))
    driver = ScriptedDriver(
        [unavailable("PostTasks"), multi(), conflict, multi(stored(A), stored(B))], clock
    )
    assert driver.run(_ops.create(post([A, B]), budget(clock=clock))) == [stored(A), stored(B)]
    assert driver.shape() == [
        ("Call", "PostTasks"),
        ("Sleep", 1.0),
        ("Call", "ListTasks"),
        ("Call", "PostTasks"),
        ("Sleep", 2.0),
        ("Call", "ListTasks"),
    ]
    assert driver.calls[2].request == post([A, B])


def test_create_conflict_with_another_task_under_the_id_is_raised(clock):
    conflict = multi(status=bad_status(sc.TASK_CONFLICT, "exists"))
    other = stored(A)
    other.name = "someone else's"
    driver = ScriptedDriver([conflict, multi(other)], clock)
    with pytest.raises(e.ConflictError):
        driver.run(_ops.create(post([A]), budget(clock=clock)))
    # settled by one lookup, no back-off and no second post
    assert driver.shape() == [("Call", "PostTasks"), ("Call", "ListTasks")]
    assert driver.calls[1].request == lookup([A.id])


def test_create_conflict_with_our_own_task_returns_it(clock):
    # Same id, same content: an earlier run created it. Like an idempotency key, the
    # create returns it, and posts only what is still missing.
    conflict = multi(status=bad_status(sc.TASK_CONFLICT, "exists"))
    driver = ScriptedDriver([conflict, multi(stored(A)), multi(stored(B))], clock)
    assert driver.run(_ops.create(post([A, B]), budget(clock=clock))) == [stored(A), stored(B)]
    assert driver.shape() == [("Call", "PostTasks"), ("Call", "ListTasks"), ("Call", "PostTasks")]
    assert driver.calls[2].request == post([B])


def test_create_conflict_without_ids_is_raised(clock):
    anon = simple_task(name="anon")
    anon.id = ""
    driver = ScriptedDriver([multi(status=bad_status(sc.TASK_CONFLICT, "exists"))], clock)
    with pytest.raises(e.ConflictError):
        driver.run(_ops.create(post([anon]), budget(clock=clock)))
    assert driver.shape() == [("Call", "PostTasks")]


def test_create_permanent_error_is_raised(clock):
    driver = ScriptedDriver([multi(status=bad_status(sc.CONN_INVALID_REQUEST))], clock)
    with pytest.raises(e.InvalidRequestError):
        driver.run(_ops.create(post([A]), budget(clock=clock)))
    assert driver.shape() == [("Call", "PostTasks")]


def test_create_permanent_error_after_reconciliation_is_raised(clock):
    driver = ScriptedDriver(
        [unavailable("PostTasks"), multi(), multi(status=bad_status(sc.CONN_KEY_INVALID))], clock
    )
    with pytest.raises(e.AuthError):
        driver.run(_ops.create(post([A]), budget(clock=clock)))
    assert driver.shape() == [
        ("Call", "PostTasks"),
        ("Sleep", 1.0),
        ("Call", "ListTasks"),
        ("Call", "PostTasks"),
    ]


def test_create_out_of_attempts_while_uncertain(clock):
    policy = RetryPolicy(max_attempts=2, initial_backoff=1.0, max_backoff=8.0, jitter=False)
    driver = ScriptedDriver([unavailable("PostTasks"), multi(stored(A)), unavailable()], clock)
    with pytest.raises(e.OutcomeUnknownError) as info:
        driver.run(_ops.create(post([A, B]), budget(policy=policy, clock=clock)))
    assert driver.shape() == [
        ("Call", "PostTasks"),
        ("Sleep", 1.0),
        ("Call", "ListTasks"),
        ("Call", "PostTasks"),
    ]
    # a exists (found by the lookup); only b is in doubt
    assert info.value.tasks == [B]
    assert isinstance(info.value.cause, e.UnavailableError)


def test_create_out_of_time_while_uncertain(clock):
    driver = ScriptedDriver([unavailable("PostTasks")], clock)
    with pytest.raises(e.OutcomeUnknownError) as info:
        driver.run(_ops.create(post([A]), budget(timeout=0.5, clock=clock)))
    assert driver.shape() == [("Call", "PostTasks")]
    assert info.value.tasks == [A]


def test_create_with_no_policy_and_ids_gives_outcome_unknown(clock):
    driver = ScriptedDriver([unavailable("PostTasks")], clock)
    with pytest.raises(e.OutcomeUnknownError):
        driver.run(_ops.create(post([A]), budget(policy=None, clock=clock)))
    assert driver.shape() == [("Call", "PostTasks")]


def test_create_lookup_failure_gives_outcome_unknown(clock):
    driver = ScriptedDriver(
        [unavailable("PostTasks"), multi(status=bad_status(sc.CONN_KEY_INVALID))], clock
    )
    with pytest.raises(e.OutcomeUnknownError) as info:
        driver.run(_ops.create(post([A, B]), budget(clock=clock)))
    assert driver.shape() == [("Call", "PostTasks"), ("Sleep", 1.0), ("Call", "ListTasks")]
    assert info.value.tasks == [A, B]
    assert isinstance(info.value.cause, e.AuthError)


def test_create_lookup_is_itself_retried(clock):
    driver = ScriptedDriver(
        [unavailable("PostTasks"), unavailable("ListTasks"), multi(stored(A))], clock
    )
    assert driver.run(_ops.create(post([A]), budget(clock=clock))) == [stored(A)]
    assert driver.shape() == [
        ("Call", "PostTasks"),
        ("Sleep", 1.0),
        ("Call", "ListTasks"),
        ("Sleep", 1.0),
        ("Call", "ListTasks"),
    ]


def test_create_lookup_of_many_ids_is_chunked_by_1000(clock):
    tasks = [simple_task(f"t{i:04d}") for i in range(1500)]
    ids = [t.id for t in tasks]
    found = multi(*[stored(t) for t in tasks[:1000]])
    rest = multi(*[stored(t) for t in tasks[1000:]])
    driver = ScriptedDriver([unavailable("PostTasks"), found, rest], clock)
    got = driver.run(_ops.create(post(tasks), budget(clock=clock)))
    assert [t.id for t in got] == ids
    assert driver.shape() == [
        ("Call", "PostTasks"),
        ("Sleep", 1.0),
        ("Call", "ListTasks"),
        ("Call", "ListTasks"),
    ]
    assert driver.calls[1].request == lookup(ids[:1000])
    assert driver.calls[2].request == lookup(ids[1000:])


def test_create_deadline_before_anything_was_sent_is_not_an_unknown_outcome(clock):
    # The rate limiter's wait outlasts the budget: nothing was ever sent, so nothing can
    # exist; the outcome is known. Expect DeadlineExceededError, not OutcomeUnknownError.
    limiter = StubLimiter([10.0], clock)
    driver = ScriptedDriver([], clock)
    with pytest.raises(e.TaskgrpcError) as info:
        driver.run(
            _ops.create(
                post([simple_task(name="x")]), budget(timeout=1.0, limiter=limiter, clock=clock)
            )
        )
    assert driver.shape() == [("Sleep", 1.0)]
    assert type(info.value) is e.DeadlineExceededError


def test_create_lookup_finding_another_task_under_our_id_is_a_conflict(clock):
    # The id was already taken by a task with other content: the lookup after an unknown
    # outcome must not pass that task off as the one we created.
    other = stored(A)
    other.name = "somebody else's task"
    driver = ScriptedDriver([unavailable("PostTasks"), multi(other)], clock)
    with pytest.raises(e.ConflictError) as info:
        driver.run(_ops.create(post([A]), budget(clock=clock)))
    assert A.id in info.value.description
    assert driver.shape() == [("Call", "PostTasks"), ("Sleep", 1.0), ("Call", "ListTasks")]


def test_create_success_with_a_task_missing_is_final_and_unknown(clock):
    # SUCCESS is final (PostTasks is all or nothing): nothing is posted or looked up
    # again, and the caller learns which tasks are in doubt.
    driver = ScriptedDriver([multi(stored(A))], clock)
    with pytest.raises(e.OutcomeUnknownError) as info:
        driver.run(_ops.create(post([A, B]), budget(clock=clock)))
    assert driver.shape() == [("Call", "PostTasks")]
    assert [t.id for t in info.value.tasks] == [A.id, B.id]


def test_create_success_with_other_ids_is_matched_by_position(clock):
    # A service that picks its own ids must not make the client post again (which
    # would duplicate every task): the answer is taken in order.
    renamed_a, renamed_b = stored(A), stored(B)
    renamed_a.id, renamed_b.id = "server-1", "server-2"
    driver = ScriptedDriver([multi(renamed_a, renamed_b)], clock)
    assert driver.run(_ops.create(post([A, B]), budget(clock=clock))) == [renamed_a, renamed_b]
    assert driver.shape() == [("Call", "PostTasks")]


def test_create_deadline_with_unknown_outcome_is_also_a_deadline_error(clock):
    driver = ScriptedDriver(
        [e.DeadlineExceededError(grpc.StatusCode.DEADLINE_EXCEEDED, "slow", "PostTasks")], clock
    )
    with pytest.raises(e.DeadlineExceededError) as info:
        driver.run(_ops.create(post([A]), budget(timeout=0.5, clock=clock)))
    assert isinstance(info.value, e.OutcomeUnknownError)
    assert [t.id for t in info.value.tasks] == [A.id]


@pytest.mark.parametrize("answer_ids", [["a", "a"], ["a", "x"], ["x", "b"]])
def test_create_success_echoing_only_some_ids_is_an_unknown_outcome(clock, answer_ids):
    # Some of our ids come back, some do not: no way to tell which task is which, so
    # nothing is reported created that might not be.
    answer = []
    for task_id, task in zip(answer_ids, (A, B), strict=True):
        got = stored(task)
        got.id = task_id
        answer.append(got)
    driver = ScriptedDriver([multi(*answer)], clock)
    with pytest.raises(e.OutcomeUnknownError):
        driver.run(_ops.create(post([A, B]), budget(clock=clock)))
    assert driver.shape() == [("Call", "PostTasks")]


def test_create_mixed_ids_match_by_id_then_in_order(clock):
    anon = simple_task(name="anon")
    made = stored(anon)
    made.id = "zz"
    # the answer lists the id-less task first: A still maps to A, anon to the rest
    driver = ScriptedDriver([multi(made, stored(A))], clock)
    assert driver.run(_ops.create(post([A, anon]), budget(clock=clock))) == [stored(A), made]


def test_create_out_of_time_while_in_doubt_is_also_a_deadline_error(clock):
    # UNAVAILABLE after most of the budget: the back-off no longer fits, the outcome is
    # unknown because time ran out, so the error is also a DeadlineExceededError.
    policy = RetryPolicy(max_attempts=5, initial_backoff=1.0, max_backoff=1.0, jitter=False)

    def slow_unavailable(_call):
        clock.advance(9.5)
        return unavailable("PostTasks")

    driver = ScriptedDriver([slow_unavailable], clock)
    with pytest.raises(e.DeadlineExceededError) as info:
        driver.run(_ops.create(post([A]), budget(timeout=10.0, policy=policy, clock=clock)))
    assert isinstance(info.value, e.OutcomeUnknownError)
    assert [t.id for t in info.value.tasks] == [A.id]


# --- ids derived from content, cancel and close --------------------------------------------


def test_create_conflict_under_a_derived_id_returns_the_stored_task_even_if_edited(clock):
    # The id was derived from A's content: the task stored under it was created from A,
    # whatever has been edited since. It is returned as it is stored, not a conflict.
    conflict = multi(status=bad_status(sc.TASK_CONFLICT, "exists"))
    edited = stored(A)
    edited.name = "renamed since"
    driver = ScriptedDriver([conflict, multi(edited)], clock)
    got = driver.run(_ops.create(post([A]), budget(clock=clock), ours=lambda t: t.id == A.id))
    assert got == [edited]
    assert driver.shape() == [("Call", "PostTasks"), ("Call", "ListTasks")]


def test_create_cancelled_on_the_wire_is_an_unknown_outcome_and_not_retried(clock):
    cancelled = e.TransportError(grpc.StatusCode.CANCELLED, "closed", "PostTasks")
    driver = ScriptedDriver([cancelled], clock)
    with pytest.raises(e.OutcomeUnknownError) as info:
        driver.run(_ops.create(post([A, B]), budget(clock=clock)))
    assert [t.id for t in info.value.tasks] == ["a", "b"]
    assert driver.shape() == [("Call", "PostTasks")]


def test_create_not_sent_is_not_sent_unless_an_earlier_attempt_is_in_doubt(clock):
    driver = ScriptedDriver([e.NotSentError("the client is closed")], clock)
    with pytest.raises(e.NotSentError):
        driver.run(_ops.create(post([A]), budget(clock=clock)))
    driver = ScriptedDriver([unavailable("PostTasks"), e.NotSentError("closed")], clock)
    with pytest.raises(e.OutcomeUnknownError) as info:
        driver.run(_ops.create(post([A]), budget(clock=clock)))
    assert [t.id for t in info.value.tasks] == ["a"]
