"""``taskgrpc demo``: every section of the Tasks doc page, then the labeling lifecycle,
against an embedded fake.

Needs no credentials and no network: it serves ``fake_servicer`` on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from clarifai_grpc.grpc.api import resources_pb2 as r

from . import builders as b
from ._lifecycle_requests import annotation
from .client import TaskClient
from .errors import NotFoundError, code_name

DEMO_PAT = "demo-pat-not-a-secret"
#: The demo's people: each PAT is one user of the fake (none is a secret).
DEMO_USERS = {"demo-pat-alice": "alice", "demo-pat-bob": "bob", "demo-pat-rita": "rita"}
DEMO_INPUTS = 6


def _describe(task: r.Task) -> str:
    workers = [w.user.id for w in task.worker.workers if w.HasField("user")]
    strategy = r.TaskWorker.TaskWorkerStrategy.Name(task.worker.strategy)
    review = r.TaskReview.TaskReviewStrategy.Name(task.review.strategy)
    who = ",".join(workers) or "anyone in the app"
    return (
        f"{task.id[:8]}… {task.name!r} {r.Task.TaskType.Name(task.type)} "
        f"workers={strategy}({who}) review={review} status={code_name(task.status.code)}"
    )


def run_demo(out: TextIO) -> None:
    """Walk through create, get, list, update and delete, printing each step."""
    from fake_servicer import FakeV2Servicer, serve

    servicer = FakeV2Servicer(pats=[DEMO_PAT], users=DEMO_USERS)
    servicer.put_inputs("demo-user", "demo-app", DEMO_INPUTS)

    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    with (
        serve(servicer=servicer) as server,
        TaskClient(
            pat=DEMO_PAT, user_id="demo-user", app_id="demo-app", target=server.target, secure=False
        ) as client,
    ):
        say(f"fake Tasks API listening on {server.target}; client: {client!r}\n")

        say("1. Create a non-assigned task (anyone in the app may label):")
        open_task = client.create(
            b.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat", "dog"], name="non-assigned")
        )
        say("   " + _describe(open_task))

        say("2. Create an assigned task (FULL: every worker labels every input):")
        assigned = client.create(
            b.build_task(
                "BOUNDING_BOX_DETECTION",
                concepts=["car"],
                name="assigned",
                workers=b.full(["alice", "bob"]),
                source=b.dataset("street-scenes"),
            )
        )
        say("   " + _describe(assigned))

        say("3. Create a partitioned task (weighted 90/10, one worker per input):")
        parted = client.create(
            b.build_task(
                "POLYGON_DETECTION",
                concepts=["tree"],
                name="partitioned",
                workers=b.partitioned({"alice": 90, "carol": 10}),
                source=b.saved_search("forest-search"),
            )
        )
        say("   " + _describe(parted))

        say("4. Create a task with consensus review (2 labelers per input must agree):")
        reviewed = client.create(
            b.build_task(
                "CONCEPTS_CLASSIFICATION",
                concepts=["defect"],
                name="consensus",
                workers=b.partitioned_evenly(["alice", "bob", "carol"], workers_per_input=2),
                review=b.consensus(["dave"], approval_threshold=2),
            )
        )
        say("   " + _describe(reviewed))

        say("5. Get a task by id:")
        say("   " + _describe(client.get(assigned.id)))

        say("6. List all tasks (newest first):")
        for task in client.list():
            say("   " + _describe(task))
        say("   ... by worker 'bob':")
        for task in client.list(worker_user_ids=["bob"]):
            say("   " + _describe(task))
        say("   ... by reviewer 'dave':")
        for task in client.list(review_user_ids=["dave"]):
            say("   " + _describe(task))

        say("7. Update a task (overwrite: the whole task is sent):")
        assigned.name = "assigned, renamed"
        assigned.worker.CopyFrom(b.full(["alice", "bob", "erin"]))
        say("   " + _describe(client.update(assigned)))
        say("   ... and mark one done (merge: status only):")
        say("   " + _describe(client.set_status(open_task.id, "TASK_DONE")))

        say("8. Delete several tasks at once:")
        client.delete(open_task.id, parted.id, reviewed.id)
        left = [t.id for t in client.list()]
        say(f"   deleted 3; {len(left)} left: {', '.join(i[:8] + '…' for i in left)}")
        try:
            client.get(open_task.id)
        except NotFoundError as err:
            say(f"   getting a deleted one raises NotFoundError: {err.code_name}")
        _lifecycle(server.target, client, say)
        say("\ndone: every step ran against the in-memory fake; nothing left this machine.")


def _lifecycle(target: str, owner: TaskClient, say: Callable[[str], None]) -> None:
    """Create -> label -> review -> progress -> export -> TASK_DONE, each person with their PAT."""
    people = {
        user: TaskClient(
            pat=pat, user_id="demo-user", app_id="demo-app", target=target, secure=False
        )
        for pat, user in DEMO_USERS.items()
    }
    alice, bob, rita = people["alice"], people["bob"], people["rita"]
    try:
        say("9. The labeling lifecycle: alice and bob label every input, rita reviews.")
        task = owner.create(
            b.build_task(
                "CONCEPTS_CLASSIFICATION",
                concepts=["cat", "dog"],
                name="lifecycle",
                workers=b.full(["alice", "bob"]),
                review=b.manual_review(["rita"]),
            )
        )
        say("   " + _describe(task))
        for name, labeler in (("alice", alice), ("bob", bob)):
            while batch := labeler.start_labeling(task.id):
                labeler.annotate(task.id, [annotation(a.input.id, ["cat"]) for a in batch])
                labeler.submit(task.id, batch)
                say(f"   {name} labeled and submitted {len(batch)} input(s)")
        sent_back = rejected = 0
        while batch := rita.start_review(task.id):
            if not sent_back:
                rita.request_changes(task.id, batch[:1])
                sent_back, batch = 1, batch[1:]
            if not rejected:
                rita.reject(task.id, batch[:1])
                rejected, batch = 1, batch[1:]
            if batch:
                rita.approve(task.id, batch)
            say(f"   rita reviewed a batch: {len(batch)} approved")
        say("   one was sent back: its labeler submits it again, and rita approves it")
        for labeler in (alice, bob):
            if again := labeler.start_labeling(task.id):
                labeler.submit(task.id, again)
        rita.approve(task.id, workers=["alice", "bob"])

        progress = owner.progress(task.id)
        say(
            f"10. Progress: {progress.inputs} inputs, {progress.labeled} labeled, "
            f"{progress.reviewed} reviewed ({progress.reviewed_percent}%), "
            f"finished={progress.finished}"
        )
        for worker, counts in sorted(progress.workers.items()):
            say(f"   {worker}: {counts.success} approved, {counts.review_denied} rejected")
        approved = list(owner.annotations(task.id, statuses=["ANNOTATION_SUCCESS"]))
        say(f"11. Export: {len(approved)} approved annotation(s), e.g.")
        for a in approved[:2]:
            concepts = ",".join(c.id for c in a.data.concepts)
            say(f"   input {a.input_id} by {a.worker.user.id}: {concepts}")
        done = owner.set_status(task.id, "TASK_DONE")
        say(f"12. The owner closes the task: {code_name(done.status.code)}")
    finally:
        for person in people.values():
            person.close()
