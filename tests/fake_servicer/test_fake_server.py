"""serve()/start_server(): real loopback server, UNIMPLEMENTED methods, concurrency, shutdown."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from clarifai_grpc.grpc.api import service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from fake_rpc import APP, USER, FakeContext, Rpc, make_task, user_app

from fake_servicer import FakeServer, FakeV2Servicer, Faults, serve, start_server


def test_serve_yields_running_server() -> None:
    with serve() as server:
        assert isinstance(server, FakeServer)
        assert server.port > 0
        assert server.target == f"127.0.0.1:{server.port}"
        assert isinstance(server.servicer, FakeV2Servicer)
        client = Rpc(server.target)
        assert client.list().status.code == status_code_pb2.SUCCESS
        client.close()
    with Rpc(server.target) as late, pytest.raises(grpc.RpcError) as raised:
        late.list()
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_other_v2_method_is_unimplemented(rpc: Rpc, servicer: FakeV2Servicer) -> None:
    request = service_pb2.ListModelsRequest(user_app_id=user_app())
    with pytest.raises(grpc.RpcError) as raised:
        rpc.call("ListModels", request)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert servicer.calls["ListModels"] == 0


def test_base_class_unimplemented_directly() -> None:
    class Context(FakeContext):
        code: grpc.StatusCode | None = None

        def set_code(self, code: grpc.StatusCode) -> None:
            self.code = code

        def set_details(self, details: str) -> None:
            pass

    context = Context()
    list_models = getattr(FakeV2Servicer(), "ListModels")  # noqa: B009 - untyped base method
    with pytest.raises(NotImplementedError):
        list_models(service_pb2.ListModelsRequest(), context)
    assert context.code == grpc.StatusCode.UNIMPLEMENTED


def test_pats_and_faults_passed_to_new_servicer() -> None:
    with serve(pats=["p"], faults=Faults(throttled=1.0)) as server:
        assert server.servicer.faults.throttled == 1.0
        with Rpc(server.target, pat="p") as client:
            assert client.list().status.code == status_code_pb2.CONN_THROTTLED
            server.servicer.set_faults(None)
            assert client.list().status.code == status_code_pb2.SUCCESS
            assert client.list(pat="q").status.code == status_code_pb2.CONN_KEY_INVALID


def test_servicer_with_pats_is_ambiguous() -> None:
    with pytest.raises(ValueError):
        start_server(servicer=FakeV2Servicer(), pats=["p"])


def test_given_servicer_is_used() -> None:
    servicer = FakeV2Servicer()
    servicer.put_tasks(USER, APP, [make_task("seeded")])
    with serve(servicer=servicer) as server:
        assert server.servicer is servicer
        with Rpc(server.target) as client:
            assert client.get("seeded").task.id == "seeded"


def test_port_in_use_refused() -> None:
    with serve() as first, pytest.raises(RuntimeError):
        start_server(port=first.port)


def test_wildcard_host_target_is_loopback() -> None:
    server = start_server(host="0.0.0.0")
    try:
        assert server.target == f"127.0.0.1:{server.port}"
        with Rpc(server.target) as client:
            assert client.list().status.code == status_code_pb2.SUCCESS
    finally:
        server.stop()
        server.stop()  # idempotent
    assert server.wait_for_termination(1.0)


def test_sixteen_concurrent_clients(server: FakeServer) -> None:
    client = Rpc(server.target)
    slow = Faults(latency_ms=50)
    server.servicer.set_faults(slow)
    barrier = threading.Barrier(16)

    def work(n: int) -> int:
        barrier.wait()
        response = client.post(make_task(f"c{n}"))
        return int(response.status.code)

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(work, range(16)))
    assert codes == [status_code_pb2.SUCCESS] * 16
    assert len(server.servicer.tasks(USER, APP)) == 16
    client.close()
