"""Report prose lives in template files (``schedsim/studies/templates/``), not in Python strings.

A page is one template (:func:`page`); the sentences a report picks by its numbers (a bullet
shown only where some point calls for it, one of two phrasings) are snippets (:func:`snippet`):
several in one file, each after a line ``<!-- name -->`` and running to the next such line,
trailing blank lines dropped. Both fill ``$name`` placeholders (:class:`string.Template`; a
literal dollar is ``$$``), and a missing value is an error, never a blank.
"""

from __future__ import annotations

import functools
import re
from importlib.resources import files
from string import Template

_MARK = re.compile(r"^<!-- ([a-z0-9-]+) -->$", re.MULTILINE)


@functools.cache
def _text(name: str) -> str:
    return files("schedsim.studies").joinpath("templates", name).read_text(encoding="utf-8")


def page(file: str, /, **values: object) -> str:
    """The template file ``file`` with ``values`` filled in."""
    return Template(_text(file)).substitute(values)


@functools.cache
def snippets(name: str) -> dict[str, Template]:
    """The snippets of the template file ``name``, by their names."""
    parts = _MARK.split(_text(name))
    return {key: Template(body.strip("\n")) for key, body in zip(parts[1::2], parts[2::2],
                                                                  strict=True)}


def snippet(file: str, key: str, /, **values: object) -> str:
    """The snippet ``key`` of the template file ``file`` with ``values`` filled in (any
    names, ``file`` and ``key`` among them)."""
    return snippets(file)[key].substitute(values)
