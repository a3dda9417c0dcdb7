"""Client settings end to end: ``from_env`` and its variables, the repr, and the plain-text rule."""

from __future__ import annotations

import pytest
from tgsupport import (
    APP,
    PAT,
    USER,
)

import taskgrpc
from taskgrpc import (
    ValidationError,
    build_task,
)

CC = "CONCEPTS_CLASSIFICATION"


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
