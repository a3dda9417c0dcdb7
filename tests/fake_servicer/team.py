"""Lifecycle test helpers: a team of PATs mapped to users, each acting through raw RPCs.

The owner is ``fake_rpc.USER`` (PAT ``fake_rpc.PAT``, unmapped, so it acts as the app owner);
labelers ``l1``..``l3`` and reviewers ``r1``, ``r2`` have PATs ``pat-<user>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from fake_rpc import APP, USER, Rpc, make_task, ok, user_app

from fake_servicer import FakeV2Servicer

LABELERS = ("l1", "l2", "l3")
REVIEWERS = ("r1", "r2")
TEAM = {f"pat-{user}": user for user in (*LABELERS, *REVIEWERS)}

TaskWorker = resources_pb2.TaskWorker
TaskReview = resources_pb2.TaskReview
Partitioned = resources_pb2.TaskWorkerPartitionedStrategyInfo
SC = status_code_pb2


def team_servicer(**kwargs: Any) -> FakeV2Servicer:
    """A servicer that knows the team's PATs."""
    return FakeV2Servicer(users=TEAM, **kwargs)


def worker(user_id: str) -> resources_pb2.Worker:
    return resources_pb2.Worker(user=resources_pb2.User(id=user_id))


def labeling_task(
    task_id: str,
    strategy: int = TaskWorker.DYNAMIC,
    review: int = TaskReview.NONE,
    *,
    labelers: Sequence[str] = LABELERS,
    reviewers: Sequence[str] = REVIEWERS,
    labelers_threshold: int = 0,
    reviewers_threshold: int = 0,
    partitioned: Partitioned | None = None,
    source: resources_pb2.TaskInputSource | None = None,
) -> resources_pb2.Task:
    """A concepts task for the team with the given worker and review strategies."""
    task = make_task(task_id)
    task.worker.strategy = strategy
    task.worker.workers.extend(worker(user) for user in labelers)
    if partitioned is not None:
        task.worker.partitioned_strategy_info.CopyFrom(partitioned)
    task.review.strategy = review
    if review != TaskReview.NONE:
        task.review.users.extend(resources_pb2.User(id=user) for user in reviewers)
    info = task.review.consensus_strategy_info
    info.approval_threshold_labelers = labelers_threshold
    info.approval_threshold_reviewers = reviewers_threshold
    task.input_source.type = resources_pb2.TaskInputSource.ALL_INPUTS
    if source is not None:
        task.input_source.CopyFrom(source)
    return task


def concept_annotation(input_id: str, *concepts: str, annotation_id: str = "") -> Any:
    """An annotation choosing ``concepts`` (value 1) on ``input_id`` (task_id set later)."""
    annotation = resources_pb2.Annotation(id=annotation_id, input_id=input_id)
    for concept in concepts:
        annotation.data.concepts.add(id=concept, value=1.0)
    return annotation


def codes(assignments: Iterable[resources_pb2.TaskAssignment]) -> list[int]:
    return [a.status.code for a in assignments]


class Actor:
    """One team member calling the fake with its own PAT."""

    def __init__(self, rpc: Rpc, user_id: str) -> None:
        self.rpc = rpc
        self.user_id = user_id
        self.pat = f"pat-{user_id}" if user_id in TEAM.values() else rpc.pat

    def put(self, task_id: str, action: int, **config: Any) -> Any:
        """Raw PutTaskAssignments (body status not checked)."""
        return self.rpc.request(
            "PutTaskAssignments", pat=self.pat, task_id=task_id, action=action, **config
        )

    def start(self, task_id: str) -> list[resources_pb2.TaskAssignment]:
        return list(ok(self.put(task_id, service_pb2.LABEL_START)).task_assignments)

    def annotate(self, task_id: str, input_id: str, *concepts: str, annotation_id: str = "") -> Any:
        annotation = concept_annotation(input_id, *concepts, annotation_id=annotation_id)
        annotation.task_id = task_id
        return self.rpc.request("PostAnnotations", pat=self.pat, annotations=[annotation])

    def submit(
        self, task_id: str, assignments: Iterable[resources_pb2.TaskAssignment]
    ) -> list[resources_pb2.TaskAssignment]:
        config = service_pb2.LabelSubmitConfig(
            task_assignments=[resources_pb2.TaskAssignment(id=a.id) for a in assignments]
        )
        response = self.put(task_id, service_pb2.LABEL_SUBMIT, label_submit_config=config)
        return list(ok(response).task_assignments)

    def label_all(self, task_id: str, *concepts: str) -> int:
        """Start, annotate every input with ``concepts`` and submit, until no work is left."""
        done = 0
        while batch := self.start(task_id):
            for assignment in batch:
                ok(self.annotate(task_id, assignment.input.id, *concepts))
            self.submit(task_id, batch)
            done += len(batch)
        return done

    def review_start(
        self, task_id: str, workers: Sequence[str] = ()
    ) -> list[resources_pb2.TaskAssignment]:
        config = service_pb2.ReviewStartConfig(workers=[worker(w) for w in workers])
        response = self.put(task_id, service_pb2.REVIEW_START, review_start_config=config)
        return list(ok(response).task_assignments)

    def decide(
        self,
        task_id: str,
        action: int,
        assignments: Iterable[resources_pb2.TaskAssignment] = (),
        workers: Sequence[str] = (),
    ) -> Any:
        """Raw REVIEW_APPROVE / REQUEST_CHANGES / REJECT (body status not checked)."""
        name = {
            service_pb2.REVIEW_APPROVE: "review_approve_config",
            service_pb2.REVIEW_REQUEST_CHANGES: "review_request_changes_config",
            service_pb2.REVIEW_REJECT: "review_reject_config",
        }[action]
        config_type = {
            "review_approve_config": service_pb2.ReviewApproveConfig,
            "review_request_changes_config": service_pb2.ReviewRequestChangesConfig,
            "review_reject_config": service_pb2.ReviewRejectConfig,
        }[name]
        config = config_type(
            task_assignments=[resources_pb2.TaskAssignment(id=a.id) for a in assignments],
            workers=[worker(w) for w in workers],
        )
        return self.put(task_id, action, **{name: config})

    def approve_all(self, task_id: str) -> int:
        """Review-start and approve batches until none is left."""
        done = 0
        while batch := self.review_start(task_id):
            ok(self.decide(task_id, service_pb2.REVIEW_APPROVE, batch))
            done += len(batch)
        return done


def counts(rpc: Rpc, method: str, task_id: str, **fields: Any) -> dict[str, tuple[int, ...]]:
    """Counts by user as (pending, awaiting_review, awaiting_consensus, success, denied)."""
    response = ok(rpc.request(method, task_id=task_id, **fields))
    return {
        c.worker.user.id: (
            c.pending,
            c.awaiting_review,
            c.awaiting_consensus_review,
            c.success,
            c.review_denied,
        )
        for c in response.counts
    }


def metrics(rpc: Rpc, task_id: str) -> resources_pb2.TaskMetrics:
    """The task's metrics through GetTask ``additional_fields=all``."""
    return ok(rpc.get(task_id, "all")).task.metrics


def annotation_codes(rpc: Rpc, task_id: str) -> dict[tuple[str, str], int]:
    """(user, input) -> annotation status code, for the task's annotations."""
    response = ok(rpc.request("ListAnnotations", task_id=task_id, per_page=1000))
    return {(a.user_id, a.input_id): a.status.code for a in response.annotations}


__all__ = ["APP", "USER", "user_app"]
