"""Each actor's PAT: accepted, mapped to its user, recorded; unknown PATs refused."""

from __future__ import annotations

import pytest
from clarifai_grpc.grpc.api import service_pb2
from fake_rpc import APP, USER, Rpc, ok
from team import SC, TEAM, Actor, labeling_task

from fake_servicer import FakeV2Servicer, serve
from fake_servicer.auth import PatChecker

LIFECYCLE_CALLS = [
    ("PutTaskAssignments", {"task_id": "t1", "action": service_pb2.LABEL_START}),
    ("ListNextTaskAssignments", {"task_id": "t1"}),
    ("PostAnnotations", {"annotations": [{"input_id": "input-000001"}]}),
    ("ListAnnotations", {}),
    ("PatchAnnotations", {"action": "merge", "annotations": [{"id": "a"}]}),
    ("DeleteAnnotations", {"ids": ["a"]}),
    ("GetTaskInputCount", {"task_id": "t1"}),
    ("GetTaskAnnotationCount", {"task_id": "t1"}),
]


@pytest.fixture
def strict() -> object:
    """A fake accepting only the owner's PAT plus the team's mapped PATs."""
    servicer = FakeV2Servicer(pats=["owner-pat"], users=TEAM)
    with serve(servicer=servicer) as server, Rpc(server.target, pat="owner-pat") as rpc:
        servicer.put_inputs(USER, APP, 3)
        ok(rpc.post(labeling_task("t1")))
        yield rpc, servicer


@pytest.mark.parametrize(("method", "fields"), LIFECYCLE_CALLS, ids=[m for m, _ in LIFECYCLE_CALLS])
def test_unknown_or_missing_pat_is_refused(
    strict: tuple[Rpc, FakeV2Servicer], method: str, fields: dict[str, object]
) -> None:
    rpc, servicer = strict
    for pat in ("intruder", None):
        response = rpc.request(method, pat=pat, **fields)
        assert response.status.code == SC.CONN_KEY_INVALID
        assert "intruder" not in str(response.status)
    assert servicer.assignments(USER, APP, "t1") == []


def test_mapped_pats_are_accepted_and_act_as_their_user(
    strict: tuple[Rpc, FakeV2Servicer],
) -> None:
    rpc, servicer = strict
    l2 = Actor(rpc, "l2")
    batch = l2.start("t1")
    assert {a.worker.user.id for a in batch} == {"l2"}
    posted = ok(l2.annotate("t1", batch[0].input.id, "cat")).annotations[0]
    assert posted.user_id == "l2"
    record = [r for r in servicer.requests if r.method == "PostAnnotations"][-1]
    assert ("authorization", "Key pat-l2") in record.metadata
    assert servicer.calls["PutTaskAssignments"] == 1


def test_owner_pat_acts_as_the_owner(strict: tuple[Rpc, FakeV2Servicer]) -> None:
    rpc, _ = strict
    owner = rpc.request("PutTaskAssignments", task_id="t1", action=service_pb2.LABEL_START)
    assert owner.status.code == SC.TASK_PERMISSION_DENIED  # the owner is not a labeler
    assert "'u1'" in owner.status.details


def test_users_mapping_validation() -> None:
    with pytest.raises(ValueError):
        PatChecker(None, {"": "u"})
    with pytest.raises(ValueError):
        PatChecker(None, {"p": ""})
    checker = PatChecker([], {"p": "u"})
    assert checker.check((("authorization", "Key p"),)) is None
    assert checker.user_of((("authorization", "Key p"),)) == "u"
    assert checker.user_of((("authorization", "Key q"),)) is None
    assert checker.check((("authorization", "Key q"),)) == "the key is not accepted"


def test_serve_users_and_add_users_at_run_time() -> None:
    with serve(pats=["owner-pat"], users={"pat-l1": "l1"}) as server:
        servicer = server.servicer
        servicer.put_inputs(USER, APP, 2)
        with Rpc(server.target, pat="owner-pat") as rpc:
            ok(rpc.post(labeling_task("t1")))
            assert {a.worker.user.id for a in Actor(rpc, "l1").start("t1")} == {"l1"}
            refused = rpc.request("ListAnnotations", pat="pat-l2")
            assert refused.status.code == SC.CONN_KEY_INVALID
            servicer.add_users({"pat-l2": "l2"})
            assert Actor(rpc, "l2").start("t1") == []  # l1 holds both inputs
    with pytest.raises(ValueError):
        serve(servicer=FakeV2Servicer(), users={"p": "u"}).__enter__()
    with pytest.raises(ValueError):
        FakeV2Servicer().add_users({"p": ""})
