"""taskgrpc._bulk: planning batches by count and bytes, and the byte arithmetic (sans I/O); then
the bulk calls (create_many, update_many, delete_many, existing) end to end against fake_servicer:
order, partial failure, progress, validation first, and one worker pool per client."""

from __future__ import annotations

import itertools
import threading

import pytest
from clarifai_grpc.grpc.api import service_pb2 as s
from hypothesis import given, settings
from hypothesis import strategies as st
from tgsupport import (
    APP,
    HEX32,
    USER,
    copy,
    examples,
    ids,
    reviewers_two,
    simple_task,
    uaid,
)

import taskgrpc
from fake_servicer import Faults
from taskgrpc import (
    ValidationError,
    build_task,
)
from taskgrpc._bulk import framed, plan

CC = "CONCEPTS_CLASSIFICATION"


@pytest.mark.parametrize("sizes", [[0], [5, 127, 128, 300], [16_383, 16_384, 2_000_000]])
def test_framed_sizes_add_up_to_the_request_size(sizes):
    tasks = [simple_task(f"t{i}", description="x" * n) for i, n in enumerate(sizes)]
    header = s.PostTasksRequest(user_app_id=uaid()).ByteSize()
    request = s.PostTasksRequest(user_app_id=uaid(), tasks=tasks)
    assert request.ByteSize() == header + sum(framed(t.ByteSize()) for t in tasks)


@settings(max_examples=examples(300), deadline=None)
@given(
    st.lists(st.integers(0, 300), max_size=40),
    st.integers(1, 8),
    st.integers(1, 1500),
    st.integers(0, 20),
)
def test_plan_by_count_when_bytes_cannot_bind_is_the_item_by_item_plan(
    sizes, batch_size, max_bytes, header
):
    from taskgrpc._bulk import by_bytes

    assert plan(sizes, len(sizes), batch_size, max_bytes, header) == by_bytes(
        sizes, batch_size, max_bytes, header
    )


def test_plan_by_count_only():
    assert plan(None, 5, 2, 0, 0) == ([[0, 1], [2, 3], [4]], [])


def test_plan_by_bytes_and_count_keeps_order_and_sets_aside_items_too_big():
    sizes = [40, 40, 40, 500, 10, 10, 10, 10]
    # each item costs size + 2; header 10; budget 100
    batches, too_big = plan(sizes, len(sizes), 3, 100, 10)
    assert too_big == [3]
    assert batches == [[0, 1], [2, 4, 5], [6, 7]]
    for batch in batches:
        assert 10 + sum(framed(sizes[i]) for i in batch) <= 100


# --- end to end against fake_servicer ---------------------------------------------------


# --- bulk ------------------------------------------------------------------------------------


def test_create_many_split_by_bytes_unlike_its_prebuilt_requests_sends_each_task_once(
    client, server
):
    # requests are prebuilt by count (5 a request); a budget of about 3 tasks a request
    # splits them otherwise, so most batches are built from the items instead
    tasks = [build_task(CC, concepts=["c"], name=f"t{i:02}" + "x" * 100) for i in range(23)]
    size = taskgrpc.with_content_ids(tasks[:1])[0].ByteSize()
    made = client.create_many(tasks, batch_size=5, max_request_bytes=30 + 3 * (size + 3))
    assert server.servicer.calls["PostTasks"] == 8  # ceil(23 / 3)
    assert [t.id for t in made] == [t.id for t in taskgrpc.with_content_ids(tasks)]
    stored = server.servicer.tasks(USER, APP)
    assert sorted(t.name for t in stored) == sorted(t.name for t in tasks)


def test_create_many_refuses_metadata_nested_too_deeply_before_sending(client, server):
    deep = build_task(CC, concepts=["c"], name="deep")
    level = deep.metadata
    for _ in range(40):
        level = level.get_or_create_struct("k")
    with pytest.raises(ValidationError, match=r"tasks\[1\]: task.metadata is nested too deep"):
        client.create_many([build_task(CC, concepts=["c"]), deep])
    assert server.servicer.calls["PostTasks"] == 0


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
