"""The shared input checks in taskgrpc._validate."""

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r

from taskgrpc._validate import enum_number, unknown_name
from taskgrpc.errors import ValidationError

TaskType = r.Task.TaskType


def test_enum_number_takes_names_in_any_case_and_numbers() -> None:
    assert enum_number(TaskType, "polygon_detection", "task type") == TaskType.Value(
        "POLYGON_DETECTION"
    )
    assert enum_number(TaskType, 2, "task type") == 2


def test_enum_typo_lists_valid_names_and_suggests_one() -> None:
    with pytest.raises(ValidationError) as info:
        enum_number(TaskType, "BOUNDING_BOX_DETECTON", "task type")
    text = str(info.value)
    assert "did you mean 'BOUNDING_BOX_DETECTION'?" in text
    assert "CONCEPTS_CLASSIFICATION" in text and "POLYGON_DETECTION" in text


def test_skipped_names_and_unknown_numbers_are_refused() -> None:
    with pytest.raises(ValidationError, match="valid: CONCEPTS"):
        enum_number(TaskType, "TYPE_NOT_SET", "task type", skip=["TYPE_NOT_SET"])
    with pytest.raises(ValidationError, match="unknown task type 99"):
        enum_number(TaskType, 99, "task type")
    with pytest.raises(ValidationError, match="a name or a number"):
        enum_number(TaskType, 1.5, "task type")  # type: ignore[arg-type]


def test_no_hint_when_nothing_is_close() -> None:
    assert "did you mean" not in str(unknown_name("color", "zzzzzz", ["RED", "BLUE"]))
