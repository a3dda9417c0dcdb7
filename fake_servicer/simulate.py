"""``FakeV2Servicer.simulate``: labelers and reviewers doing a task's work, deterministically.

It drives the same :class:`~fake_servicer.lifecycle.Lifecycle` methods the RPCs use, as the
task's users (it records no calls, draws no faults and needs no PATs), in rounds until a round
changes nothing:

1. Labelers take turns: each takes its next batch (LABEL_START), annotates every input with one
   concept and submits it. Each input has one "true" concept, drawn from ``concepts``; a labeler
   picks it with probability ``agree``, else another concept, so CONSENSUS tasks reach agreement
   as often as ``agree`` says. Reworked inputs (after request-changes) are annotated afresh.
2. Reviewers take turns (the listed reviewers, else the app owner): each takes its next batch
   (REVIEW_START) and decides each assignment: approve with probability ``approve``, request
   changes with probability ``request_changes``, reject otherwise.

The same seed on the same state gives the same decisions, annotations and counts (assignment
ids, being random, differ).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from clarifai_grpc.grpc.api import resources_pb2

from fake_servicer.additional_fields import review_user_ids, worker_user_ids
from fake_servicer.lifecycle import APPROVE, REJECT, REQUEST_CHANGES, AppKey, Lifecycle

DEFAULT_CONCEPTS = ("positive", "negative")
MAX_ROUNDS = 1000


@dataclass(frozen=True)
class SimulationResult:
    """What one ``simulate`` call did, in counts of assignment-level actions."""

    submitted: int = 0
    approved: int = 0
    changes_requested: int = 0
    rejected: int = 0
    rounds: int = 0


def check_probabilities(approve: float, request_changes: float, agree: float) -> None:
    """Raise ValueError unless each is in [0, 1] and approve + request_changes <= 1."""
    for name, value in (("approve", approve), ("request_changes", request_changes)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    if not 0.0 <= agree <= 1.0:
        raise ValueError(f"agree must be a probability in [0, 1], got {agree!r}")
    if approve + request_changes > 1.0 + 1e-9:
        raise ValueError("approve + request_changes must be at most 1")


class _Simulation:
    def __init__(
        self,
        lifecycle: Lifecycle,
        key: AppKey,
        task: resources_pb2.Task,
        concepts: Sequence[str],
        agree: float,
        rng: random.Random,
    ) -> None:
        self.lifecycle = lifecycle
        self.key = key
        self.task = task
        self.concepts = list(concepts)
        self.agree = agree
        self.rng = rng
        self.truth: dict[str, str] = {}

    def label_turn(self, labeler: str) -> int:
        batch = self.lifecycle.label_start(self.key, self.task, labeler)
        if not batch:
            return 0
        annotations = [self.annotation(labeler, a.input.id) for a in batch]
        self.lifecycle.post_annotations(self.key, labeler, annotations, {self.task.id: self.task})
        submitted = self.lifecycle.label_submit(self.key, self.task, labeler, [a.id for a in batch])
        return len(submitted)

    def annotation(self, labeler: str, input_id: str) -> resources_pb2.Annotation:
        """The labeler's fresh annotation of an input (its earlier ones are deleted)."""
        old = self.lifecycle.work_annotations(self.key, self.task.id, labeler, input_id)
        if old:
            self.lifecycle.delete_annotations(self.key, [a.id for a in old], ())
        truth = self.truth.setdefault(input_id, self.rng.choice(self.concepts))
        concept = truth
        others = [c for c in self.concepts if c != truth]
        if others and self.rng.random() >= self.agree:
            concept = self.rng.choice(others)
        annotation = resources_pb2.Annotation(
            id=f"sim-{self.rng.getrandbits(64):016x}", input_id=input_id, task_id=self.task.id
        )
        annotation.data.concepts.add(id=concept, name=concept, value=1.0)
        return annotation

    def review_turn(self, reviewer: str, approve: float, request_changes: float) -> dict[str, int]:
        chosen: dict[str, list[str]] = {APPROVE: [], REQUEST_CHANGES: [], REJECT: []}
        for assignment in self.lifecycle.review_start(self.key, self.task, reviewer, ()):
            draw = self.rng.random()
            if draw < approve:
                decision = APPROVE
            elif draw < approve + request_changes:
                decision = REQUEST_CHANGES
            else:
                decision = REJECT
            chosen[decision].append(assignment.id)
        for decision, ids in chosen.items():
            if ids:
                self.lifecycle.review(self.key, self.task, reviewer, decision, ids, (), "simulate")
        return {decision: len(ids) for decision, ids in chosen.items()}


def simulate(
    lifecycle: Lifecycle,
    key: AppKey,
    task: resources_pb2.Task,
    *,
    approve: float,
    request_changes: float,
    agree: float,
    concepts: Sequence[str],
    seed: int | None,
) -> SimulationResult:
    """Play the task's labelers and reviewers until nothing changes (see the module doc)."""
    check_probabilities(approve, request_changes, agree)
    if not concepts:
        raise ValueError("concepts must name at least one concept")
    sim = _Simulation(lifecycle, key, task, concepts, agree, random.Random(seed))
    labelers = worker_user_ids(task)
    reviewers = review_user_ids(task) or [key[0]]
    totals = {"submitted": 0, APPROVE: 0, REQUEST_CHANGES: 0, REJECT: 0}
    rounds = 0
    while rounds < MAX_ROUNDS:
        rounds += 1
        changed = 0
        busy = True
        while busy:
            busy = False
            for labeler in labelers:
                done = sim.label_turn(labeler)
                totals["submitted"] += done
                changed += done
                busy = busy or done > 0
        busy = True
        while busy:
            busy = False
            for reviewer in reviewers:
                decided = sim.review_turn(reviewer, approve, request_changes)
                for name, count in decided.items():
                    totals[name] += count
                    changed += count
                    busy = busy or count > 0
        if not changed:
            break
    return SimulationResult(
        submitted=totals["submitted"],
        approved=totals[APPROVE],
        changes_requested=totals[REQUEST_CHANGES],
        rejected=totals[REJECT],
        rounds=rounds,
    )
