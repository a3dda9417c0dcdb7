"""``taskgrpc list``: every task of the app, or those matching filters, page by page."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r

from ..connect import open_client
from ..errors import EXIT_OK
from ..options import Parents, add_command, add_format, add_per_page, enum_choice
from ..writing import write_tasks

EXAMPLE = """\
example:
  taskgrpc list --worker alice --format table
  taskgrpc list --source-type DATASET --source-id ds1 > tasks.jsonl

  taskgrpc list --worker-model-id general-image-recognition --including-label-order-tasks

prints one task a line (JSON Lines) by default; the ids of one filter are ORed, and
different filters ANDed."""


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
    p.add_argument(
        "--worker-model-id",
        action="append",
        default=[],
        metavar="MODEL",
        help="a model worker's id (auto-annotation tasks)",
    )
    p.add_argument(
        "--worker-workflow-id",
        action="append",
        default=[],
        metavar="WORKFLOW",
        help="a workflow worker's id (auto-annotation tasks)",
    )
    p.add_argument(
        "--label-order-id", action="append", default=[], metavar="ID", help="a label order's id"
    )
    p.add_argument(
        "--including-label-order-tasks",
        action="store_true",
        help="also list tasks that belong to a label order",
    )
    p.add_argument("--ids", nargs="+", default=[], metavar="ID", help="task ids")
    p.add_argument(
        "--source-type",
        type=enum_choice(r.TaskInputSource.TaskInputSourceType, "input source type"),
        metavar="TYPE",
        help="input source type: ALL_INPUTS, SAVED_SEARCH, DATASET or INPUT",
    )
    p.add_argument("--source-id", action="append", default=[], metavar="ID", help="input source id")
    add_per_page(p)
    add_format(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with open_client(args) as client:
        pager = client.list(
            worker_user_ids=args.worker,
            worker_model_ids=args.worker_model_id,
            worker_workflow_ids=args.worker_workflow_id,
            review_user_ids=args.reviewer,
            label_order_ids=args.label_order_id,
            including_label_order_tasks=args.including_label_order_tasks,
            ids=args.ids,
            input_source_type=args.source_type,
            input_source_ids=args.source_id,
            per_page=args.per_page,
        )
        write_tasks(pager, args.format, sys.stdout, args.proto_names)
    return EXIT_OK
