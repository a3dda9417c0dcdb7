"""Batch pipelines under real conditions (issue 8): re-runs never duplicate, cancel and
close report honestly, batches fit a byte budget, and a refused batch is narrowed down.

Every test runs against ``fake_servicer`` on loopback; the figures (stored, duplicates,
calls) are printed, visible with ``pytest -s``.
"""

from __future__ import annotations

import _thread
import asyncio
import math
import sys
import threading
import time
from collections import Counter
from collections.abc import Coroutine
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from relsupport import USER, aclient, client, no_duplicates, stored, task

import taskgrpc
from fake_servicer import FakeServer, FakeV2Servicer, Faults

CHAOS = Faults(unavailable=0.1, throttled=0.1, commit_unavailable=0.1, seed=11)


def names(tasks: list) -> list[str]:
    return [t.name for t in tasks]


# --- 1. idempotent by default -------------------------------------------------------------


def test_running_the_same_create_many_again_creates_nothing_twice(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    """Under faults, the same list created twice (with three identical tasks in it) is
    stored once: identical tasks are told apart by position, and the re-run returns
    the tasks that exist."""
    sent = [task(f"t{i}") for i in range(60)] + [task("same")] * 3
    servicer.set_faults(CHAOS)
    with client(server, "rerun") as c:
        first = c.create_many(sent, batch_size=8)
        again = c.create_many(sent, batch_size=8)
    servicer.set_faults(None)
    on_server = stored(servicer, "rerun")
    print(f"\n[re-run] stored={len(on_server)} duplicates={len(sent) - len(on_server)}")
    assert len(on_server) == len(sent) == 63
    assert [t.id for t in again] == [t.id for t in first]
    assert [t.id for t in first] == [t.id for t in taskgrpc.with_content_ids(sent)]
    assert len({t.id for t in first[-3:]}) == 3  # the identical three: three tasks
    assert Counter(names(list(on_server.values())))["same"] == 3


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
def test_creating_the_same_content_again_returns_the_existing_task_even_if_edited(
    server: FakeServer, servicer: FakeV2Servicer, sync: bool
) -> None:
    original = task("original")

    async def run_async() -> tuple[r.Task, r.Task, r.Task]:
        async with aclient(server, "edited") as c:
            made = await c.create(original)
            edited = task("renamed since")
            edited.id = made.id
            await c.update(edited)
            again = await c.create(original)
            many = await c.create_many([original])
            return made, again, many[0]

    if sync:
        with client(server, "edited") as c:
            made = c.create(original)
            edited = task("renamed since")
            edited.id = made.id
            c.update(edited)
            again = c.create(original)
            many = c.create_many([original])[0]
    else:
        made, again, many = asyncio.run(run_async())
    assert made.id == taskgrpc.content_id(original)
    assert again.id == many.id == made.id
    assert again.name == many.name == "renamed since"  # the existing task, not a conflict
    assert names(servicer.tasks(USER, "edited")) == ["renamed since"]


def test_a_salt_or_an_explicit_id_makes_a_deliberate_copy(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    t = task("copy me")
    with client(server, "salted") as c:
        a = c.create(t)
        b = c.create(t, id_salt="second copy")
        many = c.create_many([t, t], id_salt="run-2")
        mine = task("copy me")
        mine.id = "my-own-id"
        c.create(mine)
        anon = c.create(t, assign_id=False)
    assert b.id == taskgrpc.content_id(t, "second copy") != a.id
    assert [x.id for x in many] == [x.id for x in taskgrpc.with_content_ids([t, t], "run-2")]
    assert anon.id not in {a.id, b.id, *(x.id for x in many)}
    assert len(servicer.tasks(USER, "salted")) == 6


def test_an_explicit_id_taken_by_other_content_is_still_a_conflict(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    servicer.put_tasks(USER, "taken", [_with_id(task("theirs"), "taken-id")])
    with client(server, "taken") as c, pytest.raises(taskgrpc.ConflictError):
        c.create(_with_id(task("mine"), "taken-id"))


def _with_id(t: r.Task, task_id: str) -> r.Task:
    t.id = task_id
    return t


# --- 3. cancel and close are honest -----------------------------------------------------------


async def cancel_after(
    servicer: FakeV2Servicer, posts: int, create: Coroutine[Any, Any, Any]
) -> taskgrpc.BulkError:
    """Run ``create``, cancel it once ``posts`` PostTasks calls arrived, and return the
    BulkError that the CancelledError carries as its cause."""
    call = asyncio.ensure_future(create)
    while servicer.calls["PostTasks"] < posts:
        await asyncio.sleep(0.01)
    call.cancel()
    with pytest.raises(asyncio.CancelledError) as info:
        await call
    report = taskgrpc.BulkError.of(info.value)
    assert isinstance(report, taskgrpc.BulkError)
    return report


def test_cancelled_async_create_many_reports_each_batch_and_a_rerun_finishes_exactly_once(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    """Cancel an async create_many of 2,000 in flight (latency on PostTasks): the
    CancelledError's cause is a BulkError whose in-flight batches are
    OutcomeUnknownError (tasks with ids) and the rest NotSentError; running the same
    create_many again stores every task exactly once."""
    sent = [task(f"t{i}") for i in range(2000)]
    servicer.set_faults(Faults(latency_ms=150, methods={"PostTasks"}))

    async def cancel_midway() -> taskgrpc.BulkError:
        async with aclient(server, "cancel") as c:
            create = c.create_many(sent, batch_size=64, concurrency=4)
            return await cancel_after(servicer, 6, create)

    report = asyncio.run(cancel_midway())
    kinds = Counter(type(e).__name__ for e in report.errors.values())
    assert set(kinds) <= {"OutcomeUnknownError", "NotSentError"}, kinds
    assert kinds["OutcomeUnknownError"] > 0 and kinds["NotSentError"] > 0
    assert len(report.not_sent) == kinds["NotSentError"]
    assert all(t.id for t in report.failed_items)
    for error in report.errors.values():
        if isinstance(error, taskgrpc.OutcomeUnknownError):
            assert all(t.id for t in error.tasks)
    assert len(report.succeeded) + len(report.errors) == len(sent)
    stored_at_cancel = len(servicer.tasks(USER, "cancel"))

    servicer.set_faults(None)

    async def rerun() -> list:
        async with aclient(server, "cancel") as c:
            return await c.create_many(sent)

    again = asyncio.run(rerun())
    on_server = servicer.tasks(USER, "cancel")
    dups = no_duplicates(names(on_server))
    print(
        f"\n[async cancel of 2000] stored at cancel={stored_at_cancel} errors={dict(kinds)} "
        f"after re-run: stored={len(on_server)} duplicates={len(dups)}"
    )
    assert len(on_server) == len(sent) and dups == []
    assert [t.id for t in again] == [t.id for t in taskgrpc.with_content_ids(sent)]


def test_retrying_failed_items_after_a_cancel_completes_the_work(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    sent = [task(f"t{i}") for i in range(300)]
    servicer.set_faults(Faults(latency_ms=100, methods={"PostTasks"}))

    async def go() -> None:
        async with aclient(server, "retry") as c:
            create = c.create_many(sent, batch_size=16, concurrency=2)
            report = await cancel_after(servicer, 3, create)
            servicer.set_faults(None)
            await c.create_many(report.failed_items)

    asyncio.run(go())
    on_server = servicer.tasks(USER, "retry")
    assert sorted(names(on_server)) == sorted(names(sent))


def test_sync_close_from_another_thread_reports_unknown_and_not_sent(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    """close() while create_many runs: the batches in flight are OutcomeUnknownError (not a
    plain CANCELLED TransportError), those never sent NotSentError; a new client
    creating failed_items finishes the job with no duplicates."""
    sent = [task(f"t{i}") for i in range(400)]
    servicer.set_faults(Faults(latency_ms=200, methods={"PostTasks"}))
    c = client(server, "closed")
    outcome: list[BaseException] = []

    def work() -> None:
        try:
            c.create_many(sent, batch_size=20, concurrency=4)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    while servicer.calls["PostTasks"] < 6:
        time.sleep(0.01)
    c.close()
    worker.join(30)
    assert not worker.is_alive()
    [report] = outcome
    assert isinstance(report, taskgrpc.BulkError)
    kinds = Counter(type(e).__name__ for e in report.errors.values())
    assert set(kinds) <= {"OutcomeUnknownError", "NotSentError"}, kinds
    assert kinds["OutcomeUnknownError"] > 0 and kinds["NotSentError"] > 0
    servicer.set_faults(None)
    with client(server, "closed") as again:
        again.create_many(report.failed_items)
    on_server = servicer.tasks(USER, "closed")
    print(f"\n[sync close] errors={dict(kinds)} after retry: stored={len(on_server)}")
    assert sorted(names(on_server)) == sorted(names(sent))


def test_async_close_during_create_many_reports_unknown_and_not_sent(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    sent = [task(f"t{i}") for i in range(200)]
    servicer.set_faults(Faults(latency_ms=200, methods={"PostTasks"}))

    async def go() -> taskgrpc.BulkError:
        c = aclient(server, "aclosed")
        call = asyncio.ensure_future(c.create_many(sent, batch_size=10, concurrency=4))
        while servicer.calls["PostTasks"] < 4:
            await asyncio.sleep(0.01)
        await c.close()
        with pytest.raises(taskgrpc.BulkError) as info:
            await call
        return info.value

    report = asyncio.run(go())
    kinds = Counter(type(e).__name__ for e in report.errors.values())
    assert set(kinds) <= {"OutcomeUnknownError", "NotSentError"}, kinds
    assert kinds["OutcomeUnknownError"] > 0 and kinds["NotSentError"] > 0


# --- 4. batches split by bytes -----------------------------------------------------------


def big(name: str, size: int) -> r.Task:
    return task(name, description="x" * size)


def test_a_thousand_tasks_of_43_kb_are_all_created_with_the_default_budget(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    sent = [big(f"b{i}", 43_000) for i in range(1000)]
    with client(server, "bytes") as c:
        made = c.create_many(sent)
    posts = [rec.request for rec in servicer.requests if rec.method == "PostTasks"]
    largest = max(p.ByteSize() for p in posts)
    print(
        f"\n[1000 x 43 KB] created={len(made)} stored={len(servicer.tasks(USER, 'bytes'))} "
        f"requests={len(posts)} largest={largest} bytes"
    )
    assert len(servicer.tasks(USER, "bytes")) == 1000
    assert largest <= 3 * 1024 * 1024


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
def test_every_request_fits_the_budget_and_a_task_too_big_fails_alone(
    server: FakeServer, servicer: FakeV2Servicer, sync: bool
) -> None:
    sent = [big(f"b{i}", 3000) for i in range(30)]
    sent[7] = big("huge", 20_000)

    async def run_async() -> taskgrpc.BulkError:
        async with aclient(server, "budget", max_request_bytes=16_000) as c:
            with pytest.raises(taskgrpc.BulkError) as info:
                await c.create_many(sent, batch_size=100)
            return info.value

    if sync:
        with (
            client(server, "budget", max_request_bytes=16_000) as c,
            pytest.raises(taskgrpc.BulkError) as info,
        ):
            c.create_many(sent, batch_size=100)
        report = info.value
    else:
        report = asyncio.run(run_async())
    assert list(report.errors) == [7]
    error = report.errors[7]
    assert isinstance(error, taskgrpc.ValidationError)
    assert str(report.items[7].ByteSize()) in str(error) and "16000" in str(error)
    posts = [rec.request for rec in servicer.requests if rec.method == "PostTasks"]
    assert all(p.ByteSize() <= 16_000 for p in posts)
    assert len(posts) > 1  # split by bytes, not by count (batch_size=100)
    assert sorted(names(servicer.tasks(USER, "budget"))) == sorted(
        t.name for i, t in enumerate(sent) if i != 7
    )


def test_update_many_keeps_the_byte_budget_given_per_call(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    with client(server, "upd-bytes") as c:
        made = c.create_many([big(f"b{i}", 100) for i in range(20)])
        renamed = [_with_id(big(f"b{i}-v2", 3000), t.id) for i, t in enumerate(made)]
        c.update_many(renamed, max_request_bytes=10_000, batch_size=100)
    patches = [rec.request for rec in servicer.requests if rec.method == "PatchTasks"]
    assert len(patches) >= 6 and all(p.ByteSize() <= 10_000 for p in patches)
    assert sorted(names(servicer.tasks(USER, "upd-bytes"))) == sorted(names(renamed))


# --- 5. a refused batch is narrowed down ---------------------------------------------------


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
def test_one_refused_item_fails_alone(
    server: FakeServer, servicer: FakeV2Servicer, sync: bool
) -> None:
    """200 tasks in batches of 128, one with an id the service refuses: the other 199
    are stored, at a cost of about 2 * log2(128) extra calls."""
    sent = [task(f"t{i}") for i in range(200)]
    sent[77] = _with_id(task("bad"), "not a valid id!")

    async def run_async() -> taskgrpc.BulkError:
        async with aclient(server, "narrow") as c:
            with pytest.raises(taskgrpc.BulkError) as info:
                await c.create_many(sent)
            return info.value

    if sync:
        with client(server, "narrow") as c, pytest.raises(taskgrpc.BulkError) as info:
            c.create_many(sent)
        report = info.value
    else:
        report = asyncio.run(run_async())
    assert list(report.errors) == [77]
    assert isinstance(report.errors[77], taskgrpc.InvalidRequestError)
    stored_valid = len(servicer.tasks(USER, "narrow"))
    extra = servicer.calls["PostTasks"] - 2  # two batches: 128 and 72
    print(f"\n[one bad item of 200] valid stored={stored_valid} extra calls={extra}")
    assert stored_valid == 199
    assert extra <= 2 * math.ceil(math.log2(128))


def test_update_many_narrows_a_missing_task_down(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    with client(server, "upd-narrow") as c:
        made = c.create_many([task(f"t{i}") for i in range(40)])
        batch = [_with_id(task(f"t{i}-v2"), t.id) for i, t in enumerate(made)]
        batch[13] = _with_id(task("ghost"), "no-such-task")
        with pytest.raises(taskgrpc.BulkError) as info:
            c.update_many(batch)
    assert list(info.value.errors) == [13]
    assert isinstance(info.value.errors[13], taskgrpc.NotFoundError)
    assert Counter(n.endswith("-v2") for n in names(servicer.tasks(USER, "upd-narrow"))) == {
        True: 39,
        False: 1,
    }


def test_a_batch_over_the_servers_message_limit_is_narrowed(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    """A budget above the server's 4 MiB limit: the server refuses the batch with
    RESOURCE_EXHAUSTED, and the halves go through."""
    sent = [big(f"b{i}", 900_000) for i in range(8)]
    with client(server, "exhausted", max_request_bytes=64 * 1024 * 1024) as c:
        made = c.create_many(sent)
    assert len(made) == 8
    assert sorted(names(servicer.tasks(USER, "exhausted"))) == sorted(names(sent))


def test_sync_interrupt_lets_batches_in_flight_finish_and_reports_the_rest_not_sent(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    """Ctrl-C (KeyboardInterrupt in the main thread) during create_many: no batch is
    started after it, those in flight finish, and the KeyboardInterrupt's cause is a
    BulkError whose failed items are all NotSentError, ready to create again."""
    sent = [task(f"t{i}") for i in range(200)]
    servicer.set_faults(Faults(latency_ms=150, methods={"PostTasks"}))
    timer = threading.Timer(0.4, _thread.interrupt_main)
    with client(server, "ctrl-c") as c:
        timer.start()
        with pytest.raises(KeyboardInterrupt) as info:
            c.create_many(sent, batch_size=10, concurrency=2)
    timer.join()
    report = taskgrpc.BulkError.of(info.value)
    assert isinstance(report, taskgrpc.BulkError)
    assert report is info.value.__cause__  # a sync interrupt carries it directly
    assert report.errors and report.not_sent == list(report.errors)
    on_server = stored(servicer, "ctrl-c")
    assert len(report.succeeded) == len(on_server) > 0
    assert {t.id for t in report.failed_items}.isdisjoint(on_server)
    servicer.set_faults(None)
    with client(server, "ctrl-c") as c:
        c.create_many(sent)
    assert sorted(names(servicer.tasks(USER, "ctrl-c"))) == sorted(names(sent))


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is new in Python 3.11")
def test_an_asyncio_timeout_over_create_many_carries_the_report(
    server: FakeServer, servicer: FakeV2Servicer
) -> None:
    servicer.set_faults(Faults(latency_ms=200, methods={"PostTasks"}))

    async def go() -> taskgrpc.BulkError:
        async with aclient(server, "timeout") as c:
            sent = [task(f"t{i}") for i in range(100)]
            with pytest.raises(TimeoutError) as info:
                async with asyncio.timeout(0.3):
                    await c.create_many(sent, batch_size=10, concurrency=2)
            report = taskgrpc.BulkError.of(info.value)
            assert isinstance(report, taskgrpc.BulkError)
            return report

    report = asyncio.run(go())
    assert report.not_sent and len(report.errors) > len(report.not_sent)
