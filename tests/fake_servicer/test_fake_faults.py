"""Fault injection: validation, determinism by seed, targeting, and each fault's effect."""

from __future__ import annotations

import time

import grpc
import pytest
from clarifai_grpc.grpc.api import service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from fake_rpc import APP, USER, Aborted, Rpc, ctx, ids_of, make_task, user_app

from fake_servicer import FakeV2Servicer, Faults, serve
from fake_servicer.faults import FaultInjector


def list_request() -> service_pb2.ListTasksRequest:
    return service_pb2.ListTasksRequest(user_app_id=user_app())


def outcome(servicer: FakeV2Servicer) -> str:
    """Call ListTasks directly and name what happened."""
    try:
        response = servicer.ListTasks(list_request(), ctx())
    except Aborted as aborted:
        assert aborted.code == grpc.StatusCode.UNAVAILABLE
        return "aborted"
    if response.status.code == status_code_pb2.CONN_THROTTLED:
        return "throttled"
    assert response.status.code == status_code_pb2.SUCCESS
    return "ok"


class TestValidation:
    @pytest.mark.parametrize(
        "kwargs",
        [
            {"unavailable": -0.1},
            {"throttled": 1.5},
            {"commit_unavailable": float("nan")},
            {"unavailable": 0.6, "throttled": 0.5},
            {"latency_ms": -1},
            {"methods": frozenset({"ListModels"})},
        ],
    )
    def test_bad_values_raise(self, kwargs: dict[str, object]) -> None:
        with pytest.raises(ValueError):
            Faults(**kwargs)  # type: ignore[arg-type]

    def test_good_values(self) -> None:
        faults = Faults(unavailable=0.5, throttled=0.25, commit_unavailable=0.25, seed=3)
        assert faults.pick(0.0) == "unavailable"
        assert faults.pick(0.4999) == "unavailable"
        assert faults.pick(0.5) == "throttled"
        assert faults.pick(0.75) == "commit_unavailable"
        assert faults.pick(0.9999) == "commit_unavailable"
        assert Faults(methods={"GetTask"}).methods == frozenset({"GetTask"})  # type: ignore[arg-type]
        assert Faults().pick(0.0) is None


class TestDeterminism:
    def sequence(self, faults: Faults, calls: int = 60) -> list[str]:
        servicer = FakeV2Servicer(faults=faults)
        return [outcome(servicer) for _ in range(calls)]

    def test_same_seed_same_sequence(self) -> None:
        faults = Faults(unavailable=0.2, throttled=0.2, commit_unavailable=0.2, seed=42)
        first = self.sequence(faults)
        assert first == self.sequence(faults)
        assert {"ok", "aborted", "throttled"} <= set(first)

    def test_different_seed_different_sequence(self) -> None:
        one = self.sequence(Faults(unavailable=0.3, throttled=0.3, seed=1))
        two = self.sequence(Faults(unavailable=0.3, throttled=0.3, seed=2))
        assert one != two

    def test_probabilities_are_exact_per_draw(self) -> None:
        injector = FaultInjector(Faults(unavailable=0.1, throttled=0.2, commit_unavailable=0.3))
        draws = [injector.draw("GetTask") for _ in range(20_000)]
        counts = injector.injected()
        assert counts["unavailable"] == draws.count("unavailable")
        assert abs(counts["unavailable"] / 20_000 - 0.1) < 0.02
        assert abs(counts["throttled"] / 20_000 - 0.2) < 0.02
        assert abs(counts["commit_unavailable"] / 20_000 - 0.3) < 0.02
        assert draws.count(None) == 20_000 - sum(counts.values())

    def test_certain_faults(self) -> None:
        assert set(self.sequence(Faults(throttled=1.0), 10)) == {"throttled"}
        assert set(self.sequence(Faults(unavailable=1.0), 10)) == {"aborted"}
        assert set(self.sequence(Faults(), 10)) == {"ok"}

    def test_set_faults_at_runtime_and_reset(self) -> None:
        servicer = FakeV2Servicer()
        assert outcome(servicer) == "ok"
        servicer.set_faults(Faults(throttled=1.0))
        assert servicer.faults.throttled == 1.0
        assert outcome(servicer) == "throttled"
        assert servicer.faults_injected == {"throttled": 1}
        servicer.reset()
        assert servicer.faults_injected == {}
        servicer.set_faults(None)
        assert outcome(servicer) == "ok"

    def test_reset_restarts_seeded_stream(self) -> None:
        servicer = FakeV2Servicer(faults=Faults(unavailable=0.5, seed=9))
        first = [outcome(servicer) for _ in range(20)]
        servicer.reset()
        assert [outcome(servicer) for _ in range(20)] == first


class TestEffects:
    def test_unavailable_does_nothing(self) -> None:
        servicer = FakeV2Servicer(faults=Faults(unavailable=1.0))
        request = service_pb2.PostTasksRequest(user_app_id=user_app(), tasks=[make_task("a")])
        with pytest.raises(Aborted):
            servicer.PostTasks(request, ctx())
        assert servicer.tasks(USER, APP) == []
        assert servicer.calls["PostTasks"] == 1
        assert servicer.faults_injected["unavailable"] == 1

    def test_throttled_does_nothing(self) -> None:
        servicer = FakeV2Servicer(faults=Faults(throttled=1.0))
        request = service_pb2.PostTasksRequest(user_app_id=user_app(), tasks=[make_task("a")])
        response = servicer.PostTasks(request, ctx())
        assert response.status.code == status_code_pb2.CONN_THROTTLED
        assert "rate limit" in response.status.description
        assert response.status.req_id
        assert servicer.tasks(USER, APP) == []

    def test_faults_drawn_before_auth(self) -> None:
        servicer = FakeV2Servicer(pats=["good"], faults=Faults(throttled=1.0))
        response = servicer.ListTasks(list_request(), ctx("bad"))
        assert response.status.code == status_code_pb2.CONN_THROTTLED

    def test_commit_unavailable_commits_over_rpc(self) -> None:
        faults = Faults(commit_unavailable=1.0, methods=frozenset({"PostTasks"}))
        with serve(faults=faults) as server:
            client = Rpc(server.target)
            with pytest.raises(grpc.RpcError) as raised:
                client.post(make_task("committed"))
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
            assert ids_of(client.list()) == ["committed"]
            with pytest.raises(grpc.RpcError):
                client.post(make_task("committed"))
            assert server.servicer.faults_injected == {"commit_unavailable": 2}
            client.close()

    def test_unavailable_over_rpc(self) -> None:
        with serve(faults=Faults(unavailable=1.0)) as server:
            client = Rpc(server.target)
            with pytest.raises(grpc.RpcError) as raised:
                client.post(make_task("lost"))
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
            server.servicer.set_faults(None)
            assert ids_of(client.list()) == []
            client.close()

    def test_methods_targeting(self) -> None:
        servicer = FakeV2Servicer(faults=Faults(throttled=1.0, methods=frozenset({"GetTask"})))
        assert outcome(servicer) == "ok"
        request = service_pb2.GetTaskRequest(user_app_id=user_app(), task_id="x")
        response = servicer.GetTask(request, ctx())
        assert response.status.code == status_code_pb2.CONN_THROTTLED
        assert servicer.faults_injected == {"throttled": 1}

    def test_untargeted_calls_do_not_consume_draws(self) -> None:
        faults = Faults(unavailable=0.5, seed=5, methods=frozenset({"ListTasks"}))
        plain = FakeV2Servicer(faults=faults)
        mixed = FakeV2Servicer(faults=faults)
        expected = [outcome(plain) for _ in range(20)]
        got = []
        for _ in range(20):
            request = service_pb2.GetTaskRequest(user_app_id=user_app(), task_id="x")
            mixed.GetTask(request, ctx())
            got.append(outcome(mixed))
        assert got == expected

    @pytest.mark.timing
    def test_latency(self) -> None:
        servicer = FakeV2Servicer(faults=Faults(latency_ms=30, methods=frozenset({"ListTasks"})))
        start = time.monotonic()
        assert outcome(servicer) == "ok"
        assert time.monotonic() - start >= 0.029
        request = service_pb2.GetTaskRequest(user_app_id=user_app(), task_id="x")
        start = time.monotonic()
        servicer.GetTask(request, ctx())
        assert time.monotonic() - start < 0.029
