"""Layers import downwards: no import cycle among schedsim's modules but the known ones.

The graph is read from the source with ``ast``; nothing is imported. An edge A -> B is an
``import B``, ``from B import name`` or ``from P import B`` (B a submodule of P) in A, relative
imports resolved, whether at module level or inside a function: a function-level import only
delays the tie between the two modules, it does not remove it. Left out:

- imports under ``if TYPE_CHECKING:``, which never run (annotations are how a lower layer
  names a higher layer's types);
- the package ``__init__`` that importing a submodule runs first (counting it would make every
  package that re-exports its submodules a cycle by construction); an explicit
  ``from schedsim.live import name`` does count, as an edge to ``schedsim.live``;
- ``importlib.import_module`` and other imports by string.

A cycle is a strongly connected component of more than one module. :data:`KNOWN_CYCLES` lists
those not broken yet; the test fails on any other (a new cycle, or a module joining a known
one) and on a known one that shrank or went away, until the list says so: it may only shrink.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import schedsim

PACKAGE = Path(schedsim.__file__).resolve().parent

# Each entry: the modules of one cycle, and why it is still there.
KNOWN_CYCLES: dict[frozenset[str], str] = {}

Graph = dict[str, dict[str, list[str]]]  # module -> imported module -> ["file:line", ...]


def _modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package at ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"
            or isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run, however deeply nested."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and _type_checking(child):
            for other in child.orelse:
                yield from _imports(ast.Module(body=[other], type_ignores=[]))
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        yield from _imports(child)


def import_graph(root: Path) -> Graph:
    """The imports between the modules of the package at ``root`` (see the module docstring)."""
    modules = _modules(root)
    graph: Graph = {name: {} for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parts = parts[:len(parts) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            where = f"{path.relative_to(root.parent)}:{node.lineno}"
            for target in targets:
                if target in modules and target != name:
                    graph[name].setdefault(target, []).append(where)
    return graph


def cycles(graph: Graph) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def describe(graph: Graph, component: frozenset[str]) -> str:
    """One shortest cycle through the component's first module, each import with its line."""
    start = min(component)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(graph[v]):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                path.reverse()
                path.append(start)
                steps = [f"{a} -> {b} ({graph[a][b][0]})" for a, b in zip(path, path[1:],
                                                                        strict=False)]
                return (f"{len(component)} modules {sorted(component)}; for example:\n    "
                        + "\n    ".join(steps))
            if w in component and w not in came_from:
                came_from[w] = v
                queue.append(w)
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def problems(graph: Graph, known: dict[frozenset[str], str]) -> list[str]:
    found = cycles(graph)
    out = []
    for component in found:
        if component in known:
            continue
        if any(component < k for k in known):
            hint = "a known cycle shrank: list its modules as they are now in KNOWN_CYCLES"
        else:
            hint = "a new import cycle: make one side import a lower module instead"
        out.append(f"{hint}: {describe(graph, component)}")
    for component in known:
        if component not in found:
            out.append(f"the known cycle {sorted(component)} is gone or changed: update "
                       "KNOWN_CYCLES")
    return out


def test_schedsim_has_no_import_cycle_but_the_known_ones() -> None:
    found = problems(import_graph(PACKAGE), KNOWN_CYCLES)
    assert not found, "\n".join(found)


# ------------------------------------------------------------------ the checker itself


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_a_cycle_through_a_function_level_import_is_found_and_printed(tmp_path: Path) -> None:
    pkg = _package(tmp_path, {
        "__init__.py": "",
        "low.py": "def f():\n    from pkg.high import g\n",
        "high.py": "import os\nfrom pkg import low\n",
        "other.py": "from pkg.low import f\n",
    })
    graph = import_graph(pkg)
    assert cycles(graph) == [frozenset({"pkg.low", "pkg.high"})]
    (message,) = problems(graph, {})
    assert message.startswith("a new import cycle")
    assert "pkg.high -> pkg.low (pkg/high.py:2)" in message
    assert "pkg.low -> pkg.high (pkg/low.py:2)" in message


def test_type_checking_imports_and_package_inits_make_no_edge(tmp_path: Path) -> None:
    pkg = _package(tmp_path, {
        "__init__.py": "from pkg.sub.a import A\n",
        "sub/__init__.py": "",
        "sub/a.py": ("from typing import TYPE_CHECKING\nimport typing\nfrom .. import b\n"
                     "if TYPE_CHECKING:\n    from pkg.c import C\nelse:\n    import pkg.d\n"
                     "if typing.TYPE_CHECKING:\n    from . import e\n"),
        "sub/e.py": "from pkg.sub import a\n",
        "b.py": "", "c.py": "from pkg.sub.a import A\n", "d.py": "",
    })
    graph = import_graph(pkg)
    assert graph["pkg.sub.a"] == {"pkg.b": ["pkg/sub/a.py:3"], "pkg.d": ["pkg/sub/a.py:7"]}
    assert graph["pkg.sub.e"] == {"pkg.sub.a": ["pkg/sub/e.py:1"]}
    assert cycles(graph) == []


def test_a_known_cycle_that_shrinks_or_goes_must_be_updated(tmp_path: Path) -> None:
    pkg = _package(tmp_path, {"__init__.py": "", "a.py": "import pkg.b\n",
                              "b.py": "import pkg.a\n", "c.py": ""})
    graph = import_graph(pkg)
    assert problems(graph, {frozenset({"pkg.a", "pkg.b"}): "why"}) == []
    (shrank, gone) = problems(graph, {frozenset({"pkg.a", "pkg.b", "pkg.c"}): "why"})
    assert shrank.startswith("a known cycle shrank") and "pkg.a -> pkg.b" in shrank
    assert gone.startswith("the known cycle ['pkg.a', 'pkg.b', 'pkg.c'] is gone")
