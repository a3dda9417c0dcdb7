"""Retry policy, the per-method retry table, and the client-side rate limiter.

Which layer owns UNAVAILABLE: taskgrpc does. The channel the client opens
itself carries no gRPC service-config retry policy, so a call is sent at most
once per attempt that taskgrpc counts, and creates are never re-sent blindly.
(gRPC's *transparent* retries stay on: they only re-send a request that never
left the client, which is always safe.) A channel passed in with ``channel=``
is used as it is; if it carries its own retry policy, as
``ClarifaiChannel.get_grpc_channel()`` does (5 attempts on UNAVAILABLE), each
taskgrpc attempt may already be several sends: pass ``retry=None`` there, or
accept the product of the two.
"""

from __future__ import annotations

import enum
import math
import random
import threading
import time
from dataclasses import dataclass

import grpc
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc

from ._methods import METHODS, Safety
from .errors import ApiError, TaskgrpcError, TransportError, ValidationError

__all__ = [
    "DEFAULT",
    "METHOD_RETRY",
    "NOTHING_DONE_CODES",
    "OUTCOME_UNKNOWN_CODES",
    "RetryPolicy",
    "Safety",
    "TokenBucket",
]


class Default(enum.Enum):
    """The type of :data:`DEFAULT`."""

    DEFAULT = "DEFAULT"


#: "Use the client's policy": the default of every call's ``retry=``.
DEFAULT = Default.DEFAULT


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with full jitter.

    Attempt ``n`` (1-based) is followed, if retried, by a sleep drawn uniformly
    from ``[0, min(max_backoff, initial_backoff * multiplier ** (n - 1))]``;
    with ``jitter=False`` the sleep is that upper bound exactly.
    ``max_attempts`` counts the first try.
    """

    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 10.0
    multiplier: float = 2.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ValidationError("RetryPolicy.max_attempts must be an integer")
        if self.max_attempts < 1:
            raise ValidationError("RetryPolicy.max_attempts must be >= 1")
        for name in ("initial_backoff", "max_backoff", "multiplier"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValidationError(f"RetryPolicy.{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValidationError(f"RetryPolicy.{name} must be finite, got {value!r}")
        if not 0 <= self.initial_backoff <= self.max_backoff:
            raise ValidationError("RetryPolicy needs 0 <= initial_backoff <= max_backoff")
        if self.multiplier < 1:
            raise ValidationError("RetryPolicy.multiplier must be >= 1")

    def cap(self, attempt: int) -> float:
        """The largest sleep after failed attempt ``attempt`` (1-based)."""
        exp = min(attempt - 1, 1000)
        try:
            grown = self.initial_backoff * self.multiplier**exp
        except OverflowError:
            grown = self.max_backoff
        return min(self.max_backoff, grown)

    def backoff(self, attempt: int) -> float:
        """The sleep after failed attempt ``attempt`` (1-based)."""
        cap = self.cap(attempt)
        return random.uniform(0.0, cap) if self.jitter else cap


#: The retry class of every method, derived from the method table (``_methods``).
METHOD_RETRY: dict[str, Safety] = {name: row.safety for name, row in METHODS.items()}

#: Body codes that mean the service refused the call before doing anything.
NOTHING_DONE_CODES = frozenset({sc.CONN_THROTTLED, sc.RPC_REQUEST_QUEUE_FULL})

#: Transient body codes after which the work may or may not have been done.
OUTCOME_UNKNOWN_CODES = frozenset(
    {
        sc.TRY_AGAIN,
        sc.RPC_SERVER_UNAVAILABLE,
        sc.RPC_REQUEST_TIMEOUT,
        sc.INTERNAL_REDIS_UNAVAILABLE,
        sc.INTERNAL_UNEXPECTED_TIMEOUT,
        sc.INTERNAL_CONTEXT_CANCELED,
    }
)

_OUTCOME_UNKNOWN_GRPC = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


class Transience(enum.Enum):
    """What a failure says about the work and whether trying again can help."""

    PERMANENT = "permanent"
    NOTHING_DONE = "nothing_done"
    OUTCOME_UNKNOWN = "outcome_unknown"


def classify(error: TaskgrpcError) -> Transience:
    """Whether ``error`` is worth retrying, and what it says about the work."""
    if isinstance(error, ApiError):
        if error.code in NOTHING_DONE_CODES:
            return Transience.NOTHING_DONE
        if error.code in OUTCOME_UNKNOWN_CODES:
            return Transience.OUTCOME_UNKNOWN
    elif (
        isinstance(error, TransportError)
        and error.sent
        and error.grpc_code in _OUTCOME_UNKNOWN_GRPC
    ):
        return Transience.OUTCOME_UNKNOWN
    return Transience.PERMANENT


class TokenBucket:
    """A thread-safe token bucket: ``rate`` tokens a second, up to ``burst`` saved.

    :meth:`reserve` never blocks: it takes a token now or books the next free
    one and returns how long the caller must sleep before using it, so sync
    and async callers share one bucket. It never goes into debt for a caller
    that will not use its token: a caller whose wait would reach its
    ``deadline`` takes nothing, and one that gives up while waiting (a
    cancel, an interrupt) hands its token back with :meth:`give_back`. So
    only callers that will send are ever queued, an idle client serves its
    next call at once, and under any contention about ``rate`` calls a
    second are served.
    """

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
            raise ValidationError(f"max_rps must be a positive number, got {rate!r}")
        self.rate = float(rate)
        self.burst = float(burst) if burst is not None else max(1.0, self.rate / 10)
        self._tokens = self.burst
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def reserve(self, deadline: float | None = None) -> float | None:
        """Take one token: the seconds to wait before it may be used.

        ``deadline`` is a ``time.monotonic()`` instant (None: none). If the wait
        would reach it, nothing is taken and the answer is None.
        """
        with self._lock:
            now = time.monotonic()
            self._refill(now)
            wait = 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate
            if deadline is not None and now + wait >= deadline:
                return None
            self._tokens -= 1.0
            return wait

    def give_back(self) -> None:
        """Return a reserved token that will not be used (its caller gave up waiting)."""
        with self._lock:
            self._refill(time.monotonic())
            self._tokens = min(self.burst, self._tokens + 1.0)

    @property
    def level(self) -> float:
        """Tokens saved now; below zero, minus the tokens booked by callers still waiting."""
        with self._lock:
            self._refill(time.monotonic())
            return self._tokens

    def reset_lock(self) -> None:
        """A fresh lock (in a forked child, where the old one may be held forever)."""
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, float]:
        return {"rate": self.rate, "burst": self.burst}

    def __setstate__(self, state: dict[str, float]) -> None:
        self.__init__(state["rate"], state["burst"])  # type: ignore[misc]
