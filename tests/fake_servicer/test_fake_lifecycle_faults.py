"""Faults on the lifecycle methods: targeted, counted, and safe to retry."""

from __future__ import annotations

import grpc
import pytest
from clarifai_grpc.grpc.api import service_pb2
from fake_rpc import APP, USER, Rpc, ok
from team import SC, Actor, TaskReview, concept_annotation, labeling_task, team_servicer

from fake_servicer import Faults, serve
from fake_servicer.cli import build_parser, parse_faults
from fake_servicer.faults import FAULT_METHODS, LIFECYCLE_METHODS, TASK_METHODS


def test_one_list_of_fault_methods() -> None:
    assert FAULT_METHODS == TASK_METHODS | LIFECYCLE_METHODS
    assert len(LIFECYCLE_METHODS) == 8
    for method in LIFECYCLE_METHODS:
        assert Faults().targets(method)
        assert Faults(methods={method}).methods == frozenset({method})  # type: ignore[arg-type]
    assert not Faults().targets("ListModels")


def test_cli_accepts_lifecycle_methods() -> None:
    parser = build_parser()
    args = parser.parse_args(
        [
            "--port",
            "0",
            "--fault",
            "throttled=1",
            "--fault-methods",
            "PostAnnotations,PutTaskAssignments",
        ]
    )
    faults = parse_faults(args, parser)
    assert faults.methods == frozenset({"PostAnnotations", "PutTaskAssignments"})


@pytest.mark.parametrize("method", sorted(LIFECYCLE_METHODS))
def test_unavailable_and_throttled_hit_each_method(method: str) -> None:
    servicer = team_servicer(faults=Faults(unavailable=1.0, methods={method}))
    with serve(servicer=servicer) as server, Rpc(server.target) as rpc:
        with pytest.raises(grpc.RpcError) as raised:
            rpc.request(method)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        servicer.set_faults(Faults(throttled=1.0, methods={method}))
        assert rpc.request(method).status.code == SC.CONN_THROTTLED
        assert rpc.list().status.code == SC.SUCCESS  # not targeted
        assert servicer.faults_injected == {"unavailable": 1, "throttled": 1}
        assert servicer.calls[method] == 2


def test_commit_unavailable_annotation_is_stored_and_retry_is_refused() -> None:
    servicer = team_servicer()
    with serve(servicer=servicer) as server, Rpc(server.target) as rpc:
        servicer.put_inputs(USER, APP, ["in"])
        ok(rpc.post(labeling_task("t1")))
        Actor(rpc, "l1").start("t1")
        servicer.set_faults(Faults(commit_unavailable=1.0, methods={"PostAnnotations"}))
        annotation = concept_annotation("in", "cat", annotation_id="a1")
        annotation.task_id = "t1"
        with pytest.raises(grpc.RpcError):
            rpc.request("PostAnnotations", pat="pat-l1", annotations=[annotation])
        servicer.set_faults(None)
        retry = rpc.request("PostAnnotations", pat="pat-l1", annotations=[annotation])
        assert retry.status.code == SC.ANNOTATION_INVALID_ARGUMENT
        listed = ok(rpc.request("ListAnnotations", ids=["a1"])).annotations
        assert [(a.id, a.user_id, a.task_id) for a in listed] == [("a1", "l1", "t1")]


def test_put_task_assignments_retried_after_commit_is_idempotent() -> None:
    servicer = team_servicer()
    with serve(servicer=servicer) as server, Rpc(server.target) as rpc:
        servicer.put_inputs(USER, APP, 2)
        ok(rpc.post(labeling_task("t1", review=TaskReview.MANUAL)))
        l1, r1 = Actor(rpc, "l1"), Actor(rpc, "r1")
        servicer.set_faults(Faults(commit_unavailable=1.0, methods={"PutTaskAssignments"}))
        for _ in range(2):
            with pytest.raises(grpc.RpcError):
                l1.put("t1", service_pb2.LABEL_START)
        servicer.set_faults(None)
        batch = l1.start("t1")
        assert len(batch) == 2 and len(servicer.assignments(USER, APP, "t1")) == 2
        l1.submit("t1", batch)
        review = r1.review_start("t1")
        servicer.set_faults(Faults(commit_unavailable=1.0, methods={"PutTaskAssignments"}))
        with pytest.raises(grpc.RpcError):
            r1.decide("t1", service_pb2.REVIEW_APPROVE, review)
        servicer.set_faults(None)
        again = ok(r1.decide("t1", service_pb2.REVIEW_APPROVE, review)).task_assignments
        assert {a.status.code for a in again} == {SC.TASK_ASSIGNMENT_SUCCESS}
