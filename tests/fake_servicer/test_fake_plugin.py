"""The ``fake_clarifai`` pytest fixture (entry point ``fake_clarifai``) and import lightness."""

from __future__ import annotations

import subprocess
import sys

import pytest
from clarifai_grpc.grpc.api.status import status_code_pb2
from fake_rpc import Rpc, make_task

from fake_servicer import FakeServer


def test_fixture_gives_running_server(fake_clarifai: FakeServer) -> None:
    assert isinstance(fake_clarifai, FakeServer)
    assert fake_clarifai.target == f"127.0.0.1:{fake_clarifai.port}"
    with Rpc(fake_clarifai.target, pat="any-key-at-all") as client:
        assert client.post(make_task("p1")).status.code == status_code_pb2.SUCCESS
    assert fake_clarifai.servicer.calls["PostTasks"] == 1


def test_fixture_is_fresh_per_test(fake_clarifai: FakeServer) -> None:
    assert fake_clarifai.servicer.calls == {}
    assert fake_clarifai.servicer.tasks("u1", "a1") == []


def test_plugin_autoloads_in_a_fresh_pytest(pytester: pytest.Pytester) -> None:
    """A fresh pytest session (in process, with its own plugin manager) finds ``fake_clarifai``
    through the ``pytest11`` entry point alone: no conftest, no ``-p``."""
    pytester.makepyfile(
        test_user="""
        from clarifai_grpc.grpc.api import resources_pb2 as r

        def test_uses_fake(fake_clarifai):
            assert fake_clarifai.port > 0
            fake_clarifai.servicer.put_tasks("u", "a", [r.Task(id="t1", name="x")])
            assert len(fake_clarifai.servicer.tasks("u", "a")) == 1

        def test_fresh_after(fake_clarifai):
            # a new fake per test: the task stored by the previous test is gone
            assert fake_clarifai.servicer.tasks("u", "a") == []
        """
    )
    # (the option only quiets pytest-asyncio, which is installed here, in the inner session)
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function"
    )
    result.assert_outcomes(passed=2)


def test_plugin_import_is_light() -> None:
    code = (
        "import sys, fake_servicer.pytest_plugin\n"
        "heavy = [m for m in ('grpc', 'clarifai_grpc', 'fake_servicer.servicer') "
        "if m in sys.modules]\n"
        "print(heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
