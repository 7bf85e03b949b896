"""Capacity planning: the cheapest configuration that meets a deadline with a probability.

``--vary KEY=LO..HI`` (an integer range, at most one: usually a pool's node count) is searched
by bisection, since more nodes never make a bag of tasks slower; ``--vary KEY=V1,V2`` (choices:
market, instance price, platform, ...) is a grid around it. A configuration is feasible when
at least ``confidence`` of its replications finish by the deadline without failing, and (with
a budget) its mean cost is within it. Before simulating anything, the analytic bound prunes
counts whose makespan lower bound already misses the deadline. Bisection finds the smallest
count that meets the deadline, which is the cheapest when node-hours grow with the count
(boot time and the per-node minimum are billed); every point it simulates is a candidate.
Every simulated point is kept: the cheapest feasible one is the answer, the Pareto frontier of
mean cost against makespan is shown, and the binding constraint (deadline or budget) is named.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schedsim.errors import InputError
from schedsim.scenario import (
    Scenario,
    apply_override,
    load_scenario,
    parse_scenario,
    split_values,
)
from schedsim.simulation import Simulation


@dataclass(frozen=True)
class Range:
    key: str
    low: int
    high: int


@dataclass
class Point:
    varied: tuple[str, ...]  # the --vary values of this point
    overrides: tuple[str, ...]  # everything applied to the scenario
    makespans: list[float]
    costs: list[float]
    failed: list[bool]
    deadline: float

    @property
    def success(self) -> float:
        ok = [m <= self.deadline and not f for m, f in zip(self.makespans, self.failed,
                                                            strict=True)]
        return sum(ok) / len(ok)

    @property
    def mean_cost(self) -> float:
        return sum(self.costs) / len(self.costs)

    @property
    def mean_makespan(self) -> float:
        return sum(self.makespans) / len(self.makespans)


@dataclass
class PlanResult:
    best: Point | None
    points: list[Point]
    pruned: int
    binding: str
    frontier: list[Point] = field(default_factory=list)


def parse_vary(items: list[str]) -> tuple[Range | None, list[tuple[str, list[str]]]]:
    rng: Range | None = None
    grid: list[tuple[str, list[str]]] = []
    for item in items:
        source = f"--vary {item}"
        key, sep, spec = item.partition("=")
        key = key.strip()
        if not sep or not key or not spec.strip():
            raise InputError(source, "", "KEY=LO..HI or KEY=V1,V2,...", has_value=False)
        if ".." in spec:
            lo, _, hi = spec.partition("..")
            try:
                if max(len(lo.strip()), len(hi.strip())) > 18:
                    raise ValueError  # no count is that large; int() of 5,000 digits raises
                low, high = int(lo), int(hi)
            except ValueError:
                raise InputError(source, key, "integers LO..HI", spec) from None
            if not 0 <= low <= high:
                raise InputError(source, key, "0 <= LO <= HI", spec)
            if rng is not None:
                raise InputError(source, key, "at most one LO..HI range (the bisected one)",
                                 has_value=False)
            rng = Range(key, low, high)
        else:
            values = [v.strip() for v in split_values(spec)]
            if any(not v for v in values):
                raise InputError(source, key, "a comma-separated list of values", spec)
            grid.append((key, values))
    if rng is None and not grid:
        raise InputError("--vary", "", "at least one --vary", has_value=False)
    return rng, grid


def check_vary(scenario: Scenario, rng: Range | None,
               grid: list[tuple[str, list[str]]]) -> None:
    """Each ``--vary`` value, applied alone, must give a valid scenario: a bad key or value is
    refused before anything runs, naming ``--vary`` rather than the scenario file."""
    base_dir = Path(scenario.source).resolve().parent
    axes = [(rng.key, [str(rng.low), str(rng.high)], f"{rng.low}..{rng.high}")] if rng else []
    axes += [(key, values, ",".join(values)) for key, values in grid]
    for key, values, spec in axes:
        for value in values:
            data = apply_override(scenario.raw, f"{key}={value}", flag="--vary")
            try:
                parse_scenario(data, scenario.source, base_dir)
            except InputError as exc:
                detail = exc.line.removeprefix(f"{exc.source}: ")
                raise InputError(f"--vary {key}={spec}", "", f"values the scenario accepts; "
                                 f"with {key}={value}: {detail}", has_value=False) from None


def plan(path: str | Path, base: list[str], deadline: float, *, confidence: float = 0.95,
         budget: float | None = None, vary: list[str],
         on_point: Callable[[Point], None] = lambda _p: None) -> PlanResult:
    rng, grid = parse_vary(vary)
    check_vary(load_scenario(path, base), rng, grid)
    points: list[Point] = []
    pruned = 0

    def evaluate(overrides: tuple[str, ...]) -> Point | None:
        nonlocal pruned
        try:
            scenario = load_scenario(path, list(overrides))
        except InputError as exc:  # each value passed check_vary; this combination did not
            raise InputError("--vary", "", f"combinations the scenario accepts; with "
                             f"{', '.join(overrides[len(base):])}: {exc.line}",
                             has_value=False) from None
        bound = Simulation(scenario, 0, keep_records=False).bound()
        lower = float(bound["makespan_lower_bound_s"])  # type: ignore[arg-type]
        if lower > deadline:
            pruned += 1
            return None  # hopeless: even the bound misses the deadline
        runs = [Simulation(scenario, r, keep_records=False).run()
                for r in range(scenario.replications)]
        point = Point(overrides[len(base):], overrides, [r.metrics["makespan_s"] for r in runs],
                      [r.metrics["cost_usd"] for r in runs], [r.failure is not None
                                                              for r in runs], deadline)
        points.append(point)
        on_point(point)
        return point

    def feasible(p: Point | None) -> bool:
        return p is not None and p.success >= confidence and \
            (budget is None or p.mean_cost <= budget)

    def meets_deadline(p: Point | None) -> bool:
        return p is not None and p.success >= confidence

    combos = itertools.product(*[[f"{k}={v}" for v in values] for k, values in grid])
    for combo in combos:
        fixed = tuple(base) + tuple(combo)
        if rng is None:
            evaluate(fixed)
            continue
        # Bisection on the count: the smallest count that meets the deadline.
        lo, hi = rng.low, rng.high
        top = evaluate(fixed + (f"{rng.key}={hi}",))
        if not meets_deadline(top):
            continue
        while lo < hi:
            mid = (lo + hi) // 2
            if meets_deadline(evaluate(fixed + (f"{rng.key}={mid}",))):
                hi = mid
            else:
                lo = mid + 1
    candidates = [p for p in points if feasible(p)]
    # Cheapest first; equal costs (to rounding) go to the earlier deadline.
    best = min(candidates, key=lambda p: (round(p.mean_cost, 9), p.mean_makespan),
               default=None)
    on_time = [p for p in points if meets_deadline(p)]
    if best is not None:
        # Cost is minimised subject to the deadline: fewer or cheaper nodes would miss it.
        binding = "deadline"
        if rng is not None and f"{rng.key}={rng.low}" in best.varied:
            binding = (f"the search range ({rng.key} cannot go below {rng.low}; "
                       "the deadline has slack)")
        if budget is not None:
            binding += f" (budget slack {budget - best.mean_cost:.2f} USD)"
    elif on_time:
        binding = "budget (no configuration that meets the deadline fits it)"
    else:
        binding = "deadline (no configuration in the range meets it)"
    frontier = pareto(points)
    return PlanResult(best, points, pruned, binding, frontier)


def pareto(points: list[Point]) -> list[Point]:
    """Points no other point beats on both mean cost and mean makespan."""
    ordered = sorted(points, key=lambda p: (p.mean_cost, p.mean_makespan))
    out: list[Point] = []
    best_makespan = math.inf
    for p in ordered:
        if p.mean_makespan < best_makespan:
            out.append(p)
            best_makespan = p.mean_makespan
    return out


def describe(p: Point) -> str:
    return ", ".join(p.varied) if p.varied else "(the scenario as is)"


def plot(result: PlanResult, deadline: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.scatter([p.mean_cost for p in result.points], [p.mean_makespan for p in result.points],
               s=14, color="grey", label="simulated")
    front = result.frontier
    ax.plot([p.mean_cost for p in front], [p.mean_makespan for p in front], "o-",
            label="Pareto frontier")
    if result.best is not None:
        ax.scatter([result.best.mean_cost], [result.best.mean_makespan], s=90,
                   facecolors="none", edgecolors="red", label="cheapest feasible")
    ax.axhline(deadline, color="red", linestyle="--", linewidth=0.8, label="deadline")
    ax.set_xlabel("mean cost (USD)")
    ax.set_ylabel("mean makespan (s)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def as_json(result: PlanResult) -> dict[str, Any]:
    def one(p: Point) -> dict[str, Any]:
        return {"varied": list(p.varied), "overrides": list(p.overrides),
                "mean_cost_usd": p.mean_cost, "mean_makespan_s": p.mean_makespan,
                "success_probability": p.success}

    return {"best": one(result.best) if result.best else None, "binding": result.binding,
            "simulated_points": len(result.points), "pruned_by_bound": result.pruned,
            "frontier": [one(p) for p in result.frontier],
            "points": [one(p) for p in result.points]}
