"""The labeling lifecycle end to end against fake_servicer on loopback: labelers and a reviewer,
each with their own PAT, through every worker strategy x review strategy, with request-changes
and reject; progress, counts and the annotation pager agree; annotations are created exactly
once under faults; both clients; and the ``progress`` / ``export`` commands."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from tgsupport import APP, FAST_RETRY, PAT, USER

import taskgrpc as tg
from fake_servicer import FakeServer, FakeV2Servicer, Faults, serve
from taskgrpc.cli import main

USERS = {"pat-alice": "alice", "pat-bob": "bob", "pat-carol": "carol", "pat-rita": "rita"}
INPUTS = 6


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """Overrides conftest's: a fake that knows each actor's PAT, with inputs seeded."""
    servicer = FakeV2Servicer(users=USERS)
    servicer.put_inputs(USER, APP, INPUTS)
    with serve(servicer=servicer) as running:
        yield running


@pytest.fixture
def owner(make_client) -> tg.TaskClient:
    return make_client(pat=PAT)


def actor(make_client, name: str) -> tg.TaskClient:
    return make_client(pat=f"pat-{name}")


def index(input_id: str) -> int:
    return int(input_id.rsplit("-", 1)[-1])


def choice(labeler: str, assignment: r.TaskAssignment) -> str:
    """alice always says cat; the others agree with her on even inputs only."""
    return "cat" if labeler == "alice" or index(assignment.input.id) % 2 == 0 else "dog"


class Team:
    """Plays the labelers and the reviewer through the client verbs, as people would."""

    def __init__(self, make_client, task_id: str, labelers: list[str]) -> None:
        self.task_id = task_id
        self.labelers = {name: actor(make_client, name) for name in labelers}
        self.reviewer = actor(make_client, "rita")
        self.annotated: set[str] = set()
        self.decisions: Counter[str] = Counter()

    def label(self) -> int:
        """Every labeler takes batches until none is left; returns how many were submitted."""
        submitted = 0
        for name, client in self.labelers.items():
            while batch := client.start_labeling(self.task_id):
                new = [a for a in batch if a.id not in self.annotated]
                if new:  # work sent back by request-changes keeps its annotation
                    stored = client.annotate(
                        self.task_id, [tg.annotation(a.input.id, [choice(name, a)]) for a in new]
                    )
                    assert [s.input_id for s in stored] == [a.input.id for a in new]
                    self.annotated.update(a.id for a in new)
                assert all(a.worker.user.id == name for a in batch)
                done = client.submit(self.task_id, batch)
                assert {a.id for a in done} <= {a.id for a in batch}
                submitted += len(batch)
        return submitted

    def review(self) -> int:
        """The reviewer takes batches until none is left: the first assignment it sees is
        sent back, the second rejected, the rest approved (in bulk by worker once)."""
        seen = 0
        while batch := self.reviewer.start_review(self.task_id):
            seen += len(batch)
            approve = []
            for a in batch:
                if not self.decisions["request_changes"]:
                    self.reviewer.request_changes(self.task_id, [a])
                    self.decisions["request_changes"] += 1
                elif not self.decisions["reject"]:
                    self.reviewer.reject(self.task_id, [a.id])
                    self.decisions["reject"] += 1
                else:
                    approve.append(a)
            if approve and not self.decisions["bulk"]:
                workers = sorted({a.worker.user.id for a in approve})
                self.reviewer.approve(self.task_id, workers=workers)
                self.decisions["bulk"] += 1
            elif approve:
                self.reviewer.approve(self.task_id, approve)
        return seen


WORKERS: dict[str, tuple[Callable[[], r.TaskWorker], list[str]]] = {
    "FULL": (lambda: tg.full(["alice", "bob"]), ["alice", "bob"]),
    "PARTITIONED": (
        lambda: tg.partitioned_evenly(["alice", "bob", "carol"], workers_per_input=2),
        ["alice", "bob", "carol"],
    ),
    "DYNAMIC": (lambda: tg.dynamic(["alice", "bob"]), ["alice", "bob"]),
}
REVIEWS: dict[str, Callable[[], r.TaskReview]] = {
    "NONE": tg.no_review,
    "MANUAL": lambda: tg.manual_review(["rita"]),
    "CONSENSUS": lambda: tg.consensus(["rita"], approval_threshold=2),
}


@pytest.mark.parametrize("review", list(REVIEWS))
@pytest.mark.parametrize("strategy", list(WORKERS))
def test_every_strategy_and_review_to_the_end(make_client, owner, strategy, review):
    workers, labelers = WORKERS[strategy]
    task = owner.create(
        tg.build_task(
            "CONCEPTS_CLASSIFICATION",
            concepts=["cat", "dog"],
            workers=workers(),
            review=REVIEWS[review](),
        )
    )
    team = Team(make_client, task.id, labelers)
    before = owner.progress(task.id)
    assert (before.inputs, before.reviewed, before.finished) == (INPUTS, 0, False)

    for _ in range(6):
        team.label()
        if review != "NONE":
            team.review()
        progress = owner.progress(task.id)
        if progress.finished:
            break
    assert progress.finished, progress.as_dict()
    assert (progress.inputs, progress.labeled, progress.reviewed) == (INPUTS, INPUTS, INPUTS)
    assert progress.reviewed_percent == 100

    counts = owner.input_counts(task.id)
    assert set(labelers) <= set(counts)
    assert all(
        c.pending == c.awaiting_review == c.awaiting_consensus_review == 0 for c in counts.values()
    )
    success = sum(c.success for c in counts.values())
    denied = sum(c.review_denied for c in counts.values())
    if review == "NONE":
        assert denied == 0 and not team.decisions
    else:  # one assignment was sent back and later approved, one rejected for good
        assert team.decisions["request_changes"] == 1 and team.decisions["reject"] == 1
        assert denied == 1
    if strategy != "DYNAMIC":
        assert success + denied == 2 * INPUTS  # two labelers per input

    by_status = Counter(a.status.code for a in owner.annotations(task.id, per_page=5))
    assert by_status == {
        sc.ANNOTATION_SUCCESS: success,
        **({sc.ANNOTATION_REVIEW_DENIED: denied} if denied else {}),
    }
    approved = list(owner.annotations(task.id, statuses=["ANNOTATION_SUCCESS"]))
    assert len(approved) == success and all(a.task_id == task.id for a in approved)
    assert {a.worker.user.id for a in approved} <= set(labelers)
    annotation_counts = owner.annotation_counts(task.id)
    assert sum(c.success for c in annotation_counts.values()) == success

    done = owner.set_status(task.id, "TASK_DONE")
    assert done.status.code == sc.TASK_DONE


def test_consensus_agreement_is_approved_without_a_reviewer(make_client, owner):
    task = owner.create(
        tg.build_task(
            "CONCEPTS_CLASSIFICATION",
            concepts=["cat", "dog"],
            workers=tg.full(["alice", "bob"]),
            review=tg.consensus(["rita"], approval_threshold=2),
        )
    )
    Team(make_client, task.id, ["alice", "bob"]).label()
    counts = owner.input_counts(task.id)
    agreed = INPUTS // 2  # even inputs: both said cat
    assert counts["alice"].success == counts["bob"].success == agreed
    assert counts["alice"].awaiting_review + counts["bob"].awaiting_review == 2 * (INPUTS - agreed)
    inputs = {a.input_id for a in owner.annotations(task.id, statuses=[sc.ANNOTATION_SUCCESS])}
    assert {index(i) % 2 for i in inputs} == {0}


def test_start_labeling_keeps_the_unsubmitted_batch_then_runs_dry(make_client, owner):
    task = owner.create(
        tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], workers=tg.dynamic(["alice"]))
    )
    alice = actor(make_client, "alice")
    first = alice.start_labeling(task.id)
    assert len(first) == INPUTS and alice.start_labeling(task.id) == first
    alice.annotate(task.id, [tg.annotation(a.input.id, ["cat"]) for a in first])
    alice.submit(task.id, first)
    assert alice.start_labeling(task.id) == []


def test_a_stranger_cannot_label_and_gets_an_api_error(make_client, owner):
    task = owner.create(
        tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], workers=tg.full(["alice"]))
    )
    with pytest.raises(tg.ApiError):
        actor(make_client, "carol").start_labeling(task.id)


# --- exactly once ------------------------------------------------------------------------------


def labeled_task(owner: tg.TaskClient) -> str:
    return owner.create(
        tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], workers=tg.full(["alice"]))
    ).id


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_annotations_are_created_exactly_once_under_faults(server, make_client, owner, seed):
    task_id = labeled_task(owner)
    alice = make_client(
        pat="pat-alice", retry=tg.RetryPolicy(max_attempts=30, initial_backoff=0, max_backoff=0)
    )
    batch = alice.start_labeling(task_id)
    server.servicer.set_faults(
        Faults(
            unavailable=0.2,
            commit_unavailable=0.4,
            throttled=0.1,
            seed=seed,
            methods=frozenset({"PostAnnotations", "ListAnnotations"}),
        )
    )
    given = [tg.annotation(a.input.id, ["cat"]) for a in batch]
    stored = alice.annotate(task_id, given)
    again = alice.annotate(task_id, stored)  # a re-run with the same ids: nothing new
    server.servicer.set_faults(Faults())
    injected = server.servicer.faults_injected
    assert injected["commit_unavailable"] + injected["unavailable"] > 0  # the faults did happen
    listed = list(owner.annotations(task_id))
    assert len(listed) == INPUTS == len({a.id for a in listed})
    assert (
        sorted(a.id for a in listed) == sorted(a.id for a in stored) == sorted(a.id for a in again)
    )
    assert Counter(a.input_id for a in listed) == Counter(a.input.id for a in batch)


def test_a_committed_but_lost_answer_is_settled_by_the_lookup(server, make_client, owner):
    task_id = labeled_task(owner)
    alice = make_client(pat="pat-alice")
    batch = alice.start_labeling(task_id)
    server.servicer.set_faults(
        Faults(commit_unavailable=1.0, methods=frozenset({"PostAnnotations"}))
    )
    stored = alice.annotate(task_id, [tg.annotation(a.input.id, ["cat"]) for a in batch[:2]])
    server.servicer.set_faults(Faults())
    assert server.servicer.calls["PostAnnotations"] == 1  # stored, answer lost, not re-sent
    assert sorted(a.id for a in owner.annotations(task_id)) == sorted(a.id for a in stored)


def test_an_unknown_outcome_no_lookup_settles_raises_and_running_again_is_safe(
    server, make_client, owner
):
    task_id = labeled_task(owner)
    alice = make_client(
        pat="pat-alice", retry=tg.RetryPolicy(max_attempts=2, initial_backoff=0, max_backoff=0)
    )
    batch = alice.start_labeling(task_id)
    server.servicer.set_faults(
        Faults(unavailable=1.0, methods=frozenset({"PostAnnotations", "ListAnnotations"}))
    )
    given = [tg.annotation(a.input.id, ["cat"]) for a in batch[:2]]
    with pytest.raises(tg.OutcomeUnknownError) as info:
        alice.annotate(task_id, given)
    server.servicer.set_faults(Faults())
    assert [a.task_id for a in info.value.tasks] == [task_id, task_id]
    assert "annotation(s)" in str(info.value)
    again = alice.annotate(task_id, info.value.tasks)  # the same ids: safe to run again
    assert [a.id for a in again] == [a.id for a in info.value.tasks]
    assert len(list(owner.annotations(task_id))) == 2


def test_a_crashed_run_done_again_from_scratch_duplicates_nothing(server, make_client, owner):
    task_id = labeled_task(owner)
    crashing = make_client(pat="pat-alice", retry=None)
    batch = crashing.start_labeling(task_id)

    def work() -> list[r.Annotation]:  # what the labeler's program builds, afresh each run
        return [tg.annotation(a.input.id, ["cat"]) for a in batch]

    server.servicer.set_faults(
        Faults(commit_unavailable=1.0, methods=frozenset({"PostAnnotations"}))
    )
    with pytest.raises(tg.OutcomeUnknownError):  # stored, but the answer never came back
        crashing.annotate(task_id, work())
    server.servicer.set_faults(Faults())
    rerun = make_client(pat="pat-alice").annotate(task_id, work())  # a new process, same work
    listed = list(owner.annotations(task_id))
    assert len(listed) == INPUTS
    assert sorted(a.id for a in listed) == sorted(a.id for a in rerun)


# --- the async client ---------------------------------------------------------------------------


def test_the_async_client_runs_the_same_flow(server, owner):
    task = owner.create(
        tg.build_task(
            "CONCEPTS_CLASSIFICATION",
            concepts=["cat"],
            workers=tg.full(["alice"]),
            review=tg.manual_review(["rita"]),
        )
    )

    def aclient(pat: str) -> tg.AsyncTaskClient:
        return tg.AsyncTaskClient(
            pat=pat, user_id=USER, app_id=APP, target=server.target, secure=False, retry=FAST_RETRY
        )

    async def flow() -> tg.Progress:
        async with aclient("pat-alice") as alice, aclient("pat-rita") as rita, aclient(PAT) as boss:
            batch = await alice.start_labeling(task.id)
            await alice.annotate(task.id, [tg.annotation(a.input.id, ["cat"]) for a in batch])
            await alice.submit(task.id, batch)
            review = await rita.start_review(task.id, workers=["alice"])
            await rita.request_changes(task.id, review[:1])
            await rita.reject(task.id, review[1:2])
            await rita.approve(task.id, review[2:])
            again = await alice.start_labeling(task.id)
            assert [a.id for a in again] == [review[0].id]
            await alice.submit(task.id, again)
            await rita.approve(task.id, workers=["alice"])
            counts = await boss.input_counts(task.id)
            assert counts["alice"].review_denied == 1
            assert (await boss.annotation_counts(task.id))["alice"].success == INPUTS - 1
            ids = [a.id async for a in boss.annotations(task.id, statuses=["ANNOTATION_SUCCESS"])]
            assert len(ids) == INPUTS - 1
            return await boss.progress(task.id)

    progress = asyncio.run(flow())
    assert progress.finished and progress.reviewed == INPUTS


# --- the command line ---------------------------------------------------------------------------


def run_cli(server: FakeServer, monkeypatch, capsys, *argv: str) -> tuple[int, str]:
    monkeypatch.setenv("CLARIFAI_PAT", PAT)
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--user-id", USER, "--app-id", APP, "--target", server.target, "--insecure"])
    return int(exit_.value.code or 0), capsys.readouterr().out


@pytest.fixture
def finished_task(make_client, owner) -> str:
    task = owner.create(
        tg.build_task(
            "CONCEPTS_CLASSIFICATION",
            concepts=["cat", "dog"],
            workers=tg.full(["alice", "bob"]),
            review=tg.manual_review(["rita"]),
        )
    )
    team = Team(make_client, task.id, ["alice", "bob"])
    team.label()
    team.review()
    return task.id


def test_cli_progress_table_and_json(server, finished_task, monkeypatch, capsys):
    code, out = run_cli(server, monkeypatch, capsys, "progress", finished_task)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "WORKER",
        "PENDING",
        "AWAITING_CONSENSUS_REVIEW",
        "AWAITING_REVIEW",
        "SUCCESS",
        "REVIEW_DENIED",
    ]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:3]}
    assert set(rows) == {"alice", "bob"}
    assert f"{INPUTS} input(s) in the source" in out and "finished: no" in out  # one sent back

    code, out = run_cli(server, monkeypatch, capsys, "progress", finished_task, "--format", "json")
    data = json.loads(out)
    assert data["inputs"] == INPUTS and data["finished"] is False
    assert sum(w["pending"] for w in data["workers"].values()) == 1
    assert sum(w["review_denied"] for w in data["workers"].values()) == 1


def test_cli_export_streams_jsonl_and_csv_filtered_by_status(
    server, finished_task, monkeypatch, capsys
):
    code, out = run_cli(server, monkeypatch, capsys, "export", finished_task)
    assert code == 0
    every = [json.loads(line) for line in out.splitlines()]
    assert len(every) == 2 * INPUTS and all(a["taskId"] == finished_task for a in every)

    code, out = run_cli(
        server,
        monkeypatch,
        capsys,
        "export",
        finished_task,
        "--status",
        "ANNOTATION_SUCCESS",
        "--format",
        "csv",
        "--per-page",
        "3",
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 2 * INPUTS - 2  # one sent back (pending), one rejected
    assert {row["status"] for row in rows} == {"ANNOTATION_SUCCESS"}
    assert {row["worker"] for row in rows} == {"alice", "bob"}
    assert all(row["concepts"] in ("cat:1", "dog:1") for row in rows)

    code, out = run_cli(
        server,
        monkeypatch,
        capsys,
        "export",
        finished_task,
        "--status",
        str(sc.ANNOTATION_REVIEW_DENIED),
    )
    assert len(out.splitlines()) == 1


def test_cli_export_refuses_an_unknown_status_with_a_hint(
    server, finished_task, monkeypatch, capsys
):
    monkeypatch.setenv("CLARIFAI_PAT", PAT)
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "export",
                finished_task,
                "--status",
                "ANNOTATION_SUCESS",
                "--user-id",
                USER,
                "--app-id",
                APP,
                "--target",
                server.target,
                "--insecure",
            ]
        )
    assert exit_.value.code == 2
    assert "did you mean 'ANNOTATION_SUCCESS'" in capsys.readouterr().err


# --- the demo -----------------------------------------------------------------------------------


def test_the_demo_walks_the_lifecycle_to_task_done():
    from taskgrpc._demo import run_demo

    out = io.StringIO()
    run_demo(out)
    text = out.getvalue()
    assert "10. Progress: 6 inputs, 6 labeled, 6 reviewed (100%), finished=True" in text
    assert "1 rejected" in text and "11. Export: 11 approved annotation(s)" in text
    assert "12. The owner closes the task: TASK_DONE" in text
