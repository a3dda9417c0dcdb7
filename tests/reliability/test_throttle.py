"""Throttling: CONN_THROTTLED is retried a bounded number of times with growing back-off, a
throttled create is retried and creates once, and ``max_rps`` paces a shared client.

Back-off is checked on the server's arrival timestamps (``servicer.requests[].time``), never on
the client's own sleeps.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from relsupport import (
    FAST,
    USER,
    aclient,
    arrival_times,
    client,
    gaps,
    seed_for,
    stored,
    stripped,
    task,
)

import taskgrpc
from fake_servicer import FakeServer, FakeV2Servicer, Faults

ALWAYS = Faults(throttled=1.0)


def tiny(max_attempts: int) -> taskgrpc.RetryPolicy:
    return taskgrpc.RetryPolicy(
        max_attempts=max_attempts, initial_backoff=0.001, max_backoff=0.002, jitter=False
    )


def renamed(task_id: str) -> Any:
    t = task("renamed")
    t.id = task_id
    return t


VERBS: dict[str, tuple[str, Callable[[taskgrpc.TaskClient, str], Any]]] = {
    "create": ("PostTasks", lambda c, tid: c.create(task("new"))),
    "create_no_id": ("PostTasks", lambda c, tid: c.create(task("new"), assign_id=False)),
    "get": ("GetTask", lambda c, tid: c.get(tid)),
    "list": ("ListTasks", lambda c, tid: list(c.list())),
    "update": ("PatchTasks", lambda c, tid: c.update(renamed(tid))),
    "set_status": ("PatchTasks", lambda c, tid: c.set_status(tid, "TASK_DONE")),
    "delete": ("DeleteTasks", lambda c, tid: c.delete(tid)),
}


@pytest.mark.parametrize("max_attempts", [1, 2, 5])
@pytest.mark.parametrize("verb", sorted(VERBS))
def test_always_throttled_gives_throttled_error_after_exactly_max_attempts(
    server: FakeServer, servicer: FakeV2Servicer, verb: str, max_attempts: int
) -> None:
    method, call = VERBS[verb]
    [task_id] = servicer.put_tasks(USER, "thr", [task("seeded")])
    before = servicer.tasks(USER, "thr")
    servicer.set_faults(ALWAYS)
    with (
        client(server, "thr", retry=tiny(max_attempts)) as c,
        pytest.raises(taskgrpc.ThrottledError) as info,
    ):
        call(c, task_id)
    assert info.value.method == method
    assert info.value.code_name == "CONN_THROTTLED"
    # Exactly max_attempts calls, all of this method: a throttle means nothing was done, so a
    # create needs no lookup either.
    assert servicer.calls == {method: max_attempts}
    assert servicer.faults_injected == {"throttled": max_attempts}
    assert servicer.tasks(USER, "thr") == before


def test_client_policy_per_call_override_and_no_retry(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    [task_id] = servicer.put_tasks(USER, "pol", [task("seeded")])
    servicer.set_faults(ALWAYS)
    with client(server, "pol", retry=tiny(3)) as c:
        with pytest.raises(taskgrpc.ThrottledError):
            c.get(task_id)
        assert servicer.calls["GetTask"] == 3
        with pytest.raises(taskgrpc.ThrottledError):
            c.get(task_id, retry=tiny(7))
        assert servicer.calls["GetTask"] == 3 + 7
        with pytest.raises(taskgrpc.ThrottledError):
            c.get(task_id, retry=None)
        assert servicer.calls["GetTask"] == 3 + 7 + 1
    with client(server, "pol", retry=None) as c, pytest.raises(taskgrpc.ThrottledError):
        c.get(task_id)
    assert servicer.calls["GetTask"] == 3 + 7 + 1 + 1


def test_default_policy_is_five_attempts_with_growing_jitter_caps(
    server: FakeServer, servicer: FakeV2Servicer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Leaving ``retry`` out gives RetryPolicy(): 5 attempts, full jitter over caps of 0.1,
    0.2, 0.4 and 0.8 s. The jitter draws are recorded and forced to 0 to keep the test fast."""
    [task_id] = servicer.put_tasks(USER, "dflt", [task("seeded")])
    servicer.set_faults(ALWAYS)
    draws: list[tuple[float, float]] = []

    def lowest(a: float, b: float) -> float:
        draws.append((a, b))
        return a

    monkeypatch.setattr(random, "uniform", lowest)
    c = taskgrpc.TaskClient(
        pat="p", user_id=USER, app_id="dflt", target=server.target, secure=False
    )
    with c, pytest.raises(taskgrpc.ThrottledError):
        c.get(task_id)
    assert servicer.calls["GetTask"] == 5
    assert draws == [(0.0, 0.1), (0.0, 0.2), (0.0, 0.4), (0.0, 0.8)]


def test_backoff_grows_as_configured_without_jitter(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    retry = taskgrpc.RetryPolicy(
        max_attempts=6, initial_backoff=0.03, multiplier=2.0, max_backoff=0.2, jitter=False
    )
    expected = [0.03, 0.06, 0.12, 0.2, 0.2]  # the cap stops the growth at 0.2
    [task_id] = servicer.put_tasks(USER, "grow", [task("seeded")])
    servicer.set_faults(ALWAYS)
    with client(server, "grow", retry=retry) as c, pytest.raises(taskgrpc.ThrottledError):
        c.get(task_id)
    observed = gaps(arrival_times(servicer, "GetTask"))
    print(f"\n[backoff no jitter] gaps={[round(g, 4) for g in observed]}")
    assert len(observed) == len(expected)
    for gap, sleep in zip(observed, expected, strict=True):
        assert gap >= sleep, (observed, expected)
    assert observed[0] < observed[1] < observed[2] < observed[3], observed
    # Capped: the last back-offs are the same 0.2 s, so the gaps stay below the next doubling.
    assert all(gap < 0.4 for gap in observed[3:]), observed


def test_backoff_with_full_jitter_stays_under_the_cap(
    server: FakeServer, servicer: FakeV2Servicer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Full jitter: each back-off is drawn from [0, cap]. The draws are recorded so the gaps
    can be checked against them; each gap is at least its draw and at most cap + slack."""
    retry = taskgrpc.RetryPolicy(
        max_attempts=7, initial_backoff=0.04, multiplier=2.0, max_backoff=0.16, jitter=True
    )
    caps = [0.04, 0.08, 0.16, 0.16, 0.16, 0.16]
    slack = 0.1
    draws: list[tuple[float, float, float]] = []
    uniform = random.uniform

    def recording(a: float, b: float) -> float:
        value = uniform(a, b)
        draws.append((a, b, value))
        return value

    random.seed(1234)
    monkeypatch.setattr(random, "uniform", recording)
    [task_id] = servicer.put_tasks(USER, "jitter", [task("seeded")])
    servicer.set_faults(ALWAYS)
    with client(server, "jitter", retry=retry) as c, pytest.raises(taskgrpc.ThrottledError):
        c.get(task_id)
    monkeypatch.undo()
    observed = gaps(arrival_times(servicer, "GetTask"))
    print(f"\n[backoff jitter] gaps={[round(g, 4) for g in observed]}")
    assert [(a, b) for a, b, _ in draws] == [(0.0, cap) for cap in caps]
    assert len(observed) == len(caps)
    for gap, cap, (_, _, drawn) in zip(observed, caps, draws, strict=True):
        assert drawn <= gap <= cap + slack, (observed, caps)
    assert any(drawn < 0.9 * cap for cap, (_, _, drawn) in zip(caps, draws, strict=True))


@pytest.mark.parametrize("assign_id", [True, False])
def test_throttled_create_is_retried_and_creates_exactly_once(
    server: FakeServer, servicer: FakeV2Servicer, assign_id: bool
) -> None:
    throttles = 3
    seed = seed_for([True] * throttles + [False], 0.5)
    servicer.set_faults(Faults(throttled=0.5, seed=seed, methods={"PostTasks"}))
    sent = task("exactly-once", description="retried after throttles")
    with client(server, "once", retry=FAST) as c:
        out = c.create(sent, assign_id=assign_id)
    assert servicer.faults_injected == {"throttled": throttles}
    assert servicer.calls == {"PostTasks": throttles + 1}  # no lookup was needed
    on_server = stored(servicer, "once")
    assert list(on_server) == [out.id]
    assert on_server[out.id] == out
    assert stripped(out) == sent


def test_throttled_create_many_batches_create_each_task_once(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    servicer.set_faults(Faults(throttled=0.5, seed=7, methods={"PostTasks"}))
    sent = [task(f"t{i}") for i in range(60)]
    with client(server, "manythr", retry=FAST) as c:
        out = c.create_many(sent, batch_size=3, assign_ids=False)
    injected = servicer.faults_injected["throttled"]
    assert injected > 0
    assert servicer.calls == {"PostTasks": 20 + injected}
    on_server = stored(servicer, "manythr")
    assert sorted(t.name for t in on_server.values()) == sorted(t.name for t in sent)
    assert [t.name for t in out] == [t.name for t in sent]


def test_max_rps_paces_every_thread_sharing_the_client(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    """60 calls from 4 threads at max_rps=50 take at least (60 - burst) / 50 s, whatever the
    split between threads: the bucket is shared. Only a lower bound is asserted; a burst of
    up to rate/5 is allowed."""
    rate, calls, threads = 50, 60, 4
    burst_allowed = rate / 5
    [task_id] = servicer.put_tasks(USER, "rps", [task("seeded")])
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    with client(server, "rps", max_rps=rate) as c:

        def worker() -> None:
            try:
                barrier.wait()
                for _ in range(calls // threads):
                    c.get(task_id)
            except BaseException as exc:  # reported below
                errors.append(exc)

        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(30)
    assert errors == []
    times = arrival_times(servicer, "GetTask")
    assert len(times) == calls
    span = times[-1] - times[0]
    print(f"\n[max_rps={rate}] {calls} calls from {threads} threads in {span:.3f} s")
    assert span >= (calls - burst_allowed - 1) / rate, span


# --- the limiter never goes into debt ---------------------------------------------------------


@pytest.mark.timing
def test_async_bursts_never_lock_the_limiter_up(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    """max_rps=50, timeout=2, two bursts of 300 gets: each burst is served at about the
    rate within the deadline (callers that cannot be served in time take no token), and
    the bucket is never left in debt."""
    [task_id] = servicer.put_tasks(USER, "burst", [task("seeded")])

    async def burst(c: taskgrpc.AsyncTaskClient) -> tuple[int, int]:
        outcomes = await asyncio.gather(
            *(c.get(task_id) for _ in range(300)), return_exceptions=True
        )
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        assert all(isinstance(o, taskgrpc.DeadlineExceededError) for o in refused)
        return len(outcomes) - len(refused), len(refused)

    async def go() -> list[tuple[int, int, float]]:
        async with aclient(server, "burst", max_rps=50, timeout=2) as c:
            assert c._limiter is not None
            out = []
            for _ in range(2):
                served, refused = await burst(c)
                out.append((served, refused, c._limiter.level))
            return out

    results = asyncio.run(go())
    print(f"\n[async bursts] (served, refused, bucket level) = {results}")
    for served, _, level in results:
        assert 50 <= served <= 2 * 50 + 5 + 10
        assert level > -2


@pytest.mark.timing
def test_threads_under_contention_keep_being_served_and_an_idle_client_serves_at_once(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    """32 threads at max_rps=15, timeout=1 for 3 s: about 15 calls a second are served
    throughout; afterwards the bucket is not in debt and an idle client serves at once."""
    [task_id] = servicer.put_tasks(USER, "contention", [task("seeded")])
    rate, seconds = 15, 3.0
    served = Counter[str]()
    lock = threading.Lock()
    with client(server, "contention", max_rps=rate, timeout=1) as c:
        end = time.monotonic() + seconds

        def worker() -> None:
            while time.monotonic() < end:
                try:
                    c.get(task_id)
                    kind = "served"
                except taskgrpc.DeadlineExceededError:
                    kind = "refused"  # retried at once: the refusal itself must not spin
                with lock:
                    served[kind] += 1

        pool = [threading.Thread(target=worker) for _ in range(32)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(30)
        assert c._limiter is not None
        level = c._limiter.level
        time.sleep(0.2)
        start = time.monotonic()
        c.get(task_id, timeout=0.5)
        idle_call = time.monotonic() - start
    print(f"\n[32 threads, max_rps=15] {dict(served)} level={level:.2f} idle call={idle_call:.3f}s")
    assert served["served"] >= 0.6 * rate * seconds
    assert served["served"] <= rate * (seconds + 1) + 2
    assert level > -2
    assert idle_call < 0.2


@pytest.mark.timing
def test_cancelled_waiters_give_their_tokens_back(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    """40 gets queue on a max_rps=4 client with no deadline (about 10 s of tokens booked);
    cancelled, they give the tokens back, so the next call is served at once."""
    [task_id] = servicer.put_tasks(USER, "giveback", [task("seeded")])

    async def go() -> tuple[float, float]:
        async with aclient(server, "giveback", max_rps=4, timeout=None) as c:
            waiting = [asyncio.ensure_future(c.get(task_id)) for _ in range(40)]
            await asyncio.sleep(0.2)
            for w in waiting:
                w.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)
            await asyncio.sleep(0.3)
            assert c._limiter is not None
            level = c._limiter.level
            loop = asyncio.get_running_loop()
            start = loop.time()
            await c.get(task_id, timeout=1.0)
            return level, loop.time() - start

    level, elapsed = asyncio.run(go())
    print(f"\n[cancelled waiters] level={level:.2f} next call={elapsed:.3f}s")
    assert level > -1
    assert elapsed < 0.5
