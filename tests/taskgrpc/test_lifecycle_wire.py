"""Wire shape of the labeling-lifecycle verbs, with grpcio-testing's channel: the exact request
protos (actions and configs), each actor's PAT in the metadata, and how answers come back.
"""

from __future__ import annotations

import threading

import grpc
import grpc_testing
import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from clarifai_grpc.grpc.api.status import status_pb2
from tgsupport import APP, FAST_RETRY, HEX32, USER, Runner, bad_status, ok_status, single, uaid

import taskgrpc
from taskgrpc import annotation

V2 = s.DESCRIPTOR.services_by_name["V2"]
U = uaid(USER, APP)
RUNTIME_KEY = "grpc.metadata_added_by_runtime"
LABELER_PAT, REVIEWER_PAT, OWNER_PAT = "pat-labeler-1", "pat-reviewer-1", "pat-owner-1"
A = s.PutTaskAssignmentsRequestAction


class Wire:
    """One grpcio-testing channel; a client per actor, each with its own PAT."""

    def __init__(self) -> None:
        self.channel = grpc_testing.channel([V2], grpc_testing.strict_real_time())

    def client(self, pat: str) -> taskgrpc.TaskClient:
        return taskgrpc.TaskClient(
            pat=pat, user_id=USER, app_id=APP, channel=self.channel, retry=FAST_RETRY
        )

    def take(self, method: str, pat: str, timeout: float = 10.0):
        """The next call of ``method``, checking it carries ``pat``: (request, rpc)."""
        box: dict = {}
        thread = threading.Thread(
            target=lambda: box.update(v=self.channel.take_unary_unary(V2.methods_by_name[method])),
            daemon=True,
        )
        thread.start()
        thread.join(timeout)
        assert "v" in box, f"no {method} call arrived"
        metadata, request, rpc = box["v"]
        assert tuple((k, v) for k, v in metadata if k != RUNTIME_KEY) == (
            ("authorization", f"Key {pat}"),
        )
        return request, rpc

    def answer(self, method: str, pat: str, response):
        request, rpc = self.take(method, pat)
        rpc.terminate(response, (), grpc.StatusCode.OK, "")
        return request


@pytest.fixture
def wire():
    return Wire()


def assignment(aid: str, input_id: str = "in1", user: str = "labeler") -> r.TaskAssignment:
    return r.TaskAssignment(
        id=aid,
        worker=r.Worker(user=r.User(id=user)),
        input=r.Input(id=input_id),
        status=status_pb2.Status(code=sc.TASK_ASSIGNMENT_PENDING),
    )


def assignments_response(*items: r.TaskAssignment) -> s.MultiTaskAssignmentResponse:
    return s.MultiTaskAssignmentResponse(status=ok_status(), task_assignments=list(items))


def refs(*ids: str) -> list[r.TaskAssignment]:
    return [r.TaskAssignment(id=i) for i in ids]


def users(*ids: str) -> list[r.Worker]:
    return [r.Worker(user=r.User(id=i)) for i in ids]


# --- PutTaskAssignments ----------------------------------------------------------------------


def test_start_labeling_sends_label_start_with_no_config_and_the_labelers_pat(wire):
    labeler = wire.client(LABELER_PAT)
    run = Runner(lambda: labeler.start_labeling("t1"))
    batch = [assignment("a1", "in1"), assignment("a2", "in2")]
    request = wire.answer("PutTaskAssignments", LABELER_PAT, assignments_response(*batch))
    assert request == s.PutTaskAssignmentsRequest(user_app_id=U, task_id="t1", action=A.LABEL_START)
    assert request.WhichOneof("action_config") is None
    assert run.result() == batch


def test_start_labeling_returns_an_empty_list_when_no_work_is_left(wire):
    run = Runner(lambda: wire.client(LABELER_PAT).start_labeling("t1"))
    wire.answer("PutTaskAssignments", LABELER_PAT, assignments_response())
    assert run.result() == []


def test_submit_sends_label_submit_with_the_assignment_ids(wire):
    labeler = wire.client(LABELER_PAT)
    run = Runner(lambda: labeler.submit("t1", [assignment("a1"), "a2"]))
    request = wire.answer("PutTaskAssignments", LABELER_PAT, assignments_response())
    assert request == s.PutTaskAssignmentsRequest(
        user_app_id=U,
        task_id="t1",
        action=A.LABEL_SUBMIT,
        label_submit_config=s.LabelSubmitConfig(task_assignments=refs("a1", "a2")),
    )
    assert not request.input_id  # not the deprecated way
    run.result()


def test_submit_of_nothing_sends_nothing(wire):
    assert wire.client(LABELER_PAT).submit("t1", []) == []


def test_start_review_for_all_workers_and_for_some(wire):
    reviewer = wire.client(REVIEWER_PAT)
    run = Runner(lambda: reviewer.start_review("t1"))
    request = wire.answer("PutTaskAssignments", REVIEWER_PAT, assignments_response())
    assert request == s.PutTaskAssignmentsRequest(
        user_app_id=U, task_id="t1", action=A.REVIEW_START
    )
    run.result()
    run = Runner(lambda: reviewer.start_review("t1", workers=["u1", "u2"]))
    request = wire.answer("PutTaskAssignments", REVIEWER_PAT, assignments_response())
    assert request == s.PutTaskAssignmentsRequest(
        user_app_id=U,
        task_id="t1",
        action=A.REVIEW_START,
        review_start_config=s.ReviewStartConfig(workers=users("u1", "u2")),
    )
    run.result()


@pytest.mark.parametrize(
    ("verb", "action", "config"),
    [
        ("approve", A.REVIEW_APPROVE, "review_approve_config"),
        ("request_changes", A.REVIEW_REQUEST_CHANGES, "review_request_changes_config"),
        ("reject", A.REVIEW_REJECT, "review_reject_config"),
    ],
)
def test_review_decisions_by_assignment_and_by_worker(wire, verb, action, config):
    reviewer = wire.client(REVIEWER_PAT)
    decided = [assignment("a1")]
    run = Runner(lambda: getattr(reviewer, verb)("t1", [assignment("a1"), "a2"]))
    request = wire.answer("PutTaskAssignments", REVIEWER_PAT, assignments_response(*decided))
    assert request.action == action and request.WhichOneof("action_config") == config
    assert list(getattr(request, config).task_assignments) == refs("a1", "a2")
    assert not getattr(request, config).workers
    assert run.result() == decided

    run = Runner(lambda: getattr(reviewer, verb)("t1", workers=["u1"]))
    request = wire.answer("PutTaskAssignments", REVIEWER_PAT, assignments_response())
    assert request.action == action and request.WhichOneof("action_config") == config
    assert list(getattr(request, config).workers) == users("u1")
    assert not getattr(request, config).task_assignments
    run.result()


@pytest.mark.parametrize("verb", ["approve", "request_changes", "reject"])
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"assignments": ["a1"], "workers": ["u1"]},
        {"assignments": []},
        {"workers": []},
        {"assignments": "a1"},
        {"workers": "u1"},
    ],
)
def test_review_decisions_need_exactly_one_of_assignments_or_workers(wire, verb, kwargs):
    reviewer = wire.client(REVIEWER_PAT)
    with pytest.raises(taskgrpc.ValidationError):
        getattr(reviewer, verb)("t1", **kwargs)  # raised in this thread: nothing was sent


def test_a_review_refusal_comes_back_as_its_api_error(wire):
    run = Runner(lambda: wire.client(REVIEWER_PAT).approve("t1", ["a1"]))
    wire.answer(
        "PutTaskAssignments",
        REVIEWER_PAT,
        s.MultiTaskAssignmentResponse(status=bad_status(sc.CONN_INVALID_REQUEST, "no")),
    )
    with pytest.raises(taskgrpc.InvalidRequestError):
        run.result()


def test_put_task_assignments_is_retried_on_unavailable_as_documented_idempotent(wire):
    run = Runner(lambda: wire.client(LABELER_PAT).start_labeling("t1"))
    _, rpc = wire.take("PutTaskAssignments", LABELER_PAT)
    rpc.terminate(s.MultiTaskAssignmentResponse(), (), grpc.StatusCode.UNAVAILABLE, "down")
    wire.answer("PutTaskAssignments", LABELER_PAT, assignments_response(assignment("a1")))
    assert [a.id for a in run.result()] == ["a1"]


# --- PostAnnotations ---------------------------------------------------------------------------


def test_annotate_sets_task_id_and_ids_and_leaves_the_callers_messages_alone(wire):
    labeler = wire.client(LABELER_PAT)
    given = [annotation("in1", {"cat": 1.0, "dog": 0.0}), annotation("in2", ["cat"])]
    before = [type(a).FromString(a.SerializeToString()) for a in given]
    run = Runner(lambda: labeler.annotate("t1", given))
    request, rpc = wire.take("PostAnnotations", LABELER_PAT)
    stored = [type(a).FromString(a.SerializeToString()) for a in request.annotations]
    rpc.terminate(
        s.MultiAnnotationResponse(status=ok_status(), annotations=stored[::-1]),
        (),
        grpc.StatusCode.OK,
        "",
    )
    assert given == before
    assert [a.task_id for a in request.annotations] == ["t1", "t1"]
    assert all(not a.annotation_info.fields for a in request.annotations)
    assert all(HEX32.fullmatch(a.id) for a in request.annotations)
    assert [a.input_id for a in request.annotations] == ["in1", "in2"]
    assert [(c.id, c.value) for c in request.annotations[0].data.concepts] == [
        ("cat", 1.0),
        ("dog", 0.0),
    ]
    assert request.user_app_id == U
    assert [a.id for a in run.result()] == [a.id for a in request.annotations]  # input order


def test_annotate_keeps_given_ids_and_refuses_another_tasks_annotation(wire):
    labeler = wire.client(LABELER_PAT)
    run = Runner(lambda: labeler.annotate("t1", [annotation("in1", ["cat"], annotation_id="x")]))
    request, rpc = wire.take("PostAnnotations", LABELER_PAT)
    rpc.terminate(
        s.MultiAnnotationResponse(status=ok_status(), annotations=list(request.annotations)),
        (),
        grpc.StatusCode.OK,
        "",
    )
    assert [a.id for a in run.result()] == ["x"]
    other = annotation("in1", ["cat"])
    other.task_id = "t2"
    with pytest.raises(taskgrpc.ValidationError, match="t2"):
        labeler.annotate("t1", [other])
    with pytest.raises(taskgrpc.ValidationError):
        labeler.annotate("t1", [])


def test_annotate_after_unavailable_looks_up_and_posts_only_the_missing(wire):
    labeler = wire.client(LABELER_PAT)
    run = Runner(
        lambda: labeler.annotate("t1", [annotation("in1", ["cat"]), annotation("in2", ["cat"])])
    )
    first, rpc = wire.take("PostAnnotations", LABELER_PAT)
    rpc.terminate(s.MultiAnnotationResponse(), (), grpc.StatusCode.UNAVAILABLE, "lost")
    a1, a2 = first.annotations
    lookup = wire.answer(
        "ListAnnotations",
        LABELER_PAT,
        s.MultiAnnotationResponse(status=ok_status(), annotations=[a1]),
    )
    assert list(lookup.ids) == [a1.id, a2.id] and lookup.list_all_annotations
    second = wire.answer(
        "PostAnnotations",
        LABELER_PAT,
        s.MultiAnnotationResponse(status=ok_status(), annotations=[a2]),
    )
    assert list(second.annotations) == [a2]  # a1 is not posted twice
    assert [a.id for a in run.result()] == [a1.id, a2.id]


# --- counts, listing, progress -------------------------------------------------------------


def counts_response(*counts: r.TaskStatusCountPerUser) -> s.SingleTaskCountResponse:
    return s.SingleTaskCountResponse(status=ok_status(), app_id=APP, task_id="t1", counts=counts)


@pytest.mark.parametrize(
    ("verb", "method"),
    [("input_counts", "GetTaskInputCount"), ("annotation_counts", "GetTaskAnnotationCount")],
)
def test_counts_by_worker_id_of_any_kind(wire, verb, method):
    owner = wire.client(OWNER_PAT)
    run = Runner(lambda: getattr(owner, verb)("t1", user_ids=["u1", "u2"]))
    by_user = r.TaskStatusCountPerUser(worker=r.Worker(user=r.User(id="u1")), pending=3)
    by_model = r.TaskStatusCountPerUser(worker=r.Worker(model=r.Model(id="m1")), success=2)
    legacy = r.TaskStatusCountPerUser(user_id="u2", review_denied=1)
    request = wire.answer(method, OWNER_PAT, counts_response(by_user, by_model, legacy))
    assert request == s.GetTaskCountRequest(user_app_id=U, task_id="t1", user_ids=["u1", "u2"])
    assert run.result() == {"u1": by_user, "m1": by_model, "u2": legacy}


def annotations_response(*ids: str) -> s.MultiAnnotationResponse:
    return s.MultiAnnotationResponse(
        status=ok_status(), annotations=[r.Annotation(id=i, task_id="t1") for i in ids]
    )


def test_annotations_pages_lazily_with_filters_by_name_and_code(wire):
    owner = wire.client(OWNER_PAT)
    pager = owner.annotations(
        "t1",
        statuses=["annotation_success", sc.ANNOTATION_AWAITING_REVIEW],
        user_ids=["u1"],
        input_ids=["in1", "in2"],
        per_page=2,
    )
    run = Runner(lambda: [a.id for a in pager])
    first = wire.answer("ListAnnotations", OWNER_PAT, annotations_response("x1", "x2"))
    assert first == s.ListAnnotationsRequest(
        user_app_id=U,
        task_id="t1",
        statuses=[
            status_pb2.Status(code=sc.ANNOTATION_SUCCESS),
            status_pb2.Status(code=sc.ANNOTATION_AWAITING_REVIEW),
        ],
        user_ids=["u1"],
        input_ids=["in1", "in2"],
        list_all_annotations=True,
        page=1,
        per_page=2,
    )
    second = wire.answer("ListAnnotations", OWNER_PAT, annotations_response("x3"))
    assert second.page == 2 and second.task_id == "t1"
    assert run.result() == ["x1", "x2", "x3"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"statuses": ["ANNOTATION_SUCESS"]},
        {"statuses": "ANNOTATION_SUCCESS"},
        {"statuses": [123456789]},
        {"per_page": 0},
        {"user_ids": "u1"},
    ],
)
def test_annotations_refuses_bad_filters_before_sending(wire, kwargs):
    with pytest.raises(taskgrpc.ValidationError):
        wire.client(OWNER_PAT).annotations("t1", **kwargs)


def test_a_misspelled_status_gets_a_hint():
    with pytest.raises(taskgrpc.ValidationError, match="did you mean 'ANNOTATION_SUCCESS'"):
        taskgrpc.TaskClient(pat="p", user_id=USER, app_id=APP).annotations(
            "t1", statuses=["ANNOTATION_SUCESS"]
        )


def test_an_unknown_status_lists_the_annotation_statuses_only():
    client = taskgrpc.TaskClient(pat="p", user_id=USER, app_id=APP)
    with pytest.raises(taskgrpc.ValidationError) as info:
        client.annotations("t1", statuses=["annotation_succes"])
    text = str(info.value)
    assert "did you mean 'ANNOTATION_SUCCESS'" in text
    assert "annotation statuses: ANNOTATION_SUCCESS," in text
    assert "MODEL_TRAINED" not in text and len(text) < 1000
    # any status code is still accepted, as before
    client.annotations("t1", statuses=["SUCCESS", sc.ANNOTATION_PENDING])


def test_progress_reads_metrics_and_input_counts(wire):
    owner = wire.client(OWNER_PAT)
    run = Runner(lambda: owner.progress("t1"))
    task = r.Task(id="t1", status=status_pb2.Status(code=sc.TASK_IN_PROGRESS))
    task.metrics.input_source.inputs_count_estimated = 4
    task.metrics.work.inputs_count_estimated = 4
    task.metrics.review.inputs_count_estimated = 3
    task.metrics.review.inputs_percent_estimated = 75
    get = wire.answer("GetTask", OWNER_PAT, single(task))
    assert get.task_id == "t1"
    assert set(get.additional_fields) >= {
        "metrics.input_source.inputs_count_estimated",
        "metrics.work.inputs_count_estimated",
        "metrics.review.inputs_count_estimated",
    }
    awaiting = r.TaskStatusCountPerUser(
        worker=r.Worker(user=r.User(id="u1")), success=3, awaiting_review=1
    )
    wire.answer("GetTaskInputCount", OWNER_PAT, counts_response(awaiting))
    progress = run.result()
    assert (progress.inputs, progress.labeled, progress.reviewed) == (4, 4, 3)
    assert progress.workers == {"u1": awaiting}
    assert not progress.finished
    assert progress.as_dict()["workers"]["u1"]["awaiting_review"] == 1
    assert progress.as_dict()["status"] == "TASK_IN_PROGRESS"


def test_progress_is_finished_when_all_inputs_are_reviewed_and_nothing_is_open(wire):
    run = Runner(lambda: wire.client(OWNER_PAT).progress("t1"))
    task = r.Task(id="t1")
    task.metrics.input_source.inputs_count_estimated = 2
    task.metrics.review.inputs_count_estimated = 2
    wire.answer("GetTask", OWNER_PAT, single(task))
    done = r.TaskStatusCountPerUser(worker=r.Worker(user=r.User(id="u1")), success=2)
    wire.answer("GetTaskInputCount", OWNER_PAT, counts_response(done))
    assert run.result().finished
