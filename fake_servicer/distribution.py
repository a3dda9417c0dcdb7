"""Which labelers get which inputs: pure functions of the task's worker settings.

Documented (``TaskWorker`` proto comments): FULL gives every worker every input; PARTITIONED
splits the inputs, each labeled by ``workers_per_input`` workers, EVENLY or WEIGHTED; both assign
at task creation; DYNAMIC assigns nothing at creation and hands out 10 inputs per LABEL_START.

Choices where the docs are silent:

- Only user workers get assignments; model and workflow workers (auto-annotation) get none.
- ``workers_per_input`` 0 means 1, and it is capped at the number of workers (at the number of
  workers with a positive weight for WEIGHTED).
- EVENLY deals inputs round-robin in input order: input ``i`` goes to workers
  ``(i * w + j) % n`` for ``j < w``, so counts differ by at most one.
- WEIGHTED gives each input to the ``w`` distinct workers with the lowest
  ``(assigned + 0.5) / weight`` so far (Sainte-Lague; ties: task order), which keeps each
  worker's share proportional to its weight. A
  worker without a weight in ``weights`` gets no input.
- An unset worker strategy behaves as DYNAMIC (the docs call DYNAMIC the recommended strategy).
- DYNAMIC gives an input to as many labelers as CONSENSUS needs to agree
  (``approval_threshold_labelers``, or the deprecated ``approval_threshold``), else to one, and
  never twice to the same labeler; inputs go out in input order.
"""

from __future__ import annotations

from collections.abc import Sequence

from clarifai_grpc.grpc.api import resources_pb2

_Worker = resources_pb2.TaskWorker
_Review = resources_pb2.TaskReview
_Partitioned = resources_pb2.TaskWorkerPartitionedStrategyInfo

BATCH_SIZE = 10
"""Assignments per LABEL_START and REVIEW_START batch [doc]."""


def is_dynamic(task: resources_pb2.Task) -> bool:
    """True when inputs are handed out on LABEL_START rather than at creation."""
    return task.worker.strategy not in (_Worker.FULL, _Worker.PARTITIONED)


def labelers_per_input(task: resources_pb2.Task) -> int:
    """How many labelers a DYNAMIC task gives each input (see the module doc)."""
    if task.review.strategy == _Review.CONSENSUS:
        info = task.review.consensus_strategy_info
        return max(1, info.approval_threshold_labelers or info.approval_threshold)
    return 1


def initial_assignments(
    task: resources_pb2.Task, workers: Sequence[str], input_ids: Sequence[str]
) -> list[tuple[str, str]]:
    """``(worker, input_id)`` pairs assigned at creation, input-major; empty for DYNAMIC."""
    if not workers or is_dynamic(task):
        return []
    if task.worker.strategy == _Worker.FULL:
        return [(worker, input_id) for input_id in input_ids for worker in workers]
    info = task.worker.partitioned_strategy_info
    if info.type == _Partitioned.WEIGHTED:
        return _weighted(workers, input_ids, info)
    per_input = min(max(1, info.workers_per_input), len(workers))
    return [
        (workers[(index * per_input + offset) % len(workers)], input_id)
        for index, input_id in enumerate(input_ids)
        for offset in range(per_input)
    ]


def _weighted(
    workers: Sequence[str],
    input_ids: Sequence[str],
    info: resources_pb2.TaskWorkerPartitionedStrategyInfo,
) -> list[tuple[str, str]]:
    weights: dict[str, float] = {}
    for worker in workers:
        value = info.weights.fields.get(worker)
        is_number = value is not None and value.WhichOneof("kind") == "number_value"
        if value is not None and is_number and value.number_value > 0:
            weights[worker] = value.number_value
    if not weights:
        return []
    per_input = min(max(1, info.workers_per_input), len(weights))
    order = {worker: position for position, worker in enumerate(weights)}
    assigned = dict.fromkeys(weights, 0)
    pairs: list[tuple[str, str]] = []
    for input_id in input_ids:
        chosen = sorted(weights, key=lambda w: ((assigned[w] + 0.5) / weights[w], order[w]))
        for worker in sorted(chosen[:per_input], key=order.__getitem__):
            assigned[worker] += 1
            pairs.append((worker, input_id))
    return pairs
