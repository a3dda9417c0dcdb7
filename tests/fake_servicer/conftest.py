"""Fixtures for the fake_servicer tests: a live loopback server and raw RPC callables."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_rpc import Rpc

from fake_servicer import FakeServer, FakeV2Servicer, serve


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with serve() as running:
        yield running


@pytest.fixture
def servicer(server: FakeServer) -> FakeV2Servicer:
    return server.servicer


@pytest.fixture
def rpc(server: FakeServer) -> Iterator[Rpc]:
    client = Rpc(server.target)
    yield client
    client.close()
