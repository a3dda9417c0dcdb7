"""A task's content, apart from what the service sets: ids derived from it, and sameness.

Creates use these to be safe to repeat: a task stored under one of our ids is
ours only if it has the content we sent (:func:`same_task`), and a pipeline can
derive the same id for the same task on every run (:func:`content_id`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r

from .builders import clone

__all__ = ["content_id", "same_task", "with_content_ids"]

#: Fields the service sets or computes: never part of a task's content.
SERVER_FIELDS = ("id", "created_at", "modified_at", "status", "user_id", "app_id", "metrics")


def content_id(task: r.Task, salt: str = "") -> str:
    """A 32-hex id derived from the task's content (all but its id) and ``salt``.

    The same task always gets the same id, so a pipeline that gives its tasks
    content ids can re-run a create safely: what exists is returned, not
    created again. A different ``salt`` makes a deliberate copy.
    """
    import hashlib  # here, not at import time: most clients never derive ids
    import json

    from google.protobuf import json_format

    body = clone(task)
    body.ClearField("id")
    canonical = json.dumps(json_format.MessageToDict(body), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{salt}\0{canonical}".encode()).hexdigest()[:32]


def with_content_ids(tasks: Iterable[r.Task], salt: str = "") -> list[r.Task]:
    """``tasks``, each one without an id replaced by a copy with its :func:`content_id`."""
    out = []
    for task in tasks:
        if not task.id:
            copy = clone(task)
            copy.id = content_id(task, salt)
            task = copy
        out.append(task)
    return out


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
