"""Cost of ``check_task`` per task: ``python -m benchmarks.check_task_timeit``.

The task is the one the bulk-create benchmark sends: a partitioned worker, a consensus review
and a dataset source. Prints the best of five repeats, in microseconds per call.
"""

from __future__ import annotations

import timeit

from taskgrpc import build_task, check_task, consensus, dataset, partitioned


def main() -> None:
    task = build_task(
        "CONCEPTS_CLASSIFICATION",
        name="bench",
        concepts=["cat", "dog"],
        workers=partitioned({"u1": 1, "u2": 1, "u3": 1}, workers_per_input=2),
        source=dataset("ds1"),
        review=consensus(["r1"], approval_threshold=2),
    )
    number = 20_000
    best = min(timeit.repeat(lambda: check_task(task), number=number, repeat=5))
    print(f"check_task: {best / number * 1e6:.2f} us per task")


if __name__ == "__main__":
    main()
