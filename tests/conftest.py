"""The fixtures every test folder shares: one live fake server and one client factory.

Where tests live: ``tests/taskgrpc/test_X.py`` tests ``taskgrpc/X.py`` or ``taskgrpc/_X.py``
(``test_client*.py`` the TaskClient: verbs, wire shape, channels; ``test_paging.py`` listing;
``test_bulk.py`` bulk calls; ``test_ops.py`` / ``test_ops_create.py`` the sans-I/O operations;
``test_cli.py`` or ``cli/`` the command line); ``tests/fake_servicer/test_fake_*.py`` the
fake; ``tests/reliability/`` the cross-cutting guarantees (deadlines, throttling, chaos,
secrets, properties, pipelines); ``tests/test_docs.py`` runs the docs' examples;
``tests/test_multiprocess.py`` and ``tests/test_dask.py`` clients across processes.
Timed assertions carry ``@pytest.mark.timing``.

- ``server``: the project's own ``fake_clarifai`` fixture (``fake_servicer/pytest_plugin.py``):
  a fresh fake Tasks API on 127.0.0.1, port 0, accepting any PAT, stopped after the test. A
  module that needs another fake (known PATs, seeded data) overrides ``server`` with
  ``serve(...)``.
- ``servicer``: that server's in-memory servicer, to seed or inspect.
- ``make_client(**overrides)`` / ``make_aclient(**overrides)``: sync / async clients of
  ``server`` built by ``tgsupport.new_client`` / ``new_aclient`` (plain text, fast retries,
  ``tgsupport``'s PAT, user and app); all closed after the test. ``client`` is
  ``make_client()``.

Hypothesis runs under the ``quick`` settings profile by default: a quarter of each test's examples
(``tgsupport.examples``), 25 where a test names none. ``pytest --hypothesis-profile=thorough``
runs them all.

Helpers (constants, the fake clock, the scripted driver) are plain modules, not fixtures:
``tgsupport`` (tests/taskgrpc), ``relsupport`` (tests/reliability), ``fake_rpc`` and ``team``
(tests/fake_servicer).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings
from tgsupport import new_aclient, new_client

import taskgrpc
from fake_servicer import FakeServer, FakeV2Servicer

pytest_plugins = ["pytester"]  # the ``pytester`` fixture, to run a fresh pytest in process

settings.register_profile("thorough", max_examples=100)
settings.register_profile("quick", max_examples=25)
settings.load_profile("quick")  # ``--hypothesis-profile=NAME`` loads another after this


@pytest.fixture
def server(fake_clarifai: FakeServer) -> FakeServer:
    return fake_clarifai


@pytest.fixture
def servicer(server: FakeServer) -> FakeV2Servicer:
    return server.servicer


@pytest.fixture
def make_client(server: FakeServer) -> Iterator[Callable[..., taskgrpc.TaskClient]]:
    """``make_client(**overrides)``: a TaskClient of ``server``; closed after the test."""
    made: list[taskgrpc.TaskClient] = []

    def make(**overrides: Any) -> taskgrpc.TaskClient:
        made.append(new_client(server.target, **overrides))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., taskgrpc.TaskClient]) -> taskgrpc.TaskClient:
    return make_client()


@pytest.fixture
async def make_aclient(
    server: FakeServer,
) -> AsyncIterator[Callable[..., taskgrpc.AsyncTaskClient]]:
    """``make_aclient(**overrides)``: an AsyncTaskClient of ``server`` on the test's event
    loop; closed after the test."""
    made: list[taskgrpc.AsyncTaskClient] = []

    def make(**overrides: Any) -> taskgrpc.AsyncTaskClient:
        made.append(new_aclient(server.target, **overrides))
        return made[-1]

    yield make
    for client in made:
        await client.close()
