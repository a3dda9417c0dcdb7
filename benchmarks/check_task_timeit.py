"""Cost of ``check_task`` per task: ``python -m benchmarks.check_task_timeit``.

Two tasks: the minimal one the bulk-create benchmark sends, and a rich one (a weighted
partition, a consensus review, a dataset source). Prints the CPU time per call, the median of
fifteen rounds.
"""

from __future__ import annotations

import statistics
import time

from clarifai_grpc.grpc.api import resources_pb2 as r

from taskgrpc import build_task, check_task, consensus, dataset, partitioned


def cpu_us_per_call(task: r.Task, number: int = 5000) -> float:
    start = time.process_time()
    for _ in range(number):
        check_task(task)
    return (time.process_time() - start) / number * 1e6


def main() -> None:
    rich = build_task(
        "CONCEPTS_CLASSIFICATION",
        name="bench",
        concepts=["cat", "dog"],
        workers=partitioned({"u1": 1, "u2": 1, "u3": 1}, workers_per_input=2),
        source=dataset("ds1"),
        review=consensus(["r1"], approval_threshold=2),
    )
    minimal = build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"], name="bench-1")
    for label, task in (("minimal", minimal), ("rich", rich)):
        median = statistics.median(cpu_us_per_call(task) for _ in range(15))
        print(f"check_task, {label} task: {median:.2f} us CPU per call")


if __name__ == "__main__":
    main()
