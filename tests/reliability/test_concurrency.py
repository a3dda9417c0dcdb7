"""Concurrency: 16 threads share one client for 100 mixed operations each.

Each thread owns its tasks and keeps a model of them (id -> name, status); every read is
checked against that model as it goes, and at the end the server's store must equal the union
of the models.
"""

from __future__ import annotations

import random
import threading

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from relsupport import USER, client, figures, task

import taskgrpc
from fake_servicer import FakeServer, FakeV2Servicer, Faults

CHAOS = Faults(unavailable=0.1, throttled=0.1, commit_unavailable=0.1, seed=16)
THREADS = 16
OPS = 100
STATUSES = [sc.TASK_DONE, sc.TASK_WONT_DO, sc.TASK_IN_PROGRESS, sc.TASK_IDLE, sc.TASK_FAILED]
Model = dict[str, tuple[str, int]]  # id -> (name, status code)
OP_NAMES = ["create", "get", "update", "set_status", "list", "delete"]
OP_WEIGHTS = [3, 2, 2, 2, 2, 1]


class Worker:
    def __init__(self, c: taskgrpc.TaskClient, index: int, barrier: threading.Barrier) -> None:
        self.c = c
        self.index = index
        self.rng = random.Random(1000 + index)
        self.barrier = barrier
        self.model: Model = {}
        self.deleted: list[str] = []
        self.counts: dict[str, int] = {}
        self.errors: list[BaseException] = []
        self.serial = 0

    def name(self) -> str:
        self.serial += 1
        return f"w{self.index}-n{self.serial}"

    def check(self, t: r.Task) -> None:
        assert (t.name, t.status.code) == self.model[t.id], (t.id, t.name, t.status.code)

    def run(self) -> None:
        try:
            self.barrier.wait()
            for _ in range(OPS):
                self.step()
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)

    def step(self) -> None:
        op = "create" if not self.model else self.rng.choices(OP_NAMES, OP_WEIGHTS)[0]
        self.counts[op] = self.counts.get(op, 0) + 1
        c, rng = self.c, self.rng
        if op == "create":
            name = self.name()
            out = c.create(task(name))
            assert out.name == name
            self.model[out.id] = (name, out.status.code)
            return
        task_id = rng.choice(sorted(self.model))
        if op == "get":
            self.check(c.get(task_id))
        elif op == "update":
            name = self.name()
            new = task(name, description=f"updated by {self.index}")
            new.id = task_id
            out = c.update(new)
            self.model[task_id] = (name, self.model[task_id][1])  # the status is kept
            self.check(out)
        elif op == "set_status":
            code = rng.choice(STATUSES)
            out = c.set_status(task_id, code)
            self.model[task_id] = (self.model[task_id][0], code)
            self.check(out)
        elif op == "list":
            wanted = rng.sample(sorted(self.model), min(5, len(self.model)))
            gone = self.deleted[-2:]
            listed = list(c.list(ids=wanted + gone, per_page=10))
            assert sorted(t.id for t in listed) == sorted(wanted)
            for t in listed:
                self.check(t)
        else:
            c.delete(task_id)
            del self.model[task_id]
            self.deleted.append(task_id)


@pytest.mark.parametrize("faults", [None, CHAOS], ids=["no-faults", "chaos"])
def test_sixteen_threads_share_one_client(
    server: FakeServer, servicer: FakeV2Servicer, faults: Faults | None
) -> None:
    """No error, and a consistent final state; under 30% faults too, since every verb used
    here is retried safely (creates carry ids)."""
    barrier = threading.Barrier(THREADS)
    servicer.set_faults(faults)
    with client(server, "shared") as c:
        workers = [Worker(c, i, barrier) for i in range(THREADS)]
        threads = [threading.Thread(target=w.run, name=f"worker-{w.index}") for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        listed = list(c.list(per_page=1000))
    fig = figures(f"concurrency {THREADS}x{OPS} faults={faults is not None}", servicer, "shared")
    servicer.set_faults(None)

    errors = [(w.index, e) for w in workers for e in w.errors]
    assert errors == []
    assert all(sum(w.counts.values()) == OPS for w in workers)
    for op in OP_NAMES:
        assert sum(w.counts.get(op, 0) for w in workers) > 0, op

    expected: Model = {}
    for w in workers:
        assert expected.keys().isdisjoint(w.model)
        expected.update(w.model)
    on_server = {t.id: (t.name, t.status.code) for t in servicer.tasks(USER, "shared")}
    assert on_server == expected
    assert {t.id: (t.name, t.status.code) for t in listed} == expected
    assert fig["calls_total"] >= THREADS * OPS + fig["faults_total"]
    if faults is not None:
        assert fig["faults_total"] > 0
