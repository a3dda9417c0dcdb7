"""``taskgrpc progress`` and ``taskgrpc export``: the labeling lifecycle's commands.

``export`` streams: it writes each page's annotations as they arrive, so its
memory stays constant whatever the count.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from clarifai_grpc.grpc.api import resources_pb2 as r
from google.protobuf import json_format

from ..._lifecycle import COUNT_FIELDS, Progress, worker_id
from ...errors import code_name
from ..connect import open_client
from ..options import Parents, add_command

__all__ = ["EXPORT_COLUMNS", "add_parser", "write_annotations", "write_progress"]

#: The csv columns of ``export``.
EXPORT_COLUMNS = ("id", "input_id", "task_id", "worker", "status", "concepts", "created")


def _status(code: int) -> str:
    return code_name(code) if code else ""


def annotation_row(a: r.Annotation) -> dict[str, str]:
    """The csv columns of an annotation; concepts as ``id:value`` joined by ``;``."""
    return {
        "id": a.id,
        "input_id": a.input_id,
        "task_id": a.task_id,
        "worker": worker_id(a.worker) or a.user_id,
        "status": _status(a.status.code),
        "concepts": ";".join(f"{c.id}:{c.value:g}" for c in a.data.concepts),
        "created": a.created_at.ToJsonString() if a.HasField("created_at") else "",
    }


def write_annotations(annotations: Iterable[r.Annotation], fmt: str, out: TextIO) -> int:
    """Write annotations as ``jsonl`` (one JSON object a line) or ``csv``; how many.

    Each annotation is written as it comes: nothing is held beyond the current page.
    """
    n = 0
    if fmt == "jsonl":
        for a in annotations:
            out.write(json.dumps(json_format.MessageToDict(a), separators=(",", ":")) + "\n")
            n += 1
    else:
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for a in annotations:
            writer.writerow(annotation_row(a))
            n += 1
    out.flush()
    return n


def write_progress(progress: Progress, fmt: str, out: TextIO) -> None:
    """A table of workers by status, then the metrics; or the same as one JSON object."""
    data = progress.as_dict()
    if fmt == "json":
        out.write(json.dumps(data, indent=2) + "\n")
        return
    header = ("worker", *COUNT_FIELDS)
    rows = [(w, *(str(c[f]) for f in COUNT_FIELDS)) for w, c in data["workers"].items()]
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(header)]
    out.write(
        "  ".join(h.upper().ljust(w) for h, w in zip(header, widths, strict=True)).rstrip() + "\n"
    )
    for row in rows:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")
    out.write(
        f"\ntask {data['task_id']} {data['status']}: {data['inputs']} input(s) in the source, "
        f"{data['labeled']} labeled, {data['reviewed']} reviewed "
        f"({data['reviewed_percent']}%); finished: {'yes' if data['finished'] else 'no'}\n"
    )


PROGRESS_EXAMPLE = """\
example:
  taskgrpc progress 4f1c2d... --format json

prints the workers by status, then the task's metrics and whether it is finished."""

EXPORT_EXAMPLE = """\
example:
  taskgrpc export 4f1c2d... --status ANNOTATION_SUCCESS > approved.jsonl

streams the task's annotations to stdout (csv columns: id,input_id,task_id,worker,status,
concepts,created); the count goes to stderr."""


def add_parser(sub: Any, parents: Parents) -> None:
    p = add_command(
        sub,
        "progress",
        [parents.conn],
        help="a task's workers by status and its metrics",
        description="A task's progress: its workers by status, then its metrics.",
        epilog=PROGRESS_EXAMPLE,
    )
    p.add_argument("task_id", metavar="TASK_ID")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    p.set_defaults(func=progress)

    p = add_command(
        sub,
        "export",
        [parents.conn],
        help="stream a task's annotations (ListAnnotations by task)",
        description="Stream a task's annotations, page by page (ListAnnotations by task).",
        epilog=EXPORT_EXAMPLE,
    )
    p.add_argument("task_id", metavar="TASK_ID")
    p.add_argument(
        "--status",
        action="extend",
        nargs="+",
        default=[],
        metavar="STATUS",
        help="only these annotation statuses, by name (e.g. ANNOTATION_SUCCESS) or code",
    )
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="output format")
    p.add_argument("--per-page", type=int, default=1000, help="annotations per page (1..1000)")
    p.set_defaults(func=export)


def progress(args: argparse.Namespace) -> int:
    with open_client(args) as c:
        write_progress(c.progress(args.task_id), args.format, sys.stdout)
    return 0


def export(args: argparse.Namespace) -> int:
    with open_client(args) as c:
        statuses = [int(s) if s.isdigit() else s for s in args.status]
        pager = c.annotations(
            args.task_id, statuses=statuses, per_page=args.per_page, prefetch=True
        )
        n = write_annotations(pager, args.format, sys.stdout)
    if not args.quiet:
        sys.stderr.write(f"exported {n} annotation(s)\n")
    return 0
