"""Platforms get a typed context, never the whole simulation (issue 17, item 1)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import schedsim.platforms
from schedsim.platforms.context import PlatformContext
from schedsim.simulation import Simulation

from .conftest import make

PLATFORMS_DIR = Path(schedsim.platforms.__file__).resolve().parent


def _imported(path: Path) -> set[str]:
    """Every module a file names in an import, TYPE_CHECKING ones included."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_platform_module_names_the_simulation() -> None:
    offenders = [str(p.relative_to(PLATFORMS_DIR)) for p in sorted(PLATFORMS_DIR.rglob("*.py"))
                 if "schedsim.simulation" in _imported(p)]
    assert not offenders, f"platform modules importing schedsim.simulation: {offenders}"


def test_a_platform_holds_the_context_it_was_given() -> None:
    for kind in ("ideal", "workqueue", "ray"):
        sim = Simulation(make({"platform": {"type": kind}}, drop=("churn",)))
        ctx = sim.platform.ctx
        assert isinstance(ctx, PlatformContext)
        assert not hasattr(sim.platform, "sim")
        assert (ctx.env, ctx.cluster, ctx.workload, ctx.log) == \
            (sim.env, sim.cluster, sim.workload, sim.log)
        with pytest.raises(dataclasses.FrozenInstanceError):
            ctx.env = sim.env  # type: ignore[misc]
