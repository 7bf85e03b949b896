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
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class InputError(Exception):
    """Bad user input: one line naming the source, the key path and what was expected."""

    def __init__(self, source: str, path: str, expected: str, got: Any = None, *,
                 has_value: bool = True) -> None:
        self.source = source
        self.path = path
        self.expected = expected
        where = f"{source}: {path}: " if path else f"{source}: "
        tail = f", got {describe(got)}" if has_value else ""
        super().__init__(f"{where}expected {expected}{tail}")

    @property
    def line(self) -> str:
        return str(self)
