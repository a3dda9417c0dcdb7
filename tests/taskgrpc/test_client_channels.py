"""TaskClient's channel end to end: who closes it, use after close, the context manager, many
threads on one client, and a fresh process on a plain channel."""

from __future__ import annotations

import subprocess
import sys
import threading

import grpc
import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from tgsupport import (
    APP,
    PAT,
    USER,
    ids,
)

import taskgrpc
from taskgrpc import (
    TaskgrpcError,
    ValidationError,
    build_task,
)

CC = "CONCEPTS_CLASSIFICATION"


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
