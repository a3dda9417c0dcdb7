"""Pytest plugin (registered as ``fake_clarifai``): a running fake Tasks API per test.

Import-light: nothing from grpc or clarifai_grpc is imported until the fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fake_servicer.server import FakeServer


@pytest.fixture
def fake_clarifai() -> Iterator[FakeServer]:
    """A fake server on 127.0.0.1 (free port) accepting any PAT, stopped after the test.

    Use ``fake_clarifai.target`` to dial it and ``fake_clarifai.servicer`` to inspect or seed.
    """
    from fake_servicer.server import serve

    with serve() as server:
        yield server
