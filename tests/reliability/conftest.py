"""Fixtures for the reliability tests: a live fake Tasks API on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fake_servicer import FakeServer, FakeV2Servicer, serve


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with serve() as running:
        yield running


@pytest.fixture
def servicer(server: FakeServer) -> FakeV2Servicer:
    return server.servicer
