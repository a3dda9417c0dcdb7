"""``taskgrpc list``: every task of the app, or those matching filters, page by page."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r

from ..connect import open_client
from ..errors import EXIT_OK
from ..options import Parents, add_command, add_format, enum_choice, positive
from ..writing import write_tasks

EXAMPLE = """\
example:
  taskgrpc list --worker alice --format table
  taskgrpc list --source-type DATASET --source-id ds1 > tasks.jsonl

prints one task a line (JSON Lines) by default; filters of one kind are ORed."""


def add_parser(sub: Any, parents: Parents) -> None:
    p = add_command(
        sub,
        "list",
        [parents.conn, parents.output],
        help="list tasks",
        description="List tasks (ListTasks), newest first.",
        epilog=EXAMPLE,
    )
    p.add_argument(
        "--worker", action="append", default=[], metavar="USER", help="a worker's user id"
    )
    p.add_argument(
        "--reviewer", action="append", default=[], metavar="USER", help="a reviewer's user id"
    )
    p.add_argument("--ids", nargs="+", default=[], metavar="ID", help="task ids")
    p.add_argument(
        "--source-type",
        type=enum_choice(r.TaskInputSource.TaskInputSourceType, "input source type"),
        metavar="TYPE",
        help="input source type: ALL_INPUTS, SAVED_SEARCH, DATASET or INPUT",
    )
    p.add_argument("--source-id", action="append", default=[], metavar="ID", help="input source id")
    p.add_argument("--per-page", type=positive, default=128, help="tasks per ListTasks call")
    add_format(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with open_client(args) as client:
        pager = client.list(
            worker_user_ids=args.worker,
            review_user_ids=args.reviewer,
            ids=args.ids,
            input_source_type=args.source_type,
            input_source_ids=args.source_id,
            per_page=args.per_page,
        )
        write_tasks(pager, args.format, sys.stdout, args.proto_names)
    return EXIT_OK
