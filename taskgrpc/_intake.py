"""The tasks of a create or an update, taken in before anything is sent.

One pass per call: every task is checked (the error names its index, and nothing
is sent), a create's task without an id gets its content id (on a copy: the
caller's tasks are never changed), and each task is sized as it will be sent, for
the byte budget.

Tasks of one *shape* (all but id, name and description: a pipeline's tasks share
type, workers, review, source and concepts) share the work: each shape is checked
and turned into canonical JSON once, keyed by its serialized bytes, so a bulk
create costs a few µs a task. The key is sound: any serialization of a message
determines its content, and :func:`~taskgrpc._validate.check_task` reads none of
the three fields left out (``test_intake`` holds it to that).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from google.protobuf.message import DecodeError

from . import requests as rq
from ._bulk import framed
from ._content import CONTENT_ID_BYTES, ContentIds, Memo, canonical_rest, restore, strip
from ._validate import check_task, not_a_string
from .errors import ValidationError

__all__ = ["Creates", "check_tasks", "creates"]

#: Shape key -> check_task's refusal of that shape (None: valid).
_CHECKED: Memo[bytes, str | None] = Memo(8 << 20)
_UNSEEN: Any = object()


def check_tasks(
    tasks: Iterable[r.Task], *, require_id: bool = False, unique: bool = True
) -> list[r.Task]:
    """``tasks`` as a list, each checked (naming its index), and with ``unique`` no id
    given twice."""
    items = not_a_string(tasks, "tasks", none_is_empty=False)
    seen: set[str] = set()
    for i, task in enumerate(items):
        try:
            check_task(task, require_id=require_id)
        except ValidationError as err:
            raise ValidationError(f"tasks[{i}]: {err}") from None
        if unique and task.id:
            if task.id in seen:
                raise ValidationError(f"tasks[{i}]: the id {task.id!r} is given twice")
            seen.add(task.id)
    return items


class Creates:
    """The tasks of a create, checked and as they will be sent (:func:`creates`).

    ``items[i]`` is the i-th task as sent, with ``sizes[i]`` its serialized size;
    ``own_ids`` of them came with their own id.
    The items live in PostTasksRequests of ``batch_size`` consecutive items (the
    one copy of each task); :meth:`request` hands one out whole, or builds one.
    """

    __slots__ = ("_built", "_uaid", "items", "own_ids", "sizes")

    def __init__(
        self, uaid: r.UserAppIDSet, batch_size: int, built: list[s.PostTasksRequest]
    ) -> None:
        self._uaid = uaid
        self._built = {j * batch_size: request for j, request in enumerate(built)}
        self.items: list[r.Task] = [task for request in built for task in request.tasks]
        self.sizes: list[int] = []
        self.own_ids = 0  # how many tasks came with their own id

    def request(self, indices: list[int]) -> s.PostTasksRequest:
        """The PostTasksRequest of the items at ``indices`` (increasing): one built in
        :func:`creates` if it holds exactly those items and was not handed out yet,
        else a new one."""
        start = indices[0] if indices else -1
        built = self._built.get(start)
        if built is not None and len(built.tasks) == len(indices) == indices[-1] - start + 1:
            del self._built[start]
            return built
        return rq.post_tasks(self._uaid, [self.items[i] for i in indices], check=False)


def creates(
    tasks: Iterable[r.Task], ids: ContentIds | None, uaid: r.UserAppIDSet, batch_size: int
) -> Creates:
    """The tasks of a create, each checked (ValidationError naming its index, before
    anything is sent), copied once into the requests that will carry them, given
    an id by ``ids`` if it has none (:meth:`ContentIds.give`: the ids of
    :func:`~taskgrpc.with_content_ids`), and sized. No id may be sent twice, whether
    given or derived. The caller's tasks are never changed.
    """
    tasks = not_a_string(tasks, "tasks", none_is_empty=False)
    for i, task in enumerate(tasks):
        if task.__class__ is not r.Task:
            try:
                check_task(task)  # raises: not a Task
            except ValidationError as err:
                raise ValidationError(f"tasks[{i}]: {err}") from None
    try:
        batches = [
            rq.post_tasks(uaid, tasks[i : i + batch_size], check=False)
            for i in range(0, len(tasks), batch_size)
        ]
    except DecodeError:  # protobuf copies by decoding: a Struct nested too deeply
        check_tasks(tasks)  # raises the ValidationError that names the task
        raise
    out = Creates(uaid, batch_size, batches)
    sizes = out.sizes
    sent: set[str] = set()  # every id so far, given or derived
    checked = _CHECKED.get
    for i, task in enumerate(out.items):
        try:
            task_id = task.id
            # Not a service rule but one of ours: one id in one call names one task, so two
            # tasks under it could never both be created (a content id found counts as ours,
            # so the second would even be reported created). Refused, given or derived.
            if task_id:
                out.own_ids += 1
                if task_id in sent:
                    raise ValidationError(f"the id {task_id!r} is given twice")
                task.ClearField("id")
            name, description = strip(task)
            key = task.SerializeToString()
            refusal = checked(key, _UNSEEN)
            if refusal is _UNSEEN:
                refusal = _check_shape(task, key)
            if refusal is not None:
                raise ValidationError(refusal)
            size = len(key)
            if not task_id and ids is not None:
                task_id = ids.give(_canonical_form(task, key, name, description))
                if task_id in sent:
                    raise ValidationError(
                        f"its content id {task_id!r} is the id of an earlier task in this call"
                    )
                size += CONTENT_ID_BYTES
            elif task_id:
                size += _text_size(task_id)
            if name or description:
                restore(task, name, description)
                size += _text_size(name) + _text_size(description)
        except ValidationError as err:
            raise ValidationError(f"tasks[{i}]: {err}") from None
        if task_id:
            sent.add(task_id)
            task.id = task_id
        sizes.append(size)
    return out


def _canonical_form(rest: r.Task, key: bytes, name: str, description: str) -> bytes:
    """:func:`~taskgrpc._content.canonical_rest`; a task json_format cannot write (a NaN
    or an infinity in its metadata) has no content id: ValidationError."""
    try:
        return canonical_rest(rest, key, name, description)
    except ValueError as err:
        raise ValidationError(
            f"no content id can be derived ({err}); give the task an id, or pass assign_ids=False"
        ) from None


def _check_shape(rest: r.Task, key: bytes) -> str | None:
    """check_task's refusal of ``rest`` (None: valid), remembered under ``key``."""
    try:
        check_task(rest)
        refusal = None
    except ValidationError as err:
        refusal = str(err)
    _CHECKED.put(key, refusal, len(key) + len(refusal or ""))
    return refusal


def _text_size(text: str) -> int:
    """Bytes a string field of a Task (field number under 16) takes serialized; none if
    empty (proto3 does not send an empty string)."""
    if not text:
        return 0
    return framed(len(text) if text.isascii() else len(text.encode()))
