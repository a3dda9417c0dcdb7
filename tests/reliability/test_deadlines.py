"""One deadline per call: ``timeout`` bounds the whole call, retries and back-offs included.

The only timed assertions of the suite are here: the call ends within ``timeout + SLACK``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import pytest
from relsupport import USER, aclient, client, stopwatch, task

import taskgrpc
from fake_servicer import FakeServer, FakeV2Servicer, Faults

TIMEOUT = 0.25
SLACK = 0.3
SLOW_MS = 700  # the server takes longer than TIMEOUT


def policy(max_attempts: int) -> taskgrpc.RetryPolicy:
    return taskgrpc.RetryPolicy(max_attempts=max_attempts, initial_backoff=0.001, max_backoff=0.01)


def seeded(servicer: FakeV2Servicer, app: str) -> str:
    """A stored task (put directly, no RPC); its id."""
    return servicer.put_tasks(USER, app, [task("seeded")])[0]


VERBS: dict[str, tuple[str, Callable[[taskgrpc.TaskClient, str], Any]]] = {
    "get": ("GetTask", lambda c, tid: c.get(tid, timeout=TIMEOUT)),
    "list": ("ListTasks", lambda c, tid: list(c.list(timeout=TIMEOUT))),
    "update": (
        "PatchTasks",
        lambda c, tid: c.update(_with_id(task("renamed"), tid), timeout=TIMEOUT),
    ),
    "set_status": ("PatchTasks", lambda c, tid: c.set_status(tid, "TASK_DONE", timeout=TIMEOUT)),
    "delete": ("DeleteTasks", lambda c, tid: c.delete(tid, timeout=TIMEOUT)),
}


def _with_id(t: Any, task_id: str) -> Any:
    t.id = task_id
    return t


@pytest.mark.parametrize("max_attempts", [1, 50])
@pytest.mark.parametrize("verb", sorted(VERBS))
def test_slow_server_gives_deadline_exceeded_within_the_timeout(
    server: FakeServer, servicer: FakeV2Servicer, verb: str, max_attempts: int
) -> None:
    method, call = VERBS[verb]
    task_id = seeded(servicer, "slow")
    servicer.set_faults(Faults(latency_ms=SLOW_MS, methods={method}))
    with (
        client(server, "slow", retry=policy(max_attempts)) as c,
        stopwatch() as elapsed,
        pytest.raises(taskgrpc.DeadlineExceededError) as info,
    ):
        call(c, task_id)
    assert elapsed() <= TIMEOUT + SLACK, f"{verb} took {elapsed():.3f} s"
    assert info.value.method == method
    assert servicer.calls[method] < max(2, max_attempts)


@pytest.mark.parametrize("max_attempts", [1, 50])
def test_slow_create_reports_an_unknown_outcome_within_the_timeout(
    server: FakeServer, servicer: FakeV2Servicer, max_attempts: int
) -> None:
    """A create cut by its deadline may have landed: the error is a DeadlineExceededError
    like every verb's, and also an OutcomeUnknownError naming the tasks in doubt; it comes
    in about ``timeout``."""
    servicer.set_faults(Faults(latency_ms=SLOW_MS, methods={"PostTasks"}))
    with (
        client(server, "slowcreate", retry=policy(max_attempts)) as c,
        stopwatch() as elapsed,
        pytest.raises(taskgrpc.DeadlineExceededError) as info,
    ):
        c.create(task("late"), timeout=TIMEOUT)
    assert elapsed() <= TIMEOUT + SLACK
    assert isinstance(info.value, taskgrpc.DeadlineOutcomeUnknownError)
    assert isinstance(info.value.cause, taskgrpc.DeadlineExceededError)
    assert [t.name for t in info.value.tasks] == ["late"]


@pytest.mark.parametrize("max_attempts", [1, 50])
def test_client_wide_timeout_is_the_default_budget(
    server: FakeServer, servicer: FakeV2Servicer, max_attempts: int
) -> None:
    task_id = seeded(servicer, "wide")
    servicer.set_faults(Faults(latency_ms=SLOW_MS, methods={"GetTask"}))
    with (
        client(server, "wide", retry=policy(max_attempts), timeout=TIMEOUT) as c,
        stopwatch() as elapsed,
        pytest.raises(taskgrpc.DeadlineExceededError),
    ):
        c.get(task_id)
    assert elapsed() <= TIMEOUT + SLACK


@pytest.mark.parametrize("max_attempts", [1, 50])
async def test_async_slow_server_gives_deadline_exceeded_within_the_timeout(
    server: FakeServer, servicer: FakeV2Servicer, max_attempts: int
) -> None:
    task_id = seeded(servicer, "aslow")
    servicer.set_faults(Faults(latency_ms=SLOW_MS, methods={"GetTask"}))
    async with aclient(server, "aslow", retry=policy(max_attempts)) as c:
        with stopwatch() as elapsed, pytest.raises(taskgrpc.DeadlineExceededError):
            await c.get(task_id, timeout=TIMEOUT)
    assert elapsed() <= TIMEOUT + SLACK


def test_unavailable_retries_stop_at_the_deadline(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    """Every attempt fails fast; the budget, not max_attempts, ends the call."""
    task_id = seeded(servicer, "down")
    servicer.set_faults(Faults(unavailable=1.0, latency_ms=20, methods={"GetTask"}))
    retry = taskgrpc.RetryPolicy(max_attempts=10_000, initial_backoff=0.01, max_backoff=0.02)
    with (
        client(server, "down", retry=retry) as c,
        stopwatch() as elapsed,
        pytest.raises(taskgrpc.TransportError) as info,
    ):
        c.get(task_id, timeout=TIMEOUT)
    assert elapsed() <= TIMEOUT + SLACK
    assert isinstance(info.value, taskgrpc.UnavailableError | taskgrpc.DeadlineExceededError)
    assert 2 <= servicer.calls["GetTask"] < 10_000


def test_throttle_backoff_never_sleeps_past_the_deadline(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    """A back-off longer than the budget left is not slept: the throttle is raised now."""
    task_id = seeded(servicer, "bigbackoff")
    servicer.set_faults(Faults(throttled=1.0))
    retry = taskgrpc.RetryPolicy(
        max_attempts=50, initial_backoff=5.0, max_backoff=5.0, jitter=False
    )
    timeout = 1.0
    with (
        client(server, "bigbackoff", retry=retry) as c,
        stopwatch() as elapsed,
        pytest.raises(taskgrpc.ThrottledError),
    ):
        c.get(task_id, timeout=timeout)
    assert elapsed() <= timeout + SLACK
    assert servicer.calls["GetTask"] == 1


def test_throttle_retries_share_one_budget(server: FakeServer, servicer: FakeV2Servicer) -> None:
    """Back-offs of 0.1, 0.2, 0.4 s fit in 1 s, 0.8 s more would not: the call ends with the
    throttle in about ``timeout``, long before 50 attempts."""
    task_id = seeded(servicer, "budget")
    servicer.set_faults(Faults(throttled=1.0))
    retry = taskgrpc.RetryPolicy(
        max_attempts=50, initial_backoff=0.1, multiplier=2.0, max_backoff=10.0, jitter=False
    )
    timeout = 1.0
    with (
        client(server, "budget", retry=retry) as c,
        stopwatch() as elapsed,
        pytest.raises(taskgrpc.ThrottledError),
    ):
        c.get(task_id, timeout=timeout)
    assert elapsed() <= timeout + SLACK
    assert 2 <= servicer.calls["GetTask"] < 50


def test_slow_and_throttled_server_ends_by_the_deadline(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    """Each attempt is slow and throttled: the last one is cut by the deadline or not started;
    either way the call ends in about ``timeout``."""
    task_id = seeded(servicer, "slowthrottle")
    servicer.set_faults(Faults(throttled=1.0, latency_ms=100))
    timeout = 0.5
    with (
        client(server, "slowthrottle", retry=policy(50)) as c,
        stopwatch() as elapsed,
        pytest.raises((taskgrpc.ThrottledError, taskgrpc.DeadlineExceededError)),
    ):
        c.get(task_id, timeout=timeout)
    assert elapsed() <= timeout + SLACK
    assert 2 <= servicer.calls["GetTask"] < 50


def test_bulk_timeout_applies_to_each_batch(server: FakeServer, servicer: FakeV2Servicer) -> None:
    """create_many documents ``timeout`` per batch: slow batches fail with a BulkError of
    unknown outcomes, in about ``timeout`` (batches run concurrently)."""
    servicer.set_faults(Faults(latency_ms=SLOW_MS, methods={"PostTasks"}))
    with (
        client(server, "bulkslow", retry=policy(50)) as c,
        stopwatch() as elapsed,
        pytest.raises(taskgrpc.BulkError) as info,
    ):
        c.create_many([task(f"b{i}") for i in range(8)], batch_size=2, timeout=TIMEOUT)
    assert elapsed() <= TIMEOUT + SLACK
    assert len(info.value.errors) == 8
    assert all(isinstance(e, taskgrpc.OutcomeUnknownError) for e in info.value.errors.values())


def test_rate_limit_wait_counts_against_the_deadline(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    """``timeout`` is the total budget: waiting for a rate-limit token is part of it. At
    1 request a second the second call cannot start within 0.25 s, so it must end with
    DeadlineExceededError in about 0.25 s, not after sleeping a whole second."""
    task_id = seeded(servicer, "limited")
    with client(server, "limited", max_rps=1) as c:
        c.get(task_id)
        with stopwatch() as elapsed, pytest.raises(taskgrpc.DeadlineExceededError):
            c.get(task_id, timeout=TIMEOUT)
    assert elapsed() <= TIMEOUT + SLACK, f"waited {elapsed():.3f} s for a token"


# --- timeouts too large for gRPC's deadline arithmetic -------------------------------------


@pytest.mark.parametrize("huge", [math.inf, 1e10, 1e300], ids=["inf", "1e10", "1e300"])
def test_a_huge_timeout_means_no_deadline(
    server: FakeServer, servicer: FakeV2Servicer, huge: float
) -> None:
    """inf or >= 1e10 (client-wide or per call) means no deadline: the calls succeed, and
    none is sent with a deadline."""
    task_id = seeded(servicer, "huge")
    with client(server, "huge", timeout=huge) as c:
        assert c.get(task_id).id == task_id
        assert len(c.create_many([task("a"), task("b")])) == 2
    with client(server, "huge") as c:
        assert c.get(task_id, timeout=huge).id == task_id
        assert c.create(task("c"), timeout=huge).name == "c"

    async def run_async() -> None:
        async with aclient(server, "huge", timeout=huge) as ac:
            assert (await ac.get(task_id)).id == task_id
            assert (await ac.get(task_id, timeout=huge)).id == task_id

    asyncio.run(run_async())
