"""Thread-safe in-memory task storage, partitioned per ``(user_id, app_id)``.

Each app keeps an insertion-ordered ``dict`` id -> Task, so listing newest first iterates it
``reversed`` and a page is an ``islice``: no copy or sort of the store per page, and inserting or
looking up a task is O(1) whatever the store size. Overwriting a task keeps its position;
deleting and re-creating an id makes it the newest.

Read-only fields: ``metrics`` is filled in by the service, never taken from a client, so
:meth:`TaskStore.insert_new` and :meth:`TaskStore.update` clear it (the servicer sets ``status``,
``created_at``, ``modified_at``, ``user_id`` and ``app_id`` itself, see :data:`READ_ONLY_FIELDS`).

Stored tasks are never mutated after they are stored (updates store a new object), so callers
may copy them outside the lock; callers must not mutate what this module returns.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from clarifai_grpc.grpc.api import resources_pb2

from fake_servicer.filters import TaskFilter

READ_ONLY_FIELDS = ("metrics", "status", "created_at", "modified_at", "user_id", "app_id")
"""Task fields the service fills in; a client's values for them are never stored."""

AppKey = tuple[str, str]
"""``(user_id, app_id)``."""

Task = resources_pb2.Task


class MissingTaskError(KeyError):
    """An update named a task id the app does not have."""

    def __init__(self, task_id: str) -> None:
        super().__init__(task_id)
        self.task_id = task_id


class ConflictError(Exception):
    """An insert named a task id the app already has."""

    def __init__(self, task_id: str) -> None:
        super().__init__(task_id)
        self.task_id = task_id


@dataclass
class _App:
    tasks: dict[str, Task] = field(default_factory=dict)
    seq: dict[str, int] = field(default_factory=dict)
    label_order_tasks: int = 0

    def store(self, task: Task, seq: int) -> None:
        old = self.tasks.get(task.id)
        if old is None:
            self.seq[task.id] = seq
        elif old.label_order_id:
            self.label_order_tasks -= 1
        if task.label_order_id:
            self.label_order_tasks += 1
        self.tasks[task.id] = task

    def remove(self, task_id: str) -> None:
        old = self.tasks.pop(task_id, None)
        if old is None:
            return
        del self.seq[task_id]
        if old.label_order_id:
            self.label_order_tasks -= 1


class TaskStore:
    """Per-app task maps behind one lock; every public method is atomic."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._apps: dict[AppKey, _App] = {}
        self._seq = itertools.count()

    def _app(self, key: AppKey) -> _App:
        app = self._apps.get(key)
        if app is None:
            app = self._apps[key] = _App()
        return app

    def insert_new(self, key: AppKey, tasks: Sequence[Task]) -> None:
        """Store ``tasks`` (distinct ids); if one id exists, store none and raise ConflictError."""
        with self._lock:
            app = self._app(key)
            for task in tasks:
                if task.id in app.tasks:
                    raise ConflictError(task.id)
            for task in tasks:
                task.ClearField("metrics")  # read-only: never what a client sent
                app.store(task, next(self._seq))

    def put(self, key: AppKey, tasks: Iterable[Task]) -> None:
        """Store ``tasks``, overwriting same ids in place (no checks; used for seeding)."""
        with self._lock:
            app = self._app(key)
            for task in tasks:
                app.store(task, next(self._seq))

    def get(self, key: AppKey, task_id: str) -> Task | None:
        """Return the stored task or None."""
        with self._lock:
            app = self._apps.get(key)
            return None if app is None else app.tasks.get(task_id)

    def update(
        self, key: AppKey, changes: Sequence[tuple[str, Callable[[Task], Task]]]
    ) -> list[Task]:
        """Apply ``(task_id, build)`` changes all or nothing; return the new tasks in order.

        ``build(old)`` returns the replacement (a new object) and may raise to refuse it. A
        missing id raises MissingTaskError. Nothing is stored unless every change succeeds; a
        later change of the same id builds on the earlier one's result.
        """
        with self._lock:
            app = self._apps.get(key)
            for task_id, _ in changes:
                if app is None or task_id not in app.tasks:
                    raise MissingTaskError(task_id)
            if app is None:
                return []
            staged: dict[str, Task] = {}
            results: list[Task] = []
            for task_id, build in changes:
                old = staged[task_id] if task_id in staged else app.tasks[task_id]
                new = build(old)
                new.ClearField("metrics")  # read-only: never what a client sent
                staged[task_id] = new
                results.append(new)
            for task in staged.values():
                app.store(task, app.seq[task.id])
            return results

    def delete(self, key: AppKey, task_ids: Iterable[str]) -> int:
        """Delete the tasks with these ids, ignoring unknown and repeated ids; return the count."""
        with self._lock:
            app = self._apps.get(key)
            if app is None:
                return 0
            before = len(app.tasks)
            for task_id in task_ids:
                app.remove(task_id)
            return before - len(app.tasks)

    def page(self, key: AppKey, flt: TaskFilter, offset: int, limit: int) -> list[Task]:
        """Return up to ``limit`` matching tasks, newest first, after skipping ``offset``."""
        with self._lock:
            app = self._apps.get(key)
            if app is None:
                return []
            candidates: Iterator[Task]
            if flt.ids is not None:
                found = [app.tasks[i] for i in flt.ids if i in app.tasks]
                found.sort(key=lambda t: app.seq[t.id], reverse=True)
                candidates = iter(found)
            else:
                candidates = reversed(app.tasks.values())
            label_orders_hidden = not flt.include_label_order_tasks and app.label_order_tasks
            if flt.filters_beyond_ids() or label_orders_hidden:
                candidates = filter(flt.matches, candidates)
            return list(itertools.islice(candidates, offset, offset + limit))

    def snapshot(self, key: AppKey) -> list[Task]:
        """Return the app's stored tasks, newest first (the stored objects: copy before use)."""
        with self._lock:
            app = self._apps.get(key)
            return [] if app is None else list(reversed(app.tasks.values()))

    def count(self, key: AppKey) -> int:
        """Return how many tasks the app holds."""
        with self._lock:
            app = self._apps.get(key)
            return 0 if app is None else len(app.tasks)

    def clear(self) -> None:
        """Forget every task of every app."""
        with self._lock:
            self._apps.clear()
