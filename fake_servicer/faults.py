"""Seeded, deterministic fault injection for the methods the fake implements.

Each call of a targeted method first sleeps ``latency_ms``, then draws exactly one number from
``random.Random(seed)`` (under a lock) and picks at most one fault by cumulative probability:
``[0, unavailable)`` -> ``"unavailable"``, then ``throttled``, then ``commit_unavailable``,
else none. So combined probabilities are exact, and a given seed yields the same sequence of
faults for the same sequence of targeted calls. Calls of methods outside ``methods`` neither
sleep nor draw.

Faults model infrastructure in front of the API, so they are drawn before authentication:

- ``unavailable``: abort with gRPC UNAVAILABLE before doing anything.
- ``throttled``: answer with body status CONN_THROTTLED, doing nothing.
- ``commit_unavailable``: handle the call fully (including storing any change), then abort
  with gRPC UNAVAILABLE, so the client never sees the response.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from taskgrpc._methods import METHODS

TASK_METHODS: frozenset[str] = frozenset(
    {"PostTasks", "GetTask", "ListTasks", "PatchTasks", "DeleteTasks"}
)
"""The five Task methods."""

FAKE_ONLY_METHODS: frozenset[str] = frozenset(
    {"PatchAnnotations", "DeleteAnnotations", "ListNextTaskAssignments"}
)
"""Methods the fake implements that taskgrpc's client does not send."""

FAULT_METHODS: frozenset[str] = frozenset(METHODS) | FAKE_ONLY_METHODS
"""Every V2 method the fake implements, which is what faults can target: the rows of
taskgrpc's method table (``taskgrpc._methods``) and the fake-only methods."""

LIFECYCLE_METHODS: frozenset[str] = FAULT_METHODS - TASK_METHODS
"""The labeling-lifecycle methods."""

FaultKind = Literal["unavailable", "throttled", "commit_unavailable"]
FAULT_KINDS: tuple[FaultKind, ...] = ("unavailable", "throttled", "commit_unavailable")


@dataclass(frozen=True)
class Faults:
    """Fault probabilities (each in [0, 1], summing to at most 1) and timing; see module doc.

    ``methods`` limits faults and latency to these method names (None = every method in
    :data:`FAULT_METHODS`); any iterable of names is accepted and stored as a frozenset.
    Invalid values raise ValueError.
    """

    unavailable: float = 0.0
    throttled: float = 0.0
    commit_unavailable: float = 0.0
    latency_ms: float = 0.0
    seed: int | None = None
    methods: frozenset[str] | None = field(default=None)

    def __post_init__(self) -> None:
        total = 0.0
        for kind in FAULT_KINDS:
            value = getattr(self, kind)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"Faults.{kind} must be a probability in [0, 1], got {value!r}")
            total += value
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities must sum to at most 1, got {total:g}")
        if not isinstance(self.latency_ms, (int, float)) or not self.latency_ms >= 0.0:
            raise ValueError(f"Faults.latency_ms must be >= 0, got {self.latency_ms!r}")
        if self.methods is not None:
            methods = frozenset(self.methods)
            unknown = sorted(methods - FAULT_METHODS)
            if unknown:
                raise ValueError(
                    f"Faults.methods has unknown method(s) {', '.join(unknown)}; "
                    f"expected some of {', '.join(sorted(FAULT_METHODS))}"
                )
            object.__setattr__(self, "methods", methods)

    def targets(self, method: str) -> bool:
        """True if faults and latency apply to ``method``."""
        if self.methods is None:
            return method in FAULT_METHODS
        return method in self.methods

    def pick(self, draw: float) -> FaultKind | None:
        """Map one uniform draw in [0, 1) to a fault by cumulative probability."""
        bound = 0.0
        for kind in FAULT_KINDS:
            bound += getattr(self, kind)
            if draw < bound:
                return kind
        return None


class FaultInjector:
    """Thread-safe holder of the current :class:`Faults`, its random stream and counts."""

    def __init__(self, faults: Faults | None = None) -> None:
        self._lock = threading.Lock()
        self._faults = faults or Faults()
        self._rng = random.Random(self._faults.seed)
        self._injected: Counter[str] = Counter()

    @property
    def faults(self) -> Faults:
        """The current configuration."""
        with self._lock:
            return self._faults

    def set(self, faults: Faults) -> None:
        """Replace the configuration and restart the random stream from its seed."""
        with self._lock:
            self._faults = faults
            self._rng = random.Random(faults.seed)

    def reset(self) -> None:
        """Zero the counts and restart the random stream from the current seed."""
        with self._lock:
            self._injected.clear()
            self._rng = random.Random(self._faults.seed)

    def latency_s(self, method: str) -> float:
        """Seconds to sleep before handling ``method`` (0 if not targeted)."""
        faults = self.faults
        return faults.latency_ms / 1000.0 if faults.targets(method) else 0.0

    def draw(self, method: str) -> FaultKind | None:
        """Draw the fault for one call of ``method`` and count it; None if no fault."""
        with self._lock:
            if not self._faults.targets(method):
                return None
            kind = self._faults.pick(self._rng.random())
            if kind is not None:
                self._injected[kind] += 1
            return kind

    def injected(self) -> Counter[str]:
        """A snapshot of injected fault counts by kind."""
        with self._lock:
            return Counter(self._injected)
