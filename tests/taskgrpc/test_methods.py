"""The method table: every row binds a real V2 method, and everything reads the rows."""

from __future__ import annotations

import grpc
from clarifai_grpc.grpc.api import service_pb2, service_pb2_grpc

from fake_servicer.faults import FAKE_ONLY_METHODS, FAULT_METHODS
from taskgrpc import _methods as m
from taskgrpc import retry
from taskgrpc._stub import TaskStub


def test_every_row_is_a_v2_method_with_its_protos():
    service = service_pb2.DESCRIPTOR.services_by_name["V2"]
    for name, row in m.METHODS.items():
        method = service.methods_by_name[name]
        assert row.name == name
        assert row.path == f"/clarifai.api.V2/{name}"
        assert row.request.DESCRIPTOR is method.input_type
        assert row.response.DESCRIPTOR is method.output_type
        assert callable(row.build)
        assert hasattr(service_pb2_grpc.V2Servicer, name)


def test_retry_classes_and_fault_targets_are_derived_from_the_rows():
    assert {name: row.safety for name, row in m.METHODS.items()} == retry.METHOD_RETRY
    assert {n for n, row in m.METHODS.items() if row.safety is m.Safety.CREATE} == {
        "PostTasks",
        "PostAnnotations",
    }
    assert frozenset(m.METHODS) | FAKE_ONLY_METHODS == FAULT_METHODS


def test_stub_binds_one_callable_per_row():
    paths: list[str] = []

    class Channel:
        def unary_unary(self, path, request_serializer, response_deserializer):
            paths.append(path)
            return (path, request_serializer, response_deserializer)

    stub = TaskStub(Channel())
    assert set(stub.methods) == set(m.METHODS)
    assert paths == [row.path for row in m.METHODS.values()]
    _, ser, de = stub.methods["PutTaskAssignments"]
    assert ser == service_pb2.PutTaskAssignmentsRequest.SerializeToString
    assert de == service_pb2.MultiTaskAssignmentResponse.FromString


def test_stub_works_on_a_plain_channel():
    with grpc.insecure_channel("127.0.0.1:9") as channel:
        assert set(TaskStub(channel).methods) == set(m.METHODS)
