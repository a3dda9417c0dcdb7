"""taskgrpc against the raw ``V2Stub``, measured in one run, interleaved.

Run ``python -m benchmarks`` (full sizes, writes ``benchmarks/RESULTS.md``) or
``python -m benchmarks --quick --output PATH`` (tiny sizes, a smoke test).
The fake server runs in a separate process, so client CPU time is the
client's alone. Ratios matter; absolute times on a shared 2-core machine are
noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from clarifai_grpc.channel import clarifai_channel
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api import service_pb2_grpc

import taskgrpc as tg
from taskgrpc._methods import GET_TASK, LIST_TASKS

PAT = "bench-pat"
USER = "bench"


@dataclass
class Sizes:
    get_calls: int = 1000
    get_rounds: int = 21
    create_tasks: int = 10_000
    async_gets: int = 5000
    list_tasks: int = 100_000
    list_per_page: int = 1000
    import_runs: int = 21
    export_annotations: int = 100_000
    export_inputs: int = 1000
    bulk_tasks: int = 5000
    bulk_rounds: int = 15


QUICK = Sizes(
    get_calls=50,
    get_rounds=2,
    create_tasks=300,
    async_gets=200,
    list_tasks=2500,
    list_per_page=1000,
    import_runs=3,
    export_annotations=2500,
    export_inputs=50,
    bulk_tasks=300,
    bulk_rounds=2,
)


@dataclass
class Row:
    name: str
    raw: str
    taskgrpc: str
    ratio: str
    target: str
    met: bool | None
    notes: list[str] = field(default_factory=list)


# --- the fake, in its own process ---------------------------------------------------------


@contextmanager
def fake_server(*extra: str) -> Iterator[str]:
    """``python -m fake_servicer`` in its own process, with ``extra`` arguments; its target."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_servicer", "--port", "0", "--pat", PAT, *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"fake_servicer did not start: {line!r}")
        yield line.strip().rsplit(" ", 1)[-1]
    finally:
        proc.terminate()
        proc.wait(10)


def raw_channel(target: str) -> grpc.Channel:
    """The channel both sides use: clarifai's own options, on loopback."""
    host, port = target.rsplit(":", 1)
    return clarifai_channel.ClarifaiChannel.get_insecure_grpc_channel(base=host, port=int(port))


def make_task(i: int) -> r.Task:
    return tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name=f"bench-{i}")


def client(target: str, app: str, **kw: Any) -> tg.TaskClient:
    return tg.TaskClient(pat=PAT, user_id=USER, app_id=app, target=target, secure=False, **kw)


def uaid(app: str) -> r.UserAppIDSet:
    return r.UserAppIDSet(user_id=USER, app_id=app)


METADATA = (("authorization", f"Key {PAT}"),)


# --- 1. get ------------------------------------------------------------------------------


def bench_get(target: str, sz: Sizes) -> list[Row]:
    app = "get"
    # One channel for both sides: two channels' connections differ by a few percent on
    # their own, which would be charged to whichever side drew the slower one.
    channel_a = channel_b = raw_channel(target)
    stub = service_pb2_grpc.V2Stub(channel_a)
    c = client(target, app, channel=channel_b)
    task_id = c.create(make_task(0)).id

    def raw_loop(n: int) -> None:
        # the same deadline taskgrpc sets (its default timeout): a deadline is not overhead
        for _ in range(n):
            response = stub.GetTask(
                s.GetTaskRequest(user_app_id=uaid(app), task_id=task_id),
                metadata=METADATA,
                timeout=30.0,
            )
            assert response.status.code == 10000

    def tg_loop(n: int) -> None:
        for _ in range(n):
            c.get(task_id)

    raw_loop(200)
    tg_loop(200)
    wall = {"raw": [], "tg": []}  # type: dict[str, list[float]]
    cpu = {"raw": [], "tg": []}  # type: dict[str, list[float]]
    for round_ in range(sz.get_rounds):  # ABBA order, so neither side always goes second
        order = (("raw", raw_loop), ("tg", tg_loop))
        for name, fn in order if round_ % 2 == 0 else order[::-1]:
            gc.collect()
            w0, c0 = time.perf_counter(), time.process_time()
            fn(sz.get_calls)
            wall[name].append((time.perf_counter() - w0) / sz.get_calls)
            cpu[name].append((time.process_time() - c0) / sz.get_calls)
    ratios = [t / r_ for t, r_ in zip(wall["tg"], wall["raw"], strict=True)]
    ratio = statistics.median(ratios)
    overhead = [(t - r_) * 1e6 for t, r_ in zip(cpu["tg"], cpu["raw"], strict=True)]
    cpu_over = statistics.median(overhead)
    c.close()
    channel_a.close()
    return [
        Row(
            "get: wall time per call",
            f"{statistics.median(wall['raw']) * 1e6:.0f} µs",
            f"{statistics.median(wall['tg']) * 1e6:.0f} µs",
            f"{ratio:.3f}x",
            "≤ 1.03x",
            ratio <= 1.03,
            [
                f"{sz.get_rounds} interleaved rounds (ABBA) of {sz.get_calls:,} calls; the "
                "ratio is the median of the per-round ratios, so it need not equal the ratio "
                "of the medians shown"
            ],
        ),
        Row(
            "get: client CPU per call",
            f"{statistics.median(cpu['raw']) * 1e6:.0f} µs",
            f"{statistics.median(cpu['tg']) * 1e6:.0f} µs",
            f"+{cpu_over:.1f} µs",
            "≤ +15 µs",
            cpu_over <= 15,
        ),
    ]


# --- 2. create 10,000 ----------------------------------------------------------------------


def bench_create(target: str, sz: Sizes) -> list[Row]:
    n = sz.create_tasks
    tasks = [make_task(i) for i in range(n)]
    channel = raw_channel(target)
    stub = service_pb2_grpc.V2Stub(channel)
    channel_ready = grpc.channel_ready_future(channel)
    channel_ready.result(timeout=10)

    def naive(app: str) -> float:
        t0 = time.perf_counter()
        for task in tasks:
            response = stub.PostTasks(
                s.PostTasksRequest(user_app_id=uaid(app), tasks=[task]),
                metadata=METADATA,
                timeout=30.0,
            )
            assert response.status.code == 10000
        return time.perf_counter() - t0

    def bulk_sync(app: str) -> float:
        with client(target, app) as c:
            c.existing(["warm-up"])  # connect first, as the naive loop's channel already is
            t0 = time.perf_counter()
            assert len(c.create_many(tasks)) == n
            return time.perf_counter() - t0

    def bulk_async(app: str) -> float:
        async def run() -> float:
            async with tg.AsyncTaskClient(
                pat=PAT, user_id=USER, app_id=app, target=target, secure=False
            ) as ac:
                await ac.existing(["warm-up"])
                t0 = time.perf_counter()
                assert len(await ac.create_many(tasks)) == n
                return time.perf_counter() - t0

        return asyncio.run(run())

    times: dict[str, list[float]] = {"naive": [], "sync": [], "async": []}
    rounds = 2
    for round_ in range(rounds):  # interleaved; a fresh app each time
        times["naive"].append(naive(f"naive-{round_}"))
        times["sync"].append(bulk_sync(f"sync-{round_}"))
        times["async"].append(bulk_async(f"async-{round_}"))
    channel.close()
    base = statistics.median(times["naive"])
    rows = []
    for label in ("sync", "async"):
        secs = statistics.median(times[label])
        speedup = base / secs
        rows.append(
            Row(
                f"create {n:,} tasks: naive loop vs create_many ({label})",
                f"{base:.2f} s",
                f"{secs:.2f} s",
                f"{speedup:.1f}x faster",
                "≥ 30x faster",
                speedup >= 30,
                [
                    f"naive: one PostTasks per task on the raw stub; create_many: batches of "
                    f"128, 8 in flight; medians of {rounds} interleaved rounds"
                ],
            )
        )
    return rows


# --- 2b. bulk create at the raw limit -------------------------------------------------------


def make_rich_task(i: int) -> r.Task:
    """A task of a real pipeline: a worker, a review and a source (issue 10, item 7)."""
    return tg.build_task(
        "CONCEPTS_CLASSIFICATION",
        concepts=["cat"],
        name=f"bulk-{i}",
        workers=tg.full([f"labeler-{i % 3}"]),
        review=tg.manual_review(["reviewer"]),
        source=tg.dataset("ds-1"),
    )


def bench_bulk(target: str, sz: Sizes) -> list[Row]:
    """``create_many`` against a raw loop that gives ids, builds PostTasksRequests of 128
    and sends them on 8 threads: client CPU and wall time per task, interleaved rounds.

    Two raw loops: one giving random ids (``uuid4().hex``, what a raw caller does), and
    one giving the content ids ``create_many`` gives by default (``tg.content_id``, with
    the same repeat rule), so the table shows what idempotency costs. Each side writes
    to a fresh app each round, so every task is created, never found."""
    from concurrent.futures import ThreadPoolExecutor
    from uuid import uuid4

    n, batch, threads = sz.bulk_tasks, 128, 8
    tasks = [make_rich_task(i) for i in range(n)]
    channel = raw_channel(target)  # one channel for every side, as for get
    stub = service_pb2_grpc.V2Stub(channel)
    grpc.channel_ready_future(channel).result(timeout=10)
    pool = ThreadPoolExecutor(threads)  # made once, as create_many's pool is per client
    c = client(target, "bulk-tg", channel=channel)

    def raw(app: str, give_id: Callable[[r.Task], str]) -> None:
        app_ids = uaid(app)

        def send(start: int) -> None:
            request = s.PostTasksRequest(user_app_id=app_ids, tasks=tasks[start : start + batch])
            for task in request.tasks:
                task.id = give_id(task)
            response = stub.PostTasks(request, metadata=METADATA, timeout=30.0)
            assert response.status.code == 10000, response.status

        for _ in pool.map(send, range(0, n, batch)):
            pass

    # Each side has its own app; every round's ids are new (a salt per round for content
    # ids), so every task is created, never found.
    def raw_random(salt: str) -> None:
        raw("bulk-raw", lambda task: uuid4().hex)

    def raw_content(salt: str) -> None:
        # tg.content_id per task; the tasks are all distinct, so no repeat rule is needed
        raw("bulk-raw-cid", lambda task: tg.content_id(task, salt))

    def tg_bulk(salt: str) -> None:
        created = c.create_many(tasks, batch_size=batch, concurrency=threads, id_salt=salt)
        assert len(created) == n

    sides: list[tuple[str, Callable[[str], None]]] = [
        ("raw", raw_random),
        ("raw_cid", raw_content),
        ("tg", tg_bulk),
    ]
    for name, fn in sides:  # warm up: connections, caches, threads
        fn(f"warm-{name}")
    wall: dict[str, list[float]] = {name: [] for name, _ in sides}
    cpu: dict[str, list[float]] = {name: [] for name, _ in sides}
    for round_ in range(sz.bulk_rounds):  # rotate the order, so no side always goes first
        shift = round_ % len(sides)
        for name, fn in sides[shift:] + sides[:shift]:
            gc.collect()
            w0, c0 = time.perf_counter(), time.process_time()
            fn(f"round-{round_}")
            wall[name].append((time.perf_counter() - w0) / n)
            cpu[name].append((time.process_time() - c0) / n)
    pool.shutdown()
    c.close()
    channel.close()

    def ratio(a: str, b: str, data: dict[str, list[float]]) -> float:
        return statistics.median(x / y for x, y in zip(data[a], data[b], strict=True))

    def spread(a: str, b: str, data: dict[str, list[float]]) -> str:
        rs = [x / y for x, y in zip(data[a], data[b], strict=True)]
        return f"{min(rs):.2f}x to {max(rs):.2f}x"

    def us(data: list[float]) -> str:
        return f"{statistics.median(data) * 1e6:.1f} µs"

    cpu_ratio, wall_ratio = ratio("tg", "raw", cpu), ratio("tg", "raw", wall)
    how = (
        f"{n:,} tasks (each with a worker, a review and a source), batches of {batch} on "
        f"{threads} threads; {sz.bulk_rounds} rounds, the three sides in rotated order; the "
        "ratio is the median of the per-round ratios (range over the rounds: "
    )
    return [
        Row(
            f"create_many {n:,} tasks vs raw loop (random ids): client CPU per task",
            us(cpu["raw"]),
            us(cpu["tg"]),
            f"{cpu_ratio:.2f}x",
            "≤ 1.5x",
            cpu_ratio <= 1.5,
            [
                how + spread("tg", "raw", cpu) + "). Client CPU is the benchmark process's "
                "CPU time (gRPC's threads included; the fake runs in its own process). "
                "create_many validates every task, gives content ids, splits by bytes"
            ],
        ),
        Row(
            f"create_many {n:,} tasks vs raw loop (random ids): wall time per task",
            us(wall["raw"]),
            us(wall["tg"]),
            f"{wall_ratio:.2f}x",
            "≤ 1.3x (goal 1.1x)",
            wall_ratio <= 1.3,
            [how + spread("tg", "raw", wall) + ")"],
        ),
        Row(
            f"create_many {n:,} tasks vs raw loop with content ids: client CPU per task",
            us(cpu["raw_cid"]),
            us(cpu["tg"]),
            f"{ratio('tg', 'raw_cid', cpu):.2f}x",
            "(diagnostic)",
            None,
            [
                "the raw loop giving each task `tg.content_id(task)` instead of a random id: "
                f"what idempotency costs a raw caller ({ratio('raw_cid', 'raw', cpu):.2f}x the "
                f"random-id loop's CPU, {ratio('raw_cid', 'raw', wall):.2f}x its wall time); "
                f"create_many's wall time is {ratio('tg', 'raw_cid', wall):.2f}x this loop's"
            ],
        ),
    ]


# --- 3. async fan-out ----------------------------------------------------------------------


def bench_async(target: str, sz: Sizes) -> list[Row]:
    app = "fanout"
    with client(target, app) as c:
        task_id = c.create(make_task(0)).id
        c.get(task_id)
        t0 = time.perf_counter()
        for _ in range(sz.async_gets):
            c.get(task_id)
        sync_rate = sz.async_gets / (time.perf_counter() - t0)

    async def fan_out() -> float:
        async with tg.AsyncTaskClient(
            pat=PAT, user_id=USER, app_id=app, target=target, secure=False
        ) as ac:
            await ac.get(task_id)
            sem = asyncio.Semaphore(64)

            async def one() -> None:
                async with sem:
                    await ac.get(task_id)

            t0 = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(sz.async_gets)))
            return sz.async_gets / (time.perf_counter() - t0)

    async_rate = asyncio.run(fan_out())
    ratio = async_rate / sync_rate
    return [
        Row(
            "get throughput: async 64 in flight vs sync sequential",
            f"{sync_rate:,.0f}/s (sync)",
            f"{async_rate:,.0f}/s (async)",
            f"{ratio:.2f}x",
            "≥ 1.5x",
            ratio >= 1.5,
            [f"{sz.async_gets:,} gets each"],
        )
    ]


# --- 4. list 100,000 -----------------------------------------------------------------------


def bench_list(target: str, sz: Sizes) -> list[Row]:
    app = "list"
    n, per_page = sz.list_tasks, sz.list_per_page
    with client(target, app) as c:
        c.create_many((make_task(i) for i in range(n)), batch_size=1000, concurrency=4)
    channel_a = channel_b = raw_channel(target)  # one channel for both sides, as for get
    stub = service_pb2_grpc.V2Stub(channel_a)
    c = client(target, app, channel=channel_b)

    # Both consume each task with the same loop body.
    def raw_list() -> int:
        count, page = 0, 1
        while True:
            response = stub.ListTasks(
                s.ListTasksRequest(user_app_id=uaid(app), page=page, per_page=per_page),
                metadata=METADATA,
                timeout=30.0,
            )
            assert response.status.code == 10000
            for task in response.tasks:
                count += len(task.id) > 0
            if len(response.tasks) < per_page:
                return count
            page += 1

    def tg_list() -> int:
        count = 0
        for task in c.list(per_page=per_page):
            count += len(task.id) > 0
        return count

    def one_page() -> int:
        tasks = c.list(per_page=per_page).pages().__next__()
        return len(tasks)

    def measure(fn: Callable[[], int]) -> tuple[float, int, int]:
        gc.collect()
        tracemalloc.start()
        t0 = time.perf_counter()
        count = fn()
        secs = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return secs, peak, count

    times: dict[str, list[float]] = {"raw": [], "tg": []}
    cpu: dict[str, list[float]] = {"raw": [], "tg": []}
    peaks: dict[str, int] = {"raw": 0, "tg": 0}
    rounds = 11
    for round_ in range(rounds):  # ABBA order, so neither side always goes second
        order = (("raw", raw_list), ("tg", tg_list))
        for name, fn in order if round_ % 2 == 0 else order[::-1]:
            gc.collect()
            t0, c0 = time.perf_counter(), time.process_time()
            assert fn() == n
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    for name, fn in (("raw", raw_list), ("tg", tg_list)):
        _, peaks[name], count = measure(fn)
        assert count == n
    _, page_peak, _ = measure(one_page)
    _, keep_all_peak, _ = measure(lambda: len(list(c.list(per_page=per_page))))
    ratio = statistics.median(t / r_ for t, r_ in zip(times["tg"], times["raw"], strict=True))
    cpu_ratio = statistics.median(t / r_ for t, r_ in zip(cpu["tg"], cpu["raw"], strict=True))
    rss = {mode: rss_growth(target, app, mode, per_page) for mode in ("raw", "tg", "keep")}
    c.close()
    channel_a.close()
    return [
        Row(
            f"list {n:,} tasks ({per_page}/page): time",
            f"{statistics.median(times['raw']):.2f} s",
            f"{statistics.median(times['tg']):.2f} s",
            f"{ratio:.3f}x",
            "≤ 1.05x",
            ratio <= 1.05,
            [f"median of the per-round ratios of {rounds} interleaved rounds, in ABBA order"],
        ),
        Row(
            f"list {n:,} tasks: client CPU time",
            f"{statistics.median(cpu['raw']):.2f} s",
            f"{statistics.median(cpu['tg']):.2f} s",
            f"{cpu_ratio:.3f}x",
            "(diagnostic)",
            None,
            [
                "the same rounds' process CPU time (it includes gRPC's own I/O threads, so "
                "it moves with the wall time)"
            ],
        ),
        Row(
            f"list {n:,} tasks: peak RSS growth, fresh process",
            f"{rss['raw'] / 1e6:.1f} MB",
            f"{rss['tg'] / 1e6:.1f} MB",
            f"{rss['tg'] / max(rss['raw'], 1):.2f}x raw",
            "flat in the total",
            None,
            [
                f"peak RSS (VmHWM) after listing minus before, in a fresh interpreter; for scale, "
                f"keeping all {n:,} tasks grows it by {rss['keep'] / 1e6:.1f} MB"
            ],
        ),
        Row(
            f"list {n:,} tasks: peak traced memory",
            f"{peaks['raw'] / 1e6:.2f} MB",
            f"{peaks['tg'] / 1e6:.2f} MB",
            f"{peaks['tg'] / page_peak:.2f} pages",
            "< 3 pages",
            peaks["tg"] < 3 * page_peak,
            [
                f"one page of {per_page} held by the pager peaks at {page_peak / 1e6:.2f} MB; "
                f"for scale, keeping all {n:,} tasks (`list(client.list())`) peaks at "
                f"{keep_all_peak / 1e6:.2f} MB ({keep_all_peak / page_peak:.0f} pages). "
                "tracemalloc sees Python allocations (message wrappers, lists), not upb's "
                "C arenas"
            ],
        ),
    ]


# --- 4b. export a task's annotations -------------------------------------------------------


def seed_annotations(c: tg.TaskClient, inputs: int, total: int) -> str:
    """A FULL task of every input with the app owner as its labeler, and ``total``
    annotations spread over its inputs (the owner's PAT acts as the owner)."""
    task = c.create(
        tg.build_task(
            "CONCEPTS_CLASSIFICATION", concepts=["cat"], workers=tg.full([USER]), name="export"
        )
    )
    batch: list[r.Annotation] = []
    for i in range(total):
        # distinct content each: equal content from the same PAT is the same annotation
        batch.append(tg.annotation(f"input-{i % inputs + 1:06d}", {"cat": i / total}))
        if len(batch) == 1000:
            c.annotate(task.id, batch)
            batch = []
    if batch:
        c.annotate(task.id, batch)
    return task.id


def bench_export(sz: Sizes) -> list[Row]:
    app, n, per_page = "export", sz.export_annotations, 1000
    seed = ("--seed-inputs", str(sz.export_inputs), "--user-id", USER, "--app-id", app)
    with fake_server(*seed) as target:
        channel = raw_channel(target)  # one channel for both sides, as for list
        stub = service_pb2_grpc.V2Stub(channel)
        c = client(target, app, channel=channel)
        task_id = seed_annotations(c, sz.export_inputs, n)

        # Both consume each annotation with the same loop body.
        def raw_export() -> int:
            count, page = 0, 1
            while True:
                response = stub.ListAnnotations(
                    s.ListAnnotationsRequest(
                        user_app_id=uaid(app),
                        task_id=task_id,
                        list_all_annotations=True,
                        page=page,
                        per_page=per_page,
                    ),
                    metadata=METADATA,
                    timeout=30.0,
                )
                assert response.status.code == 10000
                for annotation in response.annotations:
                    count += len(annotation.id) > 0
                if len(response.annotations) < per_page:
                    return count
                page += 1

        def tg_export() -> int:
            count = 0
            for annotation in c.annotations(task_id, per_page=per_page):
                count += len(annotation.id) > 0
            return count

        def one_page() -> int:
            return len(next(c.annotations(task_id, per_page=per_page).pages()))

        def traced_peak(fn: Callable[[], int]) -> int:
            gc.collect()
            tracemalloc.start()
            fn()
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            return peak

        times: dict[str, list[float]] = {"raw": [], "tg": []}
        rounds = 7
        for round_ in range(rounds):  # ABBA order, so neither side always goes second
            order = (("raw", raw_export), ("tg", tg_export))
            for name, fn in order if round_ % 2 == 0 else order[::-1]:
                gc.collect()
                t0 = time.perf_counter()
                assert fn() == n
                times[name].append(time.perf_counter() - t0)
        peaks = {"raw": traced_peak(raw_export), "tg": traced_peak(tg_export)}
        page_peak = traced_peak(one_page)
        keep_all_peak = traced_peak(lambda: len(list(c.annotations(task_id, per_page=per_page))))
        channel.close()
    ratio = statistics.median(t / r_ for t, r_ in zip(times["tg"], times["raw"], strict=True))
    return [
        Row(
            f"export {n:,} annotations ({per_page}/page): time",
            f"{statistics.median(times['raw']):.2f} s",
            f"{statistics.median(times['tg']):.2f} s",
            f"{ratio:.3f}x",
            "≤ 1.05x",
            ratio <= 1.05,
            [
                f"`client.annotations(task_id)` against a raw ListAnnotations(task_id) page "
                f"loop; median of the per-round ratios of {rounds} interleaved rounds, ABBA"
            ],
        ),
        Row(
            f"export {n:,} annotations: peak traced memory",
            f"{peaks['raw'] / 1e6:.2f} MB",
            f"{peaks['tg'] / 1e6:.2f} MB",
            f"{peaks['tg'] / page_peak:.2f} pages",
            "< 3 pages",
            peaks["tg"] < 3 * page_peak,
            [
                f"one page of {per_page} annotations peaks at {page_peak / 1e6:.2f} MB; keeping "
                f"all {n:,} peaks at {keep_all_peak / 1e6:.2f} MB "
                f"({keep_all_peak / page_peak:.0f} pages)"
            ],
        ),
    ]


_RSS_CHILD = """
import sys
from benchmarks.run import rss_child
rss_child(*sys.argv[1:])
"""


def peak_rss() -> int:
    """This process's peak resident set (VmHWM), in bytes.

    Not ``ru_maxrss``: Linux carries that over from the parent across fork and exec.
    """
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def rss_child(target: str, app: str, mode: str, per_page: str) -> None:
    """In a fresh interpreter: print how much the peak RSS grows while listing (bytes)."""
    size = int(per_page)
    channel = raw_channel(target)
    c = client(target, app, channel=raw_channel(target))
    next(iter(c.list(per_page=1)))  # load and warm everything first: one page of one task
    before = peak_rss()
    if mode == "raw":
        stub, page = service_pb2_grpc.V2Stub(channel), 1
        while True:
            response = stub.ListTasks(
                s.ListTasksRequest(user_app_id=uaid(app), page=page, per_page=size),
                metadata=METADATA,
            )
            if len(response.tasks) < size:
                break
            page += 1
    elif mode == "tg":
        for _ in c.list(per_page=size):
            pass
    else:
        kept = list(c.list(per_page=size))
        assert kept
    print(peak_rss() - before)


def rss_growth(target: str, app: str, mode: str, per_page: int) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, target, app, mode, str(per_page)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return int(out.stdout.strip().splitlines()[-1])


# --- wrapper cost alone: the transport replaced by an in-process function -------------------


def bench_overhead(sz: Sizes) -> list[Row]:
    """taskgrpc's own cost, without network noise: the RPC is a function returning a
    canned response, for both sides."""
    import timeit

    from clarifai_grpc.grpc.api.status import status_pb2

    ok = status_pb2.Status(code=10000)
    single = s.SingleTaskResponse(status=ok, task=make_task(0))
    page = s.MultiTaskResponse(status=ok, tasks=[make_task(i) for i in range(sz.list_per_page)])
    pages = sz.list_tasks // sz.list_per_page
    last = s.MultiTaskResponse(status=ok)

    def get_task(request: Any, timeout: Any = None, metadata: Any = None) -> Any:
        return single

    def list_tasks(request: Any, timeout: Any = None, metadata: Any = None) -> Any:
        return page if request.page <= pages else last

    c = tg.TaskClient(pat=PAT, user_id=USER, app_id="x", target="127.0.0.1:9", secure=False)
    c._methods = {GET_TASK.name: get_task, LIST_TASKS.name: list_tasks}

    def raw_get() -> None:
        get_task(
            s.GetTaskRequest(user_app_id=uaid("x"), task_id="t"), timeout=30.0, metadata=METADATA
        )

    def raw_list() -> int:
        count, number = 0, 1
        while True:
            response = list_tasks(
                s.ListTasksRequest(user_app_id=uaid("x"), page=number, per_page=sz.list_per_page),
                timeout=30.0,
                metadata=METADATA,
            )
            for task in response.tasks:
                count += len(task.id) > 0
            if len(response.tasks) < sz.list_per_page:
                return count
            number += 1

    def tg_list() -> int:
        count = 0
        for task in c.list(per_page=sz.list_per_page):
            count += len(task.id) > 0
        return count

    n = 20 * sz.get_calls
    raw_us = min(timeit.repeat(raw_get, number=n, repeat=5)) / n * 1e6
    tg_us = min(timeit.repeat(lambda: c.get("t"), number=n, repeat=5)) / n * 1e6
    raw_l = min(timeit.repeat(raw_list, number=1, repeat=5))
    tg_l = min(timeit.repeat(tg_list, number=1, repeat=5))
    return [
        Row(
            "get, transport stubbed out: Python cost per call",
            f"{raw_us:.1f} µs",
            f"{tg_us:.1f} µs",
            f"+{tg_us - raw_us:.1f} µs",
            "≤ +15 µs",
            tg_us - raw_us <= 15,
            [f"best of 5 runs of {n:,} calls; the raw side builds the request and calls"],
        ),
        Row(
            f"list {pages * sz.list_per_page:,} tasks, transport stubbed out",
            f"{raw_l * 1e3:.1f} ms",
            f"{tg_l * 1e3:.1f} ms",
            f"+{(tg_l - raw_l) / (pages + 1) * 1e6:.1f} µs/page",
            "(diagnostic)",
            None,
            [
                "best of 5; both sides consume each task with the same loop body; the "
                "pager's cost is per page (request copy, budget, generator), none per task"
            ],
        ),
    ]


# --- 5. import time ------------------------------------------------------------------------


def bench_import(sz: Sizes) -> list[Row]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure as installed: with bytecode caches
    base = "import clarifai_grpc.grpc.api.service_pb2_grpc"
    ours = "import taskgrpc"
    times: dict[str, list[float]] = {base: [], ours: []}
    for stmt in (base, ours):
        subprocess.run([sys.executable, "-c", stmt], env=env, check=True)  # warm caches
    for _ in range(sz.import_runs):
        for stmt in (base, ours):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", stmt], env=env, check=True)
            times[stmt].append(time.perf_counter() - t0)
    b, o = statistics.median(times[base]), statistics.median(times[ours])
    over = (o - b) * 1e3
    return [
        Row(
            "import: `import taskgrpc` vs clarifai-grpc's service_pb2_grpc",
            f"{b * 1e3:.0f} ms",
            f"{o * 1e3:.0f} ms",
            f"+{over:.1f} ms",
            "≤ +20 ms",
            over <= 20,
            [f"median of {sz.import_runs} interleaved fresh interpreters, with .pyc caches"],
        )
    ]


# --- report --------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | raw V2Stub / baseline | taskgrpc | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        met = "—" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(
            f"| {row.name} | {row.raw} | {row.taskgrpc} | {row.ratio} | {row.target} | {met} |"
        )
    return "\n".join(lines)


def machine() -> str:
    return (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"grpcio {grpc.__version__}, {platform.machine()} {platform.system()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(__file__).with_name("RESULTS.md"),
        help="where to write the markdown results",
    )
    parser.add_argument(
        "--only",
        choices=("get", "create", "bulk", "async", "list", "export", "overhead", "import"),
        action="append",
    )
    args = parser.parse_args(argv)
    sz = QUICK if args.quick else Sizes()
    only = set(
        args.only or ("get", "create", "bulk", "async", "list", "export", "overhead", "import")
    )
    rows: list[Row] = []
    started = time.perf_counter()
    with fake_server() as target:
        if "get" in only:
            rows += bench_get(target, sz)
        if "create" in only:
            rows += bench_create(target, sz)
        if "async" in only:
            rows += bench_async(target, sz)
        if "list" in only:
            rows += bench_list(target, sz)
    if "bulk" in only:
        with fake_server() as target:  # its own fake: the other sections' tasks not in it
            rows += bench_bulk(target, sz)
    if "export" in only:
        rows += bench_export(sz)
    if "overhead" in only:
        rows += bench_overhead(sz)
    if "import" in only:
        rows += bench_import(sz)
    elapsed = time.perf_counter() - started
    text = table(rows)
    print(text)
    notes = [f"- {row.name}: {note}" for row in rows for note in row.notes]
    today = dt.date.today().isoformat()
    doc = (
        f"# Benchmark results\n\n"
        f"Run on {today}, {machine()}{' (quick sizes)' if args.quick else ''}, "
        f"in {elapsed:.0f} s, with `python -m benchmarks`.\n"
        f"The fake server ran in its own process on loopback; both sides used the same "
        f"channel, made by `ClarifaiChannel.get_insecure_grpc_channel`.\n\n"
        f"{text}\n\n" + "\n".join(notes) + "\n"
    )
    args.output.write_text(doc, encoding="utf-8")
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
