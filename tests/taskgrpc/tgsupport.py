"""Shared helpers for the tests: constants, the one client factory (``new_client``), a fake
clock, a scripted sans-I/O driver, and small proto helpers.

Importable from every test folder as ``tgsupport`` (its folder is on ``pythonpath`` in
``pyproject.toml``); the fixtures built on it are in ``tests/conftest.py``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

import grpc
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from clarifai_grpc.grpc.api.status import status_pb2

import taskgrpc
from taskgrpc import _ops

PAT = "pat-SECRET-0123456789"
USER = "user1"
APP = "app1"
HEX32 = re.compile(r"[0-9a-f]{32}")

#: Fields the server sets on a stored task; everything else must round-trip unchanged.
SERVER_FIELDS = ("id", "created_at", "modified_at", "status", "user_id", "app_id")

FAST_RETRY = taskgrpc.RetryPolicy(initial_backoff=0.001, max_backoff=0.001)


def examples(n: int) -> int:
    """``n`` Hypothesis examples scaled to the loaded settings profile (see ``tests/conftest.py``):
    a quarter of ``n`` (at least 10) under ``quick``, the default; all ``n`` under ``thorough``
    (``pytest --hypothesis-profile=thorough``)."""
    from hypothesis import settings

    return max(10, n * settings.default.max_examples // 100)


def client_settings(target: str, **overrides: Any) -> dict[str, Any]:
    """The keyword arguments of a test client of ``target`` (plain text on loopback, fast
    retries, this module's PAT, user and app), with ``overrides`` applied."""
    settings: dict[str, Any] = {
        "pat": PAT,
        "user_id": USER,
        "app_id": APP,
        "target": target,
        "secure": False,
        "retry": FAST_RETRY,
        "timeout": 10.0,
    }
    settings.update(overrides)
    return settings


def new_client(target: str, **overrides: Any) -> taskgrpc.TaskClient:
    """A sync client of ``target``; see :func:`client_settings`. The caller closes it."""
    return taskgrpc.TaskClient(**client_settings(target, **overrides))


def new_aclient(target: str, **overrides: Any) -> taskgrpc.AsyncTaskClient:
    """An async client of ``target``; see :func:`client_settings`. The caller closes it."""
    return taskgrpc.AsyncTaskClient(**client_settings(target, **overrides))


def uaid(user: str = USER, app: str = APP) -> r.UserAppIDSet:
    return r.UserAppIDSet(user_id=user, app_id=app)


def ok_status() -> status_pb2.Status:
    return status_pb2.Status(code=sc.SUCCESS, description="Ok")


def bad_status(code: int, description: str = "", details: str = "", req_id: str = ""):
    return status_pb2.Status(code=code, description=description, details=details, req_id=req_id)


def simple_task(
    task_id: str = "", name: str = "", type: int = r.Task.CONCEPTS_CLASSIFICATION, **kwargs: Any
) -> r.Task:
    """A minimal valid task (built by hand, so the builders are not under test here)."""
    task = r.Task(
        id=task_id,
        name=name,
        type=type,
        concepts=[r.TaskConcept(concept=r.Concept(id="cat"))],
        worker=r.TaskWorker(strategy=r.TaskWorker.FULL),
        input_source=r.TaskInputSource(type=r.TaskInputSource.ALL_INPUTS),
        review=r.TaskReview(strategy=r.TaskReview.NONE),
        **kwargs,
    )
    return task


def reviewers_two(task_id: str = "") -> r.Task:
    """A task breaking a documented rule: approval_threshold_reviewers takes 0, 1 or -1."""
    task = taskgrpc.build_task(
        "CONCEPTS_CLASSIFICATION",
        concepts=["c"],
        review=taskgrpc.consensus(["r"], approval_threshold=1),
    )
    task.review.consensus_strategy_info.approval_threshold_reviewers = 2
    task.id = task_id
    return task


def copy(message: Any) -> Any:
    out = type(message)()
    out.CopyFrom(message)
    return out


def ids(tasks: Iterable[Any]) -> list[str]:
    return [t.id for t in tasks]


def seed(server: Any, n: int, prefix: str = "s", user: str = USER, app: str = APP) -> list[str]:
    """Store ``n`` tasks directly in ``server`` (oldest first); return their ids newest first."""
    tasks = [simple_task(f"{prefix}{i:05d}") for i in range(n)]
    return list(reversed(server.servicer.put_tasks(user, app, tasks)))


def without_server_fields(task: r.Task) -> r.Task:
    out = copy(task)
    for name in SERVER_FIELDS:
        out.ClearField(name)
    return out


# --- time -------------------------------------------------------------------------------


class FakeClock:
    """Stands in for the ``time`` module inside a module under test."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- a scripted driver of the sans-I/O operations ----------------------------------------

#: jitter off: each back-off is exactly the cap, 1, 2, 4, 8, ... seconds
POLICY = taskgrpc.RetryPolicy(max_attempts=4, initial_backoff=1.0, max_backoff=8.0, jitter=False)


def budget(
    timeout: float | None = None,
    policy: Any = POLICY,
    limiter: Any = None,
    clock: FakeClock | None = None,
) -> _ops.Budget:
    """The budget of one operation for ``uaid()``, with this module's PAT as the secret, on
    ``clock`` if given, else on the real monotonic clock."""
    kwargs: dict[str, Any] = {} if clock is None else {"clock": clock.monotonic}
    return _ops.Budget(
        uaid=uaid(), timeout=timeout, policy=policy, limiter=limiter, secret=PAT, **kwargs
    )


class StubLimiter:
    """A TokenBucket stand-in: hands out ``waits`` in order, and like the real one takes
    nothing when the wait would reach the deadline (on ``clock``)."""

    def __init__(self, waits: Iterable[float], clock: FakeClock) -> None:
        self.clock = clock
        self.waits = list(waits)
        self.reserved = 0
        self.refused = 0
        self.given_back = 0

    def reserve(self, deadline: float | None = None) -> float | None:
        wait = self.waits.pop(0) if self.waits else 0.0
        if deadline is not None and self.clock.monotonic() + wait >= deadline:
            self.refused += 1
            return None
        self.reserved += 1
        return wait

    def give_back(self) -> None:
        self.given_back += 1


Outcome = Any  # a response message, a TaskgrpcError instance, or a callable(Call) -> either


class ScriptedDriver:
    """Runs an ``_ops`` generator: answers each Call from ``outcomes`` in order, advances the
    fake clock on each Sleep, and records every action (``.actions``) even when it raises."""

    def __init__(self, outcomes: Iterable[Outcome], clock: FakeClock | None = None) -> None:
        self.outcomes = list(outcomes)
        self.clock = clock
        self.actions: list[Any] = []

    @property
    def calls(self) -> list[_ops.Call]:
        return [a for a in self.actions if isinstance(a, _ops.Call)]

    def shape(self) -> list[tuple[Any, ...]]:
        """Each action as ``("Call", method)`` or ``("Sleep", seconds)``."""
        return [
            ("Call", a.method) if isinstance(a, _ops.Call) else ("Sleep", a.seconds)
            for a in self.actions
        ]

    def run(self, op: Any) -> Any:
        try:
            action = next(op)
            while True:
                self.actions.append(action)
                if isinstance(action, _ops.Call):
                    if not self.outcomes:
                        raise AssertionError(f"unexpected extra call of {action.method}")
                    outcome = self.outcomes.pop(0)
                    if callable(outcome) and not isinstance(outcome, BaseException):
                        outcome = outcome(action)
                    if isinstance(outcome, BaseException):
                        action = op.throw(outcome)
                    else:
                        action = op.send(outcome)
                else:
                    assert isinstance(action, _ops.Sleep), action
                    if self.clock is not None:
                        self.clock.advance(action.seconds)
                    action = op.send(None)
        except StopIteration as stop:
            return stop.value


def unavailable(method: str = "") -> taskgrpc.UnavailableError:
    return taskgrpc.UnavailableError(grpc.StatusCode.UNAVAILABLE, "down", method)


def multi(*tasks: r.Task, status: status_pb2.Status | None = None) -> s.MultiTaskResponse:
    return s.MultiTaskResponse(status=status or ok_status(), tasks=list(tasks))


def single(task: r.Task | None = None, status: status_pb2.Status | None = None):
    response = s.SingleTaskResponse(status=status or ok_status())
    if task is not None:
        response.task.CopyFrom(task)
    return response


# --- threads ----------------------------------------------------------------------------


class Runner:
    """Runs ``fn`` in a daemon thread; ``.result()`` joins with a timeout."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self.value = fn()
        except BaseException as exc:
            self.error = exc

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def join(self, timeout: float = 10.0) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("the client call did not finish (it may be waiting on a call)")

    def result(self, timeout: float = 10.0) -> Any:
        self.join(timeout)
        if self.error is not None:
            raise self.error
        return self.value
