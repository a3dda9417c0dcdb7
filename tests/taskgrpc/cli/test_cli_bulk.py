"""The scaffold every bulk command shares: interrupts, errors that fail every line, short
stderr, the per-call lookup, and progress through every phase."""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from clisupport import (
    HEX32,
    USER,
    WRONG_PAT,
    Cli,
    assert_clean_error,
    invalid_json,
    task_json,
)

from fake_servicer import FakeServer, Faults
from taskgrpc.cli import bulk


def _interrupt_after(seconds: float, signum: int = signal.SIGINT) -> threading.Timer:
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signum))
    timer.start()
    return timer


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_writes_every_unfinished_line_and_a_rerun_finishes_exactly_once(
    cli: Cli, fake_clarifai: FakeServer, signum: int
) -> None:
    tasks = [task_json(f"i{k}", f"c{k}") for k in range(12)]
    path = cli.write("t.jsonl", tasks)
    failures = cli.tmp / "failed.jsonl"
    fake_clarifai.servicer.set_faults(Faults(latency_ms=400, methods=frozenset({"PostTasks"})))
    timer = _interrupt_after(0.6, signum)
    try:
        result = cli(
            "create",
            "--file",
            path,
            "--batch-size",
            "1",
            "--concurrency",
            "2",
            "--failures",
            str(failures),
        )
    finally:
        timer.cancel()
    assert result.code == 130, str(result)
    assert_clean_error(result)
    stored = {t.name for t in fake_clarifai.servicer.tasks(USER, cli.app)}
    unfinished = [json.loads(x) for x in failures.read_text().splitlines()]
    assert 0 < len(unfinished) < 12 and stored, (stored, unfinished)
    assert all(HEX32.match(x["id"]) for x in unfinished)  # each with the id it would be sent with
    assert stored | {x["name"] for x in unfinished} == {t["name"] for t in tasks}
    summary = result.err.splitlines()[-1]
    assert summary == (
        f"create: created {len(stored)}, existed 0, failed 0; interrupted, "
        f"{len(unfinished)} line(s) not done; lines to re-run in {failures}"
    )

    fake_clarifai.servicer.set_faults(None)
    again = cli("create", "--file", str(failures))
    assert again.code == 0, str(again)
    names = [t.name for t in fake_clarifai.servicer.tasks(USER, cli.app)]
    assert sorted(names) == sorted(t["name"] for t in tasks)  # every task once, none twice


def test_calls_in_flight_past_the_grace_period_are_written_out_too(
    cli: Cli, fake_clarifai: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "GRACE_SECONDS", 0.2)
    tasks = [task_json(f"g{k}", f"c{k}") for k in range(4)]
    path = cli.write("t.jsonl", tasks)
    failures = cli.tmp / "failed.jsonl"
    fake_clarifai.servicer.set_faults(Faults(latency_ms=1500, methods=frozenset({"PostTasks"})))
    timer = _interrupt_after(0.3)
    try:
        result = cli("create", "--file", path, "--batch-size", "1", "--failures", str(failures))
    finally:
        timer.cancel()
    assert result.code == 130, str(result)
    unfinished = [json.loads(x) for x in failures.read_text().splitlines()]
    assert sorted(x["name"] for x in unfinished) == [f"g{k}" for k in range(4)]
    # The server may still commit what was in flight: the re-run finds it, creates the rest.
    fake_clarifai.servicer.set_faults(None)
    assert cli("create", "--file", str(failures)).code == 0
    assert sorted(t.name for t in fake_clarifai.servicer.tasks(USER, cli.app)) == [
        f"g{k}" for k in range(4)
    ]


def test_a_wrong_pat_stops_the_run_at_once_reported_once(
    auth_cli: Cli, auth_server: FakeServer
) -> None:
    cli = auth_cli
    path = cli.write("t.jsonl", [task_json(f"w{k}", f"c{k}") for k in range(300)])
    failures = cli.tmp / "failed.jsonl"
    result = cli(
        "create",
        "--file",
        path,
        "--batch-size",
        "1",
        "--failures",
        str(failures),
        env=cli.env(CLARIFAI_PAT=WRONG_PAT),
    )
    assert result.code == 1, str(result)
    assert WRONG_PAT not in result.out + result.err
    assert result.err.count("CONN_KEY_INVALID") == 1, result.err
    assert len(result.err.splitlines()) <= 3, result.err
    assert sum(auth_server.servicer.calls.values()) == 1  # one lookup, then it stopped
    assert len(failures.read_text().splitlines()) == 300
    again = cli("create", "--file", str(failures))
    assert again.code == 0 and "created 300" in again.err, str(again)


@pytest.mark.parametrize("command", ["update", "delete"])
def test_a_wrong_pat_stops_update_and_delete_too(auth_cli: Cli, command: str) -> None:
    cli = auth_cli
    tasks = [task_json(f"u{k}", id=f"id-{k}") for k in range(40)]
    path = cli.write("t.jsonl", tasks)
    failures = cli.tmp / "failed.jsonl"
    result = cli(
        command,
        "--file",
        path,
        "--batch-size",
        "1",
        "--failures",
        str(failures),
        env=cli.env(CLARIFAI_PAT=WRONG_PAT),
    )
    assert result.code == 1, str(result)
    assert result.err.count("CONN_KEY_INVALID") == 1, result.err
    assert len(failures.read_text().splitlines()) == 40


def test_per_line_failure_messages_are_capped(cli: Cli) -> None:
    bad = [invalid_json(f"bad{k}") for k in range(25)]
    failures = cli.tmp / "failed.jsonl"
    path = cli.write("t.jsonl", [task_json("ok"), *bad])
    result = cli("create", "--file", path, "--failures", str(failures))
    assert result.code == 1, str(result)
    errors = result.error_lines()
    assert len(errors) == 11, result.err
    assert errors[-1] == f"error: ... and 15 more in {failures}"
    # the count of hidden messages comes before the summary, which stays the last line
    assert result.err.splitlines()[-1].startswith("create: created 1"), result.err
    assert len(failures.read_text().splitlines()) == 25


def test_the_lookup_is_split_into_calls_of_1000_ids_each_with_its_own_timeout(
    cli: Cli, fake_clarifai: FakeServer
) -> None:
    tasks = [task_json(f"t{k}", f"c{k}") for k in range(2500)]
    path = cli.write("t.jsonl", tasks)
    fake_clarifai.servicer.set_faults(Faults(latency_ms=400, methods=frozenset({"ListTasks"})))
    # 3 lookups of 0.4 s each: more than --timeout in all, each well within it.
    result = cli("create", "--file", path, "--timeout", "1", "--quiet")
    assert result.code == 0, result.err
    lookups = [c.request for c in fake_clarifai.servicer.requests if c.method == "ListTasks"]
    assert [len(r.ids) for r in lookups] == [1000, 1000, 500]  # type: ignore[attr-defined]
    assert len(fake_clarifai.servicer.tasks(USER, cli.app)) == 2500


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_covers_reading_the_lookup_and_sending(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = _Terminal()
    path = cli.write("t.jsonl", [task_json(f"p{k}", f"c{k}") for k in range(3)])
    real = sys.stderr
    monkeypatch.setattr(sys, "stderr", terminal)
    try:
        result = cli("create", "--file", path, "--batch-size", "1")
    finally:
        monkeypatch.setattr(sys, "stderr", real)
    assert result.code == 0, terminal.getvalue()
    shown = terminal.getvalue()
    for phase in ("read", "ids", "lookup", "create"):
        assert f"{phase}: 100%" in shown or f"{phase}: 3/3" in shown, shown
    quiet = _Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    try:
        cli("create", "--file", path, "--quiet")
    finally:
        monkeypatch.setattr(sys, "stderr", real)
    assert quiet.getvalue() == ""


def test_failures_file_may_be_the_input_file(cli: Cli, tmp_path: Path) -> None:
    path = cli.write("t.jsonl", [task_json("ok"), invalid_json("bad")])
    result = cli("create", "--file", path, "--failures", path)
    assert result.code == 1, str(result)
    assert [json.loads(x) for x in Path(path).read_text().splitlines()] == [invalid_json("bad")]
    assert cli.stored_names() == ["ok"]


@pytest.mark.timing
def test_a_second_signal_ends_the_grace_period_at_once(cli: Cli, fake_clarifai: FakeServer) -> None:
    path = cli.write("t.jsonl", [task_json(f"s{k}", f"c{k}") for k in range(4)])
    failures = cli.tmp / "failed.jsonl"
    fake_clarifai.servicer.set_faults(Faults(latency_ms=4000, methods=frozenset({"PostTasks"})))
    timers = [_interrupt_after(0.3), _interrupt_after(0.6)]
    started = time.monotonic()
    try:
        result = cli("create", "--file", path, "--batch-size", "1", "--failures", str(failures))
    finally:
        for timer in timers:
            timer.cancel()
    elapsed = time.monotonic() - started
    assert result.code == 130, str(result)
    assert elapsed < bulk.GRACE_SECONDS, elapsed  # not the whole grace period, nor the latency
    assert len(failures.read_text().splitlines()) == 4


def test_ctrl_c_in_a_command_that_is_not_bulk_exits_130_quietly(
    cli: Cli, fake_clarifai: FakeServer
) -> None:
    fake_clarifai.servicer.set_faults(Faults(latency_ms=2000, methods=frozenset({"ListTasks"})))
    timer = _interrupt_after(0.3)
    try:
        result = cli("list")
    finally:
        timer.cancel()
    assert result.code == 130, str(result)
    assert_clean_error(result)


def test_an_unreachable_target_stops_the_run_reported_once(cli: Cli) -> None:
    path = cli.write("t.jsonl", [task_json(f"u{k}", f"c{k}") for k in range(50)])
    failures = cli.tmp / "failed.jsonl"
    result = cli(
        *("create", "--file", path, "--failures", str(failures), "--timeout", "3"),
        env=cli.env(CLARIFAI_GRPC_BASE="127.0.0.1:1"),  # nothing listens there
    )
    assert result.code == 1, str(result)
    assert result.err.count("UNAVAILABLE") == 1, result.err
    assert "stopped, 50 line(s) not done" in result.err.splitlines()[-1]
    assert len(failures.read_text().splitlines()) == 50


def test_an_interrupt_during_the_lookup_sends_nothing_and_writes_every_line(
    cli: Cli, fake_clarifai: FakeServer
) -> None:
    path = cli.write("t.jsonl", [task_json(f"l{k}", f"c{k}") for k in range(2100)])
    failures = cli.tmp / "failed.jsonl"
    fake_clarifai.servicer.set_faults(Faults(latency_ms=800, methods=frozenset({"ListTasks"})))
    timer = _interrupt_after(0.4)
    try:
        result = cli("create", "--file", path, "--failures", str(failures))
    finally:
        timer.cancel()
    assert result.code == 130, str(result)
    assert fake_clarifai.servicer.calls["PostTasks"] == 0
    assert fake_clarifai.servicer.calls["ListTasks"] < 3  # the lookup stopped too
    assert len(failures.read_text().splitlines()) == 2100
    assert "interrupted, 2100 line(s) not done" in result.err.splitlines()[-1]


class _ClosedPipe(io.StringIO):
    """A stdout whose reader went away (``| head``)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize(("lines", "code"), [(["ok"], 141), (["ok", "bad"], 1)])
def test_a_closed_stdout_keeps_the_summary_and_the_failures_exit_code(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, lines: list[str], code: int
) -> None:
    tasks = [task_json(n) if n == "ok" else invalid_json(n) for n in lines]
    path = cli.write("t.jsonl", tasks)
    failures = cli.tmp / "failed.jsonl"
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    result = cli("create", "--file", path, "--failures", str(failures))
    assert result.code == code, str(result)
    assert result.err.splitlines()[-1].startswith("create: created 1, existed 0, failed ")
    assert_clean_error(result)
    assert cli.stored_names() == ["ok"]
