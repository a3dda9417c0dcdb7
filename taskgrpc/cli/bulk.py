"""The one scaffold every bulk command (create, update, delete) runs on.

A :class:`BulkCommand` reads and checks every line first (a bad line fails alone), then
sends the good ones in batches, ``--concurrency`` at a time, each call with its own
``--timeout``. On the way it keeps four promises:

* every line that is not done ends in the failures output, with the id it was (or would
  be) sent with, so re-running that file finishes the job exactly once;
* SIGINT or SIGTERM stops sending: calls in flight get a grace period, then every
  unfinished line is written out, the summary printed, and the exit code is 130;
* an error that would fail every line (a refused PAT, a missing app, a target that never
  answers) stops the run at once, reported once (exit 1);
* stderr stays short: the first failures are shown, then a count; one summary line.

A command supplies the hooks: :meth:`read`, :meth:`prepare`, :meth:`dry_run`,
:meth:`before_send`, :meth:`send`, :meth:`done`, :meth:`output` and :meth:`counts`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from types import FrameType, TracebackType
from typing import IO, Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from google.protobuf.message import Message

from ..client import TaskClient
from ..errors import BulkError, TaskgrpcError
from .connect import open_client, user_app
from .errors import (
    EXIT_FAILURES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PIPE,
    UsageError,
    error_text,
)
from .errors import fails_every_line as _fails_every_line
from .progress import Progress
from .reading import Line, label, read_tasks
from .writing import silence_stdout, write_messages

#: Seconds that calls in flight get to finish after SIGINT/SIGTERM (a second signal ends it).
GRACE_SECONDS = 5.0
#: Per-line failure messages shown on stderr before the rest are only counted.
SHOWN_FAILURES = 10


class Failures:
    """Where failed lines go, as lines ready to re-run (default: stderr), with their
    messages on stderr: the first :data:`SHOWN_FAILURES`, then how many more.

    The file is opened (and truncated) at once, so an unwritable path is a usage error
    before anything is sent; open it only after the input was read (it may be the input).
    """

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._file: IO[str] | None = None
        if path is not None:
            try:
                self._file = open(path, "w", encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
            except OSError as err:
                raise UsageError(f"cannot write --failures {path}: {err.strerror}") from None
        self.count = 0
        self._shown = 0
        self._hidden = 0

    def add(self, line: Line, message: str | None) -> None:
        """Write ``line`` out; show ``message`` (None: already reported) while under the cap."""
        if message is not None:
            if self._shown < SHOWN_FAILURES:
                sys.stderr.write(f"error: {message}\n")
                self._shown += 1
            else:
                self._hidden += 1
        (self._file or sys.stderr).write(line.rerun_text() + "\n")
        self.count += 1

    @property
    def where(self) -> str:
        return self.path if self.path is not None else "stderr"

    def report_hidden(self) -> None:
        """Say how many messages were not shown (once), before the run's summary."""
        if self._hidden:
            sys.stderr.write(f"error: ... and {self._hidden} more in {self.where}\n")
            self._hidden = 0

    def close(self) -> None:
        self.report_hidden()
        if self._file is not None:
            self._file.close()
            self._file = None


class Interrupts:
    """While entered (in the main thread), SIGINT and SIGTERM only ask the run to stop."""

    def __init__(self) -> None:
        self.count = 0
        self.event = threading.Event()
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._saved[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        self.event.set()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        self._saved.clear()

    @property
    def stopped(self) -> bool:
        return self.event.is_set()


def batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class BulkCommand:
    """One bulk command run: subclasses fill in the hooks; :meth:`run` does the rest."""

    verb = ""
    #: Whether every task line needs its id (the default :meth:`read` reads tasks).
    require_id = False

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.label = label(args.file) if getattr(args, "file", None) else "<args>"
        self.progress = Progress(not args.quiet)
        self.interrupts = Interrupts()
        self.failures: Failures | None = None
        self.fatal: TaskgrpcError | None = None
        self.any_success = False
        self.unfinished = 0
        self.stdout_closed = False

    # --- hooks --------------------------------------------------------------------------

    def read(self) -> list[Line]:
        """Every input line, read and checked (``error`` set on those that failed)."""
        return read_tasks(self.args.file, require_id=self.require_id, progress=self.progress)

    def prepare(self, lines: list[Line]) -> list[Line]:
        """The valid lines to send, after any local work (ids, repeats); no I/O."""
        return lines

    def dry_run(self, uaid: r.UserAppIDSet, lines: list[Line]) -> Iterable[Message]:
        """The requests a real run would send, in batches."""
        raise NotImplementedError

    def before_send(self, client: TaskClient, lines: list[Line]) -> list[Line]:
        """The lines still to send, after any lookup."""
        return lines

    def send(self, client: TaskClient, batch: list[Line]) -> list[Any]:
        """Send one batch; a result per line, or BulkError / TaskgrpcError."""
        raise NotImplementedError

    def done(self, line: Line, result: Any) -> None:
        """Record a line that succeeded."""

    def output(self) -> None:
        """Write the results to stdout."""

    def counts(self) -> str:
        """The summary's counts, e.g. ``created 3, existed 1``."""
        raise NotImplementedError

    # --- helpers for the hooks ----------------------------------------------------------

    def where(self, line: Line) -> str:
        return f"{self.label}:{line.number}"

    def note(self, text: str) -> None:
        """A note shown only with ``--verbose``."""
        if getattr(self.args, "verbose", False) and not self.args.quiet:
            sys.stderr.write(text + "\n")

    def fail(self, line: Line, message: str | None) -> None:
        assert self.failures is not None
        self.failures.add(line, message)

    def failed(self, line: Line, err: TaskgrpcError) -> None:
        """``line`` failed with ``err``; the first error that would fail every line stops
        the run, and is reported once."""
        if self.fatal is None and _fails_every_line(
            err, verb=self.verb, any_success=self.any_success
        ):
            self.fatal = err
            sys.stderr.write(
                f"taskgrpc: error: {error_text(err)}\n"
                f"taskgrpc: stopping: this would fail every line; unsent lines go to "
                f"{self.failures.where if self.failures else 'stderr'}\n"
            )
        if self.fatal is not None:  # reported once: this line is one more not done
            self.give_up([line])
        else:
            self.fail(line, f"{self.where(line)}: {error_text(err)}")

    def should_stop(self) -> bool:
        return self.fatal is not None or self.interrupts.stopped

    def give_up(self, lines: Iterable[Line]) -> None:
        """``lines`` were not done (interrupted or stopped): write each out, silently."""
        for line in lines:
            self.fail(line, None)
            self.unfinished += 1

    # --- the scaffold -------------------------------------------------------------------

    def run(self) -> int:
        with self.interrupts:
            lines = self.read()
            self.failures = Failures(self.args.failures)
            try:
                return self._run(lines)
            finally:
                self.progress.close()
                self.failures.close()

    def _run(self, lines: list[Line]) -> int:
        valid = []
        for line in lines:
            if line.error:
                self.fail(line, line.error)
            else:
                valid.append(line)
        todo = self.prepare(valid)
        if self.args.dry_run:
            write_messages(self.dry_run(user_app(self.args), todo), sys.stdout, self._names)
            return EXIT_FAILURES if self._count() else EXIT_OK
        if self.interrupts.stopped:
            self.give_up(todo)
            return self._finish()
        client = open_client(self.args)  # bad settings are a usage error, before the run
        try:
            with client:
                todo = self.before_send(client, todo)
                self._send_all(client, todo)
        finally:
            self.progress.close()
        try:
            self.output()
        except BrokenPipeError:  # | head: the run is done; its summary and code still count
            silence_stdout()
            self.stdout_closed = True
        return self._finish()

    @property
    def _names(self) -> bool:
        return bool(getattr(self.args, "proto_names", False))

    def _count(self) -> int:
        return self.failures.count if self.failures else 0

    def _finish(self) -> int:
        interrupted = self.interrupts.stopped
        if self.failures is not None:
            self.failures.report_hidden()  # the summary stays the last line
        if not self.args.quiet:
            failed = self._count() - self.unfinished
            text = f"{self.verb}: {self.counts()}, failed {failed}"
            if interrupted:
                text += f"; interrupted, {self.unfinished} line(s) not done"
            elif self.fatal is not None:
                text += f"; stopped, {self.unfinished} line(s) not done"
            if self._count():
                text += f"; lines to re-run in {self.failures.where if self.failures else 'stderr'}"
            sys.stderr.write(text + "\n")
        if interrupted:
            return EXIT_INTERRUPTED
        if self._count():
            return EXIT_FAILURES
        return EXIT_PIPE if self.stdout_closed else EXIT_OK

    def _send_all(self, client: TaskClient, lines: list[Line]) -> None:
        """Send ``lines`` in batches, up to ``--concurrency`` at once; stop sending on a
        signal or a fatal error, then give calls in flight a grace period."""
        self.progress.phase(self.verb, len(lines))
        pending: dict[Future[list[Any]], list[Line]] = {}
        todo = batches(lines, self.args.batch_size)
        finished = 0
        grace_until: float | None = None
        pool = ThreadPoolExecutor(self.args.concurrency, thread_name_prefix="taskgrpc-cli")
        try:
            while True:
                while not self.should_stop() and len(pending) < self.args.concurrency:
                    batch = next(todo, None)
                    if batch is None:
                        break
                    pending[pool.submit(self.send, client, batch)] = batch
                if not pending:
                    break
                finished_now, _ = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                for future in finished_now:
                    batch = pending.pop(future)
                    self._settle(batch, future)
                    finished += len(batch)
                    self.progress.update(finished)
                if self.interrupts.stopped:
                    now = time.monotonic()
                    if grace_until is None:
                        grace_until = now + GRACE_SECONDS
                    if now >= grace_until or self.interrupts.count > 1:
                        break
        finally:
            if pending:
                client.close()  # cancels the calls still in flight
            pool.shutdown(wait=False, cancel_futures=True)
        # In flight (the outcome of a create is unknown) or never sent: each line is written
        # out with its id, so a re-run finds what did get done and does the rest.
        for batch in pending.values():
            self.give_up(batch)
        for batch in todo:
            self.give_up(batch)

    def _settle(self, batch: list[Line], future: Future[list[Any]]) -> None:
        errors: dict[int, TaskgrpcError] = {}
        try:
            results = future.result()
        except BulkError as err:
            results, errors = err.results, err.errors
        except TaskgrpcError as err:
            results, errors = [None] * len(batch), dict.fromkeys(range(len(batch)), err)
        except Exception as err:  # a bug must not lose the batch's lines
            wrapped = TaskgrpcError(f"{type(err).__name__}: {err}")
            results, errors = [None] * len(batch), dict.fromkeys(range(len(batch)), wrapped)
        for index, line in enumerate(batch):
            if index in errors:
                self.failed(line, errors[index])
            else:
                self.any_success = True
                self.done(line, results[index])
