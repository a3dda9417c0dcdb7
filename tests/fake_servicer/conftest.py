"""Fixtures for the fake_servicer tests: a live loopback server and raw RPC callables."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_rpc import USER, Rpc
from team import LABELERS, REVIEWERS, Actor, team_servicer

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


@pytest.fixture
def team_server() -> Iterator[FakeServer]:
    """A live fake that knows the team's PATs (see ``team.py``)."""
    with serve(servicer=team_servicer()) as running:
        yield running


@pytest.fixture
def team_rpc(team_server: FakeServer) -> Iterator[Rpc]:
    client = Rpc(team_server.target)
    yield client
    client.close()


@pytest.fixture
def actors(team_rpc: Rpc) -> dict[str, Actor]:
    """The owner, labelers and reviewers, each calling with its own PAT."""
    return {user: Actor(team_rpc, user) for user in (USER, *LABELERS, *REVIEWERS)}
