"""User-facing errors.

Every problem with what a user gave (a scenario file, a ``--set`` override, a trace file) is
raised as :class:`InputError`, which renders as exactly one line naming the source, the key
path and what was expected. The command line prints that line and exits non-zero; it never
shows a traceback for bad input.
"""

from __future__ import annotations

from typing import Any


def describe(value: Any) -> str:
    """Short, quoted rendering of a user value for error messages."""
    if isinstance(value, str | bytes) and len(value) > 60:
        value = value[:60]  # repr of the whole would cost as much as the value is long
    big = isinstance(value, list | dict) and _count(value, 50) >= 50
    text = _shallow(value) if big else repr(value)
    return clip(text, 60)


def _count(value: Any, budget: int) -> int:
    """Values inside ``value``, counted up to ``budget``."""
    n = 1
    if isinstance(value, list | dict):
        for item in value.values() if isinstance(value, dict) else value:
            if n >= budget:
                break
            n += _count(item, budget - n)
    return n


def one_line(text: str) -> str:
    """``text`` with line breaks and other unprintable characters escaped (``\\n``)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def clip(text: str, limit: int) -> str:
    """``text`` cut in the middle to at most ``limit`` characters (a key of 100,000
    characters, a long path): the start and the end say the most."""
    if len(text) <= limit:
        return text
    half = (limit - 3) // 2
    return text[:half] + "..." + text[len(text) - (limit - 3 - half):]


def _shallow(value: list[Any] | dict[Any, Any]) -> str:
    # A shared or deeply nested structure (YAML aliases) can be huge once written out.
    items = list(value.items())[:4] if isinstance(value, dict) else value[:4]
    if isinstance(value, dict):
        inner = ", ".join(f"{describe(k)}: {_leaf(v)}" for k, v in items)
        return "{" + inner + (", ..." if len(value) > 4 else "") + "}"
    inner = ", ".join(_leaf(v) for v in items)
    return "[" + inner + (", ..." if len(value) > 4 else "") + "]"


def _leaf(value: Any) -> str:
    if isinstance(value, dict):
        return "{...}" if value else "{}"
    if isinstance(value, list):
        return "[...]" if value else "[]"
    return describe(value)


class InputError(Exception):
    """Bad user input: one line naming the source, the key path and what was expected."""

    def __init__(self, source: str, path: str, expected: str, got: Any = None, *,
                 has_value: bool = True) -> None:
        source, path = clip(one_line(source), 200), clip(one_line(path), 120)
        expected = clip(one_line(expected), 400)
        self.source = source
        self.path = path
        self.expected = expected
        where = f"{source}: {path}: " if path else f"{source}: "
        tail = f", got {describe(got)}" if has_value else ""
        super().__init__(f"{where}expected {expected}{tail}")

    @property
    def line(self) -> str:
        return str(self)


class WorkerLost(RuntimeError):
    """A worker process died while it ran a job (killed, out of memory): the command says so
    in one line (here, so that the command line catches it without importing the pool)."""
