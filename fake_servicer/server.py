"""Run a :class:`FakeV2Servicer` behind a real ``grpc.server`` on a loopback port."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent import futures
from contextlib import contextmanager

import grpc
from clarifai_grpc.grpc.api import service_pb2_grpc

from fake_servicer.faults import Faults
from fake_servicer.servicer import FakeV2Servicer

DEFAULT_MAX_WORKERS = 32
"""Server threads: enough for 16+ concurrent client threads."""

_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class FakeServer:
    """A started fake server: ``.port``, ``.target`` (connectable ``host:port``), ``.servicer``."""

    def __init__(self, server: grpc.Server, servicer: FakeV2Servicer, host: str, port: int):
        self._server = server
        self._stopped = threading.Event()
        self.servicer = servicer
        self.host = host
        self.port = port

    @property
    def target(self) -> str:
        """Address a client channel should dial, e.g. ``127.0.0.1:50051``."""
        return _host_port(_WILDCARDS.get(self.host, self.host), self.port)

    def stop(self, grace: float | None = None) -> None:
        """Stop serving (idempotent); in-flight calls get ``grace`` seconds to finish."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._server.stop(grace).wait()

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        """Block until the server stops or ``timeout`` passes; True if it stopped."""
        timed_out = self._server.wait_for_termination(timeout)
        return not timed_out

    def __repr__(self) -> str:
        return f"FakeServer(target={self.target!r})"


def start_server(
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    pats: Iterable[str] | None = None,
    faults: Faults | None = None,
    servicer: FakeV2Servicer | None = None,
    max_workers: int = DEFAULT_MAX_WORKERS,
    users: Mapping[str, str] | None = None,
) -> FakeServer:
    """Start a server on ``host:port`` (port 0 picks a free one); the caller must ``stop()`` it.

    Pass either ``servicer`` or ``pats``/``faults``/``users`` for a new one, not both
    (ValueError). Binding a port in use raises RuntimeError (port reuse is disabled).
    """
    if servicer is not None and (pats is not None or faults is not None or users is not None):
        raise ValueError("pass pats/faults/users to the servicer you give, not to start_server")
    if servicer is None:
        servicer = FakeV2Servicer(pats=pats, users=users, faults=faults)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fake_servicer"),
        options=[("grpc.so_reuseport", 0)],
    )
    service_pb2_grpc.add_V2Servicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    try:
        bound = server.add_insecure_port(_host_port(host, port))
    except RuntimeError as error:
        server.stop(None)
        raise RuntimeError(f"fake_servicer could not bind {_host_port(host, port)}") from error
    if bound == 0:
        server.stop(None)
        raise RuntimeError(f"fake_servicer could not bind {_host_port(host, port)}")
    server.start()
    return FakeServer(server, servicer, host, bound)


@contextmanager
def serve(
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    pats: Iterable[str] | None = None,
    faults: Faults | None = None,
    servicer: FakeV2Servicer | None = None,
    max_workers: int = DEFAULT_MAX_WORKERS,
    users: Mapping[str, str] | None = None,
) -> Iterator[FakeServer]:
    """Context manager: start a server (as :func:`start_server`) and stop it on exit."""
    server = start_server(
        port=port,
        host=host,
        pats=pats,
        faults=faults,
        servicer=servicer,
        max_workers=max_workers,
        users=users,
    )
    try:
        yield server
    finally:
        server.stop(None)
