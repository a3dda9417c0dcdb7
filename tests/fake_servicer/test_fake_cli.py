"""``python -m fake_servicer``: listening line, serving, clean exit on signals, bad args."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from clarifai_grpc.grpc.api import service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from fake_rpc import Rpc, ids_of, make_task, user_app

from fake_servicer import serve
from fake_servicer.cli import build_parser, main, parse_faults

LINE = re.compile(r"fake_servicer listening on (127\.0\.0\.1:(\d+))\n")


def read_line(proc: subprocess.Popen[str], timeout: float = 15.0) -> str:
    lines: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    assert lines, "no listening line in time"
    return lines[0]


@pytest.fixture
def launch() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def start(procs: list[subprocess.Popen[str]], *args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_servicer", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs.append(proc)
    match = LINE.fullmatch(read_line(proc))
    assert match, "unexpected listening line"
    return proc, match.group(1)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serves_and_exits_cleanly(launch: list[subprocess.Popen[str]], signum: int) -> None:
    proc, target = start(launch)
    with Rpc(target) as client:
        assert client.post(make_task("t1")).status.code == status_code_pb2.SUCCESS
        assert ids_of(client.list()) == ["t1"]
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert out == ""  # exactly one line was printed, before
    assert "Traceback" not in err


def test_options_configure_server(launch: list[subprocess.Popen[str]]) -> None:
    _, target = start(
        launch,
        "--pat",
        "k1",
        "--pat",
        "k2",
        "--fault",
        "throttled=1",
        "--fault-methods",
        "GetTask",
        "--seed",
        "7",
        "--latency-ms",
        "1",
    )
    with Rpc(target, pat="k2") as client:
        assert client.list().status.code == status_code_pb2.SUCCESS
        assert client.list(pat="nope").status.code == status_code_pb2.CONN_KEY_INVALID
        assert client.get("x").status.code == status_code_pb2.CONN_THROTTLED


def test_bad_flag_exits_2_in_subprocess() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fake_servicer", "--port", "0", "--bogus"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "--bogus" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "--port"),
        (["--port", "abc"], "invalid port"),
        (["--port", "70000"], "65535"),
        (["--port", "0", "--fault", "bogus=0.1"], "KIND=PROBABILITY"),
        (["--port", "0", "--fault", "unavailable"], "KIND=PROBABILITY"),
        (["--port", "0", "--fault", "unavailable=x"], "invalid probability"),
        (["--port", "0", "--fault", "throttled=1.5"], "[0, 1]"),
        (["--port", "0", "--fault", "unavailable=0.6", "--fault", "throttled=0.6"], "sum"),
        (["--port", "0", "--fault-methods", "ListModels"], "comma list"),
        (["--port", "0", "--latency-ms", "-3"], ">= 0"),
        (["--port", "0", "--seed", "x"], "--seed"),
    ],
)
def test_bad_args_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 2
    assert message in capsys.readouterr().err


def test_parse_faults() -> None:
    parser = build_parser()
    args = parser.parse_args(
        [
            "--port",
            "0",
            "--fault",
            "unavailable=0.1",
            "--fault",
            "commit_unavailable=0.05",
            "--fault-methods",
            "PostTasks, ListTasks",
            "--seed",
            "3",
        ]
    )
    faults = parse_faults(args, parser)
    assert faults.unavailable == 0.1
    assert faults.commit_unavailable == 0.05
    assert faults.throttled == 0.0
    assert faults.methods == frozenset({"PostTasks", "ListTasks"})
    assert faults.seed == 3


def test_port_in_use_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with serve() as holder:
        assert main(["--port", str(holder.port)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"could not bind 127.0.0.1:{holder.port}" in captured.err


def test_seed_inputs_and_users(launch: list[subprocess.Popen[str]]) -> None:
    _, target = start(
        launch,
        "--seed-inputs",
        "12",
        "--user-id",
        "u1",
        "--app-id",
        "a1",
        "--dataset-id",
        "ds",
        "--user",
        "pat-l1=l1",
        "--pat",
        "owner",
        "--auto-done",
    )
    task = make_task("t1")
    task.worker.strategy = task.worker.DYNAMIC
    task.worker.workers.add().user.id = "l1"
    task.input_source.type = task.input_source.DATASET
    task.input_source.id = "ds"
    with Rpc(target, pat="owner") as client:
        assert client.post(task).status.code == status_code_pb2.SUCCESS
        request = service_pb2.PutTaskAssignmentsRequest(
            user_app_id=user_app(), task_id="t1", action=service_pb2.LABEL_START
        )
        batch = client.call("PutTaskAssignments", request, pat="pat-l1").task_assignments
        assert [a.input.id for a in batch] == [f"input-{n:06d}" for n in range(1, 11)]
        assert {a.worker.user.id for a in batch} == {"l1"}
        assert list(batch[0].input.dataset_ids) == ["ds"]
        refused = client.call("PutTaskAssignments", request, pat="someone")
        assert refused.status.code == status_code_pb2.CONN_KEY_INVALID
        for _ in range(2):
            submit = service_pb2.PutTaskAssignmentsRequest(
                user_app_id=user_app(),
                task_id="t1",
                action=service_pb2.LABEL_SUBMIT,
                label_submit_config=service_pb2.LabelSubmitConfig(task_assignments=batch),
            )
            assert client.call("PutTaskAssignments", submit, pat="pat-l1").status.code == (
                status_code_pb2.SUCCESS
            )
            batch = client.call("PutTaskAssignments", request, pat="pat-l1").task_assignments
        assert list(batch) == []
        get = service_pb2.GetTaskRequest(user_app_id=user_app(), task_id="t1")
        task_status = client.call("GetTask", get).task.status.code
        assert task_status == status_code_pb2.TASK_DONE  # --auto-done


@pytest.mark.parametrize(
    "args",
    [
        ["--seed-inputs", "3"],
        ["--seed-inputs", "3", "--user-id", "u"],
        ["--seed-inputs", "-1", "--user-id", "u", "--app-id", "a"],
        ["--seed-inputs", "x", "--user-id", "u", "--app-id", "a"],
        ["--dataset-id", "ds"],
        ["--user", "no-equals"],
        ["--user", "=u"],
    ],
)
def test_bad_lifecycle_args_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--port", "0", *args])
    assert raised.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_auto_done_flag_defaults_off() -> None:
    assert build_parser().parse_args(["--port", "0", "--auto-done"]).auto_done is True
    assert build_parser().parse_args(["--port", "0"]).auto_done is False
