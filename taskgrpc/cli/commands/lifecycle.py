"""``taskgrpc progress`` and ``taskgrpc export``: the labeling lifecycle's commands, defined
in ``taskgrpc._lifecycle_cli`` and added here with the shared connection options."""

from __future__ import annotations

from typing import Any

from ..._lifecycle_cli import add_commands
from ..connect import open_client
from ..options import Parents


def add_parser(sub: Any, parents: Parents) -> None:
    add_commands(sub, [parents.conn], open_client)
