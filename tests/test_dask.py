"""A bulk create split across the worker processes of a Dask ``LocalCluster``, exactly once.

Each worker gets one pickled ``TaskClient`` and calls ``create_many`` with assigned ids on its
share; the fake (in this process) must end with each task exactly once. Needs ``distributed``.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

# As in test_multiprocess.py: the workers import this module by name, so the repo root goes on
# sys.path, last, behind the installed packages.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

distributed = pytest.importorskip("distributed")

from clarifai_grpc.grpc.api import resources_pb2 as r  # noqa: E402

from fake_servicer import FakeServer, serve  # noqa: E402
from taskgrpc import TaskClient  # noqa: E402

pytestmark = pytest.mark.dask

PAT = "dask-SECRET-pat-4be0"
USER = "dask-user"
APP = "dask-app"


def make_task(name: str, task_id: str) -> r.Task:
    return r.Task(
        id=task_id,
        name=name,
        type=r.Task.CONCEPTS_CLASSIFICATION,
        concepts=[r.TaskConcept(concept=r.Concept(id="cat"))],
        worker=r.TaskWorker(strategy=r.TaskWorker.FULL),
        input_source=r.TaskInputSource(type=r.TaskInputSource.ALL_INPUTS),
    )


def create_share(client: TaskClient, tasks: Sequence[r.Task]) -> tuple[int, list[str]]:
    """Runs on a Dask worker: create this share; (worker pid, created ids in order)."""
    created = client.create_many(tasks, batch_size=16, concurrency=2)
    client.close()
    return os.getpid(), [t.id for t in created]


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with serve(pats=[PAT]) as running:
        yield running


def test_local_cluster_bulk_create_is_exactly_once(server: FakeServer) -> None:
    client = TaskClient(
        pat=PAT, user_id=USER, app_id=APP, target=server.target, secure=False, timeout=20
    )
    tasks = [make_task(f"dask-{i}", uuid.uuid4().hex) for i in range(200)]
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as dask,
    ):
        workers = sorted(dask.scheduler_info()["workers"])
        assert len(workers) == 2
        shares = [tasks[i :: len(workers)] for i in range(len(workers))]
        futures = [
            dask.submit(create_share, client, share, workers=[worker], pure=False)
            for worker, share in zip(workers, shares, strict=True)
        ]
        results = dask.gather(futures)

    pids = [pid for pid, _ in results]
    assert len(set(pids)) == 2 and os.getpid() not in pids  # two separate worker processes
    assert [ids for _, ids in results] == [[t.id for t in share] for share in shares]
    stored = server.servicer.tasks(USER, APP)
    assert Counter(t.id for t in stored) == Counter(t.id for t in tasks)
    assert sorted(t.name for t in stored) == sorted(t.name for t in tasks)
    assert client._channel is None  # the driver's client was only ever pickled
