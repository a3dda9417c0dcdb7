"""PostAnnotations, ListAnnotations, PatchAnnotations, DeleteAnnotations over real gRPC."""

from __future__ import annotations

import pytest
from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_pb2
from fake_rpc import APP, USER, Rpc, ok
from google.protobuf import struct_pb2
from team import SC, Actor, concept_annotation, labeling_task

from fake_servicer import FakeServer


@pytest.fixture
def labeled(team_server: FakeServer, team_rpc: Rpc, actors: dict[str, Actor]) -> list[str]:
    """Task t1 (DYNAMIC, review NONE) over 3 inputs; l1 holds all three, unsubmitted."""
    ids = team_server.servicer.put_inputs(USER, APP, 3)
    ok(team_rpc.post(labeling_task("t1")))
    actors["l1"].start("t1")
    return ids


def ids_of(response: object) -> list[str]:
    return [a.id for a in getattr(response, "annotations")]  # noqa: B009


class TestPost:
    def test_task_id_and_deprecated_annotation_info(
        self, labeled: list[str], team_rpc: Rpc
    ) -> None:
        current = concept_annotation(labeled[0], "cat", annotation_id="a1")
        current.task_id = "t1"
        deprecated = concept_annotation(labeled[1], "dog", annotation_id="a2")
        deprecated.annotation_info.update({"task_id": "t1"})
        response = ok(
            team_rpc.request("PostAnnotations", pat="pat-l1", annotations=[current, deprecated])
        )
        assert [(a.id, a.task_id, a.user_id) for a in response.annotations] == [
            ("a1", "t1", "l1"),
            ("a2", "t1", "l1"),
        ]
        assert {a.status.code for a in response.annotations} == {SC.ANNOTATION_PENDING}
        listed = ok(team_rpc.request("ListAnnotations", task_id="t1")).annotations
        assert [a.id for a in listed] == ["a1", "a2"]

    def test_without_task_is_success_and_any_user(self, labeled: list[str], team_rpc: Rpc) -> None:
        plain = concept_annotation(labeled[0], "cat")
        posted = ok(team_rpc.request("PostAnnotations", annotations=[plain])).annotations[0]
        assert posted.id and posted.user_id == USER and not posted.task_id
        assert posted.status.code == SC.ANNOTATION_SUCCESS

    def test_duplicate_id_refused_and_nothing_stored(
        self, labeled: list[str], team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        ok(actors["l1"].annotate("t1", labeled[0], "cat", annotation_id="a1"))
        again = actors["l1"].annotate("t1", labeled[0], "cat", annotation_id="a1")
        assert again.status.code == SC.ANNOTATION_INVALID_ARGUMENT
        pair = [concept_annotation(labeled[1], "x", annotation_id=i) for i in ("b1", "b1")]
        response = team_rpc.request("PostAnnotations", annotations=pair)
        assert response.status.code == SC.ANNOTATION_INVALID_ARGUMENT
        assert ids_of(ok(team_rpc.request("ListAnnotations"))) == ["a1"]

    @pytest.mark.parametrize(
        ("user", "task_id", "input_index", "code"),
        [
            ("l2", "t1", 0, SC.TASK_PERMISSION_DENIED),  # l2 holds no assignment there
            ("r1", "t1", 0, SC.TASK_PERMISSION_DENIED),  # not a labeler
            ("l1", "nope", 0, SC.TASK_MISSING),
            ("l1", "t1", -1, SC.INPUT_DOES_NOT_EXIST),
        ],
    )
    def test_refusals(
        self,
        labeled: list[str],
        team_rpc: Rpc,
        actors: dict[str, Actor],
        user: str,
        task_id: str,
        input_index: int,
        code: int,
    ) -> None:
        input_id = labeled[input_index] if input_index >= 0 else "no-such-input"
        response = actors[user].annotate(task_id, input_id, "cat")
        assert response.status.code == code
        assert ids_of(ok(team_rpc.request("ListAnnotations"))) == []

    def test_after_submit_is_denied(
        self, labeled: list[str], team_rpc: Rpc, actors: dict[str, Actor]
    ) -> None:
        l1 = actors["l1"]
        l1.submit("t1", l1.start("t1"))
        assert l1.annotate("t1", labeled[0], "cat").status.code == SC.TASK_PERMISSION_DENIED

    def test_empty_and_missing_input_id_refused(self, labeled: list[str], team_rpc: Rpc) -> None:
        assert team_rpc.request("PostAnnotations").status.code == SC.CONN_INVALID_REQUEST
        no_input = resources_pb2.Annotation(id="a1")
        response = team_rpc.request("PostAnnotations", annotations=[no_input])
        assert response.status.code == SC.CONN_INVALID_REQUEST


class TestList:
    @pytest.fixture
    def mixed(self, labeled: list[str], team_rpc: Rpc, actors: dict[str, Actor]) -> list[str]:
        """a0..a2 by l1 in t1 (a0 submitted -> SUCCESS), p0 a plain annotation by the owner."""
        l1 = actors["l1"]
        for index, input_id in enumerate(labeled):
            ok(l1.annotate("t1", input_id, "cat", annotation_id=f"a{index}"))
        l1.submit("t1", l1.start("t1")[:1])
        plain = concept_annotation(labeled[1], "dog", annotation_id="p0")
        ok(team_rpc.request("PostAnnotations", annotations=[plain]))
        return labeled

    def test_filters(self, mixed: list[str], team_rpc: Rpc) -> None:
        def listed(**fields: object) -> list[str]:
            return ids_of(ok(team_rpc.request("ListAnnotations", **fields)))

        success = status_pb2.Status(code=SC.ANNOTATION_SUCCESS)
        pending = status_pb2.Status(code=SC.ANNOTATION_PENDING)
        assert listed() == ["a0", "a1", "a2", "p0"]
        assert listed(task_id="t1") == ["a0", "a1", "a2"]
        assert listed(task_id="nope") == []
        assert listed(task_id="t1", statuses=[success]) == ["a0"]
        assert listed(statuses=[success]) == ["a0", "p0"]
        assert listed(statuses=[success, pending]) == ["a0", "a1", "a2", "p0"]
        assert listed(user_ids=["l1"]) == ["a0", "a1", "a2"]
        assert listed(user_ids=[USER, "l1"]) == ["a0", "a1", "a2", "p0"]
        assert listed(input_ids=[mixed[1]]) == ["a1", "p0"]
        assert listed(ids=["p0", "a2"]) == ["a2", "p0"]
        assert listed(model_version_ids=["m"]) == []
        assert listed(list_all_annotations=True) == ["a0", "a1", "a2", "p0"]

    def test_pages(self, team_server: FakeServer, team_rpc: Rpc) -> None:
        team_server.servicer.put_inputs(USER, APP, ["in"])
        annotations = [concept_annotation("in", "c", annotation_id=f"a{i:03d}") for i in range(45)]
        ok(team_rpc.request("PostAnnotations", annotations=annotations))
        default = ids_of(ok(team_rpc.request("ListAnnotations")))
        assert default == [f"a{i:03d}" for i in range(20)]
        third = ids_of(ok(team_rpc.request("ListAnnotations", page=3)))
        assert third == [f"a{i:03d}" for i in range(40, 45)]
        pages = [
            ids_of(ok(team_rpc.request("ListAnnotations", page=page, per_page=16)))
            for page in (1, 2, 3, 4)
        ]
        assert [len(p) for p in pages] == [16, 16, 13, 0]
        assert [i for page in pages for i in page] == [f"a{i:03d}" for i in range(45)]
        too_big = team_rpc.request("ListAnnotations", per_page=1001)
        assert too_big.status.code == SC.CONN_INVALID_REQUEST

    def test_listing_sees_changes_between_pages(
        self, team_server: FakeServer, team_rpc: Rpc
    ) -> None:
        team_server.servicer.put_inputs(USER, APP, ["in"])
        first = [concept_annotation("in", "c", annotation_id=f"a{i}") for i in range(3)]
        ok(team_rpc.request("PostAnnotations", annotations=first))
        assert ids_of(ok(team_rpc.request("ListAnnotations", user_ids=[USER]))) == [
            "a0",
            "a1",
            "a2",
        ]
        more = [concept_annotation("in", "c", annotation_id="a3")]
        ok(team_rpc.request("PostAnnotations", annotations=more))
        ok(team_rpc.request("DeleteAnnotations", ids=["a0"]))
        assert ids_of(ok(team_rpc.request("ListAnnotations", user_ids=[USER]))) == [
            "a1",
            "a2",
            "a3",
        ]


class TestPatchAndDelete:
    @pytest.fixture
    def one(self, team_server: FakeServer, team_rpc: Rpc) -> resources_pb2.Annotation:
        team_server.servicer.put_inputs(USER, APP, ["in"])
        annotation = concept_annotation("in", "cat", "dog", annotation_id="a1")
        return ok(team_rpc.request("PostAnnotations", annotations=[annotation])).annotations[0]

    def concepts(self, team_rpc: Rpc) -> dict[str, float]:
        (stored,) = ok(team_rpc.request("ListAnnotations", ids=["a1"])).annotations
        return {c.id: round(c.value, 3) for c in stored.data.concepts}

    def test_merge_overwrite_remove(self, one: resources_pb2.Annotation, team_rpc: Rpc) -> None:
        change = resources_pb2.Annotation(id="a1")
        change.data.concepts.add(id="dog", value=0.5)
        change.data.concepts.add(id="bird", value=1.0)
        ok(team_rpc.request("PatchAnnotations", action="merge", annotations=[change]))
        assert self.concepts(team_rpc) == {"cat": 1.0, "dog": 0.5, "bird": 1.0}
        drop = resources_pb2.Annotation(id="a1")
        drop.data.concepts.add(id="cat")
        ok(team_rpc.request("PatchAnnotations", action="remove", annotations=[drop]))
        assert self.concepts(team_rpc) == {"dog": 0.5, "bird": 1.0}
        replace = resources_pb2.Annotation(id="a1")
        replace.data.concepts.add(id="fish", value=1.0)
        replace.annotation_info.CopyFrom(struct_pb2.Struct())
        replace.annotation_info.update({"note": "x"})
        patched = ok(
            team_rpc.request("PatchAnnotations", action="overwrite", annotations=[replace])
        ).annotations[0]
        assert self.concepts(team_rpc) == {"fish": 1.0}
        assert patched.annotation_info["note"] == "x"
        assert patched.modified_at.ToNanoseconds() >= one.modified_at.ToNanoseconds()

    def test_remove_with_delete_if_empty_data(
        self, one: resources_pb2.Annotation, team_rpc: Rpc
    ) -> None:
        drop = resources_pb2.Annotation(id="a1")
        drop.data.concepts.add(id="cat")
        drop.data.concepts.add(id="dog")
        ok(
            team_rpc.request(
                "PatchAnnotations",
                action="remove",
                annotations=[drop],
                delete_if_empty_data=True,
            )
        )
        assert ids_of(ok(team_rpc.request("ListAnnotations"))) == []

    def test_patch_refusals_change_nothing(
        self, one: resources_pb2.Annotation, team_rpc: Rpc
    ) -> None:
        good = resources_pb2.Annotation(id="a1")
        good.data.concepts.add(id="new", value=1.0)
        missing = resources_pb2.Annotation(id="nope")
        cases = [
            ("merge", [good, missing], SC.CONN_DOES_NOT_EXIST),
            ("merge", [resources_pb2.Annotation()], SC.CONN_INVALID_REQUEST),
            ("replace", [good], SC.CONN_INVALID_REQUEST),
            ("merge", [], SC.CONN_INVALID_REQUEST),
        ]
        for action, sent, code in cases:
            response = team_rpc.request("PatchAnnotations", action=action, annotations=sent)
            assert response.status.code == code
        assert self.concepts(team_rpc) == {"cat": 1.0, "dog": 1.0}

    def test_delete_by_ids_and_inputs(self, team_server: FakeServer, team_rpc: Rpc) -> None:
        team_server.servicer.put_inputs(USER, APP, ["x", "y"])
        annotations = [
            concept_annotation(input_id, "c", annotation_id=f"{input_id}{n}")
            for input_id in ("x", "y")
            for n in (1, 2)
        ]
        ok(team_rpc.request("PostAnnotations", annotations=annotations))
        ok(team_rpc.request("DeleteAnnotations", ids=["x1", "unknown"]))
        assert ids_of(ok(team_rpc.request("ListAnnotations"))) == ["x2", "y1", "y2"]
        ok(team_rpc.request("DeleteAnnotations", input_ids=["y"]))
        assert ids_of(ok(team_rpc.request("ListAnnotations"))) == ["x2"]
        assert team_rpc.request("DeleteAnnotations").status.code == SC.CONN_INVALID_REQUEST


def test_servicer_reads_every_annotation(team_server: FakeServer, team_rpc: Rpc) -> None:
    team_server.servicer.put_inputs(USER, APP, ["in"])
    sent = [concept_annotation("in", "c", annotation_id=f"a{i}") for i in range(3)]
    ok(team_rpc.request("PostAnnotations", annotations=sent))
    stored = team_server.servicer.annotations(USER, APP)
    assert [a.id for a in stored] == ["a0", "a1", "a2"]
    stored[0].data.Clear()
    assert team_server.servicer.annotations(USER, APP)[0].data.concepts
    team_server.servicer.reset()
    assert team_server.servicer.annotations(USER, APP) == []
    assert team_server.servicer.inputs(USER, APP) == []


def test_put_annotations_seeds_for_readers(team_server: FakeServer, team_rpc: Rpc) -> None:
    servicer = team_server.servicer
    legacy = resources_pb2.Annotation(id="old", input_id="x", user_id="l1")
    legacy.annotation_info.update({"task_id": "t9"})
    denied = resources_pb2.Annotation(input_id="y", task_id="t9", user_id="l2")
    denied.status.code = SC.ANNOTATION_REVIEW_DENIED
    ids = servicer.put_annotations(USER, APP, [legacy, denied])
    assert ids[0] == "old" and len(ids[1]) == 32
    listed = ok(team_rpc.request("ListAnnotations", task_id="t9")).annotations
    assert [(a.id, a.status.code, a.worker.user.id) for a in listed] == [
        ("old", SC.ANNOTATION_SUCCESS, "l1"),
        (ids[1], SC.ANNOTATION_REVIEW_DENIED, "l2"),
    ]
    assert listed[0].created_at.seconds > 0
    replaced = resources_pb2.Annotation(id="old", input_id="z", task_id="t9")
    servicer.put_annotations(USER, APP, [replaced])
    assert [a.input_id for a in servicer.annotations(USER, APP)] == ["y", "z"]
