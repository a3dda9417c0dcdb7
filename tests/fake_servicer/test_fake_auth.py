"""PatChecker: which authorization metadata is accepted, and reasons that never hold the key."""

from __future__ import annotations

import pytest

from fake_servicer.auth import PatChecker
from fake_servicer.recording import Metadata

SECRET = "s3cr3t-pat"


@pytest.mark.parametrize(
    "metadata",
    [
        (),
        (("x-other", f"Key {SECRET}"),),
        (("authorization", SECRET),),
        (("authorization", f"key {SECRET}"),),
        (("authorization", "Key    "),),
        (("authorization", f"Key {SECRET}"), ("authorization", f"Key {SECRET}")),
        (("authorization", f"Key {SECRET}".encode()),),
        (("authorization", "Key other"),),
    ],
)
def test_refused(metadata: Metadata) -> None:
    reason = PatChecker([SECRET]).check(metadata)
    assert reason is not None
    assert SECRET not in reason


def test_accepted() -> None:
    metadata: Metadata = (("user-agent", "x"), ("authorization", f"Key {SECRET}"))
    assert PatChecker([SECRET, "another"]).check(metadata) is None
    assert PatChecker(None).check((("authorization", "Key anything"),)) is None
    assert PatChecker([]).check((("authorization", f"Key {SECRET}"),)) is not None
