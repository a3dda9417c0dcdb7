"""``taskgrpc update``: overwrite whole tasks (each with its id) from a file."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from google.protobuf.message import Message

from ... import requests as rq
from ...client import TaskClient
from ..bulk import BulkCommand, batches
from ..options import Parents, add_command
from ..reading import Line
from ..writing import write_tasks

EXAMPLE = """\
input: whole tasks with their ids, in the shapes create reads. A line:
  {"id": "4f1c...", "type": "CONCEPTS_CLASSIFICATION", "name": "cats, round 2",
   "concepts": [{"concept": {"id": "cat"}}], "worker": {"strategy": "FULL"},
   "input_source": {"type": "ALL_INPUTS"}, "review": {"strategy": "NONE"}}

example:
  taskgrpc get 4f1c... > task.jsonl   # edit it, then:
  taskgrpc update --file task.jsonl --failures failed.jsonl

prints each task as stored; an overwrite is safe to repeat, so re-run the failures file."""


def add_parser(sub: Any, parents: Parents) -> None:
    p = add_command(
        sub,
        "update",
        [parents.conn, parents.bulk, parents.output],
        help="overwrite tasks from JSON Lines",
        description="Overwrite whole tasks (PatchTasks, action overwrite).",
        epilog=EXAMPLE,
    )
    p.add_argument("--file", required=True, help="whole tasks with ids; - for stdin")
    p.set_defaults(func=lambda args: Update(args).run())


class Update(BulkCommand):
    verb = "update"
    require_id = True

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.results: dict[int, r.Task] = {}
        self.order: list[Line] = []

    def prepare(self, lines: list[Line]) -> list[Line]:
        self.order = lines
        return lines

    def dry_run(self, uaid: r.UserAppIDSet, lines: list[Line]) -> Iterable[Message]:
        tasks = [line.task for line in lines if line.task]
        return (
            rq.patch_tasks(uaid, b, "overwrite", check=False)
            for b in batches(tasks, self.args.batch_size)
        )

    def send(self, client: TaskClient, batch: list[Line]) -> list[Any]:
        tasks = [line.task for line in batch if line.task]
        return client.update_many(tasks, batch_size=len(tasks), concurrency=1)

    def done(self, line: Line, result: Any) -> None:
        self.results[id(line)] = result

    def output(self) -> None:
        found = (self.results.get(id(line)) for line in self.order)
        write_tasks((t for t in found if t is not None), "jsonl", sys.stdout, self._names)

    def counts(self) -> str:
        return f"updated {len(self.results)}"
