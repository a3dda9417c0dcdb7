"""Command line: ``python -m fake_servicer --port PORT [options]``.

Serves until SIGINT or SIGTERM, then exits 0. Once listening it prints exactly one line to
stdout, ``fake_servicer listening on HOST:PORT`` (flushed), so a parent started with
``--port 0`` can read the port. Bad arguments exit 2 with an argparse message; a port that
cannot be bound exits 1.

Lifecycle options: ``--seed-inputs N --user-id U --app-id A [--dataset-id D]`` seeds N inputs
(ids ``input-000001``, ...) into app ``U/A`` (and dataset D) before serving, so tasks created
over the wire can use them; ``--user PAT=USER_ID`` (repeatable) makes that PAT act as that user
(labeler or reviewer); ``--auto-done`` sets TASK_DONE on a task once all its inputs are
reviewed.
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


def _user(text: str) -> tuple[str, str]:
    pat, sep, user_id = text.partition("=")
    if not sep or not pat.strip() or not user_id.strip():
        raise argparse.ArgumentTypeError("expected PAT=USER_ID")
    return pat.strip(), user_id.strip()


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


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
    parser.add_argument(
        "--user",
        action="append",
        type=_user,
        default=[],
        metavar="PAT=USER_ID",
        help="this PAT acts as this user, e.g. a labeler or reviewer (repeatable; accepted)",
    )
    parser.add_argument(
        "--seed-inputs", type=_count, default=0, metavar="N", help="seed N inputs into the app"
    )
    parser.add_argument("--user-id", default=None, help="owner of the app to seed inputs into")
    parser.add_argument("--app-id", default=None, help="app to seed inputs into")
    parser.add_argument("--dataset-id", default=None, help="dataset for the seeded inputs")
    parser.add_argument(
        "--auto-done",
        action="store_true",
        help="set TASK_DONE on a task once all its inputs are reviewed (off by default)",
    )
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
    if args.seed_inputs and not (args.user_id and args.app_id):
        parser.error("--seed-inputs needs --user-id and --app-id")
    if args.dataset_id and not args.seed_inputs:
        parser.error("--dataset-id needs --seed-inputs")

    from fake_servicer.server import start_server  # imported late: --help stays fast
    from fake_servicer.servicer import FakeV2Servicer

    servicer = FakeV2Servicer(
        pats=args.pat, users=dict(args.user), faults=faults, auto_done=args.auto_done
    )
    if args.seed_inputs:
        servicer.put_inputs(args.user_id, args.app_id, args.seed_inputs, dataset_id=args.dataset_id)

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {
        signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        try:
            server = start_server(port=args.port, host=args.host, servicer=servicer)
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
