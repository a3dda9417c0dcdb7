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
from collections.abc import Callable, Generator, Sequence
from typing import Any, Generic, Protocol, TypeVar

import grpc
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2

from . import requests as rq
from ._config import deadline_of
from ._content import same_task
from ._methods import DELETE_TASKS, GET_TASK, LIST_TASKS, PATCH_TASKS, POST_TASKS
from .errors import (
    ConflictError,
    DeadlineExceededError,
    DeadlineOutcomeUnknownError,
    InvalidRequestError,
    NotFoundError,
    NotSentError,
    OutcomeUnknownError,
    ServerError,
    TaskgrpcError,
    TransportError,
    api_error,
)
from .retry import METHOD_RETRY, RetryPolicy, Safety, TokenBucket, Transience, classify

logger = logging.getLogger("taskgrpc")

_SUCCESS = status_code_pb2.SUCCESS
T = TypeVar("T")


class HasId(Protocol):
    """A message created under an id (a task, an annotation)."""

    id: str


Created = TypeVar("Created", bound=HasId)
Item = TypeVar("Item")


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
    """One call's settings and deadline, shared by all of its attempts and back-offs.

    ``clock`` gives the monotonic time in seconds (``time.monotonic``; a test may pass
    its own); the deadline, the time left and the back-off checks read it.
    """

    __slots__ = ("clock", "deadline", "limiter", "policy", "secret", "uaid")

    def __init__(
        self,
        *,
        uaid: r.UserAppIDSet,
        timeout: float | None,
        policy: RetryPolicy | None,
        limiter: TokenBucket | None,
        secret: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.uaid = uaid
        self.clock = clock
        self.deadline = deadline_of(timeout, clock())
        self.policy = policy
        self.limiter = limiter
        self.secret = secret

    def remaining(self, method: str) -> float | None:
        """Seconds left, or None for no deadline; DeadlineExceededError when none left."""
        if self.deadline is None:
            return None
        left = self.deadline - self.clock()
        if left <= 0:
            raise _client_deadline(method)
        return left


def _client_deadline(method: str) -> DeadlineExceededError:
    return DeadlineExceededError(
        grpc.StatusCode.DEADLINE_EXCEEDED, "the call's time budget ran out", method, sent=False
    )


# --- one attempt, and the retry loop ----------------------------------------------------


def send(method: str, request: Any, budget: Budget, attempt: int) -> Op[Any]:
    """One attempt: rate limit, send, and raise the body status if it is not SUCCESS.

    A token the attempt cannot use before its deadline is never taken: the attempt
    waits out its budget and fails with DeadlineExceededError (``sent`` False). A
    token taken is given back if the attempt is abandoned while it waits (a cancel,
    an interrupt, the generator closed).
    """
    limiter = budget.limiter
    if limiter is not None:
        wait = limiter.reserve(budget.deadline)
        if wait is None:
            # No token can be had before the deadline: take none, and wait out the budget
            # like any timeout (a caller that retries at once would only spin).
            assert budget.deadline is not None
            left = budget.deadline - budget.clock()
            if left > 0:
                yield Sleep(left)
            raise _client_deadline(method)
        if wait > 0:
            try:
                yield Sleep(wait)
            except BaseException:
                limiter.give_back()
                raise
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
    if budget.deadline is not None and budget.clock() + delay >= budget.deadline:
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
    """Send an RPC, retrying what ``METHOD_RETRY`` allows for it within the budget.

    An IDEMPOTENT method is retried on every transient failure; a CREATE only
    when the service surely did nothing (``create`` below does the rest).
    """
    safety = METHOD_RETRY[method]
    attempt = 0
    while True:
        attempt += 1
        try:
            return (yield from send(method, request, budget, attempt))
        except TaskgrpcError as err:
            kind = classify(err)
            if kind is Transience.PERMANENT or (
                kind is Transience.OUTCOME_UNKNOWN and safety is not Safety.IDEMPOTENT
            ):
                raise
            yield from backoff(err, method, attempt, budget)


# --- operations -----------------------------------------------------------------------


def get(request: s.GetTaskRequest, budget: Budget) -> Op[r.Task]:
    response = yield from rpc(GET_TASK.name, request, budget)
    return response.task  # type: ignore[no-any-return]


def list_page(request: s.ListTasksRequest, budget: Budget) -> Op[Sequence[r.Task]]:
    """One page's tasks: the response's own repeated field, not a copy."""
    response = yield from rpc(LIST_TASKS.name, request, budget)
    return response.tasks  # type: ignore[no-any-return]


def patch(request: s.PatchTasksRequest, budget: Budget) -> Op[list[r.Task]]:
    response = yield from rpc(PATCH_TASKS.name, request, budget)
    return list(response.tasks)


def delete(request: s.DeleteTasksRequest, budget: Budget) -> Op[list[str]]:
    """Delete, then return the ids sent (a bulk delete's per-item results)."""
    yield from rpc(DELETE_TASKS.name, request, budget)
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


def create(
    request: s.PostTasksRequest,
    budget: Budget,
    ours: Callable[[r.Task], bool] | None = None,
) -> Op[list[r.Task]]:
    """Send ``request`` (its tasks already checked) without ever duplicating a task.

    * A refusal that says nothing was done (throttled, queue full) is retried.
    * An unknown outcome (UNAVAILABLE, a deadline, a transient server code) is
      retried only when every task has an id: the tasks that now exist are
      looked up first, and only the missing ones are posted again.
    * With ids, a conflict is settled by the same lookup, like an idempotency
      key: a task stored under an id for which ``ours(task)`` is true (an id
      derived from the task's content) is returned as it is stored, even if
      edited since; under another id, a task with the same content is ours (an
      earlier attempt, or an earlier run of the same create) and is returned,
      and one with other content is someone else's: ConflictError.
    * A call cancelled on the wire (gRPC CANCELLED: the client was closed) is
      not retried: OutcomeUnknownError. A client closed before a send raises
      NotSentError, or OutcomeUnknownError if an earlier attempt's outcome
      is unknown.
    * SUCCESS is final: PostTasks is all or nothing, so nothing is sent again.
    * Without ids, an unknown outcome raises :class:`OutcomeUnknownError`; so
      does running out of attempts or time before a lookup settles it.
    * A permanent error after a lookup is raised as it is: the lookup settled
      which tasks exist, and the failed attempt created none.

    Returns the created tasks in input order.
    """
    tasks = list(request.tasks)
    have_ids = all(t.id for t in tasks)

    def foreign(task: r.Task, stored: r.Task) -> TaskgrpcError | None:
        if (ours is not None and ours(task)) or same_task(task, stored):
            return None
        return taken(
            POST_TASKS.name,
            "task",
            task.id,
            "a task with other content",
            status_code_pb2.TASK_CONFLICT,
        )

    def on_error(err: TaskgrpcError, state: Reconciling[r.Task]) -> bool:
        if isinstance(err, NotSentError):
            if state.settle:
                raise unknown_outcome(state.pending, err) from err
            raise err
        if cancelled(err):
            raise unknown_outcome(state.pending, err) from err
        kind = classify(err)
        if kind is Transience.OUTCOME_UNKNOWN and not have_ids:
            raise unknown_outcome(state.pending, err) from err
        if isinstance(err, ConflictError) and have_ids and not state.settle:
            state.settle = True  # ours (same content) or someone else's: the lookup tells
            return True  # a conflict costs no attempt: nothing failed
        if kind is Transience.OUTCOME_UNKNOWN:
            state.settle = True
        elif kind is Transience.PERMANENT and not (state.settle and isinstance(err, ConflictError)):
            raise err
        return False

    def answer(state: Reconciling[r.Task], response: Any) -> list[r.Task]:
        return _merge(tasks, state.pending, response.tasks, state.done)

    return (
        yield from reconcile(
            POST_TASKS.name,
            tasks,
            request,
            budget,
            lookup=existing,
            foreign=foreign,
            rebuild=lambda uaid, pending: rq.post_tasks(uaid, pending, check=False),
            on_error=on_error,
            answer=answer,
            keep_settling=True,
        )
    )


class Reconciling(Generic[Created]):
    """The state of one :func:`reconcile`: the items not yet known to exist
    (``pending``), those that do by id (``done``), whether to look up before the next
    send (``settle``), whether a lookup ran (``looked``), and the refusal it settles."""

    __slots__ = ("done", "looked", "pending", "refusal", "settle")

    def __init__(self, items: list[Created]) -> None:
        self.pending = items
        self.done: dict[str, Any] = {}
        self.settle = False
        self.looked = False
        self.refusal: TaskgrpcError | None = None


def reconcile(
    method: str,
    items: list[Created],
    request: Any,
    budget: Budget,
    *,
    lookup: Callable[[list[str], Budget], Op[dict[str, Any]]],
    foreign: Callable[[Created, Any], TaskgrpcError | None],
    rebuild: Callable[[r.UserAppIDSet, list[Created]], Any],
    on_error: Callable[[TaskgrpcError, Reconciling[Created]], bool],
    answer: Callable[[Reconciling[Created], Any], list[T]],
    keep_settling: bool,
) -> Op[list[T]]:
    """Send a create of ``items`` (each with an ``id`` once a lookup may run) and never
    duplicate one: the one retry loop of every create.

    Before a send after ``on_error`` asked to settle, the pending items are looked up
    by id (``lookup``): each found is done, unless ``foreign(item, stored)`` gives the
    error that it is someone else's; if a refusal was being settled and nothing was
    found, the refusal stands; only the missing items are sent again (``rebuild``).
    ``on_error`` raises, or returns True to send again at once (no attempt spent) or
    False to back off and retry; out of attempts or time while settling gives
    OutcomeUnknownError. ``answer`` turns the SUCCESS response into the results.
    With ``keep_settling`` every later send is looked up first too.
    """
    state: Reconciling[Created] = Reconciling(items)
    attempt = 0
    while True:
        attempt += 1
        if state.settle:
            pending = state.pending
            try:
                found = yield from lookup([item.id for item in pending], budget)
            except TaskgrpcError as err:
                raise unknown_outcome(pending, err) from err
            for item in pending:
                stored = found.get(item.id)
                if stored is not None and (conflict := foreign(item, stored)) is not None:
                    raise conflict
            state.looked, state.settle = True, keep_settling
            if state.refusal is not None and not found:
                raise state.refusal  # none of them is ours: the refusal stands
            state.done.update(found)
            state.pending = [i for i in pending if i.id not in state.done]
            if not state.pending:
                break
            request = rebuild(budget.uaid, state.pending)
        try:
            response = yield from send(method, request, budget, attempt)
        except TaskgrpcError as err:
            if on_error(err, state):
                attempt -= 1
                continue
            try:
                yield from backoff(err, method, attempt, budget)
            except TaskgrpcError:
                if state.settle:  # out of attempts, or else out of time
                    policy = budget.policy
                    out_of_time = policy is not None and attempt < policy.max_attempts
                    raise unknown_outcome(state.pending, err, out_of_time) from err
                raise
            continue
        return answer(state, response)
    return [state.done[item.id] for item in items]


def cancelled(error: TaskgrpcError) -> bool:
    """Whether ``error`` is a sent call cancelled on the wire (the client was closed)."""
    return (
        isinstance(error, TransportError)
        and error.sent
        and error.grpc_code is grpc.StatusCode.CANCELLED
    )


# --- narrowing a refused batch -----------------------------------------------------------


def narrowable(error: TaskgrpcError) -> bool:
    """Whether a whole batch's refusal may belong to one item: an invalid request, a
    task missing (PatchTasks), a foreign id conflict, or a message too large."""
    if isinstance(error, InvalidRequestError | ConflictError):
        return True
    if isinstance(error, NotFoundError):
        return error.code == status_code_pb2.TASK_MISSING
    return (
        isinstance(error, TransportError)
        and type(error) is TransportError
        and error.grpc_code is grpc.StatusCode.RESOURCE_EXHAUSTED
    )


def narrowed(
    make_op: Callable[[list[Item]], Op[list[T]]], items: list[Item]
) -> Op[list[T | TaskgrpcError]]:
    """Run ``make_op(items)``; if the service refuses the whole batch for a reason that
    may belong to one item (:func:`narrowable`), run each half the same way.

    Returns one outcome per item, in order: its result, or the error that failed it.
    With one bad item in a batch of n this costs about 2 * log2(n) extra calls.
    """
    try:
        return list((yield from make_op(items)))
    except TaskgrpcError as err:
        if len(items) == 1 or not narrowable(err):
            return [err] * len(items)
    mid = len(items) // 2
    left = yield from narrowed(make_op, items[:mid])
    right = yield from narrowed(make_op, items[mid:])
    return left + right


def _merge(
    tasks: list[r.Task], sent: list[r.Task], answer: Sequence[r.Task], done: dict[str, r.Task]
) -> list[r.Task]:
    """The results in input order, from a SUCCESS answer to ``sent`` and the tasks found.

    Each sent id must come back; tasks sent without an id take the other answers in
    order. If no sent id comes back, the service chose every id: the answer is taken
    by position. Any other answer (another length, repeated ids, some of our ids
    missing) raises OutcomeUnknownError; nothing is sent again: SUCCESS is final.
    """
    answer = list(answer)  # one wrapper per task: each pass over the field makes new ones
    sent_ids = [task.id for task in sent]
    if all(sent_ids) and sent_ids == [task.id for task in answer]:
        mine = answer  # the common case: every id came back, in order
    else:
        mine = _matched(sent, answer)
    if (sent is tasks and not done) or not all(task.id for task in tasks):
        return mine  # nothing was looked up (or some had no id): the answer, in order
    results = dict(done)
    results.update(zip(sent_ids, mine, strict=True))
    return [results[task.id] for task in tasks]


def _matched(sent: list[r.Task], answer: list[r.Task]) -> list[r.Task]:
    """The answer to each of ``sent``, matched by id (see :func:`_merge`)."""
    by_id = {task.id: task for task in answer}
    given = [task.id for task in sent if task.id]
    echoed = [i for i in given if i in by_id]
    if len(answer) != len(sent) or len(by_id) != len(answer) or echoed not in ([], given):
        raise unknown_outcome(sent, incomplete(POST_TASKS.name, "task", len(sent), len(answer)))
    if not echoed:
        return answer
    given_ids = set(given)
    rest = iter([task for task in answer if task.id not in given_ids])
    return [by_id[task.id] if task.id else next(rest) for task in sent]


def unknown_outcome(
    tasks: Sequence[Any], cause: TaskgrpcError, out_of_time: bool = False
) -> OutcomeUnknownError:
    """OutcomeUnknownError, or its deadline flavour when time ran out (also a
    DeadlineExceededError, so a deadline is caught as one whatever the verb)."""
    if out_of_time or isinstance(cause, DeadlineExceededError):
        return DeadlineOutcomeUnknownError(tasks, cause)
    return OutcomeUnknownError(tasks, cause)


def taken(method: str, noun: str, item_id: str, whose: str, code: int) -> ConflictError:
    """The ConflictError of a create whose ``noun`` id is taken by someone else's item."""
    return ConflictError(
        code=code,
        description=(f"{noun} id {item_id!r} is taken by {whose}; it was not created by this call"),
        method=method,
    )


def incomplete(method: str, noun: str, sent: int, got: int) -> ServerError:
    """The error of a SUCCESS answer to a create that does not match what was sent."""
    return ServerError(
        code=status_code_pb2.FAILURE,
        description=(
            f"{method} answered SUCCESS with {got} {noun}(s) for {sent} sent, "
            "not matching the ids sent"
        ),
        method=method,
    )
