"""``taskgrpc demo``: walk through the Tasks API against an embedded fake."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import EXIT_OK
from ..options import Parents, add_command


def add_parser(sub: Any, parents: Parents) -> None:
    p = add_command(
        sub,
        "demo",
        [],
        help="walk through the Tasks API against an embedded fake (no credentials)",
        description="Create, get, list, update and delete tasks on an in-process fake.",
        epilog="example:\n  taskgrpc demo",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..._demo import run_demo

    run_demo(sys.stdout)
    return EXIT_OK
