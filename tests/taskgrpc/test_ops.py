"""taskgrpc._ops: the sans-I/O operations, driven by a scripted driver and a fake clock.

Every test asserts the exact sequence of Call/Sleep actions an operation yields.
"""

from __future__ import annotations

import grpc
import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from clarifai_grpc.grpc.api.status import status_pb2
from tgsupport import (
    PAT,
    FakeClock,
    ScriptedDriver,
    bad_status,
    multi,
    ok_status,
    simple_task,
    single,
    uaid,
    unavailable,
)

from taskgrpc import RetryPolicy, _ops
from taskgrpc import errors as e
from taskgrpc import requests as rq

U = uaid()
# jitter off: each back-off is exactly the cap, 1, 2, 4, 8, ... seconds
POLICY = RetryPolicy(max_attempts=4, initial_backoff=1.0, max_backoff=8.0, jitter=False)


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(_ops, "time", fake)
    return fake


def budget(timeout=None, policy=POLICY, limiter=None):
    return _ops.Budget(uaid=U, timeout=timeout, policy=policy, limiter=limiter, secret=PAT)


def get_request(task_id="t1"):
    return rq.get_task(U, task_id)


def grpc_error(code):
    return e.TransportError(code, "boom", "GetTask")


# --- idempotent calls --------------------------------------------------------------------


def test_get_success_is_one_call(clock):
    task = simple_task("t1")
    driver = ScriptedDriver([single(task)], clock)
    request = get_request()
    assert driver.run(_ops.get(request, budget())) == task
    assert driver.shape() == [("Call", "GetTask")]
    assert driver.calls[0].request == request
    assert driver.calls[0].timeout is None


def test_call_timeout_is_the_budget_left(clock):
    driver = ScriptedDriver([unavailable(), single(simple_task("t1"))], clock)
    driver.run(_ops.get(get_request(), budget(timeout=10.0)))
    assert driver.shape() == [("Call", "GetTask"), ("Sleep", 1.0), ("Call", "GetTask")]
    assert [c.timeout for c in driver.calls] == pytest.approx([10.0, 9.0])


def test_unavailable_is_retried_with_growing_backoff(clock):
    task = simple_task("t1")
    driver = ScriptedDriver([unavailable(), unavailable(), unavailable(), single(task)], clock)
    assert driver.run(_ops.get(get_request(), budget())) == task
    assert driver.shape() == [
        ("Call", "GetTask"),
        ("Sleep", 1.0),
        ("Call", "GetTask"),
        ("Sleep", 2.0),
        ("Call", "GetTask"),
        ("Sleep", 4.0),
        ("Call", "GetTask"),
    ]
    assert all(c.request == get_request() for c in driver.calls)


def test_retries_stop_after_max_attempts(clock):
    driver = ScriptedDriver([unavailable()] * 4, clock)
    with pytest.raises(e.UnavailableError):
        driver.run(_ops.get(get_request(), budget()))
    assert driver.shape() == [
        ("Call", "GetTask"),
        ("Sleep", 1.0),
        ("Call", "GetTask"),
        ("Sleep", 2.0),
        ("Call", "GetTask"),
        ("Sleep", 4.0),
        ("Call", "GetTask"),
    ]


def test_no_policy_means_no_retry(clock):
    driver = ScriptedDriver([unavailable()], clock)
    with pytest.raises(e.UnavailableError):
        driver.run(_ops.get(get_request(), budget(policy=None)))
    assert driver.shape() == [("Call", "GetTask")]


@pytest.mark.parametrize(
    "code", [sc.CONN_THROTTLED, sc.RPC_REQUEST_QUEUE_FULL, sc.TRY_AGAIN, sc.RPC_SERVER_UNAVAILABLE]
)
def test_transient_body_codes_are_retried(clock, code):
    task = simple_task("t1")
    driver = ScriptedDriver([single(status=bad_status(code)), single(task)], clock)
    assert driver.run(_ops.get(get_request(), budget())) == task
    assert driver.shape() == [("Call", "GetTask"), ("Sleep", 1.0), ("Call", "GetTask")]


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (sc.TASK_MISSING, e.NotFoundError),
        (sc.CONN_KEY_INVALID, e.AuthError),
        (sc.CONN_INVALID_REQUEST, e.InvalidRequestError),
        (sc.INTERNAL_SERVER_ISSUE, e.ServerError),
        (sc.CONN_EXCEED_HOURLY_LIMIT, e.ThrottledError),
    ],
)
def test_permanent_body_codes_are_not_retried(clock, code, cls):
    status = bad_status(code, f"refused {PAT}", "why", req_id="req-1")
    driver = ScriptedDriver([single(status=status)], clock)
    with pytest.raises(cls) as info:
        driver.run(_ops.get(get_request(), budget()))
    assert driver.shape() == [("Call", "GetTask")]
    err = info.value
    assert (err.code, err.method, err.req_id, err.details) == (code, "GetTask", "req-1", "why")
    assert PAT not in err.description  # redacted with the budget's secret


@pytest.mark.parametrize("code", [grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAUTHENTICATED])
def test_permanent_transport_errors_are_not_retried(clock, code):
    driver = ScriptedDriver([grpc_error(code)], clock)
    with pytest.raises(e.TransportError) as info:
        driver.run(_ops.get(get_request(), budget()))
    assert info.value.grpc_code is code
    assert driver.shape() == [("Call", "GetTask")]


def test_backoff_that_would_cross_the_deadline_is_not_taken(clock):
    # 2.5 s budget: call, sleep 1, call; the next sleep (2 s) would end past the deadline.
    driver = ScriptedDriver([unavailable(), unavailable(), single()], clock)
    with pytest.raises(e.UnavailableError):
        driver.run(_ops.get(get_request(), budget(timeout=2.5)))
    assert driver.shape() == [("Call", "GetTask"), ("Sleep", 1.0), ("Call", "GetTask")]
    assert [c.timeout for c in driver.calls] == pytest.approx([2.5, 1.5])


def test_slow_failed_call_uses_up_the_budget(clock):
    def slow_failure(call):
        clock.advance(5.0)
        return unavailable("GetTask")

    driver = ScriptedDriver([slow_failure], clock)
    with pytest.raises(e.UnavailableError):
        driver.run(_ops.get(get_request(), budget(timeout=5.5)))
    assert driver.shape() == [("Call", "GetTask")]


def test_deadline_is_shared_by_all_attempts(clock):
    def slow(call):
        clock.advance(3.0)
        return unavailable("GetTask")

    task = simple_task("t1")
    driver = ScriptedDriver([slow, slow, single(task)], clock)
    assert driver.run(_ops.get(get_request(), budget(timeout=10.0))) == task
    # t=0 call (3 s), sleep 1, t=4 call (3 s), sleep 2 ends at t=9 < 10, t=9 call has 1 s left
    assert driver.shape() == [
        ("Call", "GetTask"),
        ("Sleep", 1.0),
        ("Call", "GetTask"),
        ("Sleep", 2.0),
        ("Call", "GetTask"),
    ]
    assert [c.timeout for c in driver.calls] == pytest.approx([10.0, 6.0, 1.0])


class StubLimiter:
    """A TokenBucket stand-in: hands out ``waits`` in order, and like the real one takes
    nothing when the wait would reach the deadline."""

    def __init__(self, waits):
        self.waits = list(waits)
        self.reserved = 0
        self.refused = 0
        self.given_back = 0

    def reserve(self, deadline=None):
        wait = self.waits.pop(0) if self.waits else 0.0
        if deadline is not None and _ops.time.monotonic() + wait >= deadline:
            self.refused += 1
            return None
        self.reserved += 1
        return wait

    def give_back(self):
        self.given_back += 1


def test_rate_limiter_sleeps_before_each_attempt(clock):
    limiter = StubLimiter([0.0, 0.25])
    task = simple_task("t1")
    driver = ScriptedDriver([unavailable(), single(task)], clock)
    assert driver.run(_ops.get(get_request(), budget(limiter=limiter))) == task
    assert driver.shape() == [
        ("Call", "GetTask"),
        ("Sleep", 1.0),
        ("Sleep", 0.25),
        ("Call", "GetTask"),
    ]
    assert limiter.reserved == 2


def test_rate_limit_wait_past_the_deadline_sends_nothing(clock):
    limiter = StubLimiter([10.0])
    driver = ScriptedDriver([], clock)
    with pytest.raises(e.DeadlineExceededError) as info:
        driver.run(_ops.get(get_request(), budget(timeout=1.0, limiter=limiter)))
    # no call and no token: the wait alone would outlast the budget, so the call waits
    # out its budget (a caller retrying at once would only spin) and fails
    assert driver.shape() == [("Sleep", 1.0)]
    assert limiter.reserved == 0
    assert info.value.sent is False
    assert info.value.method == "GetTask"


def test_rate_limit_wait_within_the_deadline_is_slept(clock):
    limiter = StubLimiter([0.25])
    task = simple_task("t1")
    driver = ScriptedDriver([single(task)], clock)
    assert driver.run(_ops.get(get_request(), budget(timeout=5.0, limiter=limiter))) == task
    assert driver.shape() == [("Sleep", 0.25), ("Call", "GetTask")]
    assert driver.calls[0].timeout == pytest.approx(4.75)


def test_list_patch_delete(clock):
    tasks = [simple_task("a"), simple_task("b")]
    list_req = rq.list_tasks(U)
    driver = ScriptedDriver([multi(*tasks)], clock)
    assert driver.run(_ops.list_page(list_req, budget())) == tasks
    assert driver.shape() == [("Call", "ListTasks")]
    assert driver.calls[0].request == list_req

    patch_req = rq.patch_tasks(U, tasks, "overwrite")
    driver = ScriptedDriver([multi(*tasks)], clock)
    assert driver.run(_ops.patch(patch_req, budget())) == tasks
    assert driver.shape() == [("Call", "PatchTasks")]

    delete_req = rq.delete_tasks(U, ["a", "b", "a"])
    base = status_pb2.BaseResponse(status=ok_status())
    driver = ScriptedDriver([base], clock)
    assert driver.run(_ops.delete(delete_req, budget())) == ["a", "b", "a"]  # the ids sent
    assert driver.shape() == [("Call", "DeleteTasks")]

    driver = ScriptedDriver([unavailable(), base], clock)
    assert driver.run(_ops.delete(delete_req, budget())) == ["a", "b", "a"]
    assert driver.shape() == [("Call", "DeleteTasks"), ("Sleep", 1.0), ("Call", "DeleteTasks")]


def test_patch_and_delete_are_retried(clock):
    patch_req = rq.patch_tasks(U, [rq.status_patch("a", sc.TASK_DONE)], "merge")
    stored = simple_task("a")
    driver = ScriptedDriver([unavailable(), multi(stored)], clock)
    assert driver.run(_ops.patch(patch_req, budget())) == [stored]
    assert driver.shape() == [("Call", "PatchTasks"), ("Sleep", 1.0), ("Call", "PatchTasks")]
    assert driver.calls[0].request == driver.calls[1].request == patch_req


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
    got = driver.run(_ops.create(post([A, B, C]), budget()))
    assert got == [stored(A), stored(B), stored(C)]
    assert driver.shape() == [("Call", "PostTasks")]
    assert driver.calls[0].request == post([A, B, C])


def test_create_without_ids_returns_the_response_tasks(clock):
    anon = simple_task()
    made = stored(anon)
    made.id = "f" * 32
    driver = ScriptedDriver([multi(made)], clock)
    assert driver.run(_ops.create(post([anon]), budget())) == [made]
    assert driver.calls[0].request == post([anon])


@pytest.mark.parametrize("code", [sc.CONN_THROTTLED, sc.RPC_REQUEST_QUEUE_FULL])
def test_create_nothing_done_is_resent_even_without_ids(clock, code):
    anon = simple_task(name="x")
    made = stored(anon)
    driver = ScriptedDriver([multi(status=bad_status(code)), multi(made)], clock)
    assert driver.run(_ops.create(post([anon]), budget())) == [made]
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
        driver.run(_ops.create(post([anon]), budget()))
    assert driver.shape() == [("Call", "PostTasks")]
    assert info.value.tasks == [anon]
    assert isinstance(info.value.cause, e.TaskgrpcError)


def test_create_unknown_outcome_with_ids_reconciles_and_resends_only_missing(clock):
    driver = ScriptedDriver(
        [unavailable("PostTasks"), multi(stored(A)), multi(stored(B), stored(C))], clock
    )
    got = driver.run(_ops.create(post([A, B, C]), budget()))
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
    assert driver.run(_ops.create(post([A, B]), budget())) == [stored(A), stored(B)]
    assert driver.shape() == [("Call", "PostTasks"), ("Sleep", 1.0), ("Call", "ListTasks")]
    assert driver.calls[1].request == lookup(["a", "b"])


def test_create_conflict_after_uncertain_is_reconciled(clock):
    # The first post landed late: the lookup misses it, the re-post conflicts, a second lookup
    # finds it. The caller gets the tasks, not a ConflictError.
    conflict = multi(status=bad_status(sc.TASK_CONFLICT, "Task id 'a' already exists"))
    driver = ScriptedDriver(
        [unavailable("PostTasks"), multi(), conflict, multi(stored(A), stored(B))], clock
    )
    assert driver.run(_ops.create(post([A, B]), budget())) == [stored(A), stored(B)]
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
        driver.run(_ops.create(post([A]), budget()))
    # settled by one lookup, no back-off and no second post
    assert driver.shape() == [("Call", "PostTasks"), ("Call", "ListTasks")]
    assert driver.calls[1].request == lookup([A.id])


def test_create_conflict_with_our_own_task_returns_it(clock):
    # Same id, same content: an earlier run created it. Like an idempotency key, the
    # create returns it, and posts only what is still missing.
    conflict = multi(status=bad_status(sc.TASK_CONFLICT, "exists"))
    driver = ScriptedDriver([conflict, multi(stored(A)), multi(stored(B))], clock)
    assert driver.run(_ops.create(post([A, B]), budget())) == [stored(A), stored(B)]
    assert driver.shape() == [("Call", "PostTasks"), ("Call", "ListTasks"), ("Call", "PostTasks")]
    assert driver.calls[2].request == post([B])


def test_create_conflict_without_ids_is_raised(clock):
    anon = simple_task(name="anon")
    anon.id = ""
    driver = ScriptedDriver([multi(status=bad_status(sc.TASK_CONFLICT, "exists"))], clock)
    with pytest.raises(e.ConflictError):
        driver.run(_ops.create(post([anon]), budget()))
    assert driver.shape() == [("Call", "PostTasks")]


def test_create_permanent_error_is_raised(clock):
    driver = ScriptedDriver([multi(status=bad_status(sc.CONN_INVALID_REQUEST))], clock)
    with pytest.raises(e.InvalidRequestError):
        driver.run(_ops.create(post([A]), budget()))
    assert driver.shape() == [("Call", "PostTasks")]


def test_create_permanent_error_after_reconciliation_is_raised(clock):
    driver = ScriptedDriver(
        [unavailable("PostTasks"), multi(), multi(status=bad_status(sc.CONN_KEY_INVALID))], clock
    )
    with pytest.raises(e.AuthError):
        driver.run(_ops.create(post([A]), budget()))
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
        driver.run(_ops.create(post([A, B]), budget(policy=policy)))
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
        driver.run(_ops.create(post([A]), budget(timeout=0.5)))
    assert driver.shape() == [("Call", "PostTasks")]
    assert info.value.tasks == [A]


def test_create_with_no_policy_and_ids_gives_outcome_unknown(clock):
    driver = ScriptedDriver([unavailable("PostTasks")], clock)
    with pytest.raises(e.OutcomeUnknownError):
        driver.run(_ops.create(post([A]), budget(policy=None)))
    assert driver.shape() == [("Call", "PostTasks")]


def test_create_lookup_failure_gives_outcome_unknown(clock):
    driver = ScriptedDriver(
        [unavailable("PostTasks"), multi(status=bad_status(sc.CONN_KEY_INVALID))], clock
    )
    with pytest.raises(e.OutcomeUnknownError) as info:
        driver.run(_ops.create(post([A, B]), budget()))
    assert driver.shape() == [("Call", "PostTasks"), ("Sleep", 1.0), ("Call", "ListTasks")]
    assert info.value.tasks == [A, B]
    assert isinstance(info.value.cause, e.AuthError)


def test_create_lookup_is_itself_retried(clock):
    driver = ScriptedDriver(
        [unavailable("PostTasks"), unavailable("ListTasks"), multi(stored(A))], clock
    )
    assert driver.run(_ops.create(post([A]), budget())) == [stored(A)]
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
    got = driver.run(_ops.create(post(tasks), budget()))
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
    limiter = StubLimiter([10.0])
    driver = ScriptedDriver([], clock)
    with pytest.raises(e.TaskgrpcError) as info:
        driver.run(_ops.create(post([simple_task(name="x")]), budget(timeout=1.0, limiter=limiter)))
    assert driver.shape() == [("Sleep", 1.0)]
    assert type(info.value) is e.DeadlineExceededError


def test_budget_remaining(clock):
    b = budget(timeout=3.0)
    assert b.remaining("GetTask") == 3.0
    clock.advance(2.0)
    assert b.remaining("GetTask") == pytest.approx(1.0)
    clock.advance(1.0)
    with pytest.raises(e.DeadlineExceededError) as info:
        b.remaining("GetTask")
    assert info.value.method == "GetTask"
    assert budget(timeout=None).remaining("GetTask") is None


def test_create_lookup_finding_another_task_under_our_id_is_a_conflict(clock):
    # The id was already taken by a task with other content: the lookup after an unknown
    # outcome must not pass that task off as the one we created.
    other = stored(A)
    other.name = "somebody else's task"
    driver = ScriptedDriver([unavailable("PostTasks"), multi(other)], clock)
    with pytest.raises(e.ConflictError) as info:
        driver.run(_ops.create(post([A]), budget()))
    assert A.id in info.value.description
    assert driver.shape() == [("Call", "PostTasks"), ("Sleep", 1.0), ("Call", "ListTasks")]


def test_create_success_with_a_task_missing_is_final_and_unknown(clock):
    # SUCCESS is final (PostTasks is all or nothing): nothing is posted or looked up
    # again, and the caller learns which tasks are in doubt.
    driver = ScriptedDriver([multi(stored(A))], clock)
    with pytest.raises(e.OutcomeUnknownError) as info:
        driver.run(_ops.create(post([A, B]), budget()))
    assert driver.shape() == [("Call", "PostTasks")]
    assert [t.id for t in info.value.tasks] == [A.id, B.id]


def test_create_success_with_other_ids_is_matched_by_position(clock):
    # A service that picks its own ids must not make the client post again (which
    # would duplicate every task): the answer is taken in order.
    renamed_a, renamed_b = stored(A), stored(B)
    renamed_a.id, renamed_b.id = "server-1", "server-2"
    driver = ScriptedDriver([multi(renamed_a, renamed_b)], clock)
    assert driver.run(_ops.create(post([A, B]), budget())) == [renamed_a, renamed_b]
    assert driver.shape() == [("Call", "PostTasks")]


def test_create_deadline_with_unknown_outcome_is_also_a_deadline_error(clock):
    driver = ScriptedDriver(
        [e.DeadlineExceededError(grpc.StatusCode.DEADLINE_EXCEEDED, "slow", "PostTasks")], clock
    )
    with pytest.raises(e.DeadlineExceededError) as info:
        driver.run(_ops.create(post([A]), budget(timeout=0.5)))
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
        driver.run(_ops.create(post([A, B]), budget()))
    assert driver.shape() == [("Call", "PostTasks")]


def test_create_mixed_ids_match_by_id_then_in_order(clock):
    anon = simple_task(name="anon")
    made = stored(anon)
    made.id = "zz"
    # the answer lists the id-less task first: A still maps to A, anon to the rest
    driver = ScriptedDriver([multi(made, stored(A))], clock)
    assert driver.run(_ops.create(post([A, anon]), budget())) == [stored(A), made]


def test_create_out_of_time_while_in_doubt_is_also_a_deadline_error(clock):
    # UNAVAILABLE after most of the budget: the back-off no longer fits, the outcome is
    # unknown because time ran out, so the error is also a DeadlineExceededError.
    policy = RetryPolicy(max_attempts=5, initial_backoff=1.0, max_backoff=1.0, jitter=False)

    def slow_unavailable(_call):
        clock.advance(9.5)
        return unavailable("PostTasks")

    driver = ScriptedDriver([slow_unavailable], clock)
    with pytest.raises(e.DeadlineExceededError) as info:
        driver.run(_ops.create(post([A]), budget(timeout=10.0, policy=policy)))
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
    got = driver.run(_ops.create(post([A]), budget(), ours=lambda t: t.id == A.id))
    assert got == [edited]
    assert driver.shape() == [("Call", "PostTasks"), ("Call", "ListTasks")]


def test_create_cancelled_on_the_wire_is_an_unknown_outcome_and_not_retried(clock):
    cancelled = e.TransportError(grpc.StatusCode.CANCELLED, "closed", "PostTasks")
    driver = ScriptedDriver([cancelled], clock)
    with pytest.raises(e.OutcomeUnknownError) as info:
        driver.run(_ops.create(post([A, B]), budget()))
    assert [t.id for t in info.value.tasks] == ["a", "b"]
    assert driver.shape() == [("Call", "PostTasks")]


def test_create_not_sent_is_not_sent_unless_an_earlier_attempt_is_in_doubt(clock):
    driver = ScriptedDriver([e.NotSentError("the client is closed")], clock)
    with pytest.raises(e.NotSentError):
        driver.run(_ops.create(post([A]), budget()))
    driver = ScriptedDriver([unavailable("PostTasks"), e.NotSentError("closed")], clock)
    with pytest.raises(e.OutcomeUnknownError) as info:
        driver.run(_ops.create(post([A]), budget()))
    assert [t.id for t in info.value.tasks] == ["a"]


def test_a_token_is_given_back_when_the_wait_is_abandoned(clock):
    limiter = StubLimiter([5.0])
    op = _ops.get(get_request(), budget(limiter=limiter))
    assert isinstance(next(op), _ops.Sleep)
    op.close()  # a cancel or an interrupt while waiting for the token
    assert (limiter.reserved, limiter.given_back) == (1, 1)


def test_a_wait_past_the_deadline_takes_no_token(clock):
    limiter = StubLimiter([10.0])
    with pytest.raises(e.DeadlineExceededError):
        ScriptedDriver([], clock).run(_ops.get(get_request(), budget(timeout=1, limiter=limiter)))
    assert (limiter.reserved, limiter.refused) == (0, 1)


# --- narrowing a refused batch ---------------------------------------------------------------


def refusing(bad: set[str], calls: list[list[str]]):
    """make_op for ``narrowed``: a batch holding a bad id is refused whole."""

    def make_op(items):
        calls.append(list(items))
        if False:
            yield
        if bad & set(items):
            raise e.InvalidRequestError(code=sc.CONN_INVALID_REQUEST, method="PostTasks")
        return [f"ok-{i}" for i in items]

    return make_op


@pytest.mark.parametrize(("size", "bad_at"), [(128, [77]), (100, [0]), (7, [6]), (64, [3, 40])])
def test_narrowing_isolates_the_bad_items_in_about_two_log2_calls_each(size, bad_at):
    items = [f"i{k}" for k in range(size)]
    bad = {items[k] for k in bad_at}
    calls: list[list[str]] = []
    got = ScriptedDriver([]).run(_ops.narrowed(refusing(bad, calls), items))
    assert [isinstance(g, e.InvalidRequestError) for g in got] == [i in bad for i in items]
    assert [g for g in got if isinstance(g, str)] == [f"ok-{i}" for i in items if i not in bad]
    depth = (size - 1).bit_length()
    assert len(calls) - 1 <= 2 * depth * len(bad)


def test_narrowing_stops_at_errors_that_are_not_one_items_fault():
    calls: list[list[str]] = []

    def make_op(items):
        calls.append(items)
        if False:
            yield
        raise e.AuthError(code=sc.CONN_KEY_INVALID, method="PostTasks")

    got = ScriptedDriver([]).run(_ops.narrowed(make_op, ["a", "b", "c"]))
    assert len(calls) == 1 and all(isinstance(g, e.AuthError) for g in got)


@pytest.mark.parametrize(
    ("error", "narrow"),
    [
        (e.InvalidRequestError(code=sc.CONN_INVALID_REQUEST), True),
        (e.ConflictError(code=sc.TASK_CONFLICT), True),
        (e.NotFoundError(code=sc.TASK_MISSING), True),
        (e.NotFoundError(code=sc.CONN_DOES_NOT_EXIST), False),
        (e.TransportError(grpc.StatusCode.RESOURCE_EXHAUSTED, "too big"), True),
        (e.UnavailableError(grpc.StatusCode.UNAVAILABLE), False),
        (e.ThrottledError(code=sc.CONN_THROTTLED), False),
        (e.OutcomeUnknownError([], e.TaskgrpcError("x")), False),
    ],
)
def test_narrowable(error, narrow):
    assert _ops.narrowable(error) is narrow
