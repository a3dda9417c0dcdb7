"""The ``taskgrpc`` command line: JSON in and out, safe re-runs, dry runs, and a demo.

Exit codes: 0 all done, 1 some items or calls failed, 2 usage errors.
The PAT comes from ``CLARIFAI_PAT`` or ``--pat-file``, never from a flag's value.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, NoReturn, TextIO

from clarifai_grpc.grpc.api import resources_pb2 as r
from google.protobuf import json_format
from google.protobuf.message import Message

from . import requests as rq
from ._base import clone
from ._config import ENV_APP, ENV_BASE, ENV_PAT, ENV_USER
from .builders import check_task
from .client import TaskClient
from .errors import ApiError, BulkError, TaskgrpcError, ValidationError, code_name

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad command-line usage: exit 2."""


# --- input --------------------------------------------------------------------------------


@dataclass
class Line:
    """One input item: where it came from, its raw JSON, and its task (None if invalid)."""

    number: int
    raw: Any
    task: r.Task | None = None
    error: str = ""


def _open_input(path: str) -> TextIO:
    if path == "-":
        return sys.stdin
    try:
        return open(path, encoding="utf-8")
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}") from None


def read_items(path: str) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each non-blank line; a JSON array gives its items."""
    stream = _open_input(path)
    try:
        text = stream.read()
    finally:
        if stream is not sys.stdin:
            stream.close()
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as err:
            raise UsageError(f"{path}: not a valid JSON array: {err}") from None
        for i, item in enumerate(items, 1):
            yield i, json.dumps(item)
        return
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield number, line


def parse_tasks(path: str, *, require_id: bool) -> list[Line]:
    """Every item of ``path`` parsed and checked; invalid ones carry their error."""
    lines: list[Line] = []
    label = "<stdin>" if path == "-" else path
    for number, text in read_items(path):
        line = Line(number, None)
        try:
            line.raw = json.loads(text)
            if not isinstance(line.raw, dict):
                raise ValidationError("expected a JSON object (one task)")
            task = r.Task()
            json_format.ParseDict(line.raw, task)
            check_task(task, require_id=require_id)
            line.task = task
        except (ValueError, json_format.ParseError) as err:
            line.error = f"{label}:{number}: {err}"
        lines.append(line)
    return lines


def content_id(task: r.Task, salt: str = "") -> str:
    """A 32-hex id derived from the task's content (without its id) and ``salt``."""
    body = clone(task)
    body.ClearField("id")
    canonical = json.dumps(json_format.MessageToDict(body), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{salt}\0{canonical}".encode()).hexdigest()[:32]


# --- output -------------------------------------------------------------------------------

COLUMNS = ("id", "name", "type", "strategy", "workers", "review", "status", "created")


def row(task: r.Task) -> dict[str, str]:
    """The human columns of a task."""
    workers = [w.user.id or w.model.id or w.workflow.id for w in task.worker.workers]
    workers += list(task.worker.user_ids) + [u.id for u in task.worker.users]
    return {
        "id": task.id,
        "name": task.name,
        "type": r.Task.TaskType.Name(task.type),
        "strategy": r.TaskWorker.TaskWorkerStrategy.Name(task.worker.strategy),
        "workers": ",".join(workers),
        "review": r.TaskReview.TaskReviewStrategy.Name(task.review.strategy),
        "status": _status_name(task.status.code),
        "created": task.created_at.ToJsonString() if task.HasField("created_at") else "",
    }


def _status_name(code: int) -> str:
    return code_name(code) if code else ""


def to_json(message: Message) -> str:
    return json.dumps(json_format.MessageToDict(message), separators=(",", ":"))


def write_tasks(tasks: Iterable[r.Task], fmt: str, out: TextIO) -> int:
    """Write tasks in ``fmt``; returns how many. jsonl, json and csv stream."""
    n = 0
    if fmt == "jsonl":
        for task in tasks:
            out.write(to_json(task) + "\n")
            n += 1
    elif fmt == "json":
        out.write("[")
        for task in tasks:
            out.write(("," if n else "") + "\n" + to_json(task))
            n += 1
        out.write("\n]\n" if n else "]\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for task in tasks:
            writer.writerow(row(task))
            n += 1
    else:  # table
        rows = [row(t) for t in tasks]
        n = len(rows)
        widths = {c: max([len(c)] + [len(x[c]) for x in rows]) for c in COLUMNS}
        out.write("  ".join(c.upper().ljust(widths[c]) for c in COLUMNS).rstrip() + "\n")
        for x in rows:
            out.write("  ".join(x[c].ljust(widths[c]) for c in COLUMNS).rstrip() + "\n")
    out.flush()
    return n


class Progress:
    """A progress bar on stderr for bulk work, only when stderr is a TTY and not quiet."""

    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self._bar: Any = None
        self._enabled = enabled and sys.stderr.isatty()
        self._total, self._label = total, label
        if self._enabled:
            try:
                from tqdm import tqdm

                self._bar = tqdm(total=total, desc=label, file=sys.stderr, unit="task")
            except ImportError:
                self._bar = None

    def __call__(self, done: int, total: int) -> None:
        if not self._enabled:
            return
        if self._bar is not None:
            self._bar.update(done - self._bar.n)
        else:
            sys.stderr.write(f"\r{self._label}: {done}/{total}")
            sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._enabled:
            sys.stderr.write("\n")


# --- connection ---------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> TaskClient:
    env = os.environ
    if args.pat_file:
        try:
            with open(args.pat_file, encoding="utf-8") as f:
                pat = f.read().strip()
        except OSError as err:
            raise UsageError(f"cannot read --pat-file: {err.strerror}") from None
    else:
        pat = env.get(ENV_PAT, "").strip()
    if not pat:
        raise UsageError(f"no PAT: set {ENV_PAT} or pass --pat-file PATH")
    kwargs: dict[str, Any] = {
        "pat": pat,
        "user_id": _setting(args.user_id, ENV_USER, "--user-id"),
        "app_id": _setting(args.app_id, ENV_APP, "--app-id"),
        "timeout": args.timeout,
    }
    target = args.target or env.get(ENV_BASE, "").strip()
    if target:
        kwargs["target"] = target
    if args.insecure:
        kwargs.update(secure=False, allow_insecure=True)
    return TaskClient(**kwargs)


def _setting(flag: str | None, var: str, name: str) -> str:
    value = flag or os.environ.get(var, "").strip()
    if not value:
        raise UsageError(f"no {name}: pass {name} or set {var}")
    return value


def _uaid(args: argparse.Namespace) -> r.UserAppIDSet:
    return rq.user_app_id(
        _setting(args.user_id, ENV_USER, "--user-id"), _setting(args.app_id, ENV_APP, "--app-id")
    )


def _error_text(err: BaseException) -> str:
    if isinstance(err, ApiError):
        text = f"{err.code_name}: {err.description or err}"
        return text + (f" [req_id={err.req_id}]" if err.req_id else "")
    return str(err)


# --- commands -----------------------------------------------------------------------------


class Failures:
    """Where failed items go, as JSON Lines ready to re-run (default: stderr)."""

    def __init__(self, path: str | None) -> None:
        self._path = path
        self._file: IO[str] | None = None
        self.count = 0

    def add(self, raw: Any, message: str) -> None:
        sys.stderr.write(f"error: {message}\n")
        if self._path is None:
            sys.stderr.write(json.dumps(raw) + "\n")
        else:
            if self._file is None:
                self._file = open(self._path, "w", encoding="utf-8")  # noqa: SIM115
            self._file.write(json.dumps(raw) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        elif self._path is not None:
            open(self._path, "w", encoding="utf-8").close()  # an empty file: nothing failed


def _print_requests(requests: Iterable[Message]) -> None:
    for request in requests:
        sys.stdout.write(to_json(request) + "\n")
    sys.stdout.flush()


def _bulk(run: Callable[[], list[Any]], lines: list[Line], failures: Failures) -> list[Any | None]:
    """Run a bulk call over valid ``lines``; failures of its items go to ``failures``."""
    try:
        return run()
    except BulkError as err:
        for index, error in err.errors.items():
            line = lines[index]
            failures.add(line.raw, f"line {line.number}: {_error_text(error)}")
        return err.results


def cmd_create(args: argparse.Namespace) -> int:
    lines = parse_tasks(args.file, require_id=False)
    failures = Failures(args.failures)
    valid: list[Line] = []
    for line in lines:
        if line.task is None:
            failures.add(line.raw, line.error)
            continue
        if not line.task.id:
            line.task.id = content_id(line.task, args.id_salt)
        valid.append(line)
    seen: dict[str, int] = {}
    unique: list[Line] = []
    for line in valid:
        assert line.task is not None
        if line.task.id in seen:
            sys.stderr.write(
                f"note: line {line.number} is the same task as line {seen[line.task.id]} "
                f"(id {line.task.id}); created once\n"
            )
            continue
        seen[line.task.id] = line.number
        unique.append(line)
    tasks = [line.task for line in unique if line.task is not None]
    try:
        if args.dry_run:
            uaid = _uaid(args)
            _print_requests(
                rq.post_tasks(uaid, tasks[i : i + args.batch_size], check=False)
                for i in range(0, len(tasks), args.batch_size)
            )
            return EXIT_FAILURES if failures.count else EXIT_OK
        with _client(args) as client:
            existing = client._existing([t.id for t in tasks]) if tasks else {}
            todo = [line for line in unique if line.task and line.task.id not in existing]
            for line in unique:
                if line.task and line.task.id in existing:
                    sys.stderr.write(f"exists: line {line.number} (id {line.task.id})\n")
            bar = Progress(len(todo), "create", not args.quiet)
            try:
                created = _bulk(
                    lambda: client.create_many(
                        [line.task for line in todo if line.task],
                        batch_size=args.batch_size,
                        assign_ids=False,
                        progress=bar,
                    ),
                    todo,
                    failures,
                )
            finally:
                bar.close()
        by_id = dict(existing)
        by_id.update((t.id, t) for t in created if t is not None)
        write_tasks((by_id[t.id] for t in tasks if t.id in by_id), "jsonl", sys.stdout)
        if not args.quiet:
            sys.stderr.write(
                f"created {sum(t is not None for t in created)}, already existed "
                f"{len(existing)}, failed {failures.count}\n"
            )
    finally:
        failures.close()
    return EXIT_FAILURES if failures.count else EXIT_OK


def cmd_update(args: argparse.Namespace) -> int:
    lines = parse_tasks(args.file, require_id=True)
    failures = Failures(args.failures)
    try:
        valid = [line for line in lines if line.task is not None]
        for line in lines:
            if line.task is None:
                failures.add(line.raw, line.error)
        tasks = [line.task for line in valid if line.task is not None]
        if args.dry_run:
            uaid = _uaid(args)
            _print_requests(
                rq.patch_tasks(uaid, tasks[i : i + args.batch_size], "overwrite", check=False)
                for i in range(0, len(tasks), args.batch_size)
            )
        elif tasks:
            with _client(args) as client:
                bar = Progress(len(tasks), "update", not args.quiet)
                try:
                    updated = _bulk(
                        lambda: client.update_many(tasks, batch_size=args.batch_size, progress=bar),
                        valid,
                        failures,
                    )
                finally:
                    bar.close()
            write_tasks((t for t in updated if t is not None), "jsonl", sys.stdout)
    finally:
        failures.close()
    return EXIT_FAILURES if failures.count else EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    if bool(args.ids) == bool(args.file):
        raise UsageError("delete takes task ids or --file PATH, not both and not neither")
    if args.file:
        lines = [Line(n, text.strip()) for n, text in read_items(args.file)]
        for line in lines:
            if isinstance(line.raw, str) and line.raw.startswith('"'):
                line.raw = json.loads(line.raw)
    else:
        lines = [Line(i, v) for i, v in enumerate(args.ids, 1)]
    ids = [str(line.raw) for line in lines]
    failures = Failures(args.failures)
    try:
        if args.dry_run:
            _print_requests(
                rq.delete_tasks(_uaid(args), ids[i : i + args.batch_size])
                for i in range(0, len(ids), args.batch_size)
            )
        elif ids:
            with _client(args) as client:
                bar = Progress(len(ids), "delete", not args.quiet)
                try:

                    def run() -> list[Any]:
                        client.delete_many(ids, batch_size=args.batch_size, progress=bar)
                        return list(ids)

                    done = _bulk(run, lines, failures)
                finally:
                    bar.close()
            if not args.quiet:
                sys.stderr.write(f"deleted {sum(d is not None for d in done)} id(s)\n")
    finally:
        failures.close()
    return EXIT_FAILURES if failures.count else EXIT_OK


def cmd_get(args: argparse.Namespace) -> int:
    status = EXIT_OK
    found: list[r.Task] = []
    with _client(args) as client:
        for task_id in args.ids:
            try:
                found.append(client.get(task_id))
            except ApiError as err:
                sys.stderr.write(f"error: {task_id}: {_error_text(err)}\n")
                status = EXIT_FAILURES
    write_tasks(found, args.format, sys.stdout)
    return status


def cmd_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        pager = client.list(
            worker_user_ids=args.worker,
            review_user_ids=args.reviewer,
            ids=args.ids,
            input_source_type=args.source_type,
            input_source_ids=args.source_id,
            per_page=args.per_page,
        )
        write_tasks(pager, args.format, sys.stdout)
    return EXIT_OK


def cmd_set_status(args: argparse.Namespace) -> int:
    code: int | str = int(args.code) if args.code.isdigit() else args.code.upper()
    with _client(args) as client:
        task = client.set_status(args.id, code)
    write_tasks([task], "jsonl", sys.stdout)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    run_demo(sys.stdout)
    return EXIT_OK


# --- parser -------------------------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    conn = argparse.ArgumentParser(add_help=False)
    group = conn.add_argument_group("connection")
    group.add_argument("--user-id", help=f"user id (default: ${ENV_USER})")
    group.add_argument("--app-id", help=f"app id (default: ${ENV_APP})")
    group.add_argument(
        "--target", help=f"host or host:port (default: ${ENV_BASE} or api.clarifai.com)"
    )
    group.add_argument("--pat-file", help=f"read the PAT from this file (default: ${ENV_PAT})")
    group.add_argument("--insecure", action="store_true", help="plaintext gRPC (local fakes)")
    group.add_argument("--timeout", type=float, default=30.0, help="seconds per call")
    group.add_argument("--quiet", "-q", action="store_true", help="no progress or summary")

    bulk = argparse.ArgumentParser(add_help=False)
    bulk.add_argument(
        "--dry-run", action="store_true", help="validate, print requests, send nothing"
    )
    bulk.add_argument(
        "--failures", metavar="PATH", help="write failed items here (default: stderr)"
    )
    bulk.add_argument("--batch-size", type=_positive, default=128)

    parser = argparse.ArgumentParser(
        prog="taskgrpc", description="Manage Clarifai labeling tasks over gRPC."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("create", parents=[conn, bulk], help="create tasks from JSON Lines")
    p.add_argument(
        "--file", required=True, help="JSON Lines of tasks (or a JSON array); - for stdin"
    )
    p.add_argument(
        "--id-salt", default="", help="salt for content ids, to create a deliberate copy"
    )
    p.set_defaults(func=cmd_create)

    p = sub.add_parser("get", parents=[conn], help="get tasks by id")
    p.add_argument("ids", nargs="+", metavar="ID")
    p.add_argument("--format", choices=("jsonl", "json", "csv", "table"), default="jsonl")
    p.set_defaults(func=cmd_get)

    p = sub.add_parser("list", parents=[conn], help="list tasks")
    p.add_argument("--worker", action="append", default=[], metavar="USER")
    p.add_argument("--reviewer", action="append", default=[], metavar="USER")
    p.add_argument("--ids", nargs="+", default=[], metavar="ID")
    p.add_argument("--source-type", choices=("ALL_INPUTS", "SAVED_SEARCH", "DATASET", "INPUT"))
    p.add_argument("--source-id", action="append", default=[], metavar="ID")
    p.add_argument("--per-page", type=_positive, default=128)
    p.add_argument("--format", choices=("jsonl", "json", "csv", "table"), default="jsonl")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("update", parents=[conn, bulk], help="overwrite tasks from JSON Lines")
    p.add_argument("--file", required=True, help="JSON Lines of whole tasks with ids; - for stdin")
    p.set_defaults(func=cmd_update)

    p = sub.add_parser("set-status", parents=[conn], help="set one task's status code")
    p.add_argument("id")
    p.add_argument("code", help="a StatusCode name (e.g. TASK_DONE) or number")
    p.set_defaults(func=cmd_set_status)

    p = sub.add_parser("delete", parents=[conn, bulk], help="delete tasks")
    p.add_argument("ids", nargs="*", metavar="ID")
    p.add_argument("--file", help="task ids, one a line; - for stdin")
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("demo", help="walk through the Tasks API against an embedded fake")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> NoReturn:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args))
    except (UsageError, ValidationError) as err:
        parser.exit(EXIT_USAGE, f"taskgrpc: error: {err}\n")
    except TaskgrpcError as err:
        sys.stderr.write(f"taskgrpc: error: {_error_text(err)}\n")
        code = EXIT_FAILURES
    except KeyboardInterrupt:
        code = 130
    sys.stdout.flush()
    raise SystemExit(code)
