"""Capacity planning: a question with a hand-computable answer, pruning, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schedsim.cli import main
from schedsim.errors import InputError
from schedsim.plan import parse_vary, plan

from .conftest import REPO

SCENARIO = str(REPO / "scenarios" / "contract-example.yaml")
# 1000 tasks of exactly 60 s on one-core on-demand nodes that boot in 60 s, no churn.
BASE = ["churn=[]", "workload.duration=60s", "workload.tasks=1000",
        "cluster.pools.spot.market=on_demand", "cluster.pools.spot.boot_time=60s",
        "cluster.pools.spot.price_per_hour=0.36", "replications=2"]


def test_cheapest_count_matches_the_hand_computation() -> None:
    # Deadline 660 s = 60 s boot + 10 waves of 60 s: at least 100 nodes. Each node is billed
    # boot + makespan, so cost = count x 0.0001 USD/s x (60 + 60 ceil(1000 / count)), smallest
    # at 100 nodes: 100 x 0.0001 x 660 = 6.60 USD.
    result = plan(SCENARIO, BASE, 660.0, vary=["cluster.pools.spot.count=1..1000"])
    assert result.best is not None
    assert result.best.varied == ("cluster.pools.spot.count=100",)
    assert result.best.mean_cost == pytest.approx(6.60)
    assert result.best.mean_makespan == pytest.approx(660.0)
    assert result.binding.startswith("deadline")
    assert len(result.points) <= 12  # bisection, not 1000 simulations
    assert result.pruned > 0  # counts whose bound already misses 660 s were not simulated


def test_budget_that_nothing_meets() -> None:
    result = plan(SCENARIO, BASE, 660.0, budget=5.0, vary=["cluster.pools.spot.count=1..1000"])
    assert result.best is None and result.binding.startswith("budget")


def test_choices_are_a_grid_around_the_bisection() -> None:
    result = plan(SCENARIO, BASE, 660.0, vary=["cluster.pools.spot.count=50..400",
                                               "cluster.pools.spot.cores=1,2"])
    assert result.best is not None
    # Two-core nodes at the same price halve the nodes needed: 50 nodes, 3.30 USD.
    assert result.best.varied == ("cluster.pools.spot.cores=2", "cluster.pools.spot.count=50")
    assert result.best.mean_cost == pytest.approx(3.30)
    costs = [p.mean_cost for p in result.frontier]
    assert costs == sorted(costs)


@pytest.mark.parametrize("item,words", [("a=1..x", "integers"), ("a=5..2", "LO <= HI"),
                                        ("a", "KEY=LO..HI"), ("a=1,,2", "comma-separated")])
def test_bad_vary(item: str, words: str) -> None:
    with pytest.raises(InputError, match=words):
        parse_vary([item])


def test_plan_cli(tmp_path: Path) -> None:
    args = ["plan", SCENARIO, "--deadline", "11min", "--vary",
            "cluster.pools.spot.count=1..1000", "--out", str(tmp_path)]
    for item in BASE:
        args += ["--set", item]
    assert main(args) == 0
    data = json.loads((tmp_path / "plan.json").read_text())
    assert data["best"]["varied"] == ["cluster.pools.spot.count=100"]
    assert (tmp_path / "frontier.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["plan", SCENARIO, "--deadline", "soon", "--vary", "a=1..2"]) == 2
