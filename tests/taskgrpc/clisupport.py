"""Helpers for the command-line tests: task JSON, and ``Cli``, which runs ``taskgrpc`` in
process through ``main(argv)`` (config through the environment, stdin from bytes) and
returns the exit code with what it wrote to stdout and stderr."""

from __future__ import annotations

import io
import json
import re
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from taskgrpc import TaskClient
from taskgrpc.cli import main

PAT = "cli-SECRET-pat-5f0c1e9a7b"
WRONG_PAT = "cli-WRONG-pat-a1b2c3d4e5"
USER = "cli-user"
HEX32 = re.compile(r"^[0-9a-f]{32}$")
REQ_ID = re.compile(r"req_id=[0-9a-f]{32}")
COLUMNS = ["id", "name", "type", "strategy", "workers", "review", "status", "created"]


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

    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("error:")]

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


class Cli:
    """Runs ``taskgrpc`` in process against one target and one app."""

    def __init__(
        self,
        target: str,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        self.target = target
        self.app = f"cli-{uuid.uuid4().hex[:12]}"
        self.tmp = tmp_path
        self._monkeypatch = monkeypatch
        self._capsys = capsys

    def env(self, **changes: str | None) -> dict[str, str]:
        env = {
            "CLARIFAI_PAT": PAT,
            "CLARIFAI_USER_ID": USER,
            "CLARIFAI_APP_ID": self.app,
            "CLARIFAI_GRPC_BASE": self.target,
        }
        for key, value in changes.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def __call__(
        self,
        *args: str,
        stdin: str | bytes = b"",
        insecure: bool = True,
        env: dict[str, str] | None = None,
    ) -> Result:
        argv = [*args, "--insecure"] if insecure else list(args)
        mp = self._monkeypatch
        for key in ("CLARIFAI_PAT", "CLARIFAI_USER_ID", "CLARIFAI_APP_ID", "CLARIFAI_GRPC_BASE"):
            mp.delenv(key, raising=False)
        for key, value in (env if env is not None else self.env()).items():
            mp.setenv(key, value)
        data = stdin.encode() if isinstance(stdin, str) else stdin
        mp.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
        self._capsys.readouterr()
        try:
            main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        else:  # pragma: no cover - main always exits
            raise AssertionError("main() returned")
        out, err = self._capsys.readouterr()
        return Result(code, out, err)

    def write(self, name: str, items: Sequence[Any] | str | bytes) -> str:
        path = self.tmp / name
        if isinstance(items, bytes):
            path.write_bytes(items)
        else:
            path.write_text(items if isinstance(items, str) else jsonl(items), encoding="utf-8")
        return str(path)

    def client(self) -> TaskClient:
        return TaskClient(pat=PAT, user_id=USER, app_id=self.app, target=self.target, secure=False)

    def stored(self) -> list[dict[str, Any]]:
        """Every task of this app, read with a TaskClient (not through the CLI)."""
        with self.client() as client:
            return [json_format.MessageToDict(t) for t in client.list(per_page=1000)]

    def stored_names(self) -> list[str]:
        return sorted(t.get("name", "") for t in self.stored())

    def seed(self, tasks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create ``tasks`` through the CLI; the created tasks (stdout) in input order."""
        result = self("create", "--file", self.write(f"seed-{uuid.uuid4().hex[:6]}.jsonl", tasks))
        assert result.code == 0, str(result)
        created = result.objects()
        assert [t["name"] for t in created] == [t["name"] for t in tasks]
        return created


def assert_clean_error(result: Result) -> None:
    assert "Traceback" not in result.err, str(result)
    assert "Traceback" not in result.out, str(result)


def assert_no_task_json(text: str) -> None:
    for line in text.splitlines():
        assert not line.lstrip().startswith("{"), f"task JSON on stderr: {line!r}"


def names(result: Result) -> list[str]:
    assert result.code == 0, str(result)
    return sorted(t["name"] for t in result.objects())
