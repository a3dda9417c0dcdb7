"""The benchmark suite still runs, on tiny sizes. Not a timed test: it asserts on the report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_run_writes_a_full_table(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text(encoding="utf-8")
    assert "(quick sizes)" in text
    assert "grpcio" in text and "cores" in text
    for name in (
        "get: wall time per call",
        "get: client CPU per call",
        "naive loop vs create_many (sync)",
        "naive loop vs create_many (async)",
        "async 64 in flight vs sync sequential",
        "tasks: peak traced memory",
        "annotations (1000/page): time",
        "annotations: peak traced memory",
        "import: `import taskgrpc`",
    ):
        rows = [line for line in text.splitlines() if line.startswith("|") and name in line]
        assert len(rows) == 1, name
        assert rows[0].count("|") == 7, rows[0]
    assert "benchmarks/RESULTS.md" not in proc.stdout  # the real results file is untouched
