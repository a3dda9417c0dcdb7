"""Fixtures for the command-line tests: ``cli`` runs ``taskgrpc`` in process against the
``fake_clarifai`` fixture; ``auth_cli`` against a fake that accepts only clisupport.PAT."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from clisupport import PAT, Cli

from fake_servicer import FakeServer, serve


@pytest.fixture
def cli(
    fake_clarifai: FakeServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Cli:
    return Cli(fake_clarifai.target, tmp_path, monkeypatch, capsys)


@pytest.fixture
def auth_server() -> Iterator[FakeServer]:
    with serve(pats=[PAT]) as server:
        yield server


@pytest.fixture
def auth_cli(
    auth_server: FakeServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Cli:
    return Cli(auth_server.target, tmp_path, monkeypatch, capsys)
