"""Command line: ``python -m fake_servicer --port PORT [options]``.

Serves until SIGINT or SIGTERM, then exits 0. Once listening it prints exactly one line to
stdout, ``fake_servicer listening on HOST:PORT`` (flushed), so a parent started with
``--port 0`` can read the port. Bad arguments exit 2 with an argparse message; a port that
cannot be bound exits 1.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from fake_servicer.faults import FAULT_KINDS, FAULT_METHODS, Faults

LISTENING_PREFIX = "fake_servicer listening on "


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be in 0..65535, got {port}")
    return port


def _fault(text: str) -> tuple[str, float]:
    kind, sep, value = text.partition("=")
    kind = kind.strip()
    if not sep or kind not in FAULT_KINDS:
        raise argparse.ArgumentTypeError(
            f"expected KIND=PROBABILITY with KIND one of {', '.join(FAULT_KINDS)}, got {text!r}"
        )
    try:
        probability = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid probability in {text!r}") from None
    if not 0.0 <= probability <= 1.0:
        raise argparse.ArgumentTypeError(f"probability must be in [0, 1], got {text!r}")
    return kind, probability


def _methods(text: str) -> frozenset[str]:
    names = frozenset(name.strip() for name in text.split(",") if name.strip())
    unknown = sorted(names - FAULT_METHODS)
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"expected a comma list of {', '.join(sorted(FAULT_METHODS))}, got {text!r}"
        )
    return names


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not value >= 0.0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``prog`` is ``python -m fake_servicer``)."""
    parser = argparse.ArgumentParser(
        prog="python -m fake_servicer",
        description="Serve an in-memory fake of Clarifai's Tasks gRPC API.",
    )
    parser.add_argument("--port", type=_port, required=True, help="port (0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument(
        "--pat",
        action="append",
        default=None,
        metavar="KEY",
        help="accepted PAT (repeatable); without it any non-empty key is accepted",
    )
    parser.add_argument(
        "--fault",
        action="append",
        type=_fault,
        default=[],
        metavar="KIND=P",
        help=f"fault probability, KIND in {', '.join(FAULT_KINDS)} (repeatable)",
    )
    parser.add_argument(
        "--fault-methods",
        type=_methods,
        default=None,
        metavar="M1,M2",
        help="only inject faults and latency into these methods (default: all implemented)",
    )
    parser.add_argument(
        "--latency-ms", type=_non_negative, default=0.0, help="delay before every call"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for fault draws")
    return parser


def parse_faults(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Faults:
    """Build :class:`Faults` from parsed args; exit 2 via ``parser.error`` if invalid."""
    probabilities: dict[str, float] = dict(args.fault)
    try:
        return Faults(
            unavailable=probabilities.get("unavailable", 0.0),
            throttled=probabilities.get("throttled", 0.0),
            commit_unavailable=probabilities.get("commit_unavailable", 0.0),
            latency_ms=args.latency_ms,
            seed=args.seed,
            methods=args.fault_methods,
        )
    except ValueError as error:
        parser.error(str(error))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until SIGINT/SIGTERM; return the exit status (0)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    faults = parse_faults(args, parser)

    from fake_servicer.server import start_server  # imported late: --help stays fast

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {
        signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        try:
            server = start_server(port=args.port, host=args.host, pats=args.pat, faults=faults)
        except RuntimeError as error:
            print(error, file=sys.stderr)
            return 1
        try:
            print(f"{LISTENING_PREFIX}{server.target}", flush=True)
            while not stop.wait(0.5):
                pass
        finally:
            server.stop(1.0)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
