"""The tests run against the installed distribution, and that distribution is complete.

``.ci/run`` installs a built wheel (not the checkout), so a module, marker file or entry point
left out of the wheel fails here even when no other test imports it. With an editable install
(the usual development setup) the wheel checks are skipped: there is no wheel to check.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest

import fake_servicer
import taskgrpc

ROOT = Path(__file__).resolve().parents[1]
DIST = metadata.distribution("taskgrpc")
PACKAGES = ("taskgrpc", "fake_servicer")


def _editable() -> bool:
    text = DIST.read_text("direct_url.json")
    return bool(text and json.loads(text).get("dir_info", {}).get("editable"))


needs_wheel = pytest.mark.skipif(_editable(), reason="editable install: .ci/run checks a wheel")


def test_the_packages_come_from_the_installed_distribution_or_the_checkout_only_if_editable() -> (
    None
):
    for module in (taskgrpc, fake_servicer):
        assert module.__file__ is not None, f"{module.__name__} is a namespace package (shadowed)"
        inside = Path(module.__file__).resolve().is_relative_to(ROOT)
        assert inside == _editable(), module.__file__


@needs_wheel
def test_the_wheel_ships_every_module_and_marker() -> None:
    shipped = {str(f) for f in DIST.files or ()}
    source = {
        p.relative_to(ROOT).as_posix()
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("*")
        if p.suffix in {".py", ".typed"} and "__pycache__" not in p.parts
    }
    assert source - shipped == set()


@needs_wheel
def test_the_entry_points_resolve() -> None:
    eps = DIST.entry_points
    (script,) = [ep for ep in eps if ep.group == "console_scripts" and ep.name == "taskgrpc"]
    assert callable(script.load())
    (plugin,) = [ep for ep in eps if ep.group == "pytest11" and ep.name == "fake_clarifai"]
    assert hasattr(plugin.load(), "fake_clarifai")


def test_the_license_is_an_spdx_expression_with_its_file() -> None:
    meta = DIST.metadata
    assert meta["License-Expression"] == "Apache-2.0"
    assert "LICENSE" in (meta.get_all("License-File") or [])


def test_the_distribution_version_is_the_package_version() -> None:
    # pyproject reads the version from taskgrpc.__version__: one source, never two
    assert DIST.version == taskgrpc.__version__
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{taskgrpc.__version__}] - " in changelog
