"""``taskgrpc set-status``: set one task's status code (PatchTasks ``merge``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..connect import open_client
from ..errors import EXIT_OK
from ..options import Parents, add_command
from ..writing import write_tasks

EXAMPLE = """\
example:
  taskgrpc set-status 4f1c2d... TASK_DONE

prints the task as stored."""


def add_parser(sub: Any, parents: Parents) -> None:
    p = add_command(
        sub,
        "set-status",
        [parents.conn, parents.output],
        help="set one task's status code",
        description="Set one task's status code; nothing else changes.",
        epilog=EXAMPLE,
    )
    p.add_argument("id", help="the task id")
    p.add_argument("code", help="a task status name (e.g. TASK_DONE) or number")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    code: int | str = int(args.code) if args.code.isdigit() else args.code.upper()
    with open_client(args) as client:
        task = client.set_status(args.id, code)
    write_tasks([task], "jsonl", sys.stdout, args.proto_names)
    return EXIT_OK
