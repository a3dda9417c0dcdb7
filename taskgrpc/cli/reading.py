"""Reading the command line's input, item by item: every item that cannot be read or
checked fails alone, with ``file:line`` and the reason, and is kept to be written back.

Accepted shapes: JSON Lines (one task a line), a JSON array of tasks, a Clarifai docs
request body (``{"tasks": [...]}``, with or without ``user_app_id``), or one task as a
pretty-printed object. Delete reads ids: plain ids, JSON strings, or the JSON objects the
command line prints (their ``"id"``).
"""

from __future__ import annotations

import difflib
import json
import math
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from google.protobuf import descriptor_pool, json_format

from .._validate import require_id, unknown_name
from ..builders import check_task
from ..errors import ValidationError
from .errors import UsageError
from .progress import Progress


@dataclass
class Line:
    """One input item: its number (line, or position in an array), its text as read, its
    JSON value, and its task (None if it could not be read or checked: see ``error``).

    A failed item is written back by :meth:`rerun_text`, so a failures file re-runs.
    """

    number: int
    text: str
    value: Any = None
    task: r.Task | None = None
    error: str = ""

    def rerun_text(self) -> str:
        """The line to write back: its text, with the id it was (or would be) sent with
        when the line had none (absent, ``""`` or ``null``), so a re-run sends the very
        same task, whatever ``--id-salt`` it is given."""
        if self.task is None or not self.task.id or not isinstance(self.value, dict):
            return self.text
        if self.value.get("id") == self.task.id:
            return self.text
        body = {"id": self.task.id, **{k: v for k, v in self.value.items() if k != "id"}}
        return _dumps(body)


def label(path: str) -> str:
    return "<stdin>" if path == "-" else path


def read_bytes(path: str) -> bytes:
    """The whole input; ``-`` is stdin. An unreadable file is a usage error."""
    if path == "-":
        buffer = getattr(sys.stdin, "buffer", None)
        return buffer.read() if buffer is not None else sys.stdin.read().encode("utf-8")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}") from None


class _Constant:
    """Stands for NaN or Infinity, which JSON does not have, or a number too large for a
    double (it would read as infinity): the item holding one fails."""

    def __init__(self, name: str) -> None:
        self.name = name


class _Decoder:
    """``json.loads`` that notes whether the text held NaN or Infinity (no walk needed for
    the usual item, which holds none)."""

    def __init__(self) -> None:
        self.constants = 0

    def _constant(self, name: str) -> _Constant:
        self.constants += 1
        return _Constant(name)

    def _float(self, text: str) -> float | _Constant:
        value = float(text)
        if math.isfinite(value):
            return value
        return self._constant(f"{text[:20]} (out of range)")

    def loads(self, text: str) -> Any:
        self.constants = 0
        return json.loads(text, parse_constant=self._constant, parse_float=self._float)


def _bad_constant(value: Any) -> str | None:
    """The first NaN/Infinity inside ``value``, walked without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Constant):
            return item.name
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _dumps(value: Any) -> str:
    """One item as one line of JSON: readable non-ASCII, but escaped if it holds a lone
    surrogate (from a ``\\udc00`` escape), which no UTF-8 file can hold."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=lambda c: c.name)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), default=lambda c: c.name)
    return text


def docs_body_tasks(value: Any) -> list[Any] | None:
    """The tasks of a PostTasks/PatchTasks request body as Clarifai's docs write it."""
    if (
        isinstance(value, dict)
        and isinstance(value.get("tasks"), list)
        and set(value) <= {"tasks", "user_app_id", "userAppId", "action"}
    ):
        return list(value["tasks"])
    return None


def split_items(data: bytes) -> Iterator[Line]:
    """Each item of ``data`` as a :class:`Line` holding its text and JSON value, or an
    error (not UTF-8, not JSON, NaN, too deep). Blank lines are skipped."""
    head = data.lstrip()[:1]
    if head in (b"[", b"{"):
        whole = _whole_document(data)
        if whole is not None:
            yield from whole
            return
    decoder = _Decoder()
    # Split on "\n" only: JSON strings may hold U+2028 and the like, which splitlines() breaks on.
    for number, raw in enumerate(data.split(b"\n"), 1):
        raw = raw.removesuffix(b"\r")
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            text = raw.decode("utf-8", "surrogateescape")
            yield Line(number, text, error=f"not UTF-8 text ({err.reason} at byte {err.start})")
            continue
        if text.strip():  # a line of only Unicode spaces is blank too
            yield _json_line(number, text, decoder)


def _json_line(number: int, text: str, decoder: _Decoder) -> Line:
    try:
        value = decoder.loads(text)
    except RecursionError:
        return Line(number, text, error="not readable: JSON nested too deeply")
    except ValueError as err:
        return Line(number, text, error=f"not valid JSON: {err}")
    line = Line(number, text, value)
    constant = _bad_constant(value) if decoder.constants else None
    if constant is not None:
        line.error = f"not valid JSON: {constant} is not a JSON number"
    return line


def _whole_document(data: bytes) -> list[Line] | None:
    """The items of ``data`` read as one JSON document (an array, a docs body, or one
    multi-line object), or None if it is not one (then it is read as JSON Lines)."""
    decoder = _Decoder()
    try:
        value = decoder.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    items = value if isinstance(value, list) else docs_body_tasks(value)
    if items is None:
        if not isinstance(value, dict) or b"\n" not in data.strip():
            return None  # one line: read as JSON Lines, to the same effect
        items = [value]
    lines = []
    for number, item in enumerate(items, 1):
        line = Line(number, _dumps(item), item)
        constant = _bad_constant(item) if decoder.constants else None
        if constant is not None:
            line.error = f"not valid JSON: {constant} is not a JSON number"
        lines.append(line)
    return lines


def parse_task(line: Line, *, require_id: bool) -> None:
    """Fill in ``line.task`` from its JSON value, or ``line.error`` with the reason."""
    if line.error:
        return
    if not isinstance(line.value, dict):
        line.error = "expected a JSON object (one task)"
        return
    task = r.Task()
    try:
        json_format.ParseDict(line.value, task)
        check_task(task, require_id=require_id)
    except json_format.ParseError as err:
        line.error = parse_error_text(str(err))
        return
    except ValidationError as err:
        line.error = str(err)
        return
    except (ValueError, TypeError, RecursionError, OverflowError) as err:
        line.error = f"not a task: {type(err).__name__}: {err}"
        return
    line.task = task


def read_tasks(path: str, *, require_id: bool, progress: Progress | None = None) -> list[Line]:
    """Every item of ``path`` read and checked; failed ones carry their error, already
    prefixed with ``file:line``. ``progress`` shows the "read" phase."""
    name = label(path)
    lines = list(split_items(read_bytes(path)))
    if progress is not None:
        progress.phase("read", len(lines))
    for k, line in enumerate(lines, 1):
        parse_task(line, require_id=require_id)
        if line.error:
            line.error = f"{name}:{line.number}: {line.error}"
        if progress is not None:
            progress.update(k)
    return lines


_ENUM = re.compile(r"Invalid enum value (\S+) for enum type (\S+) at (\S+?)\.*$")
_FIELD = re.compile(r'Message type "(\S+)" has no field named "([^"]+)" at "([^"]+)"')
_AVAILABLE = re.compile(r"Available Fields\(except extensions\): \"\[(.*)\]\"")


def parse_error_text(message: str) -> str:
    """A json_format error in a few words: an unknown enum name lists the valid ones with a
    "did you mean" hint; an unknown field names the closest field instead of all of them."""
    flat = " ".join(message.split())
    enum = _ENUM.search(flat)
    if enum is not None:
        given, type_name, where = enum.groups()
        try:
            descriptor = descriptor_pool.Default().FindEnumTypeByName(type_name)
        except KeyError:
            return flat
        names = [v.name for v in descriptor.values if not v.name.endswith("NOT_SET")]
        return f"{where}: {unknown_name(type_name.rsplit('.', 1)[-1], given, names)}"
    field = _FIELD.search(flat)
    if field is not None:
        type_name, name, where = field.groups()
        text = f"{where}: unknown field {name!r} in {type_name.rsplit('.', 1)[-1]}"
        available = _AVAILABLE.search(flat)
        if available is not None:
            names = [n.strip(" '") for n in available.group(1).split(",")]
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
            if close:
                text += f"; did you mean {close[0]!r}?"
        return text
    return flat


def read_ids(path: str) -> list[Line]:
    """Task ids, one per item: a plain id, a JSON string, or a JSON object with a string
    ``"id"`` (what ``taskgrpc list`` and ``create`` print). Anything else is a usage
    error naming ``file:line``, and nothing is sent."""
    name = label(path)
    lines = list(split_items(read_bytes(path)))
    for line in lines:
        text = line.text.strip()
        if line.error.startswith("not UTF-8"):
            raise UsageError(f"{name}:{line.number}: {line.error}")
        if not text.startswith(("{", "[", '"')):
            line.error, line.value = "", text  # a plain id need not be JSON
            continue
        value = line.value.get("id") if isinstance(line.value, dict) else line.value
        if line.error or not isinstance(value, str) or not value.strip():
            reason = line.error or (
                'not a task id (expected a plain id, a JSON string, or a JSON object with an "id")'
            )
            raise UsageError(f"{name}:{line.number}: {reason}")
        try:
            line.value = require_id(value, "the id")
        except ValidationError as err:
            raise UsageError(f"{name}:{line.number}: {err}") from None
    return lines
