"""Docs are code: every ```python block in README.md, docs/*.md and benchmarks/README.md runs.

Each block is its own test case (``README.md:52`` is the block whose fence opens on line 52) and
runs with the preamble the README states:

* a fresh ``fake_servicer`` on 127.0.0.1 (a free port, any PAT accepted);
* ``CLARIFAI_PAT``, ``CLARIFAI_USER_ID``, ``CLARIFAI_APP_ID`` and ``CLARIFAI_GRPC_BASE`` naming it;
* ``import taskgrpc as tg`` done, and ``client = tg.TaskClient.from_env()``;
* ``TaskClient.from_env()`` and ``AsyncTaskClient.from_env()`` default to ``secure=False`` (the
  fake speaks plaintext); this is the only liberty taken with the code as written.

A block runs in a fresh module namespace (registered in ``sys.modules`` while it runs, so that
functions it defines pickle into a process pool). It must be valid Python as written: an async
example calls ``asyncio.run`` itself. After the block, every ``test_*`` function it defined is
called, with a fresh fake for a ``fake_clarifai`` parameter, as pytest would.

A block whose first line is ``# not run: <reason>`` is skipped with that reason; use it only for
what cannot run here (the real API, a cluster). Fences other than exactly ```python that look
like Python (```py, ```python3, ...) fail the collection test, so no example escapes unrun.
"""

from __future__ import annotations

import inspect
import re
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import taskgrpc as tg
from fake_servicer import serve

ROOT = Path(__file__).resolve().parents[1]
NOT_RUN = re.compile(r"#\s*not run:\s*(\S.*)$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^\s`]*)")

ENV = {"CLARIFAI_PAT": "docs-pat", "CLARIFAI_USER_ID": "me", "CLARIFAI_APP_ID": "my-app"}


def doc_files() -> list[Path]:
    """The Markdown files whose examples must run."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    bench = ROOT / "benchmarks" / "README.md"
    if bench.exists():
        files.append(bench)
    return [f for f in files if f.exists()]


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str

    @property
    def name(self) -> str:
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path.as_posix()}:{self.line}"

    @property
    def skip_reason(self) -> str | None:
        first = next((ln for ln in self.code.splitlines() if ln.strip()), "")
        match = NOT_RUN.match(first.strip())
        return match.group(1).strip() if match else None


def blocks_in(path: Path) -> list[Block]:
    """Every fenced block of ``path`` (any language), with its opening line."""
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        indent, fence, lang = match.groups()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        if j >= len(lines):
            raise AssertionError(f"{path.name}:{i + 1}: code fence never closed")
        found.append(Block(path, i + 1, lang.lower(), "\n".join(body) + "\n"))
        i = j + 1
    return found


def python_blocks() -> list[Block]:
    return [b for f in doc_files() for b in blocks_in(f) if b.lang == "python"]


def _insecure_from_env(original: Callable[..., Any]) -> staticmethod[..., Any]:
    def from_env(**overrides: Any) -> Any:
        return original(**{"secure": False, **overrides})

    return staticmethod(from_env)


@pytest.fixture
def docs_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The preamble: a fresh fake, CLARIFAI_* naming it, ``tg`` and ``client``."""
    with serve() as fake:
        for var, value in {**ENV, "CLARIFAI_GRPC_BASE": fake.target}.items():
            monkeypatch.setenv(var, value)
        for cls in (tg.TaskClient, tg.AsyncTaskClient):
            monkeypatch.setattr(cls, "from_env", _insecure_from_env(cls.from_env))
        client = tg.TaskClient.from_env()
        try:
            yield {"tg": tg, "client": client}
        finally:
            client.close()


def run_block(block: Block, preamble: dict[str, Any]) -> types.ModuleType:
    """Run ``block`` as a fresh module; tracebacks name the Markdown file and its lines."""
    name = "docs_block_" + re.sub(r"\W", "_", block.name)
    module = types.ModuleType(name)
    module.__dict__.update(preamble)
    # pad so that line numbers in tracebacks are the Markdown file's
    code = compile("\n" * block.line + block.code, str(block.path), "exec")
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
        for attr, value in list(module.__dict__.items()):
            if attr.startswith("test_") and inspect.isfunction(value):
                _call_test(block, value)
    finally:
        del sys.modules[name]
    return module


def _call_test(block: Block, func: Callable[..., Any]) -> None:
    params = list(inspect.signature(func).parameters)
    unknown = [p for p in params if p != "fake_clarifai"]
    if unknown:
        raise AssertionError(f"{block.name}: {func.__name__} asks for unknown fixtures {unknown}")
    if params:
        with serve() as fake:
            func(fake)
    else:
        func()


PYTHON_BLOCKS = python_blocks()


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.name for b in PYTHON_BLOCKS])
def test_example_runs(block: Block, docs_env: dict[str, Any]) -> None:
    reason = block.skip_reason
    if reason is not None:
        pytest.skip(f"not run: {reason}")
    run_block(block, docs_env)


def test_every_python_looking_fence_is_collected() -> None:
    """```py or ```python3 would be shown as Python but never run: refuse them."""
    stray = [
        b.name
        for f in doc_files()
        for b in blocks_in(f)
        if b.lang != "python" and (b.lang.startswith("py") or b.lang in {"ipython", "pycon"})
    ]
    assert stray == [], f"use ```python for Python examples: {stray}"


def test_the_docs_have_examples_and_few_are_skipped() -> None:
    names = {b.path.name for b in PYTHON_BLOCKS}
    assert "README.md" in names
    skipped = [b for b in PYTHON_BLOCKS if b.skip_reason is not None]
    assert len(skipped) * 4 <= len(PYTHON_BLOCKS), [b.name for b in skipped]
    for b in PYTHON_BLOCKS:
        first = next((ln.strip() for ln in b.code.splitlines() if ln.strip()), "")
        if first.lower().replace(" ", "").startswith("#notrun"):
            assert b.skip_reason, f"{b.name}: '# not run:' needs a reason"


def test_a_block_that_does_not_run_fails(tmp_path: Path, docs_env: dict[str, Any]) -> None:
    doc = tmp_path / "page.md"
    doc.write_text(
        "# Page\n\ntext\n\n```python\nclient.create(tg.build_task('NOPE', concepts=['x']))\n```\n"
        "\n```python\nprint(undefined_name)\n```\n\n```python\n# not run: needs the real API\n"
        "boom()\n```\n",
        encoding="utf-8",
    )
    bad_type, undefined, not_run = (b for b in blocks_in(doc) if b.lang == "python")
    assert (bad_type.line, undefined.line, not_run.line) == (5, 9, 13)
    with pytest.raises(tg.ValidationError):
        run_block(bad_type, docs_env)
    with pytest.raises(NameError) as info:
        run_block(undefined, docs_env)
    # the traceback points at the Markdown line
    assert info.traceback[-1].lineno + 1 == 10
    assert not_run.skip_reason == "needs the real API"


def test_a_defined_test_function_is_called(tmp_path: Path, docs_env: dict[str, Any]) -> None:
    doc = tmp_path / "page.md"
    doc.write_text(
        "```python\ndef test_it(fake_clarifai):\n"
        "    assert fake_clarifai.servicer.calls['GetTask'] == 1\n```\n",
        encoding="utf-8",
    )
    (block,) = blocks_in(doc)
    with pytest.raises(AssertionError):
        run_block(block, docs_env)


def test_examples_see_the_stated_preamble(docs_env: dict[str, Any]) -> None:
    client = docs_env["client"]
    task = client.create(tg.build_task("CONCEPTS_CLASSIFICATION", concepts=["cat"]))
    again = tg.TaskClient.from_env()
    try:
        assert again.get(task.id).id == task.id
        assert (again.user_id, again.app_id) == ("me", "my-app")
    finally:
        again.close()
