"""The ``taskgrpc`` command line: JSON in and out, safe re-runs, dry runs, and a demo.

Exit codes: 0 all done, 1 some items or calls failed, 2 usage errors.
The PAT comes from ``CLARIFAI_PAT`` or ``--pat-file``, never from a flag's value.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, NoReturn, TextIO

from clarifai_grpc.grpc.api import resources_pb2 as r
from google.protobuf import json_format
from google.protobuf.message import Message

from . import requests as rq
from ._config import ENV_APP, ENV_BASE, ENV_PAT, ENV_USER
from ._content import content_id, same_task
from .builders import check_task
from .client import TaskClient
from .errors import ApiError, BulkError, TaskgrpcError, ValidationError, code_name

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad command-line usage: exit 2."""


# --- input --------------------------------------------------------------------------------


@dataclass
class Line:
    """One input item: its line number, its text as read, and its task (None if invalid).

    A failed item is written back as ``text``, unchanged, so a failures file re-runs.
    """

    number: int
    text: str
    task: r.Task | None = None
    error: str = ""

    def rerun_text(self) -> str:
        """The line to write back: its text, plus the id it was given if it had none, so a
        re-run (with or without the same ``--id-salt``) sends the very same task."""
        if self.task is None or not self.task.id:
            return self.text
        raw = json.loads(self.text)
        if raw.get("id"):
            return self.text
        return json.dumps({"id": self.task.id, **raw}, separators=(",", ":"))


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
    except UnicodeDecodeError as err:
        raise UsageError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
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
    # Split on "\n" only: JSON strings may hold U+2028 and the like, which splitlines() breaks on.
    for number, line in enumerate(text.split("\n"), 1):
        line = line.removesuffix("\r")
        if line.strip():
            yield number, line


def parse_tasks(path: str, *, require_id: bool) -> list[Line]:
    """Every item of ``path`` parsed and checked; invalid ones carry their error."""
    lines: list[Line] = []
    label = "<stdin>" if path == "-" else path
    for number, text in read_items(path):
        line = Line(number, text)
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict):
                raise ValidationError("expected a JSON object (one task)")
            task = r.Task()
            json_format.ParseDict(raw, task)
            check_task(task, require_id=require_id)
            line.task = task
        except (ValueError, json_format.ParseError) as err:
            line.error = f"{label}:{number}: {err}"
        lines.append(line)
    return lines


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
        "review": r.TaskReview.TaskReviewStrategy.Name(task.review.strategy)
        if task.review.strategy
        else "",
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

                # a terminal that reports 0 columns (a fresh pty) would get no bar at all
                ncols = None if shutil.get_terminal_size((0, 0)).columns > 0 else 80
                self._bar = tqdm(total=total, desc=label, file=sys.stderr, unit="task", ncols=ncols)
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
        kwargs.update(secure=False, allow_insecure=args.allow_insecure)
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
    """Where failed items go, as lines ready to re-run (default: stderr).

    The file is opened (and truncated) at once, so an unwritable path is a usage
    error before anything is sent. Open it only after the input was read: it
    may be the input file itself.
    """

    def __init__(self, path: str | None) -> None:
        self._file: IO[str] | None = None
        if path is not None:
            try:
                self._file = open(path, "w", encoding="utf-8")  # noqa: SIM115
            except OSError as err:
                raise UsageError(f"cannot write --failures {path}: {err.strerror}") from None
        self.count = 0

    def add(self, line: Line, message: str) -> None:
        sys.stderr.write(f"error: {message}\n")
        (self._file or sys.stderr).write(line.rerun_text() + "\n")
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


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
            failures.add(line, f"line {line.number}: {_error_text(error)}")
        return err.results


def _batches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def cmd_create(args: argparse.Namespace) -> int:
    lines = parse_tasks(args.file, require_id=False)
    failures = Failures(args.failures)
    try:
        return _create(args, lines, failures)
    finally:
        failures.close()


def _create(args: argparse.Namespace, lines: list[Line], failures: Failures) -> int:
    first: dict[str, Line] = {}
    unique: list[Line] = []
    for line in lines:
        task = line.task
        if task is None:
            failures.add(line, line.error)
            continue
        if not task.id:
            task.id = content_id(task, args.id_salt)
        seen = first.get(task.id)
        if seen is None:
            first[task.id] = line
            unique.append(line)
        elif seen.task is not None and same_task(seen.task, task):
            _note(
                args,
                f"note: line {line.number} is the same task as line {seen.number} "
                f"(id {task.id}); created once",
            )
        else:
            failures.add(
                line,
                f"line {line.number}: id {task.id} is already used by line {seen.number} "
                "for a different task",
            )
    tasks = [line.task for line in unique if line.task is not None]
    if args.dry_run:
        uaid = _uaid(args)
        _print_requests(
            rq.post_tasks(uaid, b, check=False) for b in _batches(tasks, args.batch_size)
        )
        return EXIT_FAILURES if failures.count else EXIT_OK
    existing: dict[str, r.Task] = {}
    created: list[r.Task | None] = []
    todo: list[Line] = []
    looked_up = False
    client = _client(args)  # bad settings are a usage error, before the run starts
    try:
        with client:
            existing = client.existing([t.id for t in tasks]) if tasks else {}
            looked_up = True
            for line in unique:
                stored = existing.get(line.task.id) if line.task else None
                if line.task is None or stored is None:
                    todo.append(line)
                elif same_task(line.task, stored):
                    _note(args, f"exists: line {line.number} (id {line.task.id})")
                else:
                    del existing[line.task.id]
                    failures.add(
                        line,
                        f"line {line.number}: id {line.task.id} is taken by a stored task "
                        "with other content",
                    )
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
    except TaskgrpcError as err:
        # The run failed as a whole: every valid line not known to be done is a failure,
        # so that re-running the failures file loses nothing.
        for line in todo if looked_up else unique:
            failures.add(line, f"line {line.number}: {_error_text(err)}")
        return EXIT_FAILURES
    by_id = dict(existing)
    by_id.update((t.id, t) for t in created if t is not None)
    write_tasks((by_id[t.id] for t in tasks if t.id in by_id), "jsonl", sys.stdout)
    _note(
        args,
        f"created {sum(t is not None for t in created)}, already existed {len(existing)}, "
        f"failed {failures.count}",
    )
    return EXIT_FAILURES if failures.count else EXIT_OK


def _note(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        sys.stderr.write(text + "\n")


def cmd_update(args: argparse.Namespace) -> int:
    lines = parse_tasks(args.file, require_id=True)
    failures = Failures(args.failures)
    try:
        for line in lines:
            if line.task is None:
                failures.add(line, line.error)
        valid = [line for line in lines if line.task is not None]
        tasks = [line.task for line in valid if line.task is not None]
        if args.dry_run:
            uaid = _uaid(args)
            _print_requests(
                rq.patch_tasks(uaid, b, "overwrite", check=False)
                for b in _batches(tasks, args.batch_size)
            )
        elif tasks:
            updated = _run_bulk_command(
                args,
                "update",
                valid,
                failures,
                lambda client, bar: client.update_many(
                    tasks, batch_size=args.batch_size, progress=bar
                ),
            )
            write_tasks((t for t in updated if t is not None), "jsonl", sys.stdout)
    finally:
        failures.close()
    return EXIT_FAILURES if failures.count else EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    if bool(args.ids) == bool(args.file):
        raise UsageError("delete takes task ids or --file PATH, not both and not neither")
    if args.file:
        lines = [Line(n, text) for n, text in read_items(args.file)]
    else:
        lines = [Line(i, v) for i, v in enumerate(args.ids, 1)]
    failures = Failures(args.failures)
    try:
        valid: list[Line] = []
        for line in lines:
            if _id_of(line.text).strip():
                valid.append(line)
            else:
                failures.add(line, f"line {line.number}: not a task id")
        lines = valid
        ids = [_id_of(line.text) for line in lines]
        if args.dry_run:
            uaid = _uaid(args)
            _print_requests(rq.delete_tasks(uaid, b) for b in _batches(ids, args.batch_size))
        elif ids:

            def run(client: TaskClient, bar: Progress) -> list[Any]:
                client.delete_many(ids, batch_size=args.batch_size, progress=bar)
                return list(ids)

            done = _run_bulk_command(args, "delete", lines, failures, run)
            _note(args, f"deleted {sum(d is not None for d in done)} id(s)")
    finally:
        failures.close()
    return EXIT_FAILURES if failures.count else EXIT_OK


def _id_of(text: str) -> str:
    """A task id from one line of an ids file: the bare id, or a JSON string."""
    text = text.strip()
    if text.startswith('"'):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return text
        return value if isinstance(value, str) else text
    return text


def _run_bulk_command(
    args: argparse.Namespace,
    label: str,
    lines: list[Line],
    failures: Failures,
    run: Callable[[TaskClient, Progress], list[Any]],
) -> list[Any | None]:
    """Run one bulk call for ``lines``; if the run fails as a whole, every line is a failure."""
    client = _client(args)  # bad settings are a usage error, before the run starts
    try:
        with client:
            bar = Progress(len(lines), label, not args.quiet)
            try:
                return _bulk(lambda: run(client, bar), lines, failures)
            finally:
                bar.close()
    except TaskgrpcError as err:
        for line in lines:
            failures.add(line, f"line {line.number}: {_error_text(err)}")
        return [None] * len(lines)


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
    conn = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    group = conn.add_argument_group("connection")
    group.add_argument("--user-id", help=f"user id (default: ${ENV_USER})")
    group.add_argument("--app-id", help=f"app id (default: ${ENV_APP})")
    group.add_argument(
        "--target", help=f"host or host:port (default: ${ENV_BASE} or api.clarifai.com)"
    )
    group.add_argument("--pat-file", help=f"read the PAT from this file (default: ${ENV_PAT})")
    group.add_argument(
        "--insecure", action="store_true", help="plaintext gRPC, to a loopback host (local fakes)"
    )
    group.add_argument(
        "--allow-insecure",
        action="store_true",
        help="with --insecure, allow a host that is not loopback (the PAT travels in clear)",
    )
    group.add_argument("--timeout", type=float, default=30.0, help="seconds per call")
    group.add_argument("--quiet", "-q", action="store_true", help="no progress or summary")

    bulk = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    bulk.add_argument(
        "--dry-run", action="store_true", help="validate, print requests, send nothing"
    )
    bulk.add_argument(
        "--failures", metavar="PATH", help="write failed items here (default: stderr)"
    )
    bulk.add_argument("--batch-size", type=_positive, default=128)

    parser = argparse.ArgumentParser(
        prog="taskgrpc",
        description="Manage Clarifai labeling tasks over gRPC.",
        allow_abbrev=False,  # so that no "--pat" can pass for "--pat-file"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "create", allow_abbrev=False, parents=[conn, bulk], help="create tasks from JSON Lines"
    )
    p.add_argument(
        "--file", required=True, help="JSON Lines of tasks (or a JSON array); - for stdin"
    )
    p.add_argument(
        "--id-salt", default="", help="salt for content ids, to create a deliberate copy"
    )
    p.set_defaults(func=cmd_create)

    p = sub.add_parser("get", allow_abbrev=False, parents=[conn], help="get tasks by id")
    p.add_argument("ids", nargs="+", metavar="ID")
    p.add_argument("--format", choices=("jsonl", "json", "csv", "table"), default="jsonl")
    p.set_defaults(func=cmd_get)

    p = sub.add_parser("list", allow_abbrev=False, parents=[conn], help="list tasks")
    p.add_argument("--worker", action="append", default=[], metavar="USER")
    p.add_argument("--reviewer", action="append", default=[], metavar="USER")
    p.add_argument("--ids", nargs="+", default=[], metavar="ID")
    p.add_argument("--source-type", choices=("ALL_INPUTS", "SAVED_SEARCH", "DATASET", "INPUT"))
    p.add_argument("--source-id", action="append", default=[], metavar="ID")
    p.add_argument("--per-page", type=_positive, default=128)
    p.add_argument("--format", choices=("jsonl", "json", "csv", "table"), default="jsonl")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "update", allow_abbrev=False, parents=[conn, bulk], help="overwrite tasks from JSON Lines"
    )
    p.add_argument("--file", required=True, help="JSON Lines of whole tasks with ids; - for stdin")
    p.set_defaults(func=cmd_update)

    p = sub.add_parser(
        "set-status", allow_abbrev=False, parents=[conn], help="set one task's status code"
    )
    p.add_argument("id")
    p.add_argument("code", help="a StatusCode name (e.g. TASK_DONE) or number")
    p.set_defaults(func=cmd_set_status)

    p = sub.add_parser("delete", allow_abbrev=False, parents=[conn, bulk], help="delete tasks")
    p.add_argument("ids", nargs="*", metavar="ID")
    p.add_argument("--file", help="task ids, one a line; - for stdin")
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser(
        "demo", allow_abbrev=False, help="walk through the Tasks API against an embedded fake"
    )
    p.set_defaults(func=cmd_demo)

    from ._lifecycle_cli import add_commands  # progress, export

    add_commands(sub, [conn], _client)
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
