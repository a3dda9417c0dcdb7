"""taskgrpc.aio: AsyncTaskClient end to end against fake_servicer on loopback."""

from __future__ import annotations

import asyncio
import gc

import pytest
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from tgsupport import APP, FAST_RETRY, PAT, USER, simple_task, without_server_fields

import taskgrpc
from fake_servicer import Faults

CC = "CONCEPTS_CLASSIFICATION"


@pytest.fixture
async def aclient(server):
    client = taskgrpc.AsyncTaskClient(
        pat=PAT,
        user_id=USER,
        app_id=APP,
        target=server.target,
        secure=False,
        retry=FAST_RETRY,
        timeout=10.0,
    )
    yield client
    await client.close()


def named(n: int, prefix: str = "t") -> list:
    return [taskgrpc.build_task(CC, concepts=["c"], name=f"{prefix}{i}") for i in range(n)]


def stored_by_id(server) -> dict:
    return {t.id: t for t in server.servicer.tasks(USER, APP)}


async def test_every_verb(aclient, server):
    task = taskgrpc.build_task(
        "BOUNDING_BOX_DETECTION",
        concepts=["car"],
        name="one",
        workers=taskgrpc.partitioned_evenly(["a", "b"], workers_per_input=2),
        review=taskgrpc.consensus(["r"], approval_threshold=2),
    )
    created = await aclient.create(task)
    assert len(created.id) == 32
    assert without_server_fields(created) == without_server_fields(task)
    assert await aclient.get(created.id) == stored_by_id(server)[created.id]

    created.name = "renamed"
    updated = await aclient.update(created)
    assert updated.name == "renamed"
    done = await aclient.set_status(created.id, "TASK_DONE")
    assert done.status.code == sc.TASK_DONE
    assert stored_by_id(server)[created.id].status.code == sc.TASK_DONE

    listed = [t.id async for t in aclient.list(worker_user_ids=["b"])]
    assert listed == [created.id]
    await aclient.delete(created.id, created.id)
    assert stored_by_id(server) == {}
    with pytest.raises(taskgrpc.NotFoundError):
        await aclient.get(created.id)


async def test_same_validation_before_anything_is_sent(aclient, server):
    with pytest.raises(taskgrpc.ValidationError):
        await aclient.get("")
    with pytest.raises(taskgrpc.ValidationError):
        aclient.list(per_page=1001)
    with pytest.raises(taskgrpc.ValidationError):
        await aclient.create_many(named(3), batch_size=0)
    with pytest.raises(taskgrpc.ValidationError):
        await aclient.delete()
    assert sum(server.servicer.calls.values()) == 0


async def test_list_pages_and_prefetch(aclient, server):
    created = await aclient.create_many(named(25), batch_size=10)
    # batches run concurrently, so the server's order (newest first) is the reference
    newest_first = [t.id for t in server.servicer.tasks(USER, APP)]
    assert sorted(newest_first) == sorted(t.id for t in created)
    for prefetch in (False, True):
        pages = [p async for p in aclient.list(per_page=10, prefetch=prefetch).pages()]
        assert [len(p) for p in pages] == [10, 10, 5]
        assert [t.id for p in pages for t in p] == newest_first
        assert [t.id async for t in aclient.list(per_page=10, prefetch=prefetch)] == newest_first


async def test_create_many_keeps_input_order_across_concurrent_batches(aclient, server):
    # Latency makes batches finish out of order; results must still follow the input.
    server.servicer.set_faults(Faults(latency_ms=20, methods={"PostTasks"}))
    tasks = named(50)
    out = await aclient.create_many(tasks, batch_size=3, concurrency=8)
    assert [t.name for t in out] == [t.name for t in tasks]
    assert set(stored_by_id(server)) == {t.id for t in out}


async def test_progress_reaches_total(aclient):
    seen: list[tuple[int, int]] = []
    await aclient.create_many(named(10), batch_size=3, progress=lambda d, n: seen.append((d, n)))
    assert [n for _, n in seen] == [10] * 4
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == 10  # grows to the total, once per batch
    steps = [b - a for a, b in zip([0, *done], done, strict=False)]
    assert sorted(steps) == [1, 3, 3, 3]  # batches of 3, 3, 3 and 1, in any order


async def test_partial_failure_gives_bulk_error_with_exact_results(aclient, server):
    server.servicer.put_tasks(USER, APP, [simple_task("x3", name="already here")])
    tasks = named(6)
    for i, task in enumerate(tasks):
        task.id = f"x{i}"
    with pytest.raises(taskgrpc.BulkError) as info:
        await aclient.create_many(tasks, batch_size=2, concurrency=3)
    err = info.value
    # the refused batch [x2, x3] is narrowed down: only the foreign id fails
    assert sorted(err.errors) == [3]
    assert isinstance(err.errors[3], taskgrpc.ConflictError)
    assert [r is None for r in err.results] == [False, False, False, True, False, False]
    assert [t.id for t in err.succeeded] == ["x0", "x1", "x2", "x4", "x5"]
    assert [t.id for t in err.failed_items] == ["x3"]
    on_server = stored_by_id(server)
    assert set(on_server) == {"x0", "x1", "x2", "x3", "x4", "x5"}
    assert on_server["x3"].name == "already here"


async def test_update_many_and_delete_many(aclient, server):
    created = await aclient.create_many(named(7), batch_size=2)
    for task in created:
        task.name += "-v2"
    updated = await aclient.update_many(created, batch_size=3)
    assert [t.name for t in updated] == [f"t{i}-v2" for i in range(7)]
    assert sorted(t.name for t in server.servicer.tasks(USER, APP)) == sorted(
        t.name for t in updated
    )
    await aclient.delete_many([t.id for t in created], batch_size=2)
    assert stored_by_id(server) == {}


async def test_cancelling_a_bulk_call_cancels_its_batches(aclient, server):
    server.servicer.set_faults(Faults(latency_ms=300, methods={"PostTasks"}))
    call = asyncio.ensure_future(aclient.create_many(named(40), batch_size=2, concurrency=2))
    while server.servicer.calls["PostTasks"] < 2:
        await asyncio.sleep(0.01)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    started = server.servicer.calls["PostTasks"]
    await asyncio.sleep(0.8)  # any batch still scheduled would have reached the server by now
    assert server.servicer.calls["PostTasks"] == started
    assert started < 20
    gc.collect()
    # the client still works after the cancellation
    server.servicer.set_faults(None)
    assert (await aclient.create(named(1)[0])).name == "t0"


async def test_async_retries_throttles_like_the_sync_client(aclient, server):
    server.servicer.set_faults(Faults(throttled=1.0))
    with pytest.raises(taskgrpc.ThrottledError):
        await aclient.get("x", retry=taskgrpc.RetryPolicy(max_attempts=3, initial_backoff=0.001))
    assert server.servicer.calls["GetTask"] == 3


async def test_deadline_is_the_whole_call(aclient, server):
    server.servicer.set_faults(Faults(latency_ms=2000))
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(taskgrpc.DeadlineExceededError):
        await aclient.get("x", timeout=0.3, retry=taskgrpc.RetryPolicy(max_attempts=50))
    assert loop.time() - start < 0.3 + 0.3


def test_channel_is_made_inside_each_running_loop(server):
    # grpc.aio objects belong to one loop: the same client used from two asyncio.run calls
    # must open a channel in each, not reuse the first loop's.
    client = taskgrpc.AsyncTaskClient(
        pat=PAT, user_id=USER, app_id=APP, target=server.target, secure=False
    )
    assert client._channel is None  # lazily
    first = asyncio.run(client.create(named(1)[0]))
    channel_one = client._channel
    assert asyncio.run(client.get(first.id)) == first
    assert client._channel is not channel_one
    asyncio.run(client.close())


async def test_closed_client_refuses_calls(aclient):
    await aclient.close()
    with pytest.raises(taskgrpc.TaskgrpcError):
        await aclient.get("x")


async def test_repr_hides_the_pat(aclient):
    assert PAT not in repr(aclient)
    assert USER in repr(aclient) and APP in repr(aclient)
