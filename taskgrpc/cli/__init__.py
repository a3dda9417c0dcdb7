"""The ``taskgrpc`` command line: JSON in and out, safe re-runs, dry runs, and a demo.

Exit codes: 0 all done, 1 some items or calls failed, 2 usage error, 130 interrupted
(SIGINT or SIGTERM), 141 stdout closed early (``| head``).
The PAT comes from ``CLARIFAI_PAT`` or ``--pat-file``, never from a flag's value.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import NoReturn

from ..errors import TaskgrpcError, ValidationError
from .errors import (
    EXIT_FAILURES,
    EXIT_INTERRUPTED,
    EXIT_PIPE,
    EXIT_USAGE,
    UsageError,
    cli_terms,
    error_text,
)
from .parser import build_parser
from .writing import silence_stdout

__all__ = ["main"]


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run ``taskgrpc`` with ``argv`` (default: ``sys.argv[1:]``); always raises SystemExit."""
    parser = build_parser()
    args = parser.parse_args(argv)
    saved = None
    if threading.current_thread() is threading.main_thread():
        saved = signal.signal(signal.SIGTERM, _terminate)  # like Ctrl-C: exit 130, quietly
    try:
        code = int(args.func(args))
        sys.stdout.flush()
    except (UsageError, ValidationError) as err:
        parser.exit(EXIT_USAGE, f"taskgrpc: error: {cli_terms(str(err))}\n")
    except TaskgrpcError as err:
        sys.stderr.write(f"taskgrpc: error: {error_text(err)}\n")
        code = EXIT_FAILURES
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        silence_stdout()  # end quietly, as Unix tools do
        code = EXIT_PIPE
    finally:
        if saved is not None:
            signal.signal(signal.SIGTERM, saved)
    raise SystemExit(code)
