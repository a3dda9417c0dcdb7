"""fake_servicer: an in-memory, faithful stand-in for Clarifai's Tasks gRPC API.

Exports are loaded lazily so that importing the package (e.g. by the pytest plugin) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fake_servicer.faults import Faults
    from fake_servicer.recording import CallRecord
    from fake_servicer.server import FakeServer, serve, start_server
    from fake_servicer.servicer import FakeV2Servicer
    from fake_servicer.simulate import SimulationResult

__all__ = [
    "CallRecord",
    "FakeServer",
    "FakeV2Servicer",
    "Faults",
    "SimulationResult",
    "serve",
    "start_server",
]

_EXPORTS = {
    "CallRecord": "fake_servicer.recording",
    "FakeServer": "fake_servicer.server",
    "FakeV2Servicer": "fake_servicer.servicer",
    "Faults": "fake_servicer.faults",
    "SimulationResult": "fake_servicer.simulate",
    "serve": "fake_servicer.server",
    "start_server": "fake_servicer.server",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fake_servicer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
