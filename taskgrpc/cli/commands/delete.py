"""``taskgrpc delete``: delete tasks by id, given as arguments or in a file."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from google.protobuf.message import Message

from ... import requests as rq
from ..._validate import require_id
from ...client import TaskClient
from ...errors import ValidationError
from ..bulk import BulkCommand, batches
from ..errors import UsageError
from ..options import Parents, add_command
from ..reading import Line, read_ids

EXAMPLE = """\
input: task ids, one a line: a plain id, a JSON string, or a JSON object with an "id"
(so what `taskgrpc list` prints works as it is). A line:
  4f1c2d...

example:
  taskgrpc list --worker alice > alice.jsonl
  taskgrpc delete --file alice.jsonl

DeleteTasks ignores ids that do not exist, so the summary says how many were requested."""


def add_parser(sub: Any, parents: Parents) -> None:
    p = add_command(
        sub,
        "delete",
        [parents.conn, parents.bulk],
        help="delete tasks",
        description="Delete tasks by id.",
        epilog=EXAMPLE,
    )
    p.add_argument("ids", nargs="*", metavar="ID", help="task ids (or use --file)")
    p.add_argument("--file", help="task ids or task JSON Lines; - for stdin")
    p.set_defaults(func=lambda args: Delete(args).run())


class Delete(BulkCommand):
    verb = "delete"

    def __init__(self, args: argparse.Namespace) -> None:
        if bool(args.ids) == bool(args.file):
            raise UsageError("delete takes task ids or --file PATH, not both and not neither")
        super().__init__(args)
        self.requested = 0

    def read(self) -> list[Line]:
        if self.args.file:
            return read_ids(self.args.file)
        lines = [Line(i, v, v) for i, v in enumerate(self.args.ids, 1)]
        for line in lines:
            try:
                require_id(line.value, f"argument {line.number}")
            except ValidationError as err:
                raise UsageError(str(err)) from None
        return lines

    def dry_run(self, uaid: r.UserAppIDSet, lines: list[Line]) -> Iterable[Message]:
        ids = [line.value for line in lines]
        return (rq.delete_tasks(uaid, b) for b in batches(ids, self.args.batch_size))

    def send(self, client: TaskClient, batch: list[Line]) -> list[Any]:
        ids = [line.value for line in batch]
        client.delete_many(ids, batch_size=len(ids), concurrency=1)
        return ids

    def done(self, line: Line, result: Any) -> None:
        self.requested += 1

    def counts(self) -> str:
        return f"requested {self.requested} (ids that do not exist are ignored)"
