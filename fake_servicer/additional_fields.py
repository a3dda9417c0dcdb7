"""Apply GetTask/ListTasks ``additional_fields`` to a response copy of a task.

- ``worker.users`` fills ``worker.users`` with ``User{id}`` per user worker (from
  ``worker.workers[].user`` then the deprecated ``worker.user_ids``) when it is empty.
- ``review.users`` fills ``review.users`` from the deprecated ``review.user_ids`` when empty.
- ``metrics.*`` sets the named metric. The fake holds no inputs, so every estimate is zero;
  the per-reviewer lists get one zero per reviewer. The sub-message is marked present even when
  every value is zero, so ``task.HasField("metrics")`` tells the field was served.
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


def apply_additional_fields(task: resources_pb2.Task, fields: frozenset[str]) -> None:
    """Modify ``task`` (a copy, never a stored task) for the requested ``fields``."""
    if not fields:
        return
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
        metrics.input_source.inputs_count_estimated = 0
    if wanted("metrics.work.inputs_count_estimated"):
        mark_present(metrics.work)
        metrics.work.inputs_count_estimated = 0
    if wanted("metrics.work.inputs_percent_estimated"):
        mark_present(metrics.work)
        metrics.work.inputs_percent_estimated = 0
    review = metrics.review
    if wanted("metrics.review.inputs_count_estimated"):
        mark_present(review)
        review.inputs_count_estimated = 0
    if wanted("metrics.review.inputs_percent_estimated"):
        mark_present(review)
        review.inputs_percent_estimated = 0
    per_reviewer = (
        ("inputs_count_estimated_per_reviewer", review.inputs_count_estimated_per_reviewer),
        ("inputs_percent_estimated_per_reviewer", review.inputs_percent_estimated_per_reviewer),
        (
            "inputs_reviewable_count_estimated_per_reviewer",
            review.inputs_reviewable_count_estimated_per_reviewer,
        ),
    )
    for name, values in per_reviewer:
        if wanted(f"metrics.review.{name}"):
            mark_present(review)
            del values[:]
            values.extend([0] * reviewers)
