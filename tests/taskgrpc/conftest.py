"""Fixtures of the sans-I/O tests in this folder (the shared ones are in ``tests/conftest.py``)."""

from __future__ import annotations

import pytest
from tgsupport import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock, passed in to what is under test (``budget(clock=clock)``, drivers)."""
    return FakeClock()
