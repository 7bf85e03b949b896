"""Marked sections of a generated page: a study that writes only its part of a page (the
scale matrix's and the published numbers' sections of docs/validation.md) finds it between
its begin and end comments, replaces it, or appends it, and keeps the rest as it was."""

from __future__ import annotations


def insert(page: str, section: str, begin: str, end: str) -> str:
    """``page`` with its section between ``begin`` and ``end`` replaced by ``section``
    (appended if it has none)."""
    if begin in page and end in page:
        head, rest = page.split(begin, 1)
        return head + section.rstrip("\n") + rest.split(end, 1)[1]
    return page.rstrip("\n") + "\n\n" + section


def find(page: str, begin: str, end: str) -> str | None:
    """The section of ``page`` between ``begin`` and ``end``, markers included, if any."""
    if begin in page and end in page:
        body = page.split(begin, 1)[1].split(end, 1)[0]
        return begin + body + end + "\n"
    return None
