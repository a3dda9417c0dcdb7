"""Seeded inputs per app, optionally in datasets, and how a task's input source selects them.

The fake has no Inputs API: tests seed inputs with ``FakeV2Servicer.put_inputs`` or
``python -m fake_servicer --seed-inputs N``. Inputs keep their seeding order, which is the order
in which tasks hand them out.

A task's input source is resolved once, when the task is created (PostTasks or ``put_tasks``);
inputs seeded later are not part of it. Choices where the docs are silent:

- ``ALL_INPUTS`` and an unset type: every input of the app.
- ``DATASET``: the inputs whose ``dataset_ids`` contain ``input_source.id``.
- ``INPUT``: the one input whose id is ``input_source.id`` (none if it does not exist).
- ``SAVED_SEARCH``: the fake has no search engine, so a saved search matches every input of the
  app, like ``ALL_INPUTS``.

Not thread-safe by itself: :class:`fake_servicer.lifecycle.Lifecycle` calls it under its lock.
"""

from __future__ import annotations

from collections.abc import Iterable

from clarifai_grpc.grpc.api import resources_pb2

from fake_servicer.protos import copy_message

Input = resources_pb2.Input
_Source = resources_pb2.TaskInputSource

GENERATED_ID_PREFIX = "input-"
"""Ids of inputs seeded by count are ``input-000001``, ``input-000002``, ... per app."""


class AppInputs:
    """One app's inputs, in seeding order; stored inputs are never mutated (replaced instead)."""

    def __init__(self) -> None:
        self._inputs: dict[str, Input] = {}
        self._generated = 0

    def put(self, inputs: Iterable[Input | str] | int, dataset_id: str | None) -> list[str]:
        """Store inputs (messages, ids, or a count to generate); return their ids in order.

        An existing id is replaced in place (keeping its position); ``dataset_id`` is added to
        each input's ``dataset_ids`` if missing.
        """
        if isinstance(inputs, int):
            if inputs < 0:
                raise ValueError(f"cannot seed a negative number of inputs ({inputs})")
            batch: list[Input | str] = []
            for _ in range(inputs):
                self._generated += 1
                batch.append(f"{GENERATED_ID_PREFIX}{self._generated:06d}")
            inputs = batch
        ids: list[str] = []
        for item in inputs:
            message = Input(id=item) if isinstance(item, str) else copy_message(item)
            if not message.id:
                raise ValueError("every seeded input needs an id")
            if dataset_id and dataset_id not in message.dataset_ids:
                message.dataset_ids.append(dataset_id)
            self._inputs[message.id] = message
            ids.append(message.id)
        return ids

    def get(self, input_id: str) -> Input | None:
        """The stored input (do not mutate) or None."""
        return self._inputs.get(input_id)

    def all(self) -> list[Input]:
        """Every stored input, in seeding order (the stored objects: do not mutate)."""
        return list(self._inputs.values())

    def select(self, source: resources_pb2.TaskInputSource) -> list[str]:
        """The ids of the inputs ``source`` selects, in seeding order (see the module doc)."""
        if source.type == _Source.DATASET:
            return [i.id for i in self._inputs.values() if source.id in i.dataset_ids]
        if source.type == _Source.INPUT:
            return [source.id] if source.id in self._inputs else []
        return list(self._inputs)
