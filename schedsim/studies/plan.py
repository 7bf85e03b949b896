"""Capacity planning: for each choice, the fewest nodes that meet a deadline with a probability,
and the cheapest configuration overall, every simulated candidate shown.

``--vary KEY=LO..HI`` (at most one range: usually a pool's node count) is bisected, since more
nodes never make a bag of tasks slower; ``--vary KEY=V1,V2`` (platform, market, price, ...)
is a grid, each choice with its own search; the analytic bound prunes counts that cannot meet
the deadline. A point meets it when at least ``confidence`` of its replications finish by it
without failing; exact binomial bounds (:mod:`schedsim.studies.proportion`) say whether that is
demonstrated, and the points the answer hinges on (the smallest count meeting it, the count
below, the cheapest feasible) get replications, up to ``max_replications``, while their bounds
straddle ``confidence``. The rule and its reasons are in docs/planning.md.

All choices' searches advance together, a round at a time, each round's replications in one
process pool (:mod:`schedsim.pool`); replication r always has the seed's stream r and every
decision depends only on results, so the plan does not depend on ``jobs``.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schedsim.errors import InputError
from schedsim.loading import load_scenario, parse_scenario
from schedsim.pool import ProcessPool, run_serial
from schedsim.resolve import provenance
from schedsim.scenario import Scenario, apply_override, split_values
from schedsim.studies import proportion

FEASIBILITY = ("a point meets the deadline when the share of its replications on time "
               "(without failing) is at least the confidence; it is demonstrated when the "
               "lower bound is too")


@dataclass(frozen=True)
class Range:
    key: str
    low: int
    high: int


@dataclass(frozen=True)
class RunOutcome:
    """What the plan keeps of one replication."""

    makespan: float  # s
    cost: float  # USD
    failed: bool


@dataclass(frozen=True)
class Point:
    """One simulated configuration and its replications (0, 1, ..., n - 1)."""

    varied: tuple[str, ...]  # the --vary values of this point
    overrides: tuple[str, ...]  # everything applied to the scenario
    choice: tuple[str, ...]  # the grid choice (the --vary choices, without the range)
    count: int | None  # the range's value, if there is a range
    outcomes: tuple[RunOutcome, ...]
    deadline: float
    confidence: float

    @property
    def makespans(self) -> list[float]:
        return [o.makespan for o in self.outcomes]

    @property
    def costs(self) -> list[float]:
        return [o.cost for o in self.outcomes]

    @property
    def replications(self) -> int:
        return len(self.outcomes)

    @functools.cached_property
    def on_time(self) -> int:
        return sum(1 for o in self.outcomes if o.makespan <= self.deadline and not o.failed)

    @property
    def success(self) -> float:
        return self.on_time / self.replications

    @functools.cached_property
    def interval(self) -> tuple[float, float]:
        """One-sided lower and upper bounds on P(on time) (proportion.LEVEL each)."""
        return (proportion.lower(self.on_time, self.replications),
                proportion.upper(self.on_time, self.replications))

    @property
    def meets(self) -> bool:
        return self.success >= self.confidence

    @property
    def demonstrated(self) -> bool:
        """P(on time) >= confidence holds at the bounds' level."""
        return self.interval[0] >= self.confidence

    @property
    def decided(self) -> bool:
        """The bounds lie on one side of the confidence: more replications would not help."""
        return self.demonstrated or self.interval[1] < self.confidence

    @functools.cached_property
    def replications_needed(self) -> int | None:
        """About how many replications show this point on its side of the confidence."""
        return proportion.replications_needed(self.on_time, self.replications, self.confidence)

    @property
    def mean_cost(self) -> float:
        return math.fsum(self.costs) / self.replications

    @property
    def mean_makespan(self) -> float:
        return math.fsum(self.makespans) / self.replications

    @property
    def p95_makespan(self) -> float:
        return percentile(self.makespans, 0.95)


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default)."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True)
class Pruned:
    """A configuration not simulated: its makespan lower bound already misses the deadline."""

    varied: tuple[str, ...]
    lower_bound: float  # s


@dataclass(frozen=True)
class Answer:
    """One --vary choice (a platform, a market, ...): the smallest count meeting the deadline
    at the confidence (without a range: the point itself, if it does), and the cheapest
    feasible point (within the budget too)."""

    choice: tuple[str, ...]
    smallest: Point | None
    cheapest: Point | None


@dataclass
class PlanResult:
    best: Point | None
    points: list[Point]
    pruned: int
    binding: str
    frontier: list[Point] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    pruned_points: list[Pruned] = field(default_factory=list)
    deadline: float = 0.0
    confidence: float = 0.95
    budget: float | None = None
    replications: int = 0  # each point's first replications
    max_replications: int = 0
    range_key: str | None = None
    # What produced the plan (schedsim.resolve.provenance of the scenario with --set applied).
    provenance: dict[str, Any] = field(default_factory=dict)

    def feasible(self, p: Point) -> bool:
        return p.meets and (self.budget is None or p.mean_cost <= self.budget)

    @property
    def added(self) -> int:
        """Replications added beyond the first ones, near the threshold."""
        return sum(p.replications - self.replications for p in self.points)


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


@dataclass(frozen=True)
class _Want:
    """A search's request: this configuration with at least ``replications`` replications."""

    overrides: tuple[str, ...]
    replications: int
    count: int | None


Want = Generator[_Want, Point | None, None]


class _Search:
    """One grid choice: bisection on the range (or the one point without a range), then more
    replications for the points the answer hinges on while their bounds straddle the
    confidence. It yields what it wants simulated and receives the point (None: pruned)."""

    def __init__(self, choice: tuple[str, ...], fixed: tuple[str, ...], rng: Range | None,
                 initial: int, cap: int, budget: float | None = None) -> None:
        self.choice, self.fixed, self.rng = choice, fixed, rng
        self.initial, self.cap, self.budget = initial, cap, budget
        # Replications a new point starts with: raised when added ones reverse a point's
        # verdict, since the counts still to try then lie where a few replications mislead.
        self.level = initial
        # Runs still expected after the current request (for the progress bar's estimate).
        self.left = initial * _steps(rng.high - rng.low) if rng is not None else 0
        self.steps = self._run()

    def _refinable(self, p: Point | None) -> bool:
        return p is not None and p.replications < self.cap and not p.decided

    def _more(self, p: Point) -> int:
        """The next replication count: as many as the claim needs at this rate, at least one
        more batch, at most the cap."""
        needed = p.replications_needed
        return min(self.cap, max(p.replications + self.initial,
                                 needed if needed is not None else self.cap))

    def _run(self) -> Want:
        rng = self.rng
        top = rng.high if rng is not None else 0
        seen: dict[int, Point | None] = {}
        seen[top] = yield self._want(top, self.level)
        while (step := self._next(seen)) is not None:
            count, replications = step
            before = seen.get(count)
            seen[count] = after = yield self._want(count, replications)
            if before is not None and after is not None and before.meets != after.meets:
                self.level = max(self.level, replications)

    def _want(self, count: int, replications: int) -> _Want:
        if self.rng is None:
            return _Want(self.fixed, replications, None)
        return _Want(self.fixed + (f"{self.rng.key}={count}",), replications, count)

    def _next(self, seen: dict[int, Point | None]) -> tuple[int, int] | None:
        """The next (count, replications) to simulate, or None when the search is done."""
        meeting = {c: p for c, p in seen.items() if p is not None and p.meets}
        self.left = 0
        if self.rng is not None and meeting:
            hi = min(meeting)
            lo = max((c for c in seen if c < hi), default=self.rng.low - 1) + 1  # all miss
            if lo < hi:
                self.left = self.level * _steps(hi - lo - 1)
                return (lo + hi) // 2, self.level
        # The answer hinges on: the smallest count that meets the deadline and the count
        # below (which misses it); with none meeting it, the top; the cheapest feasible.
        hinges = [min(meeting), min(meeting) - 1] if meeting else [max(seen)]
        feasible = [(c, p) for c, p in meeting.items()
                    if self.budget is None or p.mean_cost <= self.budget]
        if feasible:
            hinges.append(min(feasible, key=lambda cp: (round(cp[1].mean_cost, 9),
                                                        cp[1].mean_makespan))[0])
        for count in hinges:
            p = seen.get(count)
            if p is not None and self._refinable(p):
                return count, self._more(p)
        return None


def _steps(width: int) -> int:
    """Bisection steps that settle ``width`` + 1 candidates."""
    return math.ceil(math.log2(width + 1)) if width > 0 else 0


def _outcome(path: str, overrides: tuple[str, ...], replication: int) -> RunOutcome:
    """One replication as a pool job."""
    from schedsim.simulation import Simulation

    result = Simulation(_load(path, overrides), replication, keep_records=False).run()
    return RunOutcome(float(result.metrics["makespan_s"]), float(result.metrics["cost_usd"]),
                      result.failure is not None)


def _job(item: tuple[str, tuple[str, ...], int]) -> RunOutcome:
    return _outcome(*item)


@functools.lru_cache(maxsize=16)
def _load(path: str, overrides: tuple[str, ...]) -> Scenario:
    """The scenario of a point, parsed once per process for all its replications."""
    return load_scenario(path, list(overrides))


Execute = Callable[[Callable[[Any], RunOutcome], list[Any], Callable[[int, RunOutcome], None]],
                   None]


@contextmanager
def _executor(jobs: int) -> Iterator[Execute]:
    """Run a round's replications: in this process, or in one pool kept for every round."""
    if jobs <= 1:
        yield lambda fn, items, on_result: run_serial(fn, items, on_result)
        return
    with ProcessPool(jobs) as pool:
        yield lambda fn, items, on_result: pool.run(fn, items, on_result)


OnProgress = Callable[[int, int, str], None]  # (runs done, runs expected, what runs now)


def plan(path: str | Path, base: list[str], deadline: float, *, confidence: float = 0.95,
         budget: float | None = None, vary: list[str], jobs: int = 1,
         max_replications: int = proportion.DEFAULT_MAX_REPLICATIONS,
         on_point: Callable[[Point], None] = lambda _p: None,
         on_progress: OnProgress | None = None) -> PlanResult:
    """Search every --vary choice; ``max_replications`` caps the replications added near the
    threshold (below the scenario's replications it adds none)."""
    _load.cache_clear()  # a scenario file edited since an earlier plan in this process
    rng, grid = parse_vary(vary)
    scenario = load_scenario(path, base)
    check_vary(scenario, rng, grid)
    initial = scenario.replications
    cap = max(initial, max_replications)
    combos = [tuple(c) for c in itertools.product(*[[f"{k}={v}" for v in values]
                                                    for k, values in grid])]
    searches = [_Search(combo, tuple(base) + combo, rng, initial, cap, budget)
                for combo in combos]
    rounds = _Rounds(str(path), len(base), deadline, confidence, on_point, on_progress)
    wants: dict[int, _Want] = {i: next(s.steps) for i, s in enumerate(searches)}
    with _executor(jobs) as execute:
        while wants:
            rounds.run({searches[i].choice: w for i, w in wants.items()},
                       sum(searches[i].left for i in wants), execute)
            for i in list(wants):
                try:
                    wants[i] = searches[i].steps.send(rounds.points.get(wants[i].overrides))
                except StopIteration:
                    del wants[i]
    result = _result(list(rounds.points.values()), list(rounds.pruned.values()), combos, rng,
                     deadline, confidence, budget, initial, cap)
    result.provenance = provenance(scenario)
    return result


class _Rounds:
    """The points simulated so far, and one round: what every search wants, at once."""

    def __init__(self, path: str, fixed: int, deadline: float, confidence: float,
                 on_point: Callable[[Point], None], on_progress: OnProgress | None) -> None:
        self.path, self.fixed = path, fixed  # fixed: how many overrides every point shares
        self.deadline, self.confidence = deadline, confidence
        self.on_point, self.on_progress = on_point, on_progress
        self.points: dict[tuple[str, ...], Point] = {}  # in the order first simulated
        self.pruned: dict[tuple[str, ...], Pruned] = {}
        self.done = 0  # replications run

    def _bound(self, overrides: tuple[str, ...]) -> float:
        from schedsim.bound import scenario_bound

        try:
            scenario = _load(self.path, overrides)
        except InputError as exc:  # each value passed check_vary; this combination did not
            raise InputError("--vary", "", f"combinations the scenario accepts; with "
                             f"{', '.join(overrides[self.fixed:])}: {exc.line}",
                             has_value=False) from None
        limits = scenario_bound(scenario)
        return float(limits["makespan_lower_bound_s"])  # type: ignore[arg-type]

    def run(self, wants: dict[tuple[str, ...], _Want], later: int, execute: Execute) -> None:
        """Prune new points the bound rules out; run the replications the rest lack."""
        items: list[tuple[str, tuple[str, ...], int]] = []
        for want in wants.values():
            point = self.points.get(want.overrides)
            if point is None and want.overrides not in self.pruned:
                lower = self._bound(want.overrides)
                if lower > self.deadline:  # hopeless: even the bound misses the deadline
                    self.pruned[want.overrides] = Pruned(want.overrides[self.fixed:], lower)
            if want.overrides in self.pruned:
                continue
            have = point.replications if point is not None else 0
            items += [(self.path, want.overrides, r) for r in range(have, want.replications)]
        results: dict[int, RunOutcome] = {}
        expected = self.done + len(items) + later
        what = "; ".join(sorted({", ".join(item[1][self.fixed:]) for item in items}))

        def finished(index: int, outcome: RunOutcome) -> None:
            results[index] = outcome
            self.done += 1
            if self.on_progress is not None:
                self.on_progress(self.done, expected, what)

        if self.on_progress is not None:
            self.on_progress(self.done, expected, what)
        execute(_job, items, finished)
        new: dict[tuple[str, ...], list[RunOutcome]] = {}
        for index, (_, overrides, _r) in enumerate(items):  # in replication order
            new.setdefault(overrides, []).append(results[index])
        for choice, want in wants.items():
            if want.overrides not in new:
                continue
            old = self.points.get(want.overrides)
            point = Point(want.overrides[self.fixed:], want.overrides, choice, want.count,
                          (old.outcomes if old else ()) + tuple(new[want.overrides]),
                          self.deadline, self.confidence)
            self.points[want.overrides] = point
            self.on_point(point)


def _result(points: list[Point], pruned: list[Pruned], combos: list[tuple[str, ...]],
            rng: Range | None, deadline: float, confidence: float, budget: float | None,
            initial: int, cap: int) -> PlanResult:
    result = PlanResult(None, points, len(pruned), "", deadline=deadline,
                        confidence=confidence, budget=budget, replications=initial,
                        max_replications=cap, pruned_points=pruned,
                        range_key=rng.key if rng is not None else None)
    candidates = [p for p in points if result.feasible(p)]
    # Cheapest first; equal costs (to rounding) go to the earlier finish.
    result.best = min(candidates, key=lambda p: (round(p.mean_cost, 9), p.mean_makespan),
                      default=None)
    best = result.best
    if best is not None:
        # Cost is minimised subject to the deadline: fewer or cheaper nodes would miss it.
        binding = "deadline"
        if rng is not None and best.count == rng.low:
            binding = (f"the search range ({rng.key} cannot go below {rng.low}; "
                       "the deadline has slack)")
        if budget is not None:
            binding += f" (budget slack {budget - best.mean_cost:.2f} USD)"
    elif any(p.meets for p in points):
        binding = "budget (no configuration that meets the deadline fits it)"
    else:
        binding = "deadline (no configuration in the range meets it)"
    result.binding = binding
    result.frontier = pareto(points)
    for combo in combos:
        mine = [p for p in points if p.choice == combo]
        meeting = [p for p in mine if p.meets]
        result.answers.append(Answer(
            combo, min(meeting, key=lambda p: p.count or 0, default=None),
            min((p for p in mine if result.feasible(p)),
                key=lambda p: (round(p.mean_cost, 9), p.mean_makespan), default=None)))
    return result


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


def describe(p: Point | Pruned) -> str:
    return ", ".join(p.varied) if p.varied else "(the scenario as is)"


def describe_choice(choice: tuple[str, ...]) -> str:
    return ", ".join(choice) if choice else "(the scenario as is)"


def as_json(result: PlanResult) -> dict[str, Any]:
    """plan.json: every candidate with its bounds, the answer of each choice, the best."""
    frontier = {id(p) for p in result.frontier}

    def one(p: Point | None) -> dict[str, Any] | None:
        if p is None:
            return None
        low, high = p.interval
        return {"varied": list(p.varied), "overrides": list(p.overrides),
                "choice": list(p.choice), "count": p.count,
                "replications": p.replications, "on_time": p.on_time,
                "failed": sum(1 for o in p.outcomes if o.failed),
                "success_probability": p.success, "success_bounds": [low, high],
                "meets_deadline": p.meets, "demonstrated": p.demonstrated,
                "replications_needed": p.replications_needed, "feasible": result.feasible(p),
                "mean_cost_usd": p.mean_cost, "mean_makespan_s": p.mean_makespan,
                "p95_makespan_s": p.p95_makespan, "on_frontier": id(p) in frontier,
                "chosen": p is result.best}

    return {"deadline_s": result.deadline, "confidence": result.confidence,
            "budget_usd": result.budget, "range": result.range_key,
            "replications": result.replications,
            "max_replications": result.max_replications,
            "bounds": {"method": "Clopper-Pearson (exact)", "level": proportion.LEVEL,
                       "note": "each end is a one-sided bound at this level (together a "
                               f"{2 * proportion.LEVEL - 1:.0%} two-sided interval)"},
            "feasibility": FEASIBILITY,
            "feasible": result.best is not None, "best": one(result.best),
            "binding": result.binding,
            "answers": [{"choice": list(a.choice), "smallest": one(a.smallest),
                         "cheapest": one(a.cheapest)} for a in result.answers],
            "simulated_points": len(result.points), "pruned_by_bound": result.pruned,
            "replications_added": result.added,
            "pruned": [{"varied": list(p.varied), "makespan_lower_bound_s": p.lower_bound}
                       for p in result.pruned_points],
            "frontier": [one(p) for p in result.frontier],
            "points": [one(p) for p in result.points],
            "provenance": result.provenance}
