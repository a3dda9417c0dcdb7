"""A few end-to-end runs of the installed ``taskgrpc`` console script in a subprocess: what
in-process tests cannot show (the entry point, real signals, a closed pipe, a terminal)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clisupport import USER, jsonl, task_json

from fake_servicer import FakeServer, Faults, serve

TASKGRPC = Path(sys.executable).parent / "taskgrpc"
APP = "smoke-app"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with serve() as running:
        yield running


def env(target: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CLARIFAI_")}
    return {
        **base,
        "CLARIFAI_PAT": "smoke-pat",
        "CLARIFAI_USER_ID": USER,
        "CLARIFAI_APP_ID": APP,
        "CLARIFAI_GRPC_BASE": target,
    }


def test_the_console_script_runs_the_demo_without_credentials(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CLARIFAI_")}
    proc = subprocess.run(
        [str(TASKGRPC), "demo"], env=base, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "done:" in proc.stdout and "Traceback" not in proc.stderr


def test_a_closed_stdout_ends_quietly(server: FakeServer, tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(jsonl([task_json(f"h{k}", f"c{k}") for k in range(300)]))
    created = subprocess.run(
        [str(TASKGRPC), "create", "--file", str(path), "--insecure", "-q"],
        env=env(server.target),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    proc = subprocess.Popen(
        [str(TASKGRPC), "list", "--insecure", "--per-page", "10"],
        env=env(server.target),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()  # like `| head -1`
    proc.stdout.close()
    err = proc.stderr.read().decode()
    code = proc.wait(30)
    assert json.loads(first)["name"].startswith("h")
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert code == 141


def test_sigterm_writes_the_unfinished_lines_and_exits_130(
    server: FakeServer, tmp_path: Path
) -> None:
    tasks = [task_json(f"s{k}", f"c{k}") for k in range(20)]
    path = tmp_path / "t.jsonl"
    path.write_text(jsonl(tasks))
    failures = tmp_path / "failed.jsonl"
    server.servicer.set_faults(Faults(latency_ms=300, methods=frozenset({"PostTasks"})))
    proc = subprocess.Popen(
        [
            str(TASKGRPC),
            "create",
            "--file",
            str(path),
            "--insecure",
            "--batch-size",
            "1",
            "--concurrency",
            "1",
            "--failures",
            str(failures),
        ],
        env=env(server.target),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not server.servicer.tasks(USER, APP) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    stored = {t.name for t in server.servicer.tasks(USER, APP)}
    unfinished = {json.loads(x)["name"] for x in failures.read_text().splitlines()}
    assert stored and unfinished
    assert stored | unfinished == {t["name"] for t in tasks}
    server.servicer.set_faults(None)
    again = subprocess.run(
        [str(TASKGRPC), "create", "--file", str(failures), "--insecure"],
        env=env(server.target),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr
    assert sorted(t.name for t in server.servicer.tasks(USER, APP)) == sorted(
        t["name"] for t in tasks
    )


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_on_a_real_terminal_unless_quiet(
    server: FakeServer, tmp_path: Path, quiet: bool
) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(jsonl([task_json(f"pg{k}", f"c{k}") for k in range(3)]))
    args = [str(TASKGRPC), "create", "--file", str(path), "--insecure", "--batch-size", "1"]
    master, slave = pty.openpty()
    # A real terminal has a size; a fresh pty has 0 columns, where tqdm draws nothing.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        proc = subprocess.run(
            [*args, *(["--quiet"] if quiet else [])],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
            env=env(server.target),
            timeout=60,
        )
    finally:
        os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every writer is gone
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    err = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, err
    assert len(proc.stdout.splitlines()) == 3  # stdout still carries the tasks only
    if quiet:
        assert "3/3" not in err and "created" not in err, err
    else:
        assert "lookup" in err and "3/3" in err, err


def test_python_dash_m_runs_the_same_command_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "taskgrpc.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("taskgrpc "), proc.stderr
