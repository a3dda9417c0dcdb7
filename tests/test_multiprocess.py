"""``TaskClient`` across processes: it pickles as its settings only, reconnects lazily in the
process that unpickles it, and keeps working on both sides of a ``fork``.

The fake runs in its own process, and the parent and its children dial its target. It must not
run in the process that forks: gRPC skips its fork handlers when another thread is inside gRPC at
the fork (a server always has one), and then a child's new channel may never connect.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import pickletools
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

# Spawned children unpickle this module's functions by importing the module by name
# (tests.test_multiprocess under pytest's importlib mode), so the repo root must be on sys.path.
# It goes last: the installed taskgrpc and fake_servicer stay ahead of the source tree.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

import grpc  # noqa: E402
import pytest  # noqa: E402
from clarifai_grpc.grpc.api import resources_pb2 as r  # noqa: E402

from fake_servicer.cli import LISTENING_PREFIX  # noqa: E402
from taskgrpc import RetryPolicy, TaskClient  # noqa: E402

PAT = "mp-SECRET-pat-93c1f0"
USER = "mp-user"
CHILD_TIMEOUT = 60.0


def make_task(name: str, task_id: str = "") -> r.Task:
    return r.Task(
        id=task_id,
        name=name,
        type=r.Task.CONCEPTS_CLASSIFICATION,
        concepts=[r.TaskConcept(concept=r.Concept(id="cat"))],
        worker=r.TaskWorker(strategy=r.TaskWorker.FULL),
        input_source=r.TaskInputSource(type=r.TaskInputSource.ALL_INPUTS),
    )


def new_client(target: str, app: str) -> TaskClient:
    return TaskClient(pat=PAT, user_id=USER, app_id=app, target=target, secure=False, timeout=20)


def new_app() -> str:
    return f"mp-{uuid.uuid4().hex[:12]}"


class Remote:
    """``python -m fake_servicer`` in its own process, at ``target``."""

    def __init__(self, target: str) -> None:
        self.target = target

    def tasks(self, app: str) -> list[r.Task]:
        """Every task of ``app``, read by a client of its own."""
        with new_client(self.target, app) as client:
            return list(client.list())


def stored_names(server: Remote, app: str) -> list[str]:
    return sorted(t.name for t in server.tasks(app))


@pytest.fixture(scope="module")
def server() -> Iterator[Remote]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_servicer", "--port", "0", "--pat", PAT],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(LISTENING_PREFIX), f"fake_servicer did not start: {line!r}"
        yield Remote(line[len(LISTENING_PREFIX) :].strip())
    finally:
        proc.terminate()
        proc.wait(10)


# --- pickling -----------------------------------------------------------------------------


def test_pickle_after_use_holds_settings_only(server: Remote) -> None:
    app = new_app()
    client = new_client(server.target, app)
    client.create(make_task("before-pickle"))
    assert client._channel is not None  # it is connected

    data = pickle.dumps(client)
    listing = disassembly(data)
    for word in ("Channel", "cygrpc", "_channel", "_methods", "Lock", "ThreadPool"):
        assert word not in listing, f"{word!r} in the pickle:\n{listing}"
    assert len(data) < 2000

    copy = pickle.loads(data)
    assert copy._channel is None and copy._methods is None  # nothing opened yet
    assert copy._config.settings() == client._config.settings()
    assert (copy.target, copy.user_id, copy.app_id) == (server.target, USER, app)

    assert [t.name for t in copy.list()] == ["before-pickle"]  # reconnects lazily
    assert copy._channel is not None and copy._channel is not client._channel
    copy.create(make_task("from-copy"))
    client.create(make_task("from-original"))  # the original is unaffected
    assert stored_names(server, app) == ["before-pickle", "from-copy", "from-original"]
    copy.close()
    client.close()


def disassembly(data: bytes) -> str:
    out = io.StringIO()
    pickletools.dis(data, out)
    return out.getvalue()


def test_pickle_before_first_use_and_every_protocol(server: Remote) -> None:
    app = new_app()
    client = new_client(server.target, app)
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        copy = pickle.loads(pickle.dumps(client, protocol=protocol))
        copy.create(make_task(f"p{protocol}"))
        copy.close()
    assert client._channel is None  # the original never connected
    assert len(stored_names(server, app)) == pickle.HIGHEST_PROTOCOL - 1


def test_pickle_keeps_every_setting(server: Remote) -> None:
    client = TaskClient(
        pat=PAT,
        user_id=USER,
        app_id="settings-app",
        target=server.target,
        secure=False,
        timeout=7.5,
        retry=RetryPolicy(max_attempts=2, initial_backoff=0.01, max_backoff=0.02),
        max_rps=123.0,
    )
    copy = pickle.loads(pickle.dumps(client))
    assert copy._config.settings() == client._config.settings()
    assert copy._config.timeout == 7.5 and copy._config.max_rps == 123.0
    assert copy._config.retry == RetryPolicy(max_attempts=2, initial_backoff=0.01, max_backoff=0.02)


def test_client_on_a_callers_channel_refuses_to_pickle(server: Remote) -> None:
    channel = grpc.insecure_channel(server.target)
    try:
        client = TaskClient(pat=PAT, user_id=USER, app_id="a", channel=channel, secure=False)
        with pytest.raises(TypeError, match="channel"):
            pickle.dumps(client)
    finally:
        channel.close()


# --- fork ---------------------------------------------------------------------------------


def _wait_child(pid: int, timeout: float = CHILD_TIMEOUT) -> int:
    """The child's exit code; kills it and fails if it does not finish in time (a hang)."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail(f"the forked child did not finish in {timeout} s (gRPC + fork hang?)")
        time.sleep(0.01)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_os_fork_child_gets_a_new_channel_and_parent_keeps_its_own(server: Remote) -> None:
    app = new_app()
    client = new_client(server.target, app)
    client.create(make_task("parent-before"))
    parent_channel = client._channel
    assert parent_channel is not None

    for round_ in range(3):  # forking more than once, from the same client
        pid = os.fork()
        if pid == 0:  # the child: never return into pytest
            code = 1
            try:
                created = client.create(make_task(f"child-{round_}"))
                names = {t.name for t in client.list()}
                ok = (
                    client._channel is not parent_channel
                    and created.name == f"child-{round_}"
                    and {"parent-before", f"child-{round_}"} <= names
                )
                code = 0 if ok else 3
            except BaseException as err:
                sys.stderr.write(f"child failed: {err!r}\n")
                code = 4
            finally:
                os._exit(code)
        assert _wait_child(pid) == 0, f"the child failed in round {round_}"
        client.create(make_task(f"parent-after-{round_}"))
        assert client._channel is parent_channel  # the parent kept its channel

    assert stored_names(server, app) == sorted(
        ["parent-before"]
        + [f"child-{i}" for i in range(3)]
        + [f"parent-after-{i}" for i in range(3)]
    )
    client.close()


_INHERITED: TaskClient | None = None


def _use_inherited(name: str) -> None:
    assert _INHERITED is not None
    _INHERITED.create(make_task(name))
    if not any(t.name == name for t in _INHERITED.list()):
        raise SystemExit(3)


def test_multiprocessing_fork_child_uses_the_inherited_client(server: Remote) -> None:
    global _INHERITED
    app = new_app()
    client = new_client(server.target, app)
    client.create(make_task("parent-before"))
    _INHERITED = client
    try:
        ctx = multiprocessing.get_context("fork")
        children = [ctx.Process(target=_use_inherited, args=(f"child-{i}",)) for i in range(3)]
        for child in children:
            child.start()
        for child in children:
            child.join(CHILD_TIMEOUT)
            if child.is_alive():
                child.kill()
                child.join()
                pytest.fail("a forked child hung")
            assert child.exitcode == 0
        client.create(make_task("parent-after"))
    finally:
        _INHERITED = None
        client.close()
    assert stored_names(server, app) == [
        "child-0",
        "child-1",
        "child-2",
        "parent-after",
        "parent-before",
    ]


def _bulk_in_a_forked_child(client: TaskClient, parent_pool: Any, queue: Any) -> None:
    try:
        made = client.create_many([make_task(f"child{i}") for i in range(8)], batch_size=2)
        queue.put((len(made), client._pool is not parent_pool))
    except BaseException as err:  # reported to the parent
        queue.put(repr(err))


def test_a_forked_child_gets_its_own_bulk_pool(server: Remote) -> None:
    app = new_app()
    client = new_client(server.target, app)
    client.create_many([make_task(f"p{i}") for i in range(4)], batch_size=2)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_bulk_in_a_forked_child, args=(client, client._pool, queue))
    child.start()
    try:
        assert queue.get(timeout=CHILD_TIMEOUT) == (8, True)
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
    # the parent's pool still works
    assert len(client.create_many([make_task("after")] * 4)) == 4
    assert len(server.tasks(app)) == 16
    client.close()


# --- process pools ------------------------------------------------------------------------


def create_share(client: TaskClient, tasks: Sequence[r.Task]) -> tuple[int, list[str]]:
    """A pool worker's job: create its share (ids assigned by the caller); (pid, ids)."""
    created = client.create_many(tasks, batch_size=7, concurrency=2)
    return os.getpid(), [t.id for t in created]


def create_share_inherited(tasks: Sequence[r.Task]) -> tuple[int, list[str]]:
    assert _INHERITED is not None
    return create_share(_INHERITED, tasks)


def split(items: Sequence[Any], parts: int) -> list[list[Any]]:
    return [list(items[i::parts]) for i in range(parts)]


def assert_exactly_once(server: Remote, app: str, tasks: Sequence[r.Task]) -> None:
    stored = server.tasks(app)
    counts = Counter(t.id for t in stored)
    assert counts == Counter(t.id for t in tasks), "each task exactly once"
    by_id = {t.id: t.name for t in stored}
    assert all(by_id[t.id] == t.name for t in tasks)


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_process_pool_shares_one_pickled_client(server: Remote, method: str) -> None:
    app = new_app()
    client = new_client(server.target, app)
    client.list()  # used (connected) in the parent before the pool starts
    tasks = [make_task(f"pool-{i}", uuid.uuid4().hex) for i in range(60)]
    shares = split(tasks, 4)
    ctx = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        futures = [pool.submit(create_share, client, share) for share in shares]
        results = [f.result(timeout=CHILD_TIMEOUT) for f in futures]
    pids = {pid for pid, _ in results}
    assert os.getpid() not in pids
    assert [ids for _, ids in results] == [[t.id for t in share] for share in shares]
    assert_exactly_once(server, app, tasks)
    client.create(make_task("parent-after"))  # the parent's client still works
    client.close()


def test_fork_pool_workers_use_the_client_inherited_from_the_parent(server: Remote) -> None:
    global _INHERITED
    app = new_app()
    client = new_client(server.target, app)
    client.create(make_task("warm-up"))
    tasks = [make_task(f"inh-{i}", uuid.uuid4().hex) for i in range(40)]
    _INHERITED = client
    try:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
            futures = [pool.submit(create_share_inherited, s) for s in split(tasks, 4)]
            results = [f.result(timeout=CHILD_TIMEOUT) for f in futures]
        assert os.getpid() not in {pid for pid, _ in results}
        client.create(make_task("after"))
    finally:
        _INHERITED = None
        client.close()
    stored = server.tasks(app)
    assert sorted(t.name for t in stored if not t.name.startswith("inh-")) == ["after", "warm-up"]
    assert_exactly_once(
        server, app, [*tasks, *[t for t in stored if not t.name.startswith("inh-")]]
    )
