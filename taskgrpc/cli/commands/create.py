"""``taskgrpc create``: create tasks from a file, safe to re-run.

Each task without an id gets its content id (``taskgrpc.with_content_ids`` over the whole
file, through its incremental form ``ContentIds``, as ``create_many`` does), so a re-run
finds what exists and creates only the rest.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from google.protobuf import json_format
from google.protobuf.message import Message

from ... import requests as rq
from ..._content import ContentIds, same_task
from ...client import TaskClient
from ...errors import TaskgrpcError
from ...requests import MAX_PER_PAGE
from ..bulk import BulkCommand, batches
from ..options import Parents, add_command
from ..reading import Line
from ..writing import write_tasks

EXAMPLE = """\
input: one task a line (JSON Lines), a JSON array, a docs request body {"tasks": [...]},
or one pretty-printed task. A line:
  {"type": "CONCEPTS_CLASSIFICATION", "name": "cats", "concepts": [{"concept": {"id": "cat"}}],
   "worker": {"strategy": "FULL", "workers": [{"user": {"id": "alice"}}]},
   "input_source": {"type": "ALL_INPUTS"}, "review": {"strategy": "NONE"}}

example:
  taskgrpc create --file tasks.jsonl --failures failed.jsonl
  taskgrpc create --file failed.jsonl       # after a failure or Ctrl-C: exactly once

prints each task as stored (JSON Lines); exit 0 all done, 1 some lines failed,
2 usage error, 130 interrupted (unfinished lines are in the failures output)."""


def add_parser(sub: Any, parents: Parents) -> None:
    p = add_command(
        sub,
        "create",
        [parents.conn, parents.bulk, parents.output],
        help="create tasks from JSON Lines (safe to re-run)",
        description="Create tasks; tasks without an id get one derived from their content.",
        epilog=EXAMPLE,
    )
    p.add_argument("--file", required=True, help="the tasks; - for stdin")
    p.add_argument(
        "--id-salt", default="", help="salt for content ids, to create a deliberate copy"
    )
    p.set_defaults(func=lambda args: Create(args).run())


class Create(BulkCommand):
    verb = "create"

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.unique: list[Line] = []
        self.stored: dict[str, r.Task] = {}
        self.created = 0
        self.existed = 0
        self.repeats = 0
        #: Ids derived from content here: a task stored under one was created from that
        #: content (even if edited since), so it exists; the other-content check is for
        #: ids the file chose.
        self.derived: set[str] = set()

    def prepare(self, lines: list[Line]) -> list[Line]:
        # with_content_ids over the whole file, one task at a time (the same ids), so that a
        # task whose content cannot be hashed fails alone, and progress shows
        content_ids = ContentIds(self.args.id_salt)
        self.progress.phase("ids", len(lines))
        first: dict[str, Line] = {}
        for done, line in enumerate(lines, 1):
            if done % MAX_PER_PAGE == 0:
                self.progress.update(done)
            assert line.task is not None
            try:
                [task] = content_ids.assign([line.task])
            except (ValueError, TypeError, json_format.Error) as err:
                self.fail(line, f"{self.where(line)}: cannot derive its content id: {err}")
                continue
            line.task = task
            seen = first.get(task.id)
            if seen is None:
                first[task.id] = line
                self.unique.append(line)
            elif seen.task is not None and same_task(seen.task, task):
                self.repeats += 1
                self.note(
                    f"note: {self.where(line)}: the same task as line {seen.number} "
                    f"(id {task.id}); created once"
                )
            else:
                self.fail(
                    line,
                    f"{self.where(line)}: id {task.id} is already used by line {seen.number} "
                    "for a different task",
                )
        self.progress.update(len(lines))
        self.derived = content_ids.derived
        return list(self.unique)

    def dry_run(self, uaid: r.UserAppIDSet, lines: list[Line]) -> Iterable[Message]:
        tasks = [line.task for line in lines if line.task]
        return (rq.post_tasks(uaid, b, check=False) for b in batches(tasks, self.args.batch_size))

    def before_send(self, client: TaskClient, lines: list[Line]) -> list[Line]:
        """Look up which ids exist, in calls of 1,000 ids, each with its own timeout."""
        todo: list[Line] = []
        self.progress.phase("lookup", len(lines))
        chunks = batches(lines, MAX_PER_PAGE)
        for done, chunk in enumerate(chunks):
            if self.should_stop():
                self.give_up(chunk)
                continue
            try:
                found = client.existing([line.task.id for line in chunk if line.task])
            except TaskgrpcError as err:
                for line in chunk:
                    self.failed(line, err)
                continue
            self.any_success = True
            for line in chunk:
                assert line.task is not None
                stored = found.get(line.task.id)
                if stored is None:
                    todo.append(line)
                elif line.task.id in self.derived or same_task(line.task, stored):
                    self.existed += 1
                    self.stored[stored.id] = stored
                    self.note(f"exists: {self.where(line)} (id {stored.id})")
                else:
                    self.fail(
                        line,
                        f"{self.where(line)}: id {line.task.id} is taken by a stored task "
                        "with other content",
                    )
            self.progress.update(done * MAX_PER_PAGE + len(chunk))
        return todo

    def send(self, client: TaskClient, batch: list[Line]) -> list[Any]:
        tasks = [line.task for line in batch if line.task]
        return client.create_many(tasks, batch_size=len(tasks), concurrency=1, assign_ids=False)

    def done(self, line: Line, result: Any) -> None:
        self.created += 1
        self.stored[result.id] = result

    def output(self) -> None:
        found = (self.stored.get(line.task.id) for line in self.unique if line.task)
        write_tasks((t for t in found if t is not None), "jsonl", sys.stdout, self._names)

    def counts(self) -> str:
        text = f"created {self.created}, existed {self.existed}"
        return text + (f", repeated lines {self.repeats}" if self.repeats else "")
