"""A task's content, apart from what the service sets: ids derived from it, and sameness.

Creates use these to be safe to repeat: a task stored under one of our ids is
ours only if it has the content we sent (:func:`same_task`), and a pipeline can
derive the same id for the same task on every run (:func:`content_id`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from json.encoder import encode_basestring_ascii
from typing import Any, Generic, NamedTuple, TypeVar

from clarifai_grpc.grpc.api import resources_pb2 as r
from google.protobuf.descriptor import FieldDescriptor

from .builders import clone
from .errors import ValidationError

__all__ = ["content_id", "same_task", "with_content_ids"]

#: Fields the service sets or computes: never part of a task's content.
SERVER_FIELDS = ("id", "created_at", "modified_at", "status", "user_id", "app_id", "metrics")


K = TypeVar("K")
V = TypeVar("V")


class Memo(Generic[K, V]):
    """A memo of at most about ``max_bytes`` (the sizes its callers give), cleared when
    full. Shared by threads: a race costs at most a miss or an early clear."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._data: dict[K, V] = {}
        self._bytes = 0
        self.get = self._data.get  # the dict is never replaced, only cleared

    def put(self, key: K, value: V, size: int) -> None:
        if self._bytes + size > self.max_bytes:
            self._data.clear()
            self._bytes = 0
        self._data[key] = value
        self._bytes += size

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()
        self._bytes = 0


def _canonical(task: r.Task, own: bool = False) -> bytes:
    """The task's content (all but its id) as canonical JSON, ASCII-encoded: the input of
    every content id.

    Exactly ``json.dumps(json_format.MessageToDict(task without id), sort_keys=True,
    separators=(",", ":")).encode()``, built in parts (see :func:`canonical_rest`).

    ``own``: ``task`` is a copy without an id that the caller owns; it is worked on in
    place of a clone and left as it was.
    """
    if own:
        rest = task
    else:
        rest = clone(task)
        rest.ClearField("id")
    name, description = strip(rest)
    text = canonical_rest(rest, rest.SerializeToString(), name, description)
    if own:
        restore(rest, name, description)
    return text


def strip(task: r.Task) -> tuple[str, str]:
    """Clear ``name`` and ``description``, the fields that tell the tasks of one pipeline
    apart, in place; their values, for :func:`restore`."""
    name, description = task.name, task.description
    if name:
        task.name = ""  # proto3: an empty string is not sent, the same as cleared
    if description:
        task.description = ""
    return name, description


def restore(task: r.Task, name: str, description: str) -> None:
    """Undo :func:`strip`."""
    if name:
        task.name = name
    if description:
        task.description = description


def canonical_rest(rest: r.Task, key: bytes, name: str, description: str) -> bytes:
    """:func:`_canonical` of the task that is ``rest`` (no id, :func:`strip` ped) with
    ``name`` and ``description``; ``key`` is any serialization of ``rest``.

    Any serialization of a message determines its content, so ``key`` is a sound memo
    key: the JSON parts of the rest are computed once per key (the tasks of one pipeline
    share type, workers, review, source and concepts), and name and description are
    encoded directly.
    """
    shape = _SHAPES.get(key)
    if shape is None:
        parts = _parts(rest)
        if parts is None:
            full = clone(rest)
            restore(full, name, description)
            return _slow_canonical(full)
        shape = _shape(parts)
        _SHAPES.put(key, shape, len(key) + sum(map(len, shape.both)) * 4)
    if name:
        if description:
            head, between, tail = shape.both
            return (
                head
                + encode_basestring_ascii(description).encode()
                + between
                + encode_basestring_ascii(name).encode()
                + tail
            )
        head, tail = shape.name
        return head + encode_basestring_ascii(name).encode() + tail
    if description:
        head, tail = shape.description
        return head + encode_basestring_ascii(description).encode() + tail
    return shape.bare


class _Shape(NamedTuple):
    """The canonical JSON of a rest (no name, no description) as templates, one for each
    of name and description being set or not: the pieces around their encoded values."""

    bare: bytes
    name: list[bytes]
    description: list[bytes]
    both: list[bytes]


def _shape(parts: list[tuple[str, str]]) -> _Shape:
    """The templates of a rest from its sorted ``parts``: the canonical JSON with the
    parts ``"description":`` and ``"name":`` in their sorted places, each followed by a
    NUL, split at the NULs. Canonical JSON escapes every control character, so a NUL is
    found nowhere else."""

    def template(*extra: tuple[str, str]) -> list[bytes]:
        joined = "{" + ",".join([part for _, part in sorted(parts + list(extra))]) + "}"
        return joined.encode().split(b"\x00")

    name, description = ("name", '"name":\x00'), ("description", '"description":\x00')
    return _Shape(template()[0], template(name), template(description), template(name, description))


def _parts(task: r.Task) -> list[tuple[str, str]] | None:
    """(JSON name, ``"name":value``) of each field of ``task``, sorted; None if a field
    needs the plain json_format way (a map or a repeated non-plain scalar)."""
    parts: list[tuple[str, str]] = []
    for field, value in task.ListFields():
        info = _FIELDS.get(field)
        if info is None:
            info = _field_info(field)
        name, key, kind = info
        if kind == _SKIP:
            continue
        if kind == _ONE:
            part = _message_json(value)
        elif kind == _MANY:
            part = "[" + ",".join([_message_json(m) for m in value]) + "]"
        elif kind == _PLAIN:
            part = _plain_json(value)
        elif kind == _PLAINS:
            part = "[" + ",".join([_plain_json(v) for v in value]) + "]"
        elif kind == _OTHER:
            part = _scalar_json(field, value)
        else:
            return None
        parts.append((name, key + part))
    parts.sort()
    return parts


#: A rest's serialized bytes -> its :func:`_shape`.
_SHAPES: Memo[bytes, _Shape] = Memo(32 << 20)


def _slow_canonical(task: r.Task) -> bytes:
    """The definition of :func:`_canonical`, computed the plain way."""
    from google.protobuf import json_format

    body = clone(task)
    body.ClearField("id")
    return _dumps(json_format.MessageToDict(body)).encode()


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


_SKIP, _ONE, _MANY, _PLAIN, _PLAINS, _OTHER, _SLOW = range(7)
_FIELDS: dict[Any, tuple[str, str, int]] = {}
#: C++ types whose JSON form json_format takes as the Python value (str(), bool(), int).
_AS_IS = frozenset(
    {
        FieldDescriptor.CPPTYPE_STRING,
        FieldDescriptor.CPPTYPE_BOOL,
        FieldDescriptor.CPPTYPE_INT32,
        FieldDescriptor.CPPTYPE_UINT32,
    }
)


def _field_info(field: Any) -> tuple[str, str, int]:
    """(JSON name, encoded key with its colon, kind) of a Task field, memoized."""
    if field.name == "id":
        kind = _SKIP
    elif field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
        if field.message_type.GetOptions().map_entry:
            kind = _SLOW
        else:
            kind = _MANY if field.is_repeated else _ONE
    elif field.cpp_type in _AS_IS and field.type != FieldDescriptor.TYPE_BYTES:
        kind = _PLAINS if field.is_repeated else _PLAIN
    else:
        kind = _SLOW if field.is_repeated else _OTHER
    info = (field.json_name, _dumps(field.json_name) + ":", kind)
    _FIELDS[field] = info
    return info


def _plain_json(value: Any) -> str:
    """json.dumps of a str, bool or int, as json_format hands them over."""
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    if value is True or value is False:
        return "true" if value else "false"
    return int.__repr__(value)


#: (a sub-message's type, its bytes) or (a scalar field, its value) -> its JSON part.
_PARTS: Memo[tuple[str, Any], str] = Memo(16 << 20)


def _remember(key: tuple[str, Any], part: str) -> str:
    size = len(part) + (len(key[1]) if isinstance(key[1], bytes) else 0)
    _PARTS.put(key, part, size)
    return part


def _message_json(message: Any) -> str:
    """The canonical JSON of ``MessageToDict(message)``, memoized by the message's type and
    deterministic bytes (which determine its JSON form)."""
    key = (message.DESCRIPTOR.full_name, message.SerializeToString(deterministic=True))
    part = _PARTS.get(key)
    if part is None:
        from google.protobuf import json_format

        part = _remember(key, _dumps(json_format.MessageToDict(message)))
    return part


def _scalar_json(field: Any, value: Any) -> str:
    """json_format's form of another scalar field (enum names, int64 as text, floats)."""
    key = (field.full_name, value)
    part = _PARTS.get(key)
    if part is None:
        from google.protobuf import json_format

        shell = r.Task()
        setattr(shell, field.name, value)
        part = _remember(key, _dumps(json_format.MessageToDict(shell)[field.json_name]))
    return part


def _hashed(canonical: bytes, salt: str) -> str:
    return hashlib.sha256(f"{salt}\0".encode() + canonical).hexdigest()[:32]


def repeat_salt(salt: str, k: int) -> str:
    """The salt of the ``k``-th repeat (0-based) of one content within a list:
    ``salt`` itself for the first, ``f"{salt}#{k}"`` for the others."""
    return salt if k == 0 else f"{salt}#{k}"


def content_id(task: r.Task, salt: str = "") -> str:
    """A 32-hex id derived from the task's content (all but its id) and ``salt``.

    The same task always gets the same id, so a pipeline that gives its tasks
    content ids can re-run a create safely: what exists is returned, not
    created again. A different ``salt`` makes a deliberate copy.
    """
    if not isinstance(salt, str):
        raise ValidationError(f"id_salt must be a string, got {type(salt).__name__}")
    return _hashed(_canonical(task), salt)


def with_content_ids(tasks: Iterable[r.Task], salt: str = "") -> list[r.Task]:
    """``tasks``, each one without an id replaced by a copy with a content id.

    The one function that gives ids to tasks without one (``create``,
    ``create_many`` and the command line all use it). The first task of each
    content gets :func:`content_id` ``(task, salt)``; the ``k``-th repeat
    (``k >= 1``) of the same content in the same list gets
    ``content_id(task, f"{salt}#{k}")``. So the same tasks in the same order
    always get the same ids, and identical tasks in one list stay distinct.
    Tasks that have an id are passed through unchanged (not copied).
    """
    return ContentIds(salt).assign(tasks)


#: Bytes a 32-hex id adds to a serialized Task: field 1's tag, its length, 32 characters.
CONTENT_ID_BYTES = 34


class ContentIds:
    """:func:`with_content_ids` over a list given in consecutive parts: ``assign`` on each
    part in order gives the same ids as one call on the whole list. ``derived`` holds
    every id given so far. Not thread-safe: the caller serializes the calls."""

    def __init__(self, salt: str = "") -> None:
        if not isinstance(salt, str):
            raise ValidationError(f"id_salt must be a string, got {type(salt).__name__}")
        self.salt = salt
        self.derived: set[str] = set()
        self._repeats: dict[str, int] = {}  # a content id -> its repeats so far
        self._prefix = hashlib.sha256(f"{salt}\0".encode())  # the hash input's start

    def give(self, canonical: bytes) -> str:
        """The id of the next task whose :func:`_canonical` form is ``canonical``: its
        content id, or that of the ``k``-th repeat of the same content so far."""
        h = self._prefix.copy()
        h.update(canonical)
        task_id = h.hexdigest()[:32]  # the content id; repeats are counted by it
        if task_id in self.derived:  # a repeat (or, against all odds, a collision)
            k = self._repeats.get(task_id, 0) + 1
            self._repeats[task_id] = k
            task_id = _hashed(canonical, repeat_salt(self.salt, k))
        self.derived.add(task_id)
        return task_id

    def assign(self, tasks: Iterable[r.Task]) -> list[r.Task]:
        """The next ``tasks``, each one without an id replaced by a copy with its id."""
        out = list(tasks)
        for i, task in enumerate(out):
            if not task.id:
                copy = clone(task)
                copy.id = self.give(_canonical(copy, own=True))
                out[i] = copy
        return out


def is_content_id(task: r.Task, salt: str, repeats: int) -> bool:
    """Whether ``task.id`` is the content id of ``task`` with ``salt``, as the first
    or one of the next ``repeats`` repeats of its content (see :func:`with_content_ids`)."""
    if not task.id:
        return False
    canonical = _canonical(task)
    return any(_hashed(canonical, repeat_salt(salt, k)) == task.id for k in range(repeats + 1))


def normalized(task: r.Task) -> r.Task:
    """A copy in one canonical form: no server fields, deprecated fields folded into the
    current ones, unset strategies read as their documented defaults, lists sorted."""
    t = clone(task)
    for name in SERVER_FIELDS:
        t.ClearField(name)  # type: ignore[arg-type]
    have = {c.concept.id for c in t.concepts}
    t.concepts.extend(
        r.TaskConcept(concept=r.Concept(id=c)) for c in t.concept_ids if c not in have
    )
    t.ClearField("concept_ids")
    _sort(t.concepts, lambda c: c.concept.id)

    worker = t.worker
    have = {w.user.id for w in worker.workers if w.HasField("user")}
    for uid in [*worker.user_ids, *(u.id for u in worker.users)]:
        if uid not in have:
            worker.workers.add(user=r.User(id=uid))
            have.add(uid)
    worker.ClearField("user_ids")
    worker.ClearField("users")
    for w in worker.workers:
        if w.HasField("user"):
            w.user.CopyFrom(r.User(id=w.user.id))  # the service may fill in user details
    _sort(worker.workers, lambda w: (w.user.id, w.model.id, w.workflow.id))
    worker.strategy = worker.strategy or r.TaskWorker.FULL

    review = t.review
    have = {u.id for u in review.users}
    review.users.extend(r.User(id=u) for u in review.user_ids if u not in have)
    review.ClearField("user_ids")
    for u in review.users:
        u.CopyFrom(r.User(id=u.id))
    _sort(review.users, lambda u: u.id)
    review.strategy = review.strategy or r.TaskReview.NONE
    consensus = review.consensus_strategy_info
    if consensus.approval_threshold and not consensus.approval_threshold_labelers:
        consensus.approval_threshold_labelers = consensus.approval_threshold
    consensus.ClearField("approval_threshold")

    t.input_source.type = t.input_source.type or r.TaskInputSource.ALL_INPUTS
    return t


def _sort(repeated: Any, key: Any) -> None:
    items = sorted((clone(m) for m in repeated), key=key)
    del repeated[:]
    repeated.extend(items)


#: Fields a service may fill in on its own: a stored value counts only if we sent one.
SERVICE_DEFAULTS = ("priority", "visibility", "ai_assistant", "ai_assist_params")


def same_task(sent: r.Task, stored: r.Task) -> bool:
    """Whether ``stored`` is the task ``sent``, not another one under its id.

    Both are compared whole, in :func:`normalized` form: names, weights,
    thresholds, metadata and the rest all count. Only the fields in
    ``SERVICE_DEFAULTS`` (and the worker's ``type``) that ``sent`` leaves
    unset are ignored, since the service may fill them in.
    """
    mine, theirs = normalized(sent), normalized(stored)
    set_in_mine = {field.name for field, _ in mine.ListFields()}
    for name in SERVICE_DEFAULTS:
        if name not in set_in_mine:
            theirs.ClearField(name)  # type: ignore[arg-type]
    if not mine.worker.type:
        theirs.worker.ClearField("type")
    return mine == theirs
