"""TaskClient end to end against fake_servicer on a real loopback server."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import subprocess
import sys
import threading
import time

import grpc
import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from tgsupport import (
    APP,
    HEX32,
    PAT,
    USER,
    copy,
    simple_task,
    without_server_fields,
)

import taskgrpc
from fake_servicer import FakeV2Servicer, Faults, serve
from taskgrpc import (
    RetryPolicy,
    TaskgrpcError,
    ValidationError,
    all_inputs,
    auto_annotation,
    build_task,
    consensus,
    dataset,
    dynamic,
    full,
    manual_review,
    no_review,
    partitioned,
    partitioned_evenly,
    saved_search,
)

CC = "CONCEPTS_CLASSIFICATION"


def ids(tasks) -> list[str]:
    return [t.id for t in tasks]


def seed(server, n: int, prefix: str = "s", user: str = USER, app: str = APP) -> list[str]:
    """Store ``n`` tasks directly (oldest first); return their ids newest first."""
    tasks = [simple_task(f"{prefix}{i:05d}") for i in range(n)]
    return list(reversed(server.servicer.put_tasks(user, app, tasks)))


# --- every builder round-trips ------------------------------------------------------------

BUILT = {
    "non_assigned": lambda: build_task(CC, concepts=["cat", "dog"]),
    "full_named": lambda: build_task(
        CC, concepts=["cat"], name="n", description="d", workers=full(["w1", "w2"])
    ),
    "dynamic": lambda: build_task(CC, concepts=["cat"], workers=dynamic(["w1", "w2"])),
    "weighted": lambda: build_task(CC, concepts=["cat"], workers=partitioned({"w1": 90, "w2": 10})),
    "weighted_consensus": lambda: build_task(
        CC,
        concepts=["cat"],
        workers=partitioned({"w1": 1, "w2": 1, "w3": 1}, workers_per_input=2),
        review=consensus(["r1", "r2"], approval_threshold=2, reviewers_threshold=-1),
    ),
    "evenly": lambda: build_task(
        CC, concepts=["cat"], workers=partitioned_evenly(["w1", "w2"], workers_per_input=2)
    ),
    "auto_model": lambda: build_task(
        "TYPE_NOT_SET",
        concepts=["cat"],
        workers=auto_annotation(model_id="general", model_version_id="v1"),
    ),
    "auto_workflow": lambda: build_task(
        "TYPE_NOT_SET", concepts=["cat"], workers=auto_annotation(workflow_id="wf")
    ),
    "saved_search": lambda: build_task(CC, concepts=["cat"], source=saved_search("ss1")),
    "dataset": lambda: build_task(CC, concepts=["cat"], source=dataset("ds1")),
    "all_inputs_no_review": lambda: build_task(
        CC, concepts=["cat"], source=all_inputs(), review=no_review()
    ),
    "manual_review": lambda: build_task(
        "BOUNDING_BOX_DETECTION", concepts=["cat"], review=manual_review(["r1", "r2"])
    ),
    "consensus_full": lambda: build_task(
        "POLYGON_DETECTION",
        concepts=["cat"],
        workers=full(["w1", "w2"]),
        review=consensus(["r1"], approval_threshold=2),
    ),
    "video": lambda: build_task("BOUNDING_BOX_DETECTION", concepts=["car"], sample_ms=250),
}


@pytest.mark.parametrize("name", BUILT)
def test_every_builder_round_trips(client, name):
    task = BUILT[name]()
    created = client.create(task)
    assert HEX32.fullmatch(created.id)
    assert without_server_fields(created) == task
    got = client.get(created.id)
    assert got == created
    assert (got.user_id, got.app_id) == (USER, APP)


# --- create --------------------------------------------------------------------------------


def test_create_assigns_a_client_id(client, server):
    task = build_task(CC, concepts=["cat"])
    created = client.create(task)
    assert not task.id
    (record,) = [c for c in server.servicer.requests if c.method == "PostTasks"]
    assert record.request.tasks[0].id == created.id  # the id was chosen by the client
    assert dict(record.metadata)["authorization"] == f"Key {PAT}"


def test_create_without_assign_id_gets_a_server_id(client, server):
    created = client.create(build_task(CC, concepts=["cat"]), assign_id=False)
    (record,) = server.servicer.requests
    assert record.request.tasks[0].id == ""
    assert created.id
    assert ids(server.servicer.tasks(USER, APP)) == [created.id]


def test_create_with_own_id(client):
    task = build_task(CC, concepts=["cat"])
    task.id = "my-task-1"
    assert client.create(task).id == "my-task-1"
    assert client.get("my-task-1").id == "my-task-1"


def test_create_reconciles_after_a_commit_then_unavailable(make_client, server):
    server.servicer.set_faults(Faults(commit_unavailable=1.0, methods={"PostTasks"}))
    client = make_client()
    created = client.create(build_task(CC, concepts=["cat"]))
    stored = server.servicer.tasks(USER, APP)
    assert ids(stored) == [created.id]  # exactly once, no duplicate
    assert server.servicer.calls["PostTasks"] == 1
    assert created == stored[0]


def test_create_without_ids_after_commit_then_unavailable_is_outcome_unknown(client, server):
    server.servicer.set_faults(Faults(commit_unavailable=1.0, methods={"PostTasks"}))
    task = build_task(CC, concepts=["cat"])
    with pytest.raises(taskgrpc.OutcomeUnknownError) as info:
        client.create(task, assign_id=False)
    assert info.value.tasks == [task]
    assert isinstance(info.value.cause, taskgrpc.UnavailableError)
    assert server.servicer.calls["PostTasks"] == 1  # never re-sent blindly
    assert len(server.servicer.tasks(USER, APP)) == 1  # it did happen


def test_create_reconciles_a_label_order_task(make_client, server):
    # ListTasks hides label-order tasks unless asked: the reconciliation lookup must ask.
    server.servicer.set_faults(Faults(commit_unavailable=1.0, methods={"PostTasks"}))
    client = make_client()
    task = build_task(CC, concepts=["cat"])
    task.label_order_id = "lo-1"
    created = client.create(task)
    assert created.label_order_id == "lo-1"
    assert ids(server.servicer.tasks(USER, APP)) == [created.id]
    assert server.servicer.calls["PostTasks"] == 1


# --- get -------------------------------------------------------------------------------------


def test_get_unknown_is_not_found(client):
    with pytest.raises(taskgrpc.NotFoundError) as info:
        client.get("nope")
    assert info.value.code == sc.TASK_MISSING
    assert info.value.code_name == "TASK_MISSING"
    assert info.value.method == "GetTask"
    assert info.value.req_id


def test_conn_does_not_exist_is_not_found_too():
    servicer = FakeV2Servicer(not_found_code=sc.CONN_DOES_NOT_EXIST)
    with (
        serve(servicer=servicer) as server,
        taskgrpc.TaskClient(
            pat=PAT, user_id=USER, app_id=APP, target=server.target, secure=False
        ) as client,
    ):
        with pytest.raises(taskgrpc.NotFoundError) as info:
            client.get("nope")
        assert info.value.code == sc.CONN_DOES_NOT_EXIST
        with pytest.raises(taskgrpc.NotFoundError):
            client.set_status("nope", sc.TASK_DONE)


@pytest.mark.parametrize("fields", [["all"], ["worker.users", "review.users"]])
def test_get_and_list_with_additional_fields(client, fields):
    created = client.create(
        build_task(CC, concepts=["cat"], workers=full(["w1"]), review=manual_review(["r1"]))
    )
    got = client.get(created.id, additional_fields=fields)
    assert got.id == created.id
    assert ids(client.list(additional_fields=fields)) == [created.id]


def test_get_all_fields_serves_metrics(client):
    created = client.create(build_task(CC, concepts=["cat"]))
    assert client.get(created.id, additional_fields=["all"]).HasField("metrics")
    assert not client.get(created.id).HasField("metrics")


# --- list and pagination ------------------------------------------------------------------


def test_list_empty(client, server):
    assert list(client.list()) == []
    assert list(client.list().pages()) == []
    assert server.servicer.calls["ListTasks"] == 2


def test_list_exactly_one_page(client, server):
    expected = seed(server, 3)
    pages = list(client.list(per_page=3).pages())
    assert [ids(p) for p in pages] == [expected]
    # a full page might not be the last: page 2 is asked for, and comes back empty
    assert server.servicer.calls["ListTasks"] == 2


def test_list_one_more_than_a_page(client, server):
    expected = seed(server, 4)
    pages = list(client.list(per_page=3).pages())
    assert [len(p) for p in pages] == [3, 1]
    assert [t.id for p in pages for t in p] == expected
    assert server.servicer.calls["ListTasks"] == 2


def test_list_short_first_page_is_one_call(client, server):
    expected = seed(server, 2)
    assert ids(client.list(per_page=3)) == expected
    assert server.servicer.calls["ListTasks"] == 1


def test_list_per_page_1000(client, server):
    expected = seed(server, 1001)
    pages = list(client.list(per_page=1000).pages())
    assert [len(p) for p in pages] == [1000, 1]
    assert [t.id for p in pages for t in p] == expected
    requests = [c.request for c in server.servicer.requests if c.method == "ListTasks"]
    assert [(q.page, q.per_page) for q in requests] == [(1, 1000), (2, 1000)]


def test_pages_sizes(client, server):
    seed(server, 7)
    assert [len(p) for p in client.list(per_page=3).pages()] == [3, 3, 1]


def test_iterating_again_lists_again(client, server):
    expected = seed(server, 5)
    pager = client.list(per_page=2)
    assert ids(pager) == expected
    assert ids(pager) == expected


def test_prefetch_gives_the_same_tasks(client, server):
    expected = seed(server, 7)
    assert [ids(p) for p in client.list(per_page=3, prefetch=True).pages()] == [
        expected[0:3],
        expected[3:6],
        expected[6:7],
    ]
    assert ids(client.list(per_page=7, prefetch=True)) == expected


def test_list_is_newest_first(client):
    made = [client.create(build_task(CC, concepts=["cat"], name=f"t{i}")) for i in range(4)]
    assert ids(client.list()) == list(reversed(ids(made)))


@pytest.fixture
def variety(client):
    """Four tasks with distinct workers, reviewers and sources; returns their ids by name."""
    specs = {
        "a": build_task(
            CC,
            concepts=["c"],
            workers=full(["w1"]),
            source=dataset("d1"),
            review=manual_review(["r1"]),
        ),
        "b": build_task(
            CC,
            concepts=["c"],
            workers=full(["w2"]),
            source=dataset("d2"),
            review=consensus(["r1", "r2"], approval_threshold=1),
        ),
        "c": build_task(
            CC,
            concepts=["c"],
            workers=partitioned({"w1": 1, "w3": 1}),
            source=saved_search("s1"),
            review=manual_review(["r3"]),
        ),
        "d": build_task(CC, concepts=["c"]),
    }
    return {name: client.create(task).id for name, task in specs.items()}


def test_list_by_worker(client, variety):
    v = variety
    assert ids(client.list(worker_user_ids=["w1"])) == [v["c"], v["a"]]
    assert ids(client.list(worker_user_ids=["w2", "w3"])) == [v["c"], v["b"]]
    assert ids(client.list(worker_user_ids=["nobody"])) == []


def test_list_by_reviewer(client, variety):
    v = variety
    assert ids(client.list(review_user_ids=["r1"])) == [v["b"], v["a"]]
    assert ids(client.list(review_user_ids=["r2", "r3"])) == [v["c"], v["b"]]


def test_list_by_ids(client, variety):
    v = variety
    assert ids(client.list(ids=[v["a"], v["c"], "unknown"])) == [v["c"], v["a"]]


def test_list_by_input_source(client, variety):
    v = variety
    assert ids(client.list(input_source_type="DATASET")) == [v["b"], v["a"]]
    assert ids(client.list(input_source_type=r.TaskInputSource.SAVED_SEARCH)) == [v["c"]]
    assert ids(client.list(input_source_type="ALL_INPUTS")) == [v["d"]]
    assert ids(client.list(input_source_ids=["d1", "s1"])) == [v["c"], v["a"]]


def test_list_filters_combine(client, variety):
    v = variety
    assert ids(client.list(worker_user_ids=["w1"], input_source_type="DATASET")) == [v["a"]]


# --- update, set_status, delete -----------------------------------------------------------


def test_update_overwrites_the_task(client):
    created = client.create(build_task(CC, concepts=["cat"], name="old"))
    new = build_task(
        "BOUNDING_BOX_DETECTION", concepts=["dog"], name="new", workers=dynamic(["w9"])
    )
    new.id = created.id
    updated = client.update(new)
    assert without_server_fields(updated) == without_server_fields(new)
    assert updated.id == created.id
    assert updated.created_at == created.created_at
    assert updated.modified_at.ToNanoseconds() >= created.modified_at.ToNanoseconds()
    assert client.get(created.id) == updated
    assert len(list(client.list())) == 1


def test_update_unknown_is_not_found(client):
    with pytest.raises(taskgrpc.NotFoundError):
        client.update(simple_task("never-made"))


@pytest.mark.parametrize("code", [sc.TASK_DONE, "TASK_WONT_DO"])
def test_set_status(client, code):
    created = client.create(build_task(CC, concepts=["cat"], workers=full(["w1"])))
    want = code if isinstance(code, int) else sc.StatusCode.Value(code)
    updated = client.set_status(created.id, code)
    assert updated.status.code == want
    got = client.get(created.id)
    assert got.status.code == want
    assert without_server_fields(got) == without_server_fields(created)  # nothing else changed
    assert got.created_at == created.created_at


def test_delete(client, server):
    a, b, c = (client.create(build_task(CC, concepts=["x"], name=n)).id for n in "abc")
    assert client.delete(a, b) is None
    assert ids(client.list()) == [c]
    with pytest.raises(taskgrpc.NotFoundError):
        client.get(a)
    client.delete(c, c)  # the same id twice in one call, as the docs do
    last = [x for x in server.servicer.requests if x.method == "DeleteTasks"][-1]
    assert list(last.request.ids) == [c, c]
    assert list(client.list()) == []
    client.delete(c)  # already gone
    client.delete("never-existed", "nor-this")  # unknown ids are ignored


# --- errors -------------------------------------------------------------------------------


def test_wrong_pat_is_auth_error_and_changes_nothing():
    with serve(pats=["good"]) as server:

        def make(pat):
            return taskgrpc.TaskClient(
                pat=pat, user_id=USER, app_id=APP, target=server.target, secure=False
            )

        with make("good") as good, make("bad-key") as bad:
            existing = good.create(build_task(CC, concepts=["cat"]))
            attempts = [
                lambda: bad.create(build_task(CC, concepts=["cat"])),
                lambda: bad.get(existing.id),
                lambda: list(bad.list()),
                lambda: bad.update(existing),
                lambda: bad.set_status(existing.id, sc.TASK_DONE),
                lambda: bad.delete(existing.id),
            ]
            for attempt in attempts:
                with pytest.raises(taskgrpc.AuthError) as info:
                    attempt()
                assert info.value.code == sc.CONN_KEY_INVALID
                assert "bad-key" not in str(info.value)
            assert server.servicer.tasks(USER, APP) == [existing]


def test_conflict_on_existing_id(client, server):
    task = build_task(CC, concepts=["cat"])
    task.id = "dup"
    first = client.create(task)
    other = build_task(CC, concepts=["cat"], name="other content")
    other.id = "dup"
    with pytest.raises(taskgrpc.ConflictError) as info:
        client.create(other)
    assert info.value.code == sc.TASK_CONFLICT
    assert info.value.method == "PostTasks"
    assert "dup" in info.value.description
    # the conflict is settled by one lookup, never by posting again
    assert server.servicer.calls["PostTasks"] == 2
    assert server.servicer.calls["ListTasks"] == 1
    assert server.servicer.tasks(USER, APP) == [first]


def test_creating_the_same_task_with_its_id_again_returns_it(client, server):
    # An id works like an idempotency key: the same content under the same id is the
    # task an earlier run created, so a re-run returns it and stores nothing new.
    task = build_task(CC, concepts=["cat"], name="same")
    task.id = "again"
    first = client.create(task)
    assert client.create(task) == first
    assert client.create_many([task]) == [first]
    assert server.servicer.tasks(USER, APP) == [first]


def test_invalid_request_from_the_server(client, server):
    # The builders do not police id syntax; the fake refuses ids with spaces.
    task = build_task(CC, concepts=["cat"])
    task.id = "not a valid id!"
    with pytest.raises(taskgrpc.InvalidRequestError) as info:
        client.create(task)
    assert info.value.code == sc.CONN_INVALID_REQUEST
    assert "id" in info.value.description
    assert server.servicer.tasks(USER, APP) == []


def test_throttled_after_retries(make_client, server):
    server.servicer.set_faults(Faults(throttled=1.0, methods={"GetTask"}))
    client = make_client(
        retry=RetryPolicy(max_attempts=3, initial_backoff=0.001, max_backoff=0.001)
    )
    with pytest.raises(taskgrpc.ThrottledError) as info:
        client.get("x")
    assert info.value.code == sc.CONN_THROTTLED
    assert server.servicer.calls["GetTask"] == 3


def test_unavailable_after_retries(make_client, server):
    server.servicer.set_faults(Faults(unavailable=1.0, methods={"ListTasks"}))
    client = make_client(
        retry=RetryPolicy(max_attempts=2, initial_backoff=0.001, max_backoff=0.001)
    )
    with pytest.raises(taskgrpc.UnavailableError):
        list(client.list())
    assert server.servicer.calls["ListTasks"] == 2


def test_unavailable_then_success_is_retried(make_client, server):
    # seeded stream: some calls fail, all eventually succeed with enough attempts
    server.servicer.set_faults(Faults(unavailable=0.5, seed=7, methods={"GetTask"}))
    client = make_client(retry=RetryPolicy(max_attempts=30, initial_backoff=0.0, max_backoff=0.0))
    created = client.create(build_task(CC, concepts=["cat"]))
    for _ in range(10):
        assert client.get(created.id) == created
    assert server.servicer.faults_injected["unavailable"] > 0
    assert server.servicer.calls["GetTask"] == 10 + server.servicer.faults_injected["unavailable"]


def test_server_deadline(make_client, server):
    server.servicer.set_faults(Faults(latency_ms=400, methods={"GetTask"}))
    client = make_client()
    with pytest.raises(taskgrpc.DeadlineExceededError):
        client.get("x", timeout=0.1)


# --- app isolation --------------------------------------------------------------------------


def test_apps_are_isolated(make_client, server):
    one = make_client(app_id="app-one")
    two = make_client(app_id="app-two")
    task = build_task(CC, concepts=["cat"])
    task.id = "shared-id"
    created = one.create(task)
    assert list(two.list()) == []
    with pytest.raises(taskgrpc.NotFoundError):
        two.get("shared-id")
    two.delete("shared-id")
    assert one.get("shared-id") == created
    # the same id may exist in the other app
    assert two.create(task).app_id == "app-two"
    assert ids(one.list()) == ids(two.list()) == ["shared-id"]


# --- bulk ------------------------------------------------------------------------------------


def test_create_many_keeps_input_order(client, server):
    tasks = [build_task(CC, concepts=["c"], name=f"task {i}") for i in range(10)]
    made = client.create_many(tasks, batch_size=3, concurrency=4)
    assert [t.name for t in made] == [f"task {i}" for i in range(10)]
    assert all(HEX32.fullmatch(t.id) for t in made)
    assert server.servicer.calls["PostTasks"] == 4
    assert sorted(ids(server.servicer.tasks(USER, APP))) == sorted(ids(made))
    assert all(not t.id for t in tasks)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_create_many_concurrency(client, server, concurrency):
    # Wide margins so a loaded machine cannot flip the verdict: sequential batches arrive
    # >= 0.5 s apart, concurrent ones within a small part of that.
    server.servicer.set_faults(Faults(latency_ms=500, methods={"PostTasks"}))
    client.create_many(
        [build_task(CC, concepts=["c"]) for _ in range(4)], batch_size=1, concurrency=concurrency
    )
    arrivals = sorted(c.time for c in server.servicer.requests if c.method == "PostTasks")
    assert len(arrivals) == 4
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    if concurrency == 1:
        assert min(gaps) >= 0.45  # each batch waits for the previous one's answer
    else:
        assert arrivals[-1] - arrivals[0] < 0.4  # all four were in flight together


def test_create_many_empty(client, server):
    assert client.create_many([]) == []
    assert sum(server.servicer.calls.values()) == 0


def test_create_many_partial_failure(client, server):
    server.servicer.put_tasks(USER, APP, [simple_task("x3", name="already here")])
    tasks = [build_task(CC, concepts=["c"], name=f"n{i}") for i in range(6)]
    for i, task in enumerate(tasks):
        task.id = f"x{i}"
    with pytest.raises(taskgrpc.BulkError) as info:
        client.create_many(tasks, batch_size=2, concurrency=4)
    err = info.value
    assert err.operation == "create_many"
    assert err.items == tasks
    # the refused batch [x2, x3] is narrowed down: only the foreign id fails
    assert sorted(err.errors) == [3]
    assert type(err.errors[3]) is taskgrpc.ConflictError
    assert [t.id if t is not None else None for t in err.results] == [
        "x0",
        "x1",
        "x2",
        None,
        "x4",
        "x5",
    ]
    assert ids(err.succeeded) == ["x0", "x1", "x2", "x4", "x5"]
    assert err.failed_items == tasks[3:4]
    assert sorted(ids(server.servicer.tasks(USER, APP))) == ["x0", "x1", "x2", "x3", "x4", "x5"]
    assert client.get("x3").name == "already here"


def test_create_many_progress(client):
    calls = []
    lock = threading.Lock()

    def progress(done, total):
        with lock:
            calls.append((done, total))

    client.create_many(
        [build_task(CC, concepts=["c"]) for _ in range(10)],
        batch_size=3,
        concurrency=4,
        progress=progress,
    )
    assert len(calls) == 4
    assert {total for _, total in calls} == {10}
    done = [d for d, _ in calls]
    assert done == sorted(done) and len(set(done)) == 4
    assert done[-1] == 10


def test_create_many_progress_sequential(client):
    calls = []
    client.create_many(
        [build_task(CC, concepts=["c"]) for _ in range(10)],
        batch_size=3,
        concurrency=1,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(3, 10), (6, 10), (9, 10), (10, 10)]


def test_create_many_validates_everything_first(client, server):
    bad = reviewers_two()
    good = [build_task(CC, concepts=["c"]) for _ in range(3)]
    with pytest.raises(ValidationError, match=r"tasks\[3\]"):
        client.create_many([*good, bad], batch_size=1)
    dup = [copy(good[0]), copy(good[1])]
    dup[0].id = dup[1].id = "same"
    with pytest.raises(ValidationError, match="same"):
        client.create_many(dup)
    assert sum(server.servicer.calls.values()) == 0


def test_update_many(client, server):
    made = client.create_many([build_task(CC, concepts=["c"], name="old") for _ in range(5)])
    for i, task in enumerate(made):
        task.name = f"new {i}"
    calls = []
    updated = client.update_many(
        made, batch_size=2, concurrency=2, progress=lambda d, t: calls.append((d, t))
    )
    assert [t.name for t in updated] == [f"new {i}" for i in range(5)]
    assert ids(updated) == ids(made)
    assert {t.id: t.name for t in server.servicer.tasks(USER, APP)} == {
        t.id: f"new {i}" for i, t in enumerate(made)
    }
    assert max(calls) == (5, 5)


def test_update_many_partial_failure(client, server):
    made = client.create_many([build_task(CC, concepts=["c"], name="old") for _ in range(4)])
    ghost = simple_task("ghost", name="new")
    batch = [made[0], made[1], made[2], ghost]
    for task in batch:
        task.name = "new"
    with pytest.raises(taskgrpc.BulkError) as info:
        client.update_many(batch, batch_size=2, concurrency=1)
    err = info.value
    # the refused batch [made[2], ghost] is narrowed down: only the missing task fails
    assert sorted(err.errors) == [3]
    assert type(err.errors[3]) is taskgrpc.NotFoundError
    assert ids(err.succeeded) == ids(made[:3])
    names = {t.id: t.name for t in server.servicer.tasks(USER, APP)}
    assert [names[t.id] for t in made] == ["new", "new", "new", "old"]


def test_delete_many(client, server):
    made = client.create_many([build_task(CC, concepts=["c"]) for _ in range(5)])
    calls = []
    assert (
        client.delete_many(
            [*ids(made), "unknown"], batch_size=2, progress=lambda d, t: calls.append((d, t))
        )
        is None
    )
    assert server.servicer.tasks(USER, APP) == []
    assert server.servicer.calls["DeleteTasks"] == 3
    assert max(calls) == (6, 6)


# --- validation at the client: nothing is sent -------------------------------------------------


def reviewers_two(task_id: str = ""):
    """A task breaking a documented rule: approval_threshold_reviewers takes 0, 1 or -1."""
    task = build_task(CC, concepts=["c"], review=consensus(["r"], approval_threshold=1))
    task.review.consensus_strategy_info.approval_threshold_reviewers = 2
    task.id = task_id
    return task


INVALID = {
    "get_empty_id": (lambda c: c.get(""), "task_id"),
    "update_empty_id": (lambda c: c.update(build_task(CC, concepts=["c"])), "id"),
    "set_status_empty_id": (lambda c: c.set_status("", sc.TASK_DONE), "task_id"),
    "set_status_unknown_code": (lambda c: c.set_status("t1", "NOT_A_CODE"), "status"),
    "delete_no_ids": (lambda c: c.delete(), "id"),
    "delete_empty_id": (lambda c: c.delete("a", ""), "ids"),
    "list_per_page_0": (lambda c: c.list(per_page=0), "per_page"),
    "list_per_page_1001": (lambda c: c.list(per_page=1001), "per_page"),
    "list_bad_source_type": (lambda c: c.list(input_source_type="NOPE"), "input_source_type"),
    "get_bad_additional_field": (lambda c: c.get("t", additional_fields=["x"]), "additional"),
    "create_many_batch_0": (
        lambda c: c.create_many([build_task(CC, concepts=["c"])], batch_size=0),
        "batch_size",
    ),
    "update_many_batch_0": (
        lambda c: c.update_many([simple_task("t1")], batch_size=0),
        "batch_size",
    ),
    "delete_many_batch_0": (lambda c: c.delete_many(["t1"], batch_size=0), "batch_size"),
    "create_reviewers_two": (lambda c: c.create(reviewers_two()), "reviewers"),
    "create_reviewers_two_no_id": (
        lambda c: c.create(reviewers_two(), assign_id=False),
        "reviewers",
    ),
    "update_reviewers_two": (lambda c: c.update(reviewers_two("t1")), "reviewers"),
    "set_status_not_a_task_status": (lambda c: c.set_status("t1", "SUCCESS"), "task status"),
    "list_single_string_ids": (lambda c: c.list(ids="t1"), "ids"),
    "create_not_a_task": (lambda c: c.create(r.TaskWorker()), "Task"),
    "bad_timeout": (lambda c: c.get("t1", timeout=0), "timeout"),
    "bad_retry": (lambda c: c.get("t1", retry=3), "retry"),
}


@pytest.mark.parametrize("case", INVALID)
def test_invalid_input_sends_nothing(client, server, case):
    call, field = INVALID[case]
    with pytest.raises(ValidationError, match=field):
        call(client)
    assert sum(server.servicer.calls.values()) == 0


def test_auto_annotation_task_without_type_is_created(client):
    task = build_task("TYPE_NOT_SET", concepts=["c"], workers=auto_annotation(model_id="m"))
    created = client.create(task)
    assert created.type == r.Task.TYPE_NOT_SET
    # a hand-built one too: only the worker matters
    hand = r.Task(
        concepts=[r.TaskConcept(concept=r.Concept(id="c"))],
        worker=r.TaskWorker(workers=[r.Worker(workflow=r.Workflow(id="wf"))]),
    )
    assert client.create(hand).worker == hand.worker


def test_timeout_per_call(make_client, server):
    # The client's own timeout (10 s) would let a 0.6 s server answer; a per-call
    # timeout of 0.2 s must win, and a generous one must not get in the way.
    client = make_client(timeout=10.0)
    created = client.create(build_task(CC, concepts=["c"]), timeout=5)
    server.servicer.set_faults(Faults(latency_ms=600, methods={"GetTask"}))
    start = time.monotonic()
    with pytest.raises(taskgrpc.DeadlineExceededError):
        client.get(created.id, timeout=0.2)
    assert time.monotonic() - start < 0.55
    assert client.get(created.id, timeout=5) == created


@pytest.mark.parametrize("field", ["pat", "user_id", "app_id"])
@pytest.mark.parametrize("value", ["", "   "])
def test_empty_credentials(field, value):
    kwargs = {"pat": PAT, "user_id": USER, "app_id": APP, "target": "127.0.0.1:1", "secure": False}
    kwargs[field] = value
    with pytest.raises(ValidationError, match=field):
        taskgrpc.TaskClient(**kwargs)


# --- configuration ----------------------------------------------------------------------------

ENV = ("CLARIFAI_PAT", "CLARIFAI_USER_ID", "CLARIFAI_APP_ID", "CLARIFAI_GRPC_BASE")


@pytest.fixture
def env(monkeypatch, server):
    monkeypatch.setenv("CLARIFAI_PAT", PAT)
    monkeypatch.setenv("CLARIFAI_USER_ID", USER)
    monkeypatch.setenv("CLARIFAI_APP_ID", APP)
    monkeypatch.setenv("CLARIFAI_GRPC_BASE", server.target)
    return monkeypatch


def test_from_env(env, server):
    with taskgrpc.TaskClient.from_env(secure=False) as client:
        assert (client.target, client.user_id, client.app_id) == (server.target, USER, APP)
        created = client.create(build_task(CC, concepts=["c"]))
        assert client.get(created.id) == created
    record = server.servicer.requests[0]
    assert dict(record.metadata)["authorization"] == f"Key {PAT}"
    assert (record.request.user_app_id.user_id, record.request.user_app_id.app_id) == (USER, APP)


def test_from_env_overrides_win(env, server):
    env.setenv("CLARIFAI_GRPC_BASE", "elsewhere.example.com")
    with taskgrpc.TaskClient.from_env(
        secure=False, app_id="other-app", target=server.target, pat="override-pat"
    ) as client:
        assert client.app_id == "other-app"
        assert client.target == server.target
        client.create(build_task(CC, concepts=["c"]))
    record = server.servicer.requests[0]
    assert dict(record.metadata)["authorization"] == "Key override-pat"
    assert record.request.user_app_id.app_id == "other-app"


@pytest.mark.parametrize("var", ENV[:3])
def test_from_env_missing_variable_is_named(env, var):
    env.delenv(var)
    with pytest.raises(ValidationError, match=var):
        taskgrpc.TaskClient.from_env(secure=False)


def test_from_env_missing_variable_overridden(env, server):
    env.delenv("CLARIFAI_PAT")
    with taskgrpc.TaskClient.from_env(secure=False, pat="given") as client:
        client.create(build_task(CC, concepts=["c"]))


def test_from_env_default_target(env):
    env.delenv("CLARIFAI_GRPC_BASE")
    with taskgrpc.TaskClient.from_env() as client:
        assert client.target == "api.clarifai.com:443"


@pytest.mark.parametrize(
    ("base", "target"),
    [("example.com", "example.com:443"), ("example.com:8443", "example.com:8443")],
)
def test_from_env_base_host_or_host_port(env, base, target):
    env.setenv("CLARIFAI_GRPC_BASE", base)
    with taskgrpc.TaskClient.from_env() as client:
        assert client.target == target


def test_repr_shows_target_user_app_but_not_the_pat(client, server):
    text = repr(client)
    assert server.target in text and USER in text and APP in text
    assert PAT not in text
    assert PAT not in str(client)


@pytest.mark.parametrize("target", ["example.com:50051", "10.1.2.3:50051", "[2001:db8::1]:443"])
def test_insecure_to_a_remote_host_is_refused(target):
    with pytest.raises(ValidationError, match="allow_insecure"):
        taskgrpc.TaskClient(pat=PAT, user_id=USER, app_id=APP, target=target, secure=False)
    client = taskgrpc.TaskClient(
        pat=PAT, user_id=USER, app_id=APP, target=target, secure=False, allow_insecure=True
    )
    client.close()


@pytest.mark.parametrize("target", ["localhost:50051", "127.0.0.1:1", "127.9.9.9:2", "[::1]:50051"])
def test_insecure_to_loopback_is_fine(target):
    taskgrpc.TaskClient(pat=PAT, user_id=USER, app_id=APP, target=target, secure=False).close()


# --- channels, closing, threads ---------------------------------------------------------------


class SpyChannel:
    """Wraps a real channel and records close()."""

    def __init__(self, inner):
        self.inner = inner
        self.closed = 0

    def unary_unary(self, *args, **kwargs):
        return self.inner.unary_unary(*args, **kwargs)

    def close(self):
        self.closed += 1
        self.inner.close()


@pytest.fixture
def spy_insecure(monkeypatch):
    opened: list[SpyChannel] = []
    real = grpc.insecure_channel

    def fake(target, options=None, compression=None):
        spy = SpyChannel(real(target, options=options))
        opened.append(spy)
        return spy

    monkeypatch.setattr(grpc, "insecure_channel", fake)
    return opened


def test_client_closes_its_own_channel(make_client, spy_insecure):
    client = make_client()
    assert spy_insecure == []  # opened lazily
    list(client.list())
    assert len(spy_insecure) == 1
    client.close()
    client.close()  # idempotent
    assert spy_insecure[0].closed == 1


def test_client_does_not_close_a_given_channel(server):
    channel = grpc.insecure_channel(server.target)
    spy = SpyChannel(channel)
    try:
        first = taskgrpc.TaskClient(pat=PAT, user_id=USER, app_id=APP, channel=spy)
        created = first.create(build_task(CC, concepts=["c"]))
        first.close()
        assert spy.closed == 0
        second = taskgrpc.TaskClient(pat=PAT, user_id=USER, app_id=APP, channel=channel)
        assert second.get(created.id) == created  # the channel still works
        second.close()
    finally:
        channel.close()


def test_given_plain_channel_works(server):
    with grpc.insecure_channel(server.target) as channel:
        client = taskgrpc.TaskClient(pat=PAT, user_id=USER, app_id=APP, channel=channel)
        created = client.create(build_task(CC, concepts=["c"]))
        assert ids(client.list()) == [created.id]


def test_use_after_close_raises(make_client, server):
    client = make_client()
    created = client.create(build_task(CC, concepts=["c"]))
    client.close()
    before = sum(server.servicer.calls.values())
    for use in (
        lambda: client.get(created.id),
        lambda: list(client.list()),
        lambda: client.create(build_task(CC, concepts=["c"])),
        lambda: client.delete(created.id),
    ):
        with pytest.raises(TaskgrpcError) as info:
            use()
        assert not isinstance(info.value, ValidationError)
    assert sum(server.servicer.calls.values()) == before


def test_use_after_close_with_a_given_channel_raises(server):
    with grpc.insecure_channel(server.target) as channel:
        client = taskgrpc.TaskClient(pat=PAT, user_id=USER, app_id=APP, channel=channel)
        list(client.list())
        client.close()
        with pytest.raises(TaskgrpcError):
            list(client.list())


def test_context_manager(make_client, spy_insecure):
    client = make_client()
    with client as entered:
        assert entered is client
        created = client.create(build_task(CC, concepts=["c"]))
    assert spy_insecure[0].closed == 1
    with pytest.raises(TaskgrpcError):
        client.get(created.id)


def test_thread_safety(client, server):
    errors: list[BaseException] = []
    made: list[r.Task] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def work(n):
        try:
            start.wait()
            for i in range(6):
                task = client.create(build_task(CC, concepts=["c"], name=f"{n}-{i}"))
                assert client.get(task.id) == task
                with lock:
                    made.append(task)
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(made) == 48
    assert sorted(ids(server.servicer.tasks(USER, APP))) == sorted(ids(made))
    assert sorted(t.name for t in made) == sorted(f"{n}-{i}" for n in range(8) for i in range(6))


SCRIPT = r"""
import sys
import grpc

mode, target = sys.argv[1], sys.argv[2]
if mode == "json":
    try:
        import requests  # noqa: F401
    except ImportError:  # get_json_channel needs it only to build an HTTP session
        import types

        stub = types.ModuleType("requests")
        stub.Session = type("Session", (), {"mount": lambda self, *args: None})
        stub.adapters = types.SimpleNamespace(HTTPAdapter=lambda **kwargs: None)
        sys.modules["requests"] = stub
    from clarifai_grpc.channel import clarifai_channel

    clarifai_channel.ClarifaiChannel.get_json_channel()
    json_wrap = clarifai_channel._response_deserializer_for_json
    assert clarifai_channel.wrap_response_deserializer is json_wrap, "json global not set"

import taskgrpc

channel = grpc.insecure_channel(target)
client = taskgrpc.TaskClient(pat="p", user_id="u", app_id="a", channel=channel, timeout=10)
task = client.create(taskgrpc.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"]))
assert client.get(task.id) == task, "get"
assert [t.id for t in client.list()] == [task.id], "list"
assert client.set_status(task.id, "TASK_DONE").status.code == 54002, "set_status"
assert client.update(client.get(task.id)).id == task.id, "update"
client.delete(task.id)
assert list(client.list()) == [], "delete"
print("OK", type(task).__name__)
"""


@pytest.mark.parametrize("mode", ["plain", "json"])
def test_fresh_process_on_a_plain_channel(server, mode):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, server.target],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "OK Task"
    assert server.servicer.calls["PostTasks"] == 1
    assert server.servicer.calls["DeleteTasks"] == 1


def test_existing_reports_only_the_ids_that_exist(client, server):
    made = client.create_many([build_task(CC, concepts=["c"], name=f"e{i}") for i in range(3)])
    found = client.existing([made[0].id, "no-such-task", made[2].id])
    assert found == {made[0].id: made[0], made[2].id: made[2]}
    assert client.existing([]) == {}
    with pytest.raises(taskgrpc.ValidationError):
        client.existing("one-id-as-a-string")


def test_bulk_calls_with_nothing_to_do_send_nothing(client, server):
    assert client.create_many([]) == []
    assert client.update_many([]) == []
    assert client.delete_many([]) is None
    assert sum(server.servicer.calls.values()) == 0
    with pytest.raises(taskgrpc.ValidationError):
        client.delete()  # the single-request verb still needs an id


def test_a_failing_progress_callback_costs_no_results(client, server, caplog):
    calls = []

    def progress(done, total):
        calls.append(done)
        raise RuntimeError("progress bar broke")

    tasks = [build_task(CC, concepts=["c"], name=f"p{i}") for i in range(8)]
    out = client.create_many(tasks, batch_size=2, concurrency=4, progress=progress)
    assert [t.name for t in out] == [t.name for t in tasks]
    assert len(server.servicer.tasks(USER, APP)) == 8
    assert len(calls) == 1  # not called again after it failed
    assert "progress callback failed" in caplog.text


def test_an_unexpected_error_in_one_batch_still_returns_the_others(client, server):
    # A bug-like failure (not a TaskgrpcError) in one batch: the other batches' tasks, with
    # the ids they were sent with, still come back in the BulkError.
    real = client._connect()["PostTasks"]
    seen = []

    def flaky(request, **kwargs):
        seen.append(request)
        if len(seen) == 2:
            raise ValueError("boom")
        return real(request, **kwargs)

    client._methods = {**client._methods, "PostTasks": flaky}
    tasks = [build_task(CC, concepts=["c"], name=f"u{i}") for i in range(6)]
    with pytest.raises(taskgrpc.BulkError) as info:
        client.create_many(tasks, batch_size=2, concurrency=1)
    err = info.value
    assert sorted(err.errors) == [2, 3]
    assert isinstance(err.errors[2].__cause__, ValueError)
    assert [t.name for t in err.succeeded] == ["u0", "u1", "u4", "u5"]
    assert all(len(t.id) == 32 for t in err.failed_items)  # the ids they were sent with
    assert len(server.servicer.tasks(USER, APP)) == 4


# --- one bulk pool per client ------------------------------------------------------------------


def test_bulk_calls_share_the_clients_one_pool_and_close_shuts_it_down(make_client, server):
    c = make_client()
    c.create_many([build_task(CC, concepts=["c"], name=f"a{i}") for i in range(10)], batch_size=2)
    pool = c._pool
    assert pool is not None
    c.update_many(c.create_many([build_task(CC, concepts=["c"], name="b")] * 6, batch_size=2))
    assert c._pool is pool
    c.close()
    assert c._pool is None and pool._shutdown
    assert len(server.servicer.tasks(USER, APP)) == 16


def _bulk_in_a_forked_child(client, parent_pool, queue):
    try:
        made = client.create_many(
            [build_task(CC, concepts=["c"], name=f"child{i}") for i in range(8)], batch_size=2
        )
        queue.put((len(made), client._pool is not parent_pool))
    except BaseException as err:  # reported to the parent
        queue.put(repr(err))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_bulk_pool(make_client, server):
    c = make_client()
    c.create_many([build_task(CC, concepts=["c"], name=f"p{i}") for i in range(4)], batch_size=2)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_bulk_in_a_forked_child, args=(c, c._pool, queue))
    child.start()
    try:
        assert queue.get(timeout=60) == (8, True)
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
    # the parent's pool still works
    assert len(c.create_many([build_task(CC, concepts=["c"], name="after")] * 4)) == 4
    assert len(server.servicer.tasks(USER, APP)) == 16
