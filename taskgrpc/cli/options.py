"""The options subcommands share (connection, bulk, output), their value types, and the
help formatter. Usage errors never echo a value the user typed (it may be a secret)."""

from __future__ import annotations

import argparse
import difflib
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from .._config import DEFAULT_TIMEOUT, ENV_APP, ENV_BASE, ENV_PAT, ENV_USER
from .._options import DEFAULT_BATCH_SIZE, DEFAULT_CONCURRENCY, DEFAULT_PER_PAGE
from .errors import EXIT_USAGE
from .writing import FORMATS

_CHOICE = re.compile(r"invalid choice: '[^']*'")
_VALUE = re.compile(r"invalid (\S+) value: '[^']*'")
_UNRECOGNIZED = re.compile(r"unrecognized arguments: (.*)$", re.S)


def redact_usage(message: str) -> str:
    """An argparse message without the values it quotes: only flag names are kept."""
    message = _CHOICE.sub("invalid choice", message)
    message = _VALUE.sub(r"invalid \1 value", message)
    unknown = _UNRECOGNIZED.search(message)
    if unknown is not None:
        flags = [t.split("=", 1)[0] for t in unknown.group(1).split() if t.startswith("-")]
        shown = " ".join(flags) if flags else "(values not shown)"
        message = message[: unknown.start()] + f"unrecognized arguments: {shown}"
    return message


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors never echo an argument's value."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {redact_usage(message)}\n")


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Help that keeps the examples' layout and shows every default that is a value."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "(default" in text
            or default in (None, False, "", [])
            or default is argparse.SUPPRESS
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


def add_command(
    sub: Any,
    name: str,
    groups: list[argparse.ArgumentParser],
    *,
    help: str,
    description: str,
    epilog: str,
) -> argparse.ArgumentParser:
    """A subcommand's parser with the shared option ``groups``, the help formatter, and no
    abbreviated flags (so that no ``--pat`` passes for ``--pat-file``)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        parents=groups,
        allow_abbrev=False,
        formatter_class=Formatter,
        help=help,
        description=description,
        epilog=epilog,
    )
    return parser


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be a whole number >= 1")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number of seconds") from None
    if not math.isfinite(value) or not value > 0 or value >= 1e9:
        raise argparse.ArgumentTypeError("must be a number of seconds > 0 and below 1e9")
    return value


def enum_choice(enum: Any, kind: str) -> Callable[[str], str]:
    """An argument type for a name of protobuf enum wrapper ``enum`` (any case; ``*_NOT_SET``
    excluded): an unknown name gets the valid names and a "did you mean", never echoed."""
    names = [n for n in enum.keys() if not n.endswith("NOT_SET")]

    def parse(text: str) -> str:
        if text.upper() in names:
            return text.upper()
        close = difflib.get_close_matches(text.upper(), names, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise argparse.ArgumentTypeError(f"unknown {kind}{hint} (valid: {', '.join(names)})")

    parse.__name__ = kind  # argparse names the type in some messages
    return parse


@dataclass(frozen=True)
class Parents:
    """The shared option groups, for ``add_parser(..., parents=[...])``."""

    conn: argparse.ArgumentParser
    bulk: argparse.ArgumentParser
    output: argparse.ArgumentParser


def parents() -> Parents:
    conn = Parser(add_help=False, allow_abbrev=False)
    group = conn.add_argument_group("connection")
    group.add_argument("--user-id", help=f"user id (default: ${ENV_USER})")
    group.add_argument("--app-id", help=f"app id (default: ${ENV_APP})")
    group.add_argument(
        "--target", help=f"host or host:port (default: ${ENV_BASE} or api.clarifai.com)"
    )
    group.add_argument("--pat-file", help=f"read the PAT from this file (default: ${ENV_PAT})")
    group.add_argument(
        "--insecure", action="store_true", help="plaintext gRPC, to a loopback host (local fakes)"
    )
    group.add_argument(
        "--allow-insecure",
        action="store_true",
        help="with --insecure, allow a host that is not loopback (the PAT travels in clear)",
    )
    group.add_argument(
        "--timeout",
        type=seconds,
        default=DEFAULT_TIMEOUT,
        help="seconds per call, retries included (never for a whole run)",
    )
    group.add_argument("--quiet", "-q", action="store_true", help="no progress, notes or summary")

    bulk = Parser(add_help=False, allow_abbrev=False)
    group = bulk.add_argument_group("bulk")
    group.add_argument(
        "--dry-run", action="store_true", help="check, print the requests, send nothing"
    )
    group.add_argument(
        "--failures",
        metavar="PATH",
        help="write failed and unfinished lines here, ready to re-run (default: stderr)",
    )
    group.add_argument(
        "--batch-size", type=positive, default=DEFAULT_BATCH_SIZE, help="items per request"
    )
    group.add_argument(
        "--concurrency", type=positive, default=DEFAULT_CONCURRENCY, help="requests at once"
    )
    group.add_argument(
        "--verbose", "-v", action="store_true", help="also note lines that needed nothing"
    )

    output = Parser(add_help=False, allow_abbrev=False)
    group = output.add_argument_group("output")
    group.add_argument(
        "--proto-names",
        action="store_true",
        help="snake_case field names, as the protos and Clarifai's docs write them",
    )
    return Parents(conn, bulk, output)


def add_per_page(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--per-page", type=positive, default=DEFAULT_PER_PAGE, help="tasks per ListTasks call"
    )


def add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=FORMATS, default="jsonl", help="output format")
