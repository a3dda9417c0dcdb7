"""A progress bar on stderr for bulk commands, through every phase: reading and checking
the input, the lookup of existing tasks, and sending. Only on a terminal, never with
``--quiet``; tqdm draws it when installed (the ``cli`` extra), else a plain counter."""

from __future__ import annotations

import shutil
import sys
from typing import Any, TextIO


class Progress:
    """``phase(label, total)`` starts a phase; ``update(done)`` reports its progress."""

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._enabled = enabled and self._stream.isatty()
        self._bar: Any = None
        self._label = ""
        self._total = 0
        self._open = False

    def phase(self, label: str, total: int) -> None:
        """Start phase ``label`` of ``total`` steps (ending the previous one)."""
        if not self._enabled:
            return
        self.close()
        self._label, self._total, self._open = label, total, True
        try:
            from tqdm import tqdm
        except ImportError:
            self._bar = None
            self.update(0)
            return
        # a terminal that reports 0 columns (a fresh pty) would get no bar at all
        ncols = None if shutil.get_terminal_size((0, 0)).columns > 0 else 80
        self._bar = tqdm(total=total, desc=label, file=self._stream, unit="item", ncols=ncols)

    def update(self, done: int, total: int | None = None) -> None:
        """``done`` of the phase's steps are done (``total`` is accepted and ignored, so
        this is also a bulk call's ``progress(done, total)`` callback)."""
        if not self._open:
            return
        if self._bar is not None:
            self._bar.update(done - self._bar.n)
        else:
            self._stream.write(f"\r{self._label}: {done}/{self._total}")
            self._stream.flush()

    def close(self) -> None:
        """End the current phase's bar."""
        if not self._open:
            return
        self._open = False
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        else:
            self._stream.write("\n")
            self._stream.flush()
