"""Fixtures for the taskgrpc end-to-end tests: a live fake server and clients dialing it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tgsupport import APP, FAST_RETRY, PAT, USER

import taskgrpc
from fake_servicer import FakeServer, serve


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with serve() as running:
        yield running


@pytest.fixture
def make_client(server):
    """``make_client(**overrides)``: a TaskClient on ``server``; closed after the test."""
    made: list[taskgrpc.TaskClient] = []

    def make(**overrides) -> taskgrpc.TaskClient:
        kwargs = {
            "pat": PAT,
            "user_id": USER,
            "app_id": APP,
            "target": server.target,
            "secure": False,
            "retry": FAST_RETRY,
            "timeout": 10.0,
        }
        kwargs.update(overrides)
        client = taskgrpc.TaskClient(**kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client) -> taskgrpc.TaskClient:
    return make_client()
