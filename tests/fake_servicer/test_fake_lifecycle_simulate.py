"""``servicer.simulate``: labelers and reviewers played in one call, deterministic by seed.

The end-to-end test is what a user writes: create a task over the wire, simulate, poll progress
through GetTask metrics, export the approved annotations page by page.
"""

from __future__ import annotations

import pytest
from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_pb2
from fake_rpc import APP, USER, Rpc, ok
from team import SC, TaskReview, TaskWorker, codes, counts, labeling_task, metrics, team_servicer

from fake_servicer import FakeServer, FakeV2Servicer, SimulationResult, serve


def export(rpc: Rpc, task_id: str, per_page: int = 7) -> list[resources_pb2.Annotation]:
    """The approved annotations of a task, by pages, as a user's export would do."""
    exported: list[resources_pb2.Annotation] = []
    page = 1
    while True:
        response = ok(
            rpc.request(
                "ListAnnotations",
                task_id=task_id,
                statuses=[status_pb2.Status(code=SC.ANNOTATION_SUCCESS)],
                page=page,
                per_page=per_page,
            )
        )
        exported.extend(response.annotations)
        if len(response.annotations) < per_page:
            return exported
        page += 1


def test_poll_then_export_end_to_end(team_server: FakeServer, team_rpc: Rpc) -> None:
    servicer = team_server.servicer
    servicer.put_inputs(USER, APP, 40)
    task = labeling_task("t1", review=TaskReview.MANUAL)
    task.concept_ids.extend(["cat", "dog"])
    ok(team_rpc.post(task))
    assert metrics(team_rpc, "t1").review.inputs_percent_estimated == 0

    result = servicer.simulate("t1", approve=0.75, seed=7)

    progress = metrics(team_rpc, "t1")
    assert progress.review.inputs_percent_estimated == 100
    assert progress.work.inputs_count_estimated == 40
    assert result.submitted == 40 and result.approved + result.rejected == 40
    assert 20 < result.approved < 40 and result.rejected > 0
    exported = export(team_rpc, "t1")
    assert len(exported) == result.approved
    assert {c.id for a in exported for c in a.data.concepts} <= {"cat", "dog"}
    by_user = counts(team_rpc, "GetTaskInputCount", "t1")
    assert sum(row[3] for row in by_user.values()) == result.approved
    assert sum(row[4] for row in by_user.values()) == result.rejected


def run(seed: int, **kwargs: object) -> tuple[SimulationResult, list[tuple[str, str, int]]]:
    servicer = team_servicer()
    servicer.put_inputs(USER, APP, 30)
    servicer.put_tasks(USER, APP, [labeling_task("t1", review=TaskReview.MANUAL)])
    result = servicer.simulate("t1", seed=seed, **kwargs)  # type: ignore[arg-type]
    outcome = [
        (a.worker.user.id, a.input.id, a.status.code) for a in servicer.assignments(USER, APP, "t1")
    ]
    return result, outcome


def test_same_seed_same_outcome() -> None:
    assert run(3, approve=0.5) == run(3, approve=0.5)
    assert run(3, approve=0.5) != run(4, approve=0.5)


def test_approve_all_or_none() -> None:
    everything, outcome = run(1, approve=1.0)
    assert everything.approved == 30 and everything.rejected == 0
    assert {code for _, _, code in outcome} == {SC.TASK_ASSIGNMENT_SUCCESS}
    nothing, outcome = run(1, approve=0.0)
    assert nothing.rejected == 30
    assert {code for _, _, code in outcome} == {SC.TASK_ASSIGNMENT_REJECTED}


def test_request_changes_are_reworked_until_decided() -> None:
    result, outcome = run(5, approve=0.5, request_changes=0.4)
    assert result.changes_requested > 0
    assert result.submitted == 30 + result.changes_requested
    assert result.approved + result.rejected == 30
    assert {code for _, _, code in outcome} <= {
        SC.TASK_ASSIGNMENT_SUCCESS,
        SC.TASK_ASSIGNMENT_REJECTED,
    }


def test_consensus_with_disagreeing_labelers() -> None:
    servicer = team_servicer()
    servicer.put_inputs(USER, APP, 20)
    task = labeling_task("t1", TaskWorker.FULL, TaskReview.CONSENSUS, labelers_threshold=3)
    servicer.put_tasks(USER, APP, [task])
    result = servicer.simulate("t1", approve=1.0, agree=0.5, seed=2)
    statuses = codes(servicer.assignments(USER, APP, "t1"))
    assert set(statuses) == {SC.TASK_ASSIGNMENT_SUCCESS}
    assert 0 < result.approved < 60  # some inputs agreed without review, some needed it


def test_owner_reviews_when_no_reviewer_is_listed() -> None:
    servicer = team_servicer()
    servicer.put_inputs(USER, APP, 3)
    task = labeling_task("t1", review=TaskReview.MANUAL, reviewers=[])
    servicer.put_tasks(USER, APP, [task])
    assert servicer.simulate("t1", approve=1.0, seed=0).approved == 3


def test_auto_done_after_simulate() -> None:
    servicer = team_servicer(auto_done=True)
    servicer.put_inputs(USER, APP, 5)
    servicer.put_tasks(USER, APP, [labeling_task("t1")])
    servicer.simulate("t1", seed=0)
    assert servicer.tasks(USER, APP)[0].status.code == SC.TASK_DONE


def test_errors() -> None:
    servicer = FakeV2Servicer()
    with pytest.raises(KeyError):
        servicer.simulate("nope")
    servicer.put_tasks(USER, APP, [labeling_task("t1")])
    servicer.put_tasks(USER, "other", [labeling_task("t1")])
    with pytest.raises(KeyError, match="several apps"):
        servicer.simulate("t1")
    assert servicer.simulate("t1", user_id=USER, app_id="other").submitted == 0
    for bad in ({"approve": 1.5}, {"approve": 0.7, "request_changes": 0.5}, {"agree": -1}):
        with pytest.raises(ValueError):
            servicer.simulate("t1", app_id=APP, **bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        servicer.simulate("t1", app_id=APP, concepts=[])


def test_simulate_records_no_calls() -> None:
    servicer = team_servicer()
    servicer.put_inputs(USER, APP, 2)
    servicer.put_tasks(USER, APP, [labeling_task("t1")])
    with serve(servicer=servicer):
        servicer.simulate("t1", seed=1)
    assert sum(servicer.calls.values()) == 0
