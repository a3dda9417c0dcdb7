"""Shared helpers for the reliability tests: this folder's user and PAT, clients of a server
(through the one factory, ``tgsupport.new_client``), tasks, and checks of what was stored."""

from __future__ import annotations

import itertools
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from tgsupport import new_aclient, new_client

import taskgrpc
from fake_servicer import FakeServer, FakeV2Servicer

PAT = "rel-PAT-7f3c9a1e5b2d4c6f8a0b"
USER = "rel-user"

#: Server-set fields of a stored task; everything else must round-trip unchanged.
SERVER_FIELDS = ("id", "created_at", "modified_at", "status", "user_id", "app_id")

#: Retries that outlast 30% faults in these tests (15 faults in a row: p = 0.3**15 ~ 1e-8
#: per call, over the suite's few thousand calls), with back-offs of milliseconds.
FAST = taskgrpc.RetryPolicy(max_attempts=15, initial_backoff=0.001, max_backoff=0.02)

#: These tests use the client's own default time budget (``TaskClient(timeout=30.0)``).
CLIENT_DEFAULT_TIMEOUT = 30.0


def client(
    server: FakeServer,
    app: str = "app",
    *,
    retry: Any = FAST,
    pat: str = PAT,
    **kwargs: Any,
) -> taskgrpc.TaskClient:
    """A sync client of ``server`` for ``app``, as this folder's user (``tgsupport.new_client``)."""
    kwargs.setdefault("timeout", CLIENT_DEFAULT_TIMEOUT)
    return new_client(server.target, pat=pat, user_id=USER, app_id=app, retry=retry, **kwargs)


def aclient(
    server: FakeServer, app: str = "app", *, retry: Any = FAST, **kwargs: Any
) -> taskgrpc.AsyncTaskClient:
    """An async client of ``server`` for ``app``, as this folder's user (``new_aclient``)."""
    kwargs.setdefault("timeout", CLIENT_DEFAULT_TIMEOUT)
    return new_aclient(server.target, pat=PAT, user_id=USER, app_id=app, retry=retry, **kwargs)


def task(name: str, *, description: str = "", concepts: Iterable[str] = ("cat",)) -> r.Task:
    """A valid task built with the public builders."""
    return taskgrpc.build_task(
        "CONCEPTS_CLASSIFICATION", concepts=list(concepts), name=name, description=description
    )


def copy(message: Any) -> Any:
    out = type(message)()
    out.CopyFrom(message)
    return out


def stripped(t: r.Task, fields: Iterable[str] = SERVER_FIELDS) -> r.Task:
    """A copy of ``t`` without the server-set fields."""
    out = copy(t)
    for name in fields:
        out.ClearField(name)
    return out


def stored(servicer: FakeV2Servicer, app: str) -> dict[str, r.Task]:
    """The app's tasks on the fake, by id."""
    return {t.id: t for t in servicer.tasks(USER, app)}


def figures(title: str, servicer: FakeV2Servicer, app: str) -> dict[str, Any]:
    """Print (visible with ``pytest -s``) and return calls, faults injected and tasks stored."""
    calls = dict(sorted(servicer.calls.items()))
    faults = dict(sorted(servicer.faults_injected.items()))
    out = {
        "calls": calls,
        "calls_total": sum(calls.values()),
        "faults_injected": faults,
        "faults_total": sum(faults.values()),
        "tasks_stored": len(servicer.tasks(USER, app)),
    }
    print(f"\n[{title}] {out}")
    return out


def seed_for(pattern: list[bool], p: float) -> int:
    """A seed whose fault stream at total probability ``p`` starts with ``pattern``
    (True: a fault), computed the way ``fake_servicer.faults`` draws (one
    ``random.Random(seed).random()`` per targeted call)."""
    for seed in range(100_000):
        rng = random.Random(seed)
        if all((rng.random() < p) == want for want in pattern):
            return seed
    raise AssertionError("no seed found")


def arrival_times(servicer: FakeV2Servicer, method: str) -> list[float]:
    return [rec.time for rec in servicer.requests if rec.method == method]


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def no_duplicates(names: Iterable[str]) -> list[str]:
    """The names that occur more than once."""
    return sorted(n for n, k in Counter(names).items() if k > 1)


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """``with stopwatch() as elapsed: ...``; ``elapsed()`` is frozen at exit."""
    start = time.monotonic()
    end: list[float] = []

    def elapsed() -> float:
        return (end[0] if end else time.monotonic()) - start

    try:
        yield elapsed
    finally:
        end.append(time.monotonic())
