"""Annotation helpers: the ListAnnotations filter, PatchAnnotations actions, consensus keys.

Pure functions on plain ``Annotation`` messages; storage lives in
:mod:`fake_servicer.lifecycle`. Choices where the docs are silent:

- Every annotation in the fake is a human one and counts as trusted, so ``list_all_annotations``
  changes nothing; ``model_version_ids`` and ``workflow_version_ids`` match nothing (they are
  OR'd with ``user_ids``, so they only matter when ``user_ids`` is empty).
- PatchAnnotations ``overwrite`` replaces ``data`` (and ``annotation_info`` when sent);
  ``merge`` updates concepts and regions by id and appends new ones, merging the rest of
  ``data``; ``remove`` drops the concepts and regions with the sent ids, and with
  ``delete_if_empty_data`` deletes an annotation whose ``data`` ends up empty.
- Labelers agree under CONSENSUS when they chose the same concepts: the set of concept ids
  with a value above 0, over ``data.concepts`` and ``data.regions[].data.concepts`` of all the
  labeler's annotations on the input. Two labelers who chose nothing agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from google.protobuf import struct_pb2

from fake_servicer.protos import assign, copy_message

Annotation = resources_pb2.Annotation

PATCH_ACTIONS = ("merge", "overwrite", "remove")


def bound_task_id(annotation: Annotation) -> str:
    """The task an annotation is bound to: ``task_id``, else the deprecated
    ``annotation_info.task_id`` (a string), else ``""``."""
    if annotation.task_id:
        return annotation.task_id
    value = annotation.annotation_info.fields.get("task_id")
    if value is not None and value.WhichOneof("kind") == "string_value":
        return value.string_value
    return ""


def concept_key(annotations: Iterable[Annotation]) -> frozenset[str]:
    """The concepts chosen across ``annotations`` (see the module doc)."""
    chosen: set[str] = set()
    for annotation in annotations:
        datas = [annotation.data, *(region.data for region in annotation.data.regions)]
        for data in datas:
            chosen.update(concept.id for concept in data.concepts if concept.value > 0)
    return frozenset(chosen)


@dataclass(frozen=True)
class AnnotationFilter:
    """The ListAnnotations filters; empty tuples mean "any"."""

    task_id: str = ""
    ids: frozenset[str] = frozenset()
    input_ids: frozenset[str] = frozenset()
    user_ids: frozenset[str] = frozenset()
    statuses: frozenset[int] = frozenset()
    other_workers: bool = False
    """True when model or workflow version ids were sent (they match no annotation)."""

    @classmethod
    def from_request(cls, request: service_pb2.ListAnnotationsRequest) -> AnnotationFilter:
        """Read the filters of a ListAnnotations request."""
        return cls(
            task_id=request.task_id,
            ids=frozenset(request.ids),
            input_ids=frozenset(request.input_ids),
            user_ids=frozenset(request.user_ids),
            statuses=frozenset(status.code for status in request.statuses),
            other_workers=bool(request.model_version_ids or request.workflow_version_ids),
        )

    def matches(self, annotation: Annotation) -> bool:
        """True if ``annotation`` passes every filter."""
        if self.task_id and annotation.task_id != self.task_id:
            return False
        if self.ids and annotation.id not in self.ids:
            return False
        if self.input_ids and annotation.input_id not in self.input_ids:
            return False
        if (self.user_ids or self.other_workers) and annotation.user_id not in self.user_ids:
            return False
        return not self.statuses or annotation.status.code in self.statuses


def patched(stored: Annotation, sent: Annotation, action: str) -> Annotation:
    """A new annotation: ``stored`` with ``sent`` applied by ``action`` (see the module doc)."""
    new = copy_message(stored)
    if action == "overwrite":
        assign(new.data, sent.data)
        if sent.HasField("annotation_info"):
            assign(new.annotation_info, sent.annotation_info)
        return new
    if action == "remove":
        drop_concepts = {concept.id for concept in sent.data.concepts}
        drop_regions = {region.id for region in sent.data.regions}
        keep_concepts = [c for c in new.data.concepts if c.id not in drop_concepts]
        keep_regions = [r for r in new.data.regions if r.id not in drop_regions]
        del new.data.concepts[:]
        new.data.concepts.extend(keep_concepts)
        del new.data.regions[:]
        new.data.regions.extend(keep_regions)
        return new
    _merge_by_id(new.data.concepts, sent.data.concepts)
    _merge_by_id(new.data.regions, sent.data.regions)
    rest = copy_message(sent.data)
    del rest.concepts[:]
    del rest.regions[:]
    _merge_from(new.data, rest)
    if sent.HasField("annotation_info"):
        _merge_struct(new.annotation_info, sent.annotation_info)
    return new


def is_empty(data: resources_pb2.Data) -> bool:
    """True when ``data`` carries nothing."""
    return data.ByteSize() == 0


def _merge_by_id(
    target: Iterable[resources_pb2.Concept] | Iterable[resources_pb2.Region],
    sent: Iterable[resources_pb2.Concept] | Iterable[resources_pb2.Region],
) -> None:
    existing = {item.id: item for item in target}
    for item in sent:
        old = existing.get(item.id)
        if old is not None:
            assign(old, item)
        else:
            getattr(target, "append")(item)  # noqa: B009  (repeated field of either type)


def _merge_from(target: resources_pb2.Data, source: resources_pb2.Data) -> None:
    getattr(target, "MergeFrom")(source)  # noqa: B009  (untyped in some protobuf stubs)


def _merge_struct(target: struct_pb2.Struct, source: struct_pb2.Struct) -> None:
    for name, value in source.fields.items():
        assign(target.fields[name], value)
