"""Reading what a user hands over (files, YAML) without hanging, blowing up or guessing.

A scenario, a ``--set`` value or a churn trace may be anything: a FIFO, a device, megabytes
of binary, a YAML alias bomb, thousands of nested brackets, an integer of thousands of digits
or a key written twice. :func:`read_text` opens only regular files of bounded size, decoded as
UTF-8; :func:`load_yaml` is ``yaml.safe_load`` with bounded nesting, aliases, expanded size
and integer length, and refuses duplicate keys. Every refusal is one
:class:`~schedsim.errors.InputError` line; the limits are documented in docs/scenarios.md.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode

from schedsim.errors import InputError

MAX_YAML_BYTES = 1_000_000  # a scenario is a few KB; PyYAML reads about 1 MB/s
MAX_DATA_BYTES = 64_000_000  # a churn trace or a calibration profile
MAX_DEPTH = 64  # nesting, aliases expanded; a scenario nests 5 deep
MAX_ALIASES = 100  # references (*name) in one document
MAX_NODES = 100_000  # values in one document, aliases expanded
MAX_INT_DIGITS = 30  # the counts a scenario takes are bounded far below this (reader.py)
_MERGE = "tag:yaml.org,2002:merge"


def read_text(path: Path, source: str, *, what: str, limit: int) -> str:
    """The text of ``path``: a regular file of at most ``limit`` bytes, UTF-8."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise InputError(source, "", f"an existing {what}", has_value=False) from None
    except OSError as exc:
        raise InputError(source, "", f"a readable {what} ({exc.strerror or exc})",
                         has_value=False) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise InputError(source, "", f"a regular {what} (not a folder, FIFO or device)",
                         has_value=False)
    with os.fdopen(fd, "rb") as fh:
        if info.st_size > limit:
            raise InputError(source, "", f"a {what} of at most {limit:,} bytes",
                             f"{info.st_size:,} bytes")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise InputError(source, "", f"a {what} of at most {limit:,} bytes", has_value=False)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(source, f"byte {exc.start}", f"a {what} in UTF-8 text (this is "
                         "binary or another encoding)", has_value=False) from None


class _Refused(Exception):
    """A limit crossed while loading; carries where and what was expected."""

    def __init__(self, mark: Any, expected: str, got: Any = None, has_value: bool = False):
        super().__init__(expected)
        self.line = mark.line + 1 if mark is not None else None
        self.expected = expected
        self.got = got
        self.has_value = has_value


class _Loader(yaml.SafeLoader):
    """SafeLoader that counts depth, aliases and nodes while composing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._nodes = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Refused(self.peek_event().start_mark,
                               f"at most {MAX_ALIASES} aliases (*name) in a document")
            return super().compose_node(parent, index)
        self._depth += 1
        self._nodes += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(self.peek_event().start_mark,
                           f"values nested at most {MAX_DEPTH} deep")
        if self._nodes > MAX_NODES:
            raise _Refused(self.peek_event().start_mark, f"at most {MAX_NODES:,} values")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Before merge keys (<<) are flattened: a key merged in may be overridden, but a key
        # written twice is a mistake the last occurrence would silently win.
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue  # unhashable: the base constructor refuses it
            if duplicate:
                raise _Refused(key_node.start_mark, "each key at most once in a mapping (the "
                               "last would silently win)", key, has_value=True)
        return super().construct_mapping(node, deep)


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    text = str(node.value)
    if sum(ch.isalnum() for ch in text) > MAX_INT_DIGITS:
        raise _Refused(node.start_mark, f"an integer of at most {MAX_INT_DIGITS} digits",
                       text, has_value=True)
    return loader.construct_yaml_int(node)


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _check_expanded(root: Node) -> None:
    """Refuse documents whose aliases, expanded, are too big, too deep or recursive."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:  # iterative post-order: the expanded depth may exceed the recursion limit
        node, closing = stack.pop()
        key = id(node)
        if closing:
            open_.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            if size[key] > MAX_NODES:
                raise _Refused(node.start_mark,
                               f"at most {MAX_NODES:,} values with aliases expanded")
            if depth[key] > MAX_DEPTH:
                raise _Refused(node.start_mark,
                               f"values nested at most {MAX_DEPTH} deep with aliases expanded")
            continue
        if key in size:
            continue
        if key in open_:
            raise _Refused(node.start_mark, "no alias inside the value it names (recursive)")
        open_.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in size)


def load_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load`` within the limits above; every failure is one InputError line."""
    try:
        loader = _Loader(text)  # refuses unprintable characters at once
    except yaml.reader.ReaderError as exc:
        raise InputError(source, f"character {exc.position}", "printable characters in YAML",
                         chr(exc.character) if isinstance(exc.character, int)
                         else exc.character) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expanded(node)
        return loader.construct_document(node)
    except _Refused as exc:
        where = f"line {exc.line}" if exc.line is not None else ""
        raise InputError(source, where, exc.expected, exc.got, has_value=exc.has_value) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InputError(source, where, f"valid YAML ({problem})", has_value=False) from None
    finally:
        loader.dispose()
