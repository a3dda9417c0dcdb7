"""Fixtures of the sans-I/O tests in this folder (the shared ones are in ``tests/conftest.py``)."""

from __future__ import annotations

import pytest
from tgsupport import FakeClock

from taskgrpc import _ops


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """A fake clock standing in for ``time`` inside ``taskgrpc._ops``."""
    fake = FakeClock()
    monkeypatch.setattr(_ops, "time", fake)
    return fake
