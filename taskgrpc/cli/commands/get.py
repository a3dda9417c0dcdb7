"""``taskgrpc get``: tasks by id."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r

from ...errors import ApiError
from ..connect import open_client
from ..errors import EXIT_FAILURES, EXIT_OK, error_text
from ..options import Parents, add_command, add_format
from ..writing import write_tasks

EXAMPLE = """\
example:
  taskgrpc get 4f1c2d... 9a8b7c... --format table

prints the tasks found; a missing id is reported on stderr (exit 1)."""


def add_parser(sub: Any, parents: Parents) -> None:
    p = add_command(
        sub,
        "get",
        [parents.conn, parents.output],
        help="get tasks by id",
        description="Get tasks by id.",
        epilog=EXAMPLE,
    )
    p.add_argument("ids", nargs="+", metavar="ID", help="task ids")
    add_format(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    status = EXIT_OK
    found: list[r.Task] = []
    with open_client(args) as client:
        for task_id in args.ids:
            try:
                found.append(client.get(task_id))
            except ApiError as err:
                sys.stderr.write(f"error: {task_id}: {error_text(err)}\n")
                status = EXIT_FAILURES
    write_tasks(found, args.format, sys.stdout, args.proto_names)
    return status
