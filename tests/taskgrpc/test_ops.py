"""taskgrpc._ops: the sans-I/O operations (except create), driven by a scripted driver and a
fake clock: retries, back-offs and the one deadline, the rate limiter, list/patch/delete, the
budget, and narrowing a refused batch. ``create`` and its reconciliation: test_ops_create.py.

Every test asserts the exact sequence of Call/Sleep actions an operation yields.
"""

from __future__ import annotations

import grpc
import pytest
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from clarifai_grpc.grpc.api.status import status_pb2
from tgsupport import (
    PAT,
    ScriptedDriver,
    StubLimiter,
    bad_status,
    budget,
    multi,
    ok_status,
    simple_task,
    single,
    uaid,
    unavailable,
)

from taskgrpc import _ops
from taskgrpc import errors as e
from taskgrpc import requests as rq

U = uaid()


def get_request(task_id="t1"):
    return rq.get_task(U, task_id)


def grpc_error(code):
    return e.TransportError(code, "boom", "GetTask")


# --- idempotent calls --------------------------------------------------------------------


def test_get_success_is_one_call(clock):
    task = simple_task("t1")
    driver = ScriptedDriver([single(task)], clock)
    request = get_request()
    assert driver.run(_ops.get(request, budget(clock=clock))) == task
    assert driver.shape() == [("Call", "GetTask")]
    assert driver.calls[0].request == request
    assert driver.calls[0].timeout is None


def test_call_timeout_is_the_budget_left(clock):
    driver = ScriptedDriver([unavailable(), single(simple_task("t1"))], clock)
    driver.run(_ops.get(get_request(), budget(timeout=10.0, clock=clock)))
    assert driver.shape() == [("Call", "GetTask"), ("Sleep", 1.0), ("Call", "GetTask")]
    assert [c.timeout for c in driver.calls] == pytest.approx([10.0, 9.0])


def test_unavailable_is_retried_with_growing_backoff(clock):
    task = simple_task("t1")
    driver = ScriptedDriver([unavailable(), unavailable(), unavailable(), single(task)], clock)
    assert driver.run(_ops.get(get_request(), budget(clock=clock))) == task
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
        driver.run(_ops.get(get_request(), budget(clock=clock)))
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
        driver.run(_ops.get(get_request(), budget(policy=None, clock=clock)))
    assert driver.shape() == [("Call", "GetTask")]


@pytest.mark.parametrize(
    "code", [sc.CONN_THROTTLED, sc.RPC_REQUEST_QUEUE_FULL, sc.TRY_AGAIN, sc.RPC_SERVER_UNAVAILABLE]
)
def test_transient_body_codes_are_retried(clock, code):
    task = simple_task("t1")
    driver = ScriptedDriver([single(status=bad_status(code)), single(task)], clock)
    assert driver.run(_ops.get(get_request(), budget(clock=clock))) == task
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
        driver.run(_ops.get(get_request(), budget(clock=clock)))
    assert driver.shape() == [("Call", "GetTask")]
    err = info.value
    assert (err.code, err.method, err.req_id, err.details) == (code, "GetTask", "req-1", "why")
    assert PAT not in err.description  # redacted with the budget's secret


@pytest.mark.parametrize("code", [grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAUTHENTICATED])
def test_permanent_transport_errors_are_not_retried(clock, code):
    driver = ScriptedDriver([grpc_error(code)], clock)
    with pytest.raises(e.TransportError) as info:
        driver.run(_ops.get(get_request(), budget(clock=clock)))
    assert info.value.grpc_code is code
    assert driver.shape() == [("Call", "GetTask")]


def test_backoff_that_would_cross_the_deadline_is_not_taken(clock):
    # 2.5 s budget: call, sleep 1, call; the next sleep (2 s) would end past the deadline.
    driver = ScriptedDriver([unavailable(), unavailable(), single()], clock)
    with pytest.raises(e.UnavailableError):
        driver.run(_ops.get(get_request(), budget(timeout=2.5, clock=clock)))
    assert driver.shape() == [("Call", "GetTask"), ("Sleep", 1.0), ("Call", "GetTask")]
    assert [c.timeout for c in driver.calls] == pytest.approx([2.5, 1.5])


def test_slow_failed_call_uses_up_the_budget(clock):
    def slow_failure(call):
        clock.advance(5.0)
        return unavailable("GetTask")

    driver = ScriptedDriver([slow_failure], clock)
    with pytest.raises(e.UnavailableError):
        driver.run(_ops.get(get_request(), budget(timeout=5.5, clock=clock)))
    assert driver.shape() == [("Call", "GetTask")]


def test_deadline_is_shared_by_all_attempts(clock):
    def slow(call):
        clock.advance(3.0)
        return unavailable("GetTask")

    task = simple_task("t1")
    driver = ScriptedDriver([slow, slow, single(task)], clock)
    assert driver.run(_ops.get(get_request(), budget(timeout=10.0, clock=clock))) == task
    # t=0 call (3 s), sleep 1, t=4 call (3 s), sleep 2 ends at t=9 < 10, t=9 call has 1 s left
    assert driver.shape() == [
        ("Call", "GetTask"),
        ("Sleep", 1.0),
        ("Call", "GetTask"),
        ("Sleep", 2.0),
        ("Call", "GetTask"),
    ]
    assert [c.timeout for c in driver.calls] == pytest.approx([10.0, 6.0, 1.0])


def test_rate_limiter_sleeps_before_each_attempt(clock):
    limiter = StubLimiter([0.0, 0.25], clock)
    task = simple_task("t1")
    driver = ScriptedDriver([unavailable(), single(task)], clock)
    assert driver.run(_ops.get(get_request(), budget(limiter=limiter, clock=clock))) == task
    assert driver.shape() == [
        ("Call", "GetTask"),
        ("Sleep", 1.0),
        ("Sleep", 0.25),
        ("Call", "GetTask"),
    ]
    assert limiter.reserved == 2


def test_rate_limit_wait_past_the_deadline_sends_nothing(clock):
    limiter = StubLimiter([10.0], clock)
    driver = ScriptedDriver([], clock)
    with pytest.raises(e.DeadlineExceededError) as info:
        driver.run(_ops.get(get_request(), budget(timeout=1.0, limiter=limiter, clock=clock)))
    # no call and no token: the wait alone would outlast the budget, so the call waits
    # out its budget (a caller retrying at once would only spin) and fails
    assert driver.shape() == [("Sleep", 1.0)]
    assert limiter.reserved == 0
    assert info.value.sent is False
    assert info.value.method == "GetTask"


def test_rate_limit_wait_within_the_deadline_is_slept(clock):
    limiter = StubLimiter([0.25], clock)
    task = simple_task("t1")
    driver = ScriptedDriver([single(task)], clock)
    assert (
        driver.run(_ops.get(get_request(), budget(timeout=5.0, limiter=limiter, clock=clock)))
        == task
    )
    assert driver.shape() == [("Sleep", 0.25), ("Call", "GetTask")]
    assert driver.calls[0].timeout == pytest.approx(4.75)


def test_list_patch_delete(clock):
    tasks = [simple_task("a"), simple_task("b")]
    list_req = rq.list_tasks(U)
    driver = ScriptedDriver([multi(*tasks)], clock)
    assert driver.run(_ops.list_page(list_req, budget(clock=clock))) == tasks
    assert driver.shape() == [("Call", "ListTasks")]
    assert driver.calls[0].request == list_req

    patch_req = rq.patch_tasks(U, tasks, "overwrite")
    driver = ScriptedDriver([multi(*tasks)], clock)
    assert driver.run(_ops.patch(patch_req, budget(clock=clock))) == tasks
    assert driver.shape() == [("Call", "PatchTasks")]

    delete_req = rq.delete_tasks(U, ["a", "b", "a"])
    base = status_pb2.BaseResponse(status=ok_status())
    driver = ScriptedDriver([base], clock)
    assert driver.run(_ops.delete(delete_req, budget(clock=clock))) == [
        "a",
        "b",
        "a",
    ]  # the ids sent
    assert driver.shape() == [("Call", "DeleteTasks")]

    driver = ScriptedDriver([unavailable(), base], clock)
    assert driver.run(_ops.delete(delete_req, budget(clock=clock))) == ["a", "b", "a"]
    assert driver.shape() == [("Call", "DeleteTasks"), ("Sleep", 1.0), ("Call", "DeleteTasks")]


def test_patch_and_delete_are_retried(clock):
    patch_req = rq.patch_tasks(U, [rq.status_patch("a", sc.TASK_DONE)], "merge")
    stored = simple_task("a")
    driver = ScriptedDriver([unavailable(), multi(stored)], clock)
    assert driver.run(_ops.patch(patch_req, budget(clock=clock))) == [stored]
    assert driver.shape() == [("Call", "PatchTasks"), ("Sleep", 1.0), ("Call", "PatchTasks")]
    assert driver.calls[0].request == driver.calls[1].request == patch_req


def test_budget_remaining(clock):
    b = budget(timeout=3.0, clock=clock)
    assert b.remaining("GetTask") == 3.0
    clock.advance(2.0)
    assert b.remaining("GetTask") == pytest.approx(1.0)
    clock.advance(1.0)
    with pytest.raises(e.DeadlineExceededError) as info:
        b.remaining("GetTask")
    assert info.value.method == "GetTask"
    assert budget(timeout=None, clock=clock).remaining("GetTask") is None


# --- rate-limit tokens -----------------------------------------------------------------------


def test_a_token_is_given_back_when_the_wait_is_abandoned(clock):
    limiter = StubLimiter([5.0], clock)
    op = _ops.get(get_request(), budget(limiter=limiter, clock=clock))
    assert isinstance(next(op), _ops.Sleep)
    op.close()  # a cancel or an interrupt while waiting for the token
    assert (limiter.reserved, limiter.given_back) == (1, 1)


def test_a_wait_past_the_deadline_takes_no_token(clock):
    limiter = StubLimiter([10.0], clock)
    with pytest.raises(e.DeadlineExceededError):
        ScriptedDriver([], clock).run(
            _ops.get(get_request(), budget(timeout=1, limiter=limiter, clock=clock))
        )
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
