"""Make clarifai ``Task`` messages picklable, as their wire bytes.

clarifai-grpc's message classes name a module that does not exist
(``proto.clarifai.api.resources_pb2``), so pickle cannot find them by
reference and ``pickle.dumps(task)`` fails. Batch pipelines hand tasks to
process pools, Dask and Spark, so importing taskgrpc registers a reducer for
``Task`` with :mod:`copyreg`. It changes nothing else.
"""

from __future__ import annotations

import copyreg
from collections.abc import Callable

from clarifai_grpc.grpc.api import resources_pb2 as r


def load_task(data: bytes) -> r.Task:
    """A Task from its serialized bytes (the unpickler calls this)."""
    return r.Task.FromString(data)


def _reduce_task(task: r.Task) -> tuple[Callable[[bytes], r.Task], tuple[bytes]]:
    return load_task, (task.SerializeToString(),)


copyreg.pickle(r.Task, _reduce_task)
