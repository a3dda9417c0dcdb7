"""Writing the command line's output: tasks as JSON Lines, JSON, CSV or a table, and
requests (for ``--dry-run``) as JSON Lines. ``proto_names`` spells fields as the protos
and Clarifai's docs do (``input_source``), instead of the JSON mapping (``inputSource``)."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterable
from typing import TextIO

from clarifai_grpc.grpc.api import resources_pb2 as r
from google.protobuf import json_format
from google.protobuf.message import Message

from .._lifecycle import worker_id
from ..errors import code_name

FORMATS = ("jsonl", "json", "csv", "table")
COLUMNS = ("id", "name", "type", "strategy", "workers", "review", "status", "created")


def to_json(message: Message, proto_names: bool = False) -> str:
    """One message as one line of JSON."""
    body = json_format.MessageToDict(message, preserving_proto_field_name=proto_names)
    return json.dumps(body, separators=(",", ":"))


def row(task: r.Task) -> dict[str, str]:
    """The human columns of a task."""
    workers = [worker_id(w) for w in task.worker.workers]
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
        "status": code_name(task.status.code) if task.status.code else "",
        "created": task.created_at.ToJsonString() if task.HasField("created_at") else "",
    }


def write_messages(messages: Iterable[Message], out: TextIO, proto_names: bool = False) -> int:
    """Messages as JSON Lines; returns how many."""
    n = 0
    for message in messages:
        out.write(to_json(message, proto_names) + "\n")
        n += 1
    out.flush()
    return n


def write_tasks(tasks: Iterable[r.Task], fmt: str, out: TextIO, proto_names: bool = False) -> int:
    """Write tasks in ``fmt``; returns how many. jsonl, json and csv stream."""
    if fmt == "jsonl":
        return write_messages(tasks, out, proto_names)
    n = 0
    if fmt == "json":
        out.write("[")
        for task in tasks:
            out.write(("," if n else "") + "\n" + to_json(task, proto_names))
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


def silence_stdout() -> None:
    """The reader of stdout went away (``| head``): send what is left to /dev/null, so that
    neither later writes nor Python's flush at exit complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
