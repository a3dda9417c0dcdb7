"""The ``taskgrpc`` command line, run as the real console script in a subprocess.

Most tests talk to ``python -m fake_servicer`` started once per module (each test uses its own
app id, so they do not see each other's tasks). A few use an in-process fake instead, where the
test must count the calls that arrived (dry runs) or inject faults.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from fake_servicer import Faults, serve
from taskgrpc import TaskClient

TASKGRPC = Path(sys.executable).parent / "taskgrpc"
ROOT = Path(__file__).resolve().parents[2]
PAT = "cli-SECRET-pat-5f0c1e9a7b"
WRONG_PAT = "cli-WRONG-pat-a1b2c3d4e5"
USER = "cli-user"
HEX32 = re.compile(r"^[0-9a-f]{32}$")
REQ_ID = re.compile(r"req_id=[0-9a-f]{32}")
COLUMNS = ["id", "name", "type", "strategy", "workers", "review", "status", "created"]


# --- helpers ------------------------------------------------------------------------------


def task_json(
    name: str,
    concept: str = "cat",
    *,
    workers: Sequence[str] = (),
    reviewers: Sequence[str] = (),
    source: tuple[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A valid task in the proto3 JSON mapping."""
    task: dict[str, Any] = {
        "type": "CONCEPTS_CLASSIFICATION",
        "name": name,
        "concepts": [{"concept": {"id": concept}}],
        "worker": {"strategy": "FULL"},
        "inputSource": {"type": "ALL_INPUTS"},
        "review": {"strategy": "NONE"},
    }
    if workers:
        task["worker"]["workers"] = [{"user": {"id": w}} for w in workers]
    if reviewers:
        task["review"] = {"strategy": "MANUAL", "users": [{"id": u} for u in reviewers]}
    if source is not None:
        task["inputSource"] = {"type": source[0], "id": source[1]}
    task.update(extra)
    return task


def invalid_json(name: str) -> dict[str, Any]:
    """A task breaking a documented rule: approval_threshold_reviewers takes 0, 1 or -1 only."""
    review = {
        "strategy": "CONSENSUS",
        "consensus_strategy_info": {
            "approval_threshold_labelers": 1,
            "approval_threshold_reviewers": 2,
        },
    }
    return {**task_json(name), "review": review}


def jsonl(items: Sequence[Any]) -> str:
    return "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in items)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def objects(self) -> list[dict[str, Any]]:
        """stdout as JSON Lines."""
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CLARIFAI_")}


def run_taskgrpc(
    args: Sequence[str],
    env: dict[str, str],
    *,
    stdin: str | None = None,
    cwd: Path | None = None,
    stderr: int | None = None,
) -> Result:
    proc = subprocess.run(
        [str(TASKGRPC), *args],
        input=stdin if stdin is not None else "",
        stdout=subprocess.PIPE,
        stderr=stderr if stderr is not None else subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr or "")


class Cli:
    """Runs ``taskgrpc`` against one target and one app, with config passed through the env."""

    def __init__(self, target: str, tmp_path: Path) -> None:
        self.target = target
        self.app = f"cli-{uuid.uuid4().hex[:12]}"
        self.tmp = tmp_path

    def env(self, **changes: str | None) -> dict[str, str]:
        env = base_env()
        env.update(
            CLARIFAI_PAT=PAT,
            CLARIFAI_USER_ID=USER,
            CLARIFAI_APP_ID=self.app,
            CLARIFAI_GRPC_BASE=self.target,
        )
        for key, value in changes.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def __call__(
        self,
        *args: str,
        stdin: str | None = None,
        insecure: bool = True,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Result:
        argv = [*args, "--insecure"] if insecure else list(args)
        return run_taskgrpc(argv, env or self.env(), stdin=stdin, cwd=cwd)

    def write(self, name: str, items: Sequence[Any] | str) -> str:
        path = self.tmp / name
        path.write_text(items if isinstance(items, str) else jsonl(items), encoding="utf-8")
        return str(path)

    def stored(self) -> list[dict[str, Any]]:
        """Every task of this app, read with a TaskClient (not through the CLI)."""
        with TaskClient(
            pat=PAT, user_id=USER, app_id=self.app, target=self.target, secure=False
        ) as client:
            return [json_format.MessageToDict(t) for t in client.list(per_page=1000)]

    def stored_names(self) -> list[str]:
        return sorted(t.get("name", "") for t in self.stored())


def assert_clean_error(result: Result) -> None:
    assert "Traceback" not in result.err, str(result)
    assert "Traceback" not in result.out, str(result)


GRPC_LOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d")


def app_stderr(text: str) -> str:
    """stderr without gRPC core's own log lines (which the CLI does not control)."""
    return "".join(line for line in text.splitlines(True) if not GRPC_LOG.match(line))


def assert_no_task_json(text: str) -> None:
    for line in text.splitlines():
        assert not line.lstrip().startswith("{"), f"task JSON on stderr: {line!r}"


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m fake_servicer --port 0 --pat PAT`` in a subprocess; yields its target."""
    log = tmp_path_factory.mktemp("fake") / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fake_servicer", "--port", "0", "--pat", PAT],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=ROOT,  # never a folder where tests/fake_servicer could shadow the package
        )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on" not in line:
            proc.kill()
            proc.wait()
            pytest.fail(f"fake_servicer did not start: {line!r} {log.read_text()}")
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def cli(fake_target: str, tmp_path: Path) -> Cli:
    return Cli(fake_target, tmp_path)


@pytest.fixture
def local_fake(tmp_path: Path) -> Iterator[tuple[Any, Cli]]:
    """An in-process fake (its calls can be counted and faults set) and a Cli aimed at it."""
    with serve(pats=[PAT]) as server:
        yield server, Cli(server.target, tmp_path)


def seed(cli: Cli, tasks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Create ``tasks`` through the CLI; returns the created tasks (stdout) in input order."""
    result = cli("create", "--file", cli.write(f"seed-{uuid.uuid4().hex[:6]}.jsonl", tasks))
    assert result.code == 0, str(result)
    created = result.objects()
    assert [t["name"] for t in created] == [t["name"] for t in tasks]
    return created


# --- create -------------------------------------------------------------------------------


def test_create_from_jsonl(cli: Cli) -> None:
    tasks = [task_json("a"), task_json("b", "dog", workers=["alice"]), task_json("c", "fox")]
    text = jsonl(tasks[:2]) + "\n   \n" + jsonl(tasks[2:])  # blank lines are skipped
    result = cli("create", "--file", cli.write("tasks.jsonl", text))
    assert result.code == 0, str(result)
    created = result.objects()
    assert [t["name"] for t in created] == ["a", "b", "c"]
    assert all(HEX32.match(t["id"]) for t in created)
    assert created[1]["worker"]["workers"] == [{"user": {"id": "alice"}}]
    assert sorted(t["id"] for t in cli.stored()) == sorted(t["id"] for t in created)
    assert_no_task_json(result.err)


def test_create_from_json_array(cli: Cli) -> None:
    tasks = [task_json("x"), task_json("y", "dog")]
    path = cli.write("tasks.json", json.dumps(tasks, indent=2))
    result = cli("create", "--file", path, "--quiet")
    assert result.code == 0, str(result)
    assert [t["name"] for t in result.objects()] == ["x", "y"]
    assert cli.stored_names() == ["x", "y"]


@pytest.mark.parametrize("shape", ["jsonl", "array"])
def test_create_from_stdin(cli: Cli, shape: str) -> None:
    tasks = [task_json("s1"), task_json("s2", "dog")]
    text = jsonl(tasks) if shape == "jsonl" else json.dumps(tasks)
    result = cli("create", "--file", "-", stdin=text)
    assert result.code == 0, str(result)
    assert cli.stored_names() == ["s1", "s2"]


def test_create_quiet_success_writes_only_stdout(cli: Cli) -> None:
    result = cli("create", "--file", cli.write("t.jsonl", [task_json("q")]), "--quiet")
    assert result.code == 0, str(result)
    assert app_stderr(result.err) == "", result.err
    assert [t["name"] for t in result.objects()] == ["q"]


def test_create_reports_a_summary_on_stderr_without_quiet(cli: Cli) -> None:
    result = cli("create", "--file", cli.write("t.jsonl", [task_json("a"), task_json("b", "x")]))
    assert result.code == 0, str(result)
    assert "created 2" in result.err
    assert_no_task_json(result.err)


# --- safe re-runs -------------------------------------------------------------------------


def test_rerun_of_the_same_file_creates_nothing_new(cli: Cli) -> None:
    path = cli.write("t.jsonl", [task_json("r1"), task_json("r2", "dog"), task_json("r3", "x")])
    first = cli("create", "--file", path)
    assert first.code == 0, str(first)
    ids = sorted(t["id"] for t in first.objects())
    second = cli("create", "--file", path)
    assert second.code == 0, str(second)
    assert "created 0" in second.err
    for number in (1, 2, 3):
        assert f"exists: line {number}" in second.err
    assert sorted(t["id"] for t in second.objects()) == ids  # the existing tasks are reported
    assert sorted(t["id"] for t in cli.stored()) == ids
    assert cli.stored_names() == ["r1", "r2", "r3"]


def test_rerun_after_a_partial_run_creates_only_the_rest(cli: Cli) -> None:
    tasks = [task_json(f"p{i}", f"c{i}") for i in range(5)]
    assert cli("create", "--file", cli.write("head.jsonl", tasks[:2])).code == 0
    result = cli("create", "--file", cli.write("all.jsonl", tasks))
    assert result.code == 0, str(result)
    assert "created 3" in result.err and "already existed 2" in result.err
    assert cli.stored_names() == [f"p{i}" for i in range(5)]


def test_content_id_ignores_key_order_spacing_and_field_spelling(cli: Cli) -> None:
    task = task_json("same", workers=["alice"])
    assert cli("create", "--file", cli.write("a.jsonl", [task])).code == 0
    variant = {
        "review": {"strategy": "NONE"},
        "input_source": {"type": "ALL_INPUTS"},  # snake_case spelling of inputSource
        "worker": {"workers": [{"user": {"id": "alice"}}], "strategy": "FULL"},
        "concepts": [{"concept": {"id": "cat"}}],
        "name": "same",
        "type": "CONCEPTS_CLASSIFICATION",
    }
    text = json.dumps(variant, indent=None, separators=(" ,  ", " :  ")) + "\n"
    result = cli("create", "--file", cli.write("b.jsonl", text))
    assert result.code == 0, str(result)
    assert "exists: line 1" in result.err
    assert len(cli.stored()) == 1


def test_same_task_twice_in_one_file_is_created_once(cli: Cli) -> None:
    result = cli("create", "--file", cli.write("t.jsonl", [task_json("d"), task_json("d")]))
    assert result.code == 0, str(result)
    assert "line 2 is the same task as line 1" in result.err
    assert cli.stored_names() == ["d"]


def test_one_explicit_id_for_two_different_tasks_is_a_failure(cli: Cli) -> None:
    first, second = task_json("first"), task_json("second")
    first["id"] = second["id"] = "shared-id"
    failed = str(cli.tmp / "failed.jsonl")
    result = cli("create", "--file", cli.write("t.jsonl", [first, second]), "--failures", failed)
    assert result.code == 1, str(result)
    assert "line 2" in result.err and "line 1" in result.err
    assert cli.stored_names() == ["first"]
    assert [json.loads(x)["name"] for x in Path(failed).read_text().splitlines()] == ["second"]


def test_id_salt_creates_a_deliberate_copy_once(cli: Cli) -> None:
    path = cli.write("t.jsonl", [task_json("k1"), task_json("k2", "dog")])
    plain = cli("create", "--file", path)
    assert plain.code == 0, str(plain)
    salted = cli("create", "--file", path, "--id-salt", "copy-1")
    assert salted.code == 0, str(salted)
    assert "created 2" in salted.err
    assert not {t["id"] for t in salted.objects()} & {t["id"] for t in plain.objects()}
    again = cli("create", "--file", path, "--id-salt", "copy-1")
    assert again.code == 0 and "created 0" in again.err, str(again)
    assert cli.stored_names() == ["k1", "k1", "k2", "k2"]


def test_explicit_ids_are_kept(cli: Cli) -> None:
    result = cli("create", "--file", cli.write("t.jsonl", [task_json("e", id="my-task-1")]))
    assert result.code == 0, str(result)
    assert [t["id"] for t in cli.stored()] == ["my-task-1"]


# --- bad lines ----------------------------------------------------------------------------


def test_bad_lines_are_reported_with_file_and_line_and_valid_lines_still_go(cli: Cli) -> None:
    lines = [
        json.dumps(task_json("good1")),
        '{"type": "CONCEPTS_CLASSIFICATION", "name": ',  # not JSON
        json.dumps({**task_json("bad-field"), "colour": "red"}),  # unknown field
        json.dumps(invalid_json("bad-reviewers")),
        json.dumps(task_json("good2", "dog")),
        "[1, 2]",  # not an object
    ]
    path = cli.write("batch.jsonl", "\n".join(lines) + "\n")
    result = cli("create", "--file", path)
    assert result.code == 1, str(result)
    assert_clean_error(result)
    for number in (2, 3, 4, 6):
        assert f"batch.jsonl:{number}:" in result.err, str(result)
    for number in (1, 5):
        assert f"batch.jsonl:{number}:" not in result.err
    assert "colour" in result.err  # the unknown field is named
    assert re.search(r"batch\.jsonl:4:.*approval_threshold_reviewers", result.err), (
        "the rule broken is named"
    )
    assert cli.stored_names() == ["good1", "good2"]


def test_bad_item_of_a_json_array_is_reported_with_its_position(cli: Cli) -> None:
    items = [task_json("ok"), invalid_json("bad-reviewers")]
    result = cli("create", "--file", cli.write("arr.json", json.dumps(items)))
    assert result.code == 1, str(result)
    assert "arr.json:2:" in result.err
    assert_clean_error(result)
    assert cli.stored_names() == ["ok"]


def test_bad_line_on_stdin_is_reported_as_stdin(cli: Cli) -> None:
    result = cli("create", "--file", "-", stdin=jsonl([task_json("ok"), invalid_json("x")]))
    assert result.code == 1, str(result)
    assert "<stdin>:2:" in result.err
    assert_clean_error(result)


def test_line_separators_inside_json_strings_do_not_split_lines(cli: Cli) -> None:
    # JSON allows U+2028, U+2029 and U+0085 unescaped inside strings; JSON Lines splits on \n only.
    name = "para\u2028line\u2029next\x85end"
    text = json.dumps(task_json(name), ensure_ascii=False) + "\n"
    result = cli("create", "--file", cli.write("u.jsonl", text))
    assert result.code == 0, str(result)
    assert cli.stored_names() == [name]


def test_a_file_that_is_not_utf8_is_an_error_without_traceback(cli: Cli) -> None:
    path = cli.tmp / "latin1.jsonl"
    path.write_bytes(json.dumps(task_json("caf\u00e9"), ensure_ascii=False).encode("latin-1"))
    result = cli("create", "--file", str(path))
    assert result.code in (1, 2), str(result)
    assert_clean_error(result)
    assert "latin1.jsonl" in result.err


# --- failures file ------------------------------------------------------------------------


def test_failures_file_holds_bad_lines_and_reruns_after_a_fix(cli: Cli) -> None:
    bad = invalid_json("fixme")
    path = cli.write("t.jsonl", [task_json("ok1"), bad, task_json("ok2", "dog")])
    failures = cli.tmp / "failed.jsonl"
    result = cli("create", "--file", path, "--failures", str(failures))
    assert result.code == 1, str(result)
    assert [json.loads(x) for x in failures.read_text().splitlines()] == [bad]
    assert "t.jsonl:2:" in result.err
    assert cli.stored_names() == ["ok1", "ok2"]

    fixed = [
        {**json.loads(x), "review": {"strategy": "NONE"}} for x in failures.read_text().splitlines()
    ]
    failures.write_text(jsonl(fixed))
    again = cli("create", "--file", str(failures), "--failures", str(cli.tmp / "f2.jsonl"))
    assert again.code == 0, str(again)
    assert (cli.tmp / "f2.jsonl").read_text() == ""
    assert cli.stored_names() == ["fixme", "ok1", "ok2"]


def test_failures_file_keeps_an_unparseable_line(cli: Cli) -> None:
    broken = '{"type": "CONCEPTS_CLASSIFICATION", "name": "half'
    path = cli.write("t.jsonl", jsonl([task_json("ok"), broken]))
    failures = cli.tmp / "failed.jsonl"
    result = cli("create", "--file", path, "--failures", str(failures))
    assert result.code == 1, str(result)
    # The user must get the line back to fix it: not `null`.
    assert "half" in failures.read_text(), failures.read_text()


def test_update_failures_rerun_cleanly_once_the_task_exists(cli: Cli) -> None:
    (existing,) = seed(cli, [task_json("u-existing")])
    missing = task_json("u-missing-renamed", id="not-yet-created")
    path = cli.write("upd.jsonl", [{**existing, "name": "u-existing-renamed"}, missing])
    failures = cli.tmp / "failed.jsonl"
    result = cli("update", "--file", path, "--batch-size", "1", "--failures", str(failures))
    assert result.code == 1, str(result)
    assert "TASK_MISSING" in result.err and REQ_ID.search(result.err)
    assert "line 2" in result.err
    assert [json.loads(x) for x in failures.read_text().splitlines()] == [missing]
    assert [t["name"] for t in result.objects()] == ["u-existing-renamed"]

    created = cli(
        "create", "--file", cli.write("c.jsonl", [task_json("u-missing", id=missing["id"])])
    )
    assert created.code == 0, str(created)
    failures2 = cli.tmp / "failed2.jsonl"
    again = cli("update", "--file", str(failures), "--failures", str(failures2))
    assert again.code == 0, str(again)
    assert failures2.read_text() == ""
    assert cli.stored_names() == ["u-existing-renamed", "u-missing-renamed"]


def test_create_failures_from_the_server_rerun_cleanly(local_fake: tuple[Any, Cli]) -> None:
    server, cli = local_fake
    tasks = [task_json(f"f{i}", f"c{i}") for i in range(3)]
    path = cli.write("t.jsonl", tasks)
    server.servicer.set_faults(Faults(unavailable=1.0, methods=frozenset({"PostTasks"})))
    failures = cli.tmp / "failed.jsonl"
    result = cli("create", "--file", path, "--batch-size", "1", "--failures", str(failures))
    assert result.code == 1, str(result)
    assert_clean_error(result)
    assert sorted(json.loads(x)["name"] for x in failures.read_text().splitlines()) == [
        "f0",
        "f1",
        "f2",
    ]
    assert server.servicer.tasks(USER, cli.app) == []

    server.servicer.set_faults(None)
    again = cli("create", "--file", str(failures), "--failures", str(cli.tmp / "f2.jsonl"))
    assert again.code == 0, str(again)
    assert sorted(t.name for t in server.servicer.tasks(USER, cli.app)) == ["f0", "f1", "f2"]
    # And the original file is now a no-op: exactly once.
    rerun = cli("create", "--file", path)
    assert rerun.code == 0 and "created 0" in rerun.err, str(rerun)
    assert len(server.servicer.tasks(USER, cli.app)) == 3


def test_failures_carry_the_ids_they_were_sent_with(local_fake: tuple[Any, Cli]) -> None:
    # The server is slower than --timeout: the client gives up, the server commits later,
    # so the outcome is unknown. The failures file must carry the salted ids that were
    # sent, so a re-run without --id-salt sends the same tasks and finds them, instead of
    # creating copies.
    server, cli = local_fake
    path = cli.write("t.jsonl", [task_json(f"s{i}") for i in range(2)])
    server.servicer.set_faults(Faults(latency_ms=1000, methods=frozenset({"PostTasks"})))
    failures = cli.tmp / "failed.jsonl"
    result = cli(
        "create",
        "--file",
        path,
        "--id-salt",
        "run-1",
        "--timeout",
        "0.3",
        "--failures",
        str(failures),
    )
    assert result.code == 1, str(result)
    assert "DEADLINE_EXCEEDED" in result.err or "unknown" in result.err
    server.servicer.set_faults(None)
    deadline = time.monotonic() + 5
    while len(server.servicer.tasks(USER, cli.app)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # the late commit lands
    stored = {t.id for t in server.servicer.tasks(USER, cli.app)}
    written = [json.loads(x) for x in failures.read_text().splitlines()]
    assert {t["id"] for t in written} == stored and len(stored) == 2
    again = cli("create", "--file", str(failures))
    assert again.code == 0, str(again)
    assert {t.id for t in server.servicer.tasks(USER, cli.app)} == stored


@pytest.mark.parametrize("cause", ["wrong PAT", "server unreachable"])
def test_create_failures_file_lists_every_line_when_the_whole_run_fails(
    cli: Cli, cause: str
) -> None:
    # The run fails before any batch is sent (at the existence check): every valid line is
    # still a failure to re-run, so the failures file must hold them, not be left empty.
    path = cli.write("t.jsonl", [task_json("w1"), task_json("w2", "dog"), {"name": "bad"}])
    failures = cli.tmp / "failed.jsonl"
    if cause == "wrong PAT":
        env = cli.env(CLARIFAI_PAT=WRONG_PAT)
    else:
        env = cli.env(CLARIFAI_GRPC_BASE="127.0.0.1:1")  # nothing listens there
    result = cli("create", "--file", path, "--failures", str(failures), env=env)
    assert result.code == 1, str(result)
    assert_clean_error(result)
    failed = [json.loads(x) for x in failures.read_text().splitlines()]
    assert sorted(str(x.get("name")) for x in failed) == ["bad", "w1", "w2"], failed
    fixed = [x for x in failed if x["name"] != "bad"]
    again = cli("create", "--file", cli.write("again.jsonl", fixed))
    assert again.code == 0, str(again)
    assert cli.stored_names() == ["w1", "w2"]


def test_unreachable_server_is_an_error_without_traceback(cli: Cli) -> None:
    result = cli("list", env=cli.env(CLARIFAI_GRPC_BASE="127.0.0.1:1"))
    assert result.code == 1, str(result)
    assert "UNAVAILABLE" in result.err
    assert PAT not in result.err
    assert_clean_error(result)


def test_unwritable_failures_path_is_a_usage_error(cli: Cli) -> None:
    path = cli.write("t.jsonl", [task_json("ok"), invalid_json("bad")])
    result = cli("create", "--file", path, "--failures", str(cli.tmp / "no-such-dir" / "f.jsonl"))
    assert result.code == 2, str(result)
    assert_clean_error(result)
    assert "no-such-dir" in result.err
    assert cli.stored() == []


def test_failures_default_to_stderr_as_json_lines(cli: Cli) -> None:
    bad = invalid_json("to-stderr")
    result = cli("create", "--file", cli.write("t.jsonl", [bad]))
    assert result.code == 1, str(result)
    assert bad in [json.loads(x) for x in result.err.splitlines() if x.startswith("{")]
    assert result.out == ""


# --- dry run ------------------------------------------------------------------------------


def test_dry_run_create_prints_requests_and_sends_nothing(local_fake: tuple[Any, Cli]) -> None:
    server, cli = local_fake
    tasks = [task_json(f"d{i}", f"c{i}") for i in range(5)]
    result = cli("create", "--file", cli.write("t.jsonl", tasks), "--dry-run", "--batch-size", "2")
    assert result.code == 0, str(result)
    requests = result.objects()
    assert len(requests) == 3  # 2 + 2 + 1
    assert all(r["userAppId"] == {"userId": USER, "appId": cli.app} for r in requests)
    sent = [t for r in requests for t in r["tasks"]]
    assert [t["name"] for t in sent] == [t["name"] for t in tasks]
    assert all(HEX32.match(t["id"]) for t in sent)  # the content ids a real run would use
    assert PAT not in result.out + result.err
    assert sum(server.servicer.calls.values()) == 0

    real = cli("create", "--file", cli.write("t.jsonl", tasks), "--quiet")
    assert real.code == 0, str(real)
    assert [t["id"] for t in real.objects()] == [t["id"] for t in sent]


def test_dry_run_create_still_reports_bad_lines(local_fake: tuple[Any, Cli]) -> None:
    server, cli = local_fake
    path = cli.write("t.jsonl", [task_json("ok"), invalid_json("bad")])
    result = cli("create", "--file", path, "--dry-run")
    assert result.code == 1, str(result)
    assert "t.jsonl:2:" in result.err
    assert [t["name"] for r in result.objects() for t in r["tasks"]] == ["ok"]
    assert sum(server.servicer.calls.values()) == 0


def test_dry_run_update_and_delete_send_nothing(local_fake: tuple[Any, Cli]) -> None:
    server, cli = local_fake
    created = seed(cli, [task_json("a"), task_json("b", "dog")])
    before = {t.id: t for t in server.servicer.tasks(USER, cli.app)}
    calls = sum(server.servicer.calls.values())

    renamed = [{**t, "name": t["name"] + "-renamed"} for t in created]
    upd = cli("update", "--file", cli.write("u.jsonl", renamed), "--dry-run")
    assert upd.code == 0, str(upd)
    (request,) = upd.objects()
    assert request["action"] == "overwrite"
    assert [t["name"] for t in request["tasks"]] == ["a-renamed", "b-renamed"]

    ids = [t["id"] for t in created]
    dele = cli("delete", *ids, "--dry-run")
    assert dele.code == 0, str(dele)
    assert [r["ids"] for r in dele.objects()] == [ids]
    dele_file = cli("delete", "--file", cli.write("ids.txt", "\n".join(ids)), "--dry-run")
    assert dele_file.code == 0 and dele_file.objects() == dele.objects(), str(dele_file)

    assert sum(server.servicer.calls.values()) == calls
    assert {t.id: t for t in server.servicer.tasks(USER, cli.app)} == before


# --- get ----------------------------------------------------------------------------------


def test_get_ids_in_every_format(cli: Cli) -> None:
    a, b = seed(cli, [task_json("g1"), task_json("g2", "dog", workers=["bob"])])
    ids = [b["id"], a["id"]]
    got = cli("get", *ids)
    assert got.code == 0, str(got)
    assert [t["id"] for t in got.objects()] == ids
    assert got.objects()[0]["worker"]["workers"] == [{"user": {"id": "bob"}}]

    as_json = cli("get", *ids, "--format", "json")
    assert as_json.code == 0
    assert [t["id"] for t in json.loads(as_json.out)] == ids

    as_csv = cli("get", *ids, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.out)))
    assert [r["id"] for r in rows] == ids
    assert rows[0]["workers"] == "bob"

    table = cli("get", *ids, "--format", "table")
    assert table.out.splitlines()[0].lower().split() == COLUMNS
    assert [line.split()[0] for line in table.out.splitlines()[1:]] == ids


def test_get_missing_id_prints_the_api_error_and_the_found_ones(cli: Cli) -> None:
    (task,) = seed(cli, [task_json("present")])
    result = cli("get", "absent-id", task["id"])
    assert result.code == 1, str(result)
    assert [t["id"] for t in result.objects()] == [task["id"]]
    assert "absent-id" in result.err
    assert "TASK_MISSING" in result.err and "not found" in result.err
    assert REQ_ID.search(result.err), result.err
    assert_clean_error(result)


# --- list ---------------------------------------------------------------------------------


@pytest.fixture
def listed(cli: Cli) -> dict[str, str]:
    """Five tasks with different workers, reviewers and sources; name -> id."""
    tasks = [
        task_json("l-alice", "c1", workers=["alice"]),
        task_json("l-bob-rev", "c2", workers=["bob"], reviewers=["rita"]),
        task_json("l-both-ds1", "c3", workers=["alice", "bob"], source=("DATASET", "ds1")),
        task_json("l-ds2", "c4", source=("DATASET", "ds2"), reviewers=["rita", "sam"]),
        task_json("l-search", "c5", source=("SAVED_SEARCH", "s1")),
    ]
    return {t["name"]: t["id"] for t in seed(cli, tasks)}


def names(result: Result) -> list[str]:
    assert result.code == 0, str(result)
    return sorted(t["name"] for t in result.objects())


def test_list_all_and_filters(cli: Cli, listed: dict[str, str]) -> None:
    assert names(cli("list")) == sorted(listed)
    assert names(cli("list", "--worker", "alice")) == ["l-alice", "l-both-ds1"]
    assert names(cli("list", "--worker", "alice", "--worker", "bob")) == [
        "l-alice",
        "l-bob-rev",
        "l-both-ds1",
    ]
    assert names(cli("list", "--reviewer", "rita")) == ["l-bob-rev", "l-ds2"]
    assert names(cli("list", "--reviewer", "sam")) == ["l-ds2"]
    ids = [listed["l-alice"], listed["l-search"]]
    assert names(cli("list", "--ids", *ids)) == ["l-alice", "l-search"]
    assert names(cli("list", "--source-type", "DATASET")) == ["l-both-ds1", "l-ds2"]
    assert names(cli("list", "--source-type", "DATASET", "--source-id", "ds2")) == ["l-ds2"]
    assert names(cli("list", "--source-id", "ds1", "--source-id", "s1")) == [
        "l-both-ds1",
        "l-search",
    ]
    assert names(cli("list", "--worker", "nobody")) == []


def test_list_per_page_pages_through_everything_once(cli: Cli, listed: dict[str, str]) -> None:
    for per_page in ("1", "2", "5"):
        result = cli("list", "--per-page", per_page)
        assert result.code == 0, str(result)
        ids = [t["id"] for t in result.objects()]
        assert sorted(ids) == sorted(listed.values()), per_page


def test_list_formats(cli: Cli, listed: dict[str, str]) -> None:
    stored = {t["id"]: t for t in cli.stored()}

    as_json = cli("list", "--format", "json")
    assert as_json.code == 0, str(as_json)
    assert sorted(t["id"] for t in json.loads(as_json.out)) == sorted(stored)

    as_csv = cli("list", "--format", "csv")
    assert as_csv.code == 0, str(as_csv)
    reader = csv.DictReader(io.StringIO(as_csv.out))
    rows = list(reader)
    assert reader.fieldnames == COLUMNS
    by_name = {r["name"]: r for r in rows}
    assert sorted(by_name) == sorted(listed)
    assert by_name["l-both-ds1"]["workers"] == "alice,bob"
    assert by_name["l-bob-rev"]["review"] == "MANUAL"
    assert by_name["l-alice"]["strategy"] == "FULL"
    assert by_name["l-alice"]["status"] == "TASK_IN_PROGRESS"
    assert by_name["l-alice"]["created"] == stored[listed["l-alice"]]["createdAt"]

    empty = cli("list", "--format", "json", "--worker", "nobody")
    assert empty.code == 0 and json.loads(empty.out) == []


def test_list_table_is_aligned_with_the_documented_columns(
    cli: Cli, listed: dict[str, str]
) -> None:
    stored = {t["id"]: t for t in cli.stored()}
    result = cli("list", "--format", "table")
    assert result.code == 0, str(result)
    header, *rows = result.out.splitlines()
    assert header.lower().split() == COLUMNS
    starts = [header.lower().index(c) for c in COLUMNS]
    assert len(rows) == len(listed)

    def cells(line: str) -> dict[str, str]:
        bounds = [*starts[1:], None]
        return {c: line[s:e].strip() for c, s, e in zip(COLUMNS, starts, bounds, strict=True)}

    for line in rows:
        cell = cells(line)
        task = stored[cell["id"]]
        workers = ",".join(w["user"]["id"] for w in task["worker"].get("workers", []))
        assert cell == {
            "id": task["id"],
            "name": task["name"],
            "type": "CONCEPTS_CLASSIFICATION",
            "strategy": "FULL",
            "workers": workers,
            "review": task["review"]["strategy"],
            "status": "TASK_IN_PROGRESS",
            "created": task["createdAt"],
        }


# --- update, set-status, delete -----------------------------------------------------------


def test_update_overwrites_whole_tasks(cli: Cli) -> None:
    a, b = seed(cli, [task_json("before-a", workers=["alice"]), task_json("before-b", "dog")])
    new_a = {**task_json("after-a", "zebra", workers=["carol"]), "id": a["id"]}
    new_b = {**b, "name": "after-b"}
    result = cli("update", "--file", cli.write("u.jsonl", [new_a, new_b]), "--quiet")
    assert result.code == 0, str(result)
    assert app_stderr(result.err) == "", result.err
    assert [t["name"] for t in result.objects()] == ["after-a", "after-b"]
    stored = {t["id"]: t for t in cli.stored()}
    assert stored[a["id"]]["name"] == "after-a"
    assert stored[a["id"]]["worker"]["workers"] == [{"user": {"id": "carol"}}]
    assert stored[a["id"]]["concepts"] == [{"concept": {"id": "zebra"}}]
    assert stored[a["id"]]["createdAt"] == a["createdAt"]
    assert stored[b["id"]]["name"] == "after-b"
    assert len(stored) == 2


def test_update_from_stdin_and_a_line_without_id(cli: Cli) -> None:
    (a,) = seed(cli, [task_json("s-a")])
    stdin = jsonl([{**a, "name": "s-a2"}, task_json("no-id")])
    result = cli("update", "--file", "-", stdin=stdin)
    assert result.code == 1, str(result)
    assert "<stdin>:2:" in result.err and "id" in result.err
    assert cli.stored_names() == ["s-a2"]


def test_set_status_by_name_and_by_number(cli: Cli) -> None:
    a, b = seed(cli, [task_json("st-a"), task_json("st-b", "dog")])
    by_name = cli("set-status", a["id"], "TASK_DONE")
    assert by_name.code == 0, str(by_name)
    (task,) = by_name.objects()
    assert task["status"]["code"] == "TASK_DONE"
    by_number = cli("set-status", b["id"], "54002")  # TASK_DONE
    assert by_number.code == 0, str(by_number)
    stored = {t["id"]: t for t in cli.stored()}
    assert stored[a["id"]]["status"]["code"] == "TASK_DONE"
    assert stored[b["id"]]["status"]["code"] == "TASK_DONE"
    assert stored[a["id"]]["name"] == "st-a"  # merge: only the status changed


def test_set_status_errors(cli: Cli) -> None:
    (a,) = seed(cli, [task_json("st")])
    unknown_code = cli("set-status", a["id"], "NOT_A_STATUS")
    assert unknown_code.code == 2, str(unknown_code)
    assert_clean_error(unknown_code)
    missing = cli("set-status", "no-such-task", "TASK_DONE")
    assert missing.code == 1, str(missing)
    assert "TASK_MISSING" in missing.err and REQ_ID.search(missing.err)
    assert_clean_error(missing)
    assert cli.stored()[0]["status"]["code"] == "TASK_IN_PROGRESS"


def test_delete_by_ids(cli: Cli) -> None:
    a, _, c = seed(cli, [task_json("x1"), task_json("x2", "dog"), task_json("x3", "fox")])
    result = cli("delete", a["id"], c["id"], "unknown-id")  # unknown ids are ignored
    assert result.code == 0, str(result)
    assert result.out == ""
    assert cli.stored_names() == ["x2"]


@pytest.mark.parametrize("shape", ["plain", "quoted", "stdin", "array"])
def test_delete_by_file(cli: Cli, shape: str) -> None:
    a, _, c = seed(cli, [task_json("y1"), task_json("y2", "dog"), task_json("y3", "fox")])
    ids = [a["id"], c["id"]]
    if shape == "plain":
        result = cli("delete", "--file", cli.write("ids.txt", "\n".join(ids) + "\n\n"))
    elif shape == "quoted":
        result = cli("delete", "--file", cli.write("ids.jsonl", ids))
    elif shape == "array":
        result = cli("delete", "--file", cli.write("ids.json", json.dumps(ids)))
    else:
        result = cli("delete", "--file", "-", stdin="\n".join(ids) + "\n")
    assert result.code == 0, str(result)
    assert cli.stored_names() == ["y2"]


# --- demo ---------------------------------------------------------------------------------


def test_demo_runs_without_credentials(tmp_path: Path) -> None:
    result = run_taskgrpc(["demo"], base_env(), cwd=tmp_path)
    assert result.code == 0, str(result)
    assert "done:" in result.out
    assert "NotFoundError" in result.out
    assert_clean_error(result)


# --- credentials --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    ["list", "get", "create", "update", "set-status", "delete"],
)
def test_wrong_pat_fails_without_echoing_it(cli: Cli, command: str) -> None:
    task = task_json("w", id="some-task")
    path = cli.write("t.jsonl", [task])
    args = {
        "list": ["list"],
        "get": ["get", "some-task"],
        "create": ["create", "--file", path],
        "update": ["update", "--file", path],
        "set-status": ["set-status", "some-task", "TASK_DONE"],
        "delete": ["delete", "some-task"],
    }[command]
    result = cli(*args, env=cli.env(CLARIFAI_PAT=WRONG_PAT))
    assert result.code == 1, str(result)
    assert WRONG_PAT not in result.out + result.err
    assert "CONN_KEY_INVALID" in result.err and REQ_ID.search(result.err), result.err
    assert_clean_error(result)


def test_wrong_pat_in_pat_file_is_not_echoed(cli: Cli) -> None:
    pat_file = cli.tmp / "pat.txt"
    pat_file.write_text(WRONG_PAT + "\n")
    result = cli("list", "--pat-file", str(pat_file), env=cli.env(CLARIFAI_PAT=None))
    assert result.code == 1, str(result)
    assert WRONG_PAT not in result.out + result.err
    assert "CONN_KEY_INVALID" in result.err


def test_pat_file_works_and_wins_over_the_environment(cli: Cli) -> None:
    seed(cli, [task_json("pf")])
    pat_file = cli.tmp / "pat.txt"
    pat_file.write_text(PAT + "\n")
    no_env = cli("list", "--pat-file", str(pat_file), env=cli.env(CLARIFAI_PAT=None))
    assert names(no_env) == ["pf"]
    wrong_env = cli("list", "--pat-file", str(pat_file), env=cli.env(CLARIFAI_PAT=WRONG_PAT))
    assert names(wrong_env) == ["pf"]


def test_pat_file_problems_are_usage_errors(cli: Cli) -> None:
    missing = cli("list", "--pat-file", str(cli.tmp / "nope.txt"), env=cli.env(CLARIFAI_PAT=None))
    assert missing.code == 2, str(missing)
    assert_clean_error(missing)
    empty = cli.tmp / "empty.txt"
    empty.write_text("\n")
    result = cli("list", "--pat-file", str(empty), env=cli.env(CLARIFAI_PAT=None))
    assert result.code == 2, str(result)


def test_there_is_no_pat_flag(cli: Cli) -> None:
    # Not even as an abbreviation of --pat-file: a PAT typed after "--pat" must be refused,
    # whatever it is (here it also names a file that holds the valid PAT).
    (cli.tmp / "x").write_text(PAT)
    result = cli("list", "--pat", "x", env=cli.env(CLARIFAI_PAT=None), cwd=cli.tmp)
    assert result.code == 2, str(result)
    assert "--pat" in result.err
    secret = cli("list", "--pat", "sekrit-value-123", env=cli.env(CLARIFAI_PAT=None))
    assert secret.code == 2, str(secret)
    assert "sekrit-value-123" not in secret.out


def test_flags_override_the_environment(cli: Cli) -> None:
    seed(cli, [task_json("ov")])
    env = cli.env(
        CLARIFAI_GRPC_BASE="127.0.0.1:1",  # nothing listens there
        CLARIFAI_APP_ID="some-other-app",
        CLARIFAI_USER_ID="some-other-user",
    )
    result = cli("list", "--target", cli.target, "--app-id", cli.app, "--user-id", USER, env=env)
    assert names(result) == ["ov"]
    flags_only = cli.env(CLARIFAI_GRPC_BASE=None, CLARIFAI_APP_ID=None, CLARIFAI_USER_ID=None)
    result = cli(
        "list", "--target", cli.target, "--app-id", cli.app, "--user-id", USER, env=flags_only
    )
    assert names(result) == ["ov"]


# --- usage errors -------------------------------------------------------------------------


USAGE_ERRORS = {
    "no command": [],
    "unknown command": ["frobnicate"],
    "create without --file": ["create"],
    "create, missing file": ["create", "--file", "/no/such/file.jsonl"],
    "create --batch-size 0": ["create", "--file", "-", "--batch-size", "0"],
    "get without ids": ["get"],
    "list --format xml": ["list", "--format", "xml"],
    "list --per-page 0": ["list", "--per-page", "0"],
    "list --per-page x": ["list", "--per-page", "x"],
    "list --source-type bogus": ["list", "--source-type", "BOGUS"],
    "update without --file": ["update"],
    "set-status without code": ["set-status", "some-id"],
    "delete ids and --file": ["delete", "some-id", "--file", "-"],
    "delete with neither": ["delete"],
}


@pytest.mark.parametrize("args", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_usage_errors_exit_2(cli: Cli, args: list[str]) -> None:
    result = run_taskgrpc(args, cli.env(), stdin="")
    assert result.code == 2, str(result)
    assert result.err.strip()
    assert result.out == ""
    assert_clean_error(result)


@pytest.mark.parametrize("missing", ["CLARIFAI_PAT", "CLARIFAI_USER_ID", "CLARIFAI_APP_ID"])
def test_missing_configuration_exits_2_naming_it(cli: Cli, missing: str) -> None:
    result = cli("list", env=cli.env(**{missing: None}))
    assert result.code == 2, str(result)
    assert missing in result.err
    assert_clean_error(result)


# --- progress -----------------------------------------------------------------------------


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_on_a_tty_stderr_unless_quiet(cli: Cli, quiet: bool) -> None:
    path = cli.write("t.jsonl", [task_json(f"pg{i}", f"c{i}") for i in range(3)])
    args = [str(TASKGRPC), "create", "--file", path, "--insecure", "--batch-size", "1"]
    master, slave = pty.openpty()
    # A real terminal has a size; a fresh pty has 0 columns, where tqdm draws nothing.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        proc = subprocess.run(
            [*args, *(["--quiet"] if quiet else [])],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
            env=cli.env(),
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
        assert "3/3" in err, err


@pytest.mark.parametrize("command", ["create", "update", "delete", "list"])
def test_a_bad_target_is_a_usage_error_for_every_command(cli: Cli, command: str) -> None:
    path = cli.write("t.jsonl", [task_json("bt", id="bt-1")])
    args = {
        "create": ["create", "--file", path],
        "update": ["update", "--file", path],
        "delete": ["delete", "bt-1"],
        "list": ["list"],
    }[command]
    result = cli(*args, "--target", "http://127.0.0.1:1")
    assert result.code == 2, str(result)
    assert "target" in result.err
    assert "Traceback" not in result.err


def test_insecure_to_a_remote_host_needs_allow_insecure(cli: Cli) -> None:
    # Port 9 on a documentation address: refused before any connection is tried.
    remote = cli.env(CLARIFAI_GRPC_BASE="192.0.2.1:9")
    refused = cli("list", env=remote)
    assert refused.code == 2, str(refused)
    assert "allow" in refused.err and "clear text" in refused.err
    assert PAT not in refused.out + refused.err


def test_a_stored_task_with_other_content_under_a_line_id_is_a_failure(cli: Cli) -> None:
    seed(cli, [task_json("original", id="taken")])
    failed = cli.tmp / "failed.jsonl"
    line = task_json("different", id="taken")
    result = cli("create", "--file", cli.write("t.jsonl", [line]), "--failures", str(failed))
    assert result.code == 1, str(result)
    assert "taken" in result.err and "other content" in result.err
    assert cli.stored_names() == ["original"]
    assert [json.loads(x) for x in failed.read_text().splitlines()] == [line]


def test_one_bad_id_in_a_delete_file_fails_only_that_line(cli: Cli) -> None:
    created = seed(cli, [task_json("d1"), task_json("d2", "dog")])
    failures = cli.tmp / "failed.txt"
    path = cli.write("ids.txt", f'{created[0]["id"]}\n""\n{created[1]["id"]}\n')
    result = cli("delete", "--file", path, "--failures", str(failures))
    assert result.code == 1, str(result)
    assert "line 2" in result.err
    assert cli.stored_names() == []
    assert failures.read_text().splitlines() == ['""']
