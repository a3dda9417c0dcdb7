"""Every client operation, written once as a sans-I/O generator.

An operation is a generator that yields actions and returns its result:

* ``Call(method, request, timeout)``: the driver sends the RPC and resumes the
  generator with the response, or throws the mapped
  :class:`~taskgrpc.errors.TransportError` into it;
* ``Sleep(seconds)``: the driver sleeps (``time.sleep`` or ``asyncio.sleep``)
  and resumes it with ``None``.

The sync client (``client.py``) and the async one (``aio.py``) are only
drivers, so retries, deadlines, rate limiting, create reconciliation and error
mapping exist in one place and behave identically in both.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Sequence
from typing import Any, TypeVar

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2

from . import requests as rq
from .builders import same_task
from .errors import (
    ConflictError,
    DeadlineExceededError,
    OutcomeUnknownError,
    ServerError,
    TaskgrpcError,
    api_error,
)
from .retry import METHOD_RETRY, RetryPolicy, Safety, TokenBucket, Transience, classify

logger = logging.getLogger("taskgrpc")

_SUCCESS = status_code_pb2.SUCCESS
T = TypeVar("T")


class Call:
    """Send ``request`` to ``method`` with ``timeout`` seconds (None: no deadline)."""

    __slots__ = ("method", "request", "timeout")

    def __init__(self, method: str, request: Any, timeout: float | None) -> None:
        self.method = method
        self.request = request
        self.timeout = timeout


class Sleep:
    """Wait ``seconds`` before resuming."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


Action = Call | Sleep
Op = Generator[Action, Any, T]


class Budget:
    """One call's settings and deadline, shared by all of its attempts and back-offs."""

    __slots__ = ("deadline", "limiter", "policy", "secret", "uaid")

    def __init__(
        self,
        *,
        uaid: r.UserAppIDSet,
        timeout: float | None,
        policy: RetryPolicy | None,
        limiter: TokenBucket | None,
        secret: str,
    ) -> None:
        self.uaid = uaid
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.policy = policy
        self.limiter = limiter
        self.secret = secret

    def remaining(self, method: str) -> float | None:
        """Seconds left, or None for no deadline; DeadlineExceededError when none left."""
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _client_deadline(method)
        return left


def _client_deadline(method: str) -> DeadlineExceededError:
    import grpc

    return DeadlineExceededError(
        grpc.StatusCode.DEADLINE_EXCEEDED, "the call's time budget ran out", method, sent=False
    )


# --- one attempt, and the retry loop ----------------------------------------------------


def send(method: str, request: Any, budget: Budget, attempt: int) -> Op[Any]:
    """One attempt: rate limit, send, and raise the body status if it is not SUCCESS."""
    if budget.limiter is not None:
        wait = budget.limiter.reserve()
        if wait > 0:
            if budget.deadline is not None and time.monotonic() + wait >= budget.deadline:
                raise _client_deadline(method)
            yield Sleep(wait)
    timeout = budget.remaining(method)
    start = time.perf_counter()
    try:
        response = yield Call(method, request, timeout)
    except TaskgrpcError as err:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s attempt=%d failed in %.1f ms: %s",
                method,
                attempt,
                (time.perf_counter() - start) * 1e3,
                err,
            )
        raise
    status = response.status
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "%s attempt=%d req_id=%s code=%d in %.1f ms",
            method,
            attempt,
            status.req_id,
            status.code,
            (time.perf_counter() - start) * 1e3,
        )
    if status.code != _SUCCESS:
        raise api_error(status, method, budget.secret)
    return response


def backoff(error: TaskgrpcError, method: str, attempt: int, budget: Budget) -> Op[None]:
    """Sleep before attempt ``attempt + 1``, or re-raise ``error`` when out of tries or time."""
    policy = budget.policy
    if policy is None or attempt >= policy.max_attempts:
        raise error
    delay = policy.backoff(attempt)
    if budget.deadline is not None and time.monotonic() + delay >= budget.deadline:
        raise error
    logger.info(
        "%s attempt=%d failed (%s); retrying in %.3f s", method, attempt, _short(error), delay
    )
    yield Sleep(delay)


def _short(error: TaskgrpcError) -> str:
    code = getattr(error, "code_name", None) or getattr(
        getattr(error, "grpc_code", None), "name", ""
    )
    return str(code or type(error).__name__)


def rpc(method: str, request: Any, budget: Budget) -> Op[Any]:
    """Send an idempotent RPC, retrying transient failures within the budget."""
    assert METHOD_RETRY[method] is Safety.IDEMPOTENT
    attempt = 0
    while True:
        attempt += 1
        try:
            return (yield from send(method, request, budget, attempt))
        except TaskgrpcError as err:
            if classify(err) is Transience.PERMANENT:
                raise
            yield from backoff(err, method, attempt, budget)


# --- operations -----------------------------------------------------------------------


def get(request: s.GetTaskRequest, budget: Budget) -> Op[r.Task]:
    response = yield from rpc("GetTask", request, budget)
    return response.task  # type: ignore[no-any-return]


def list_page(request: s.ListTasksRequest, budget: Budget) -> Op[Sequence[r.Task]]:
    """One page's tasks: the response's own repeated field, not a copy."""
    response = yield from rpc("ListTasks", request, budget)
    return response.tasks  # type: ignore[no-any-return]


def patch(request: s.PatchTasksRequest, budget: Budget) -> Op[list[r.Task]]:
    response = yield from rpc("PatchTasks", request, budget)
    return list(response.tasks)


def delete(request: s.DeleteTasksRequest, budget: Budget) -> Op[None]:
    yield from rpc("DeleteTasks", request, budget)


def delete_ids(request: s.DeleteTasksRequest, budget: Budget) -> Op[list[str]]:
    """Delete, then return the ids sent (a bulk delete's per-item results)."""
    yield from rpc("DeleteTasks", request, budget)
    return list(request.ids)


def existing(ids: Sequence[str], budget: Budget) -> Op[dict[str, r.Task]]:
    """The tasks among ``ids`` that exist, looked up with ListTasks ``ids``."""
    found: dict[str, r.Task] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), rq.MAX_PER_PAGE):
        chunk = unique[start : start + rq.MAX_PER_PAGE]
        request = rq.list_tasks(budget.uaid, ids=chunk, per_page=rq.MAX_PER_PAGE)
        request.including_label_order_tasks = True  # else tasks of a label order are hidden
        for task in (yield from list_page(request, budget)):
            found[task.id] = task
    return found


def create(request: s.PostTasksRequest, budget: Budget) -> Op[list[r.Task]]:
    """Send ``request`` (its tasks already checked) without ever duplicating a task.

    * A refusal that says nothing was done (throttled, queue full) is retried.
    * An unknown outcome (UNAVAILABLE, a deadline, a transient server code) is
      retried only when every task has an id: the tasks that now exist are
      looked up first, and only the missing ones are posted again. A conflict
      after such a failure means the earlier attempt landed late; it is
      reconciled the same way. A task found under one of our ids but with
      other content is someone else's: that raises ConflictError.
    * Without ids, an unknown outcome raises :class:`OutcomeUnknownError`; so
      does running out of attempts or time before the lookup settles it.
    * A permanent error after a lookup is raised as it is: the lookup settled
      which tasks exist, and the failed attempt created none.

    Returns the created tasks in input order.
    """
    tasks = list(request.tasks)
    have_ids = all(t.id for t in tasks)
    done: dict[str, r.Task] = {}
    pending = tasks
    uncertain = False
    attempt = 0
    last_error: TaskgrpcError | None = None
    while True:
        attempt += 1
        if uncertain:
            try:
                found = yield from existing([t.id for t in pending], budget)
            except TaskgrpcError as err:
                raise OutcomeUnknownError(pending, err) from err
            for task in pending:
                if task.id in found and not same_task(task, found[task.id]):
                    raise _foreign_conflict(task.id)
            done.update(found)
            pending = [t for t in pending if t.id not in done]
            if not pending:
                break
        if pending is not tasks:
            request = rq.post_tasks(budget.uaid, pending, check=False)
        try:
            response = yield from send("PostTasks", request, budget, attempt)
        except TaskgrpcError as err:
            kind = classify(err)
            if kind is Transience.OUTCOME_UNKNOWN:
                if not have_ids:
                    raise OutcomeUnknownError(pending, err) from err
                uncertain = True
            elif kind is Transience.PERMANENT and not (
                uncertain and isinstance(err, ConflictError)
            ):
                raise
            last_error = err
        else:
            if not have_ids:
                return list(response.tasks)
            done.update((task.id, task) for task in response.tasks)
            pending = [t for t in pending if t.id not in done]
            if not pending:
                break
            # SUCCESS, yet some tasks are missing from the answer: look them up.
            uncertain = True
            last_error = OutcomeUnknownError(pending, _incomplete_answer(len(pending)))
        try:
            yield from backoff(last_error, "PostTasks", attempt, budget)
        except TaskgrpcError:
            if uncertain:
                raise OutcomeUnknownError(pending, last_error) from last_error
            raise
    return [done[t.id] for t in tasks]


def _foreign_conflict(task_id: str) -> ConflictError:
    return ConflictError(
        code=status_code_pb2.TASK_CONFLICT,
        description=(
            f"task id {task_id!r} is taken by a task with other content; "
            "it was not created by this call"
        ),
        method="PostTasks",
    )


def _incomplete_answer(missing: int) -> ServerError:
    return ServerError(
        code=status_code_pb2.FAILURE,
        description=f"PostTasks answered SUCCESS without {missing} of the tasks sent",
        method="PostTasks",
    )
