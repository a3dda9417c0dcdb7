"""Apply GetTask/ListTasks ``additional_fields`` to a response copy of a task.

- ``worker.users`` fills ``worker.users`` with ``User{id}`` per user worker (from
  ``worker.workers[].user`` then the deprecated ``worker.user_ids``) when it is empty.
- ``review.users`` fills ``review.users`` from the deprecated ``review.user_ids`` when empty.
- ``metrics.*`` sets the named metric from the task's lifecycle state (see
  :meth:`fake_servicer.lifecycle.Lifecycle.metrics`); the per-reviewer lists have one value per
  reviewer, in ``review.users`` order. The sub-message is marked present even when every value
  is zero, so ``task.HasField("metrics")`` tells the field was served.
- ``all`` does all of the above.

Fields are assumed already validated (see :func:`fake_servicer.validation.check_additional_fields`).
"""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2

from fake_servicer.protos import mark_present


def worker_user_ids(task: resources_pb2.Task) -> list[str]:
    """User ids working on ``task``: current ``workers`` then deprecated fields, deduplicated."""
    ids: dict[str, None] = {}
    for worker in task.worker.workers:
        if worker.WhichOneof("worker") == "user":
            ids[worker.user.id] = None
    for user_id in task.worker.user_ids:
        ids[user_id] = None
    for user in task.worker.users:
        ids[user.id] = None
    return list(ids)


def review_user_ids(task: resources_pb2.Task) -> list[str]:
    """User ids reviewing ``task``: ``review.users`` then deprecated ``review.user_ids``."""
    ids: dict[str, None] = {}
    for user in task.review.users:
        ids[user.id] = None
    for user_id in task.review.user_ids:
        ids[user_id] = None
    return list(ids)


def wants_metrics(fields: frozenset[str]) -> bool:
    """True when ``fields`` asks for any metric."""
    return any(name == "all" or name.startswith("metrics.") for name in fields)


def apply_additional_fields(
    task: resources_pb2.Task,
    fields: frozenset[str],
    computed: resources_pb2.TaskMetrics | None = None,
) -> None:
    """Modify ``task`` (a copy, never a stored task) for the requested ``fields``.

    ``computed`` holds the metric values (all zero when None).
    """
    if not fields:
        return
    source = computed or resources_pb2.TaskMetrics()
    every = "all" in fields

    def wanted(name: str) -> bool:
        return every or name in fields

    if wanted("worker.users") and not task.worker.users:
        for user_id in worker_user_ids(task):
            task.worker.users.add(id=user_id)
    if wanted("review.users") and not task.review.users:
        for user_id in review_user_ids(task):
            task.review.users.add(id=user_id)

    reviewers = len(review_user_ids(task))
    metrics = task.metrics
    if wanted("metrics.input_source.inputs_count_estimated"):
        mark_present(metrics.input_source)
        value = source.input_source.inputs_count_estimated
        metrics.input_source.inputs_count_estimated = value
    for name in ("inputs_count_estimated", "inputs_percent_estimated"):
        if wanted(f"metrics.work.{name}"):
            mark_present(metrics.work)
            setattr(metrics.work, name, getattr(source.work, name))
        if wanted(f"metrics.review.{name}"):
            mark_present(metrics.review)
            setattr(metrics.review, name, getattr(source.review, name))
    for name in (
        "inputs_count_estimated_per_reviewer",
        "inputs_percent_estimated_per_reviewer",
        "inputs_reviewable_count_estimated_per_reviewer",
    ):
        if wanted(f"metrics.review.{name}"):
            mark_present(metrics.review)
            values = getattr(metrics.review, name)
            computed_values = list(getattr(source.review, name))
            del values[:]
            values.extend((computed_values + [0] * reviewers)[:reviewers])
