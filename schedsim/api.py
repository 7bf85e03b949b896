"""The Python API: load, run, compare, sweep and plan, with typed results (docs/api.md).

Each function does what its command does through the same code (scenario loading, the
runner, the sweep's jobs, the planner), so for the same scenario, overrides and seed it gives
the numbers the command line gives. Overrides are a dict of dotted keys to Python values, or
``--set``-like ``"KEY=VALUE"`` strings (VALUE is YAML). Results are dataclasses;
``to_frame()`` turns one into a pandas DataFrame (pandas is the optional extra
``schedsim[frames]``). Bad input raises :class:`~schedsim.errors.InputError`, whose message
is the one line the command would print. Heavy modules are imported on first use.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schedsim.errors import InputError

if TYPE_CHECKING:
    from schedsim.runner import Summary
    from schedsim.scenario import Scenario
    from schedsim.simulation import RunResult as Replicated
    from schedsim.studies.plan import PlanResult as PlannerResult

Overrides = Mapping[str, Any] | Sequence[str] | None


# --------------------------------------------------------------------------- results

@dataclass(frozen=True)
class Estimate:
    """One metric over the replications: mean, 95% interval (docs/metrics.md) and values.
    None where a value is not finite (a cost per task with no task completed)."""

    name: str
    unit: str
    mean: float | None
    low: float | None
    high: float | None
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class Replication:
    """One replication's metrics, and why its job failed if it did."""

    index: int
    metrics: dict[str, float | None]
    failure: str | None
    failure_kind: str | None
    events: int


@dataclass
class RunResult:
    """Every replication of one scenario on one platform.

    ``summary`` is the JSON summary, exactly as ``schedsim run --json`` writes it
    (docs/metrics.md); ``logs`` holds each replication's attempts when run with
    ``keep_records=True``.
    """

    scenario: Scenario
    summary: dict[str, Any]
    logs: list[Any] = field(default_factory=list, repr=False)  # metrics.AttemptLog

    @property
    def platform(self) -> str:
        return str(self.summary["platform"])

    @property
    def metrics(self) -> dict[str, Estimate]:
        return {name: self.metric(name) for name in self.summary["metrics"]}

    def metric(self, name: str) -> Estimate:
        from schedsim.metrics import METRICS

        if name not in self.summary["metrics"]:
            raise InputError("metric", "", "one of " + ", ".join(self.summary["metrics"]), name)
        m = self.summary["metrics"][name]
        low, high = m["ci95"]
        return Estimate(name, METRICS[name].unit if name in METRICS else "", m["mean"], low,
                        high, tuple(m["values"]))

    @property
    def bound(self) -> dict[str, Any]:
        """The analytic bound: throughput, binding resource, makespan lower bound."""
        return dict(self.summary["bound"])

    @property
    def replications(self) -> list[Replication]:
        data = self.summary
        return [Replication(r, {name: m["values"][r] for name, m in data["metrics"].items()},
                            data["failures"][r], data["failure_kinds"][r], data["events"][r])
                for r in range(int(data["replications"]))]

    def to_frame(self) -> Any:
        """One row per replication: replication, failure, failure_kind, every metric."""
        return _frame(self._rows())

    def summary_frame(self) -> Any:
        """One row per metric: metric, unit, mean, low, high (the 95% interval)."""
        return _frame([{"metric": e.name, "unit": e.unit, "mean": e.mean, "low": e.low,
                        "high": e.high} for e in self.metrics.values()])

    def _rows(self) -> list[dict[str, Any]]:
        return [{"replication": r.index, "failure": r.failure,
                 "failure_kind": r.failure_kind, **r.metrics} for r in self.replications]


@dataclass
class CompareResult:
    """The same scenario, seeds and churn on several platforms."""

    scenario: Scenario
    runs: dict[str, RunResult]

    @property
    def summary(self) -> dict[str, dict[str, Any]]:
        """``{platform: summary}``, exactly as ``schedsim compare --json`` writes it."""
        return {name: run.summary for name, run in self.runs.items()}

    def winner(self, metric: str) -> str:
        """The platform whose 95% interval lies wholly on the metric's better side of every
        other's, ``-`` for a tie, ``""`` for a metric with no better side (the table's
        'better' column)."""
        from schedsim.metrics import METRICS
        from schedsim.verdict import winner

        if metric not in METRICS:
            raise InputError("metric", "", "one of " + ", ".join(METRICS), metric)
        direction = METRICS[metric].better
        return winner(self.summary, metric, direction) if direction else ""

    def to_frame(self) -> Any:
        """One row per platform and replication."""
        return _frame([{"platform": name, **row} for name, run in self.runs.items()
                       for row in run._rows()])

    def summary_frame(self) -> Any:
        """One row per platform and metric: mean and 95% interval."""
        return _frame([{"platform": name, "metric": e.name, "unit": e.unit, "mean": e.mean,
                        "low": e.low, "high": e.high}
                       for name, run in self.runs.items() for e in run.metrics.values()])


@dataclass(frozen=True)
class SweepRow:
    """One replication of one grid point, as ``schedsim sweep`` writes it to results.csv."""

    point: int
    replication: int
    values: dict[str, Any]  # the grid axes' values at this point, as YAML reads them
    overrides: tuple[str, ...]
    failure: str | None
    metrics: dict[str, float]


@dataclass
class SweepResult:
    """Every (point, replication) of a grid, in point then replication order."""

    scenario: str
    axes: list[tuple[str, list[str]]]  # (key, values as written)
    rows: list[SweepRow]

    def summary(self) -> list[tuple[dict[str, Any], dict[str, Estimate]]]:
        """Per point: its axis values and each metric's estimate over its replications."""
        from schedsim.metrics import METRICS, finite, summarize_metric

        out = []
        for point in sorted({r.point for r in self.rows}):
            rows = [r for r in self.rows if r.point == point]
            estimates = {}
            for name in rows[0].metrics:
                values = [r.metrics[name] for r in rows]
                s = finite(summarize_metric(name, values))
                low, high = s["ci95"]
                estimates[name] = Estimate(name, METRICS[name].unit, s["mean"], low, high,
                                           tuple(s["values"]))
            out.append((dict(rows[0].values), estimates))
        return out

    def to_frame(self) -> Any:
        """One row per (point, replication): point, replication, one column per grid axis,
        failure, every metric."""
        return _frame([{"point": r.point, "replication": r.replication, **r.values,
                        "failure": r.failure, **r.metrics} for r in self.rows])

    def summary_frame(self) -> Any:
        """One row per point and metric: the axis values, mean and 95% interval."""
        return _frame([{**values, "metric": e.name, "unit": e.unit, "mean": e.mean,
                        "low": e.low, "high": e.high}
                       for values, estimates in self.summary() for e in estimates.values()])


@dataclass
class PlanResult:
    """What ``schedsim plan`` found: ``data`` is its plan.json; ``raw`` the planner's own
    result object (schedsim/plan.py)."""

    deadline_s: float
    confidence: float
    data: dict[str, Any]
    raw: Any = field(repr=False, default=None)

    @property
    def best(self) -> dict[str, Any] | None:
        """The cheapest configuration that meets the deadline (and budget), or None."""
        best = self.data.get("best")
        return dict(best) if isinstance(best, dict) else None

    @property
    def points(self) -> list[dict[str, Any]]:
        """Every simulated configuration."""
        return [dict(p) for p in self.data.get("points", [])]

    def to_frame(self) -> Any:
        """One row per simulated configuration, with one column per varied key."""
        rows = []
        for p in self.points:
            varied = {}
            for item in p.get("varied", []):
                key, _, value = str(item).partition("=")
                varied[key] = _yaml_value(value, "plan")
            rows.append({**varied, **p})
        return _frame(rows)


# --------------------------------------------------------------------------- functions

def load(scenario: str | Path | Scenario | Mapping[str, Any], overrides: Overrides = None, *,
         seed: int | None = None, replications: int | None = None) -> Scenario:
    """A validated scenario: from a YAML file, a dict of its content, or a loaded scenario,
    with ``overrides`` (and ``seed``, ``replications``) applied as ``--set`` applies them."""
    from schedsim.loading import load_scenario, parse_scenario
    from schedsim.scenario import Scenario, apply_override

    items = override_items(overrides)
    if isinstance(scenario, str | Path):
        return load_scenario(scenario, items, seed=seed, replications=replications)
    if seed is not None:
        items.append(f"seed={seed}")
    if replications is not None:
        items.append(f"replications={replications}")
    if isinstance(scenario, Scenario):
        if not items:
            return scenario
        data, source = scenario.raw, scenario.source
        base = Path(source).resolve().parent if Path(source).is_file() else Path.cwd()
    elif isinstance(scenario, Mapping):
        data, source, base = json.loads(json.dumps(scenario, default=str)), "<dict>", Path.cwd()
    else:
        raise InputError("scenario", "", "a YAML file's path, a dict or a Scenario", scenario)
    for item in items:
        data = apply_override(data, item)
    return parse_scenario(data, source, base)


def run(scenario: str | Path | Scenario | Mapping[str, Any], overrides: Overrides = None, *,
        seed: int | None = None, replications: int | None = None, jobs: int = 1,
        keep_records: bool = False) -> RunResult:
    """``schedsim run``: every replication, summarised (``jobs`` processes; the numbers do
    not depend on it). ``keep_records`` keeps each replication's attempts in ``logs``."""
    from schedsim import estimate
    from schedsim.runner import run_scenario

    s = load(scenario, overrides, seed=seed, replications=replications)
    _check_jobs(jobs)
    estimate.guard(estimate.for_run(s, jobs=jobs, keep_records=keep_records), s.source)
    return _run_result(run_scenario(s, jobs=jobs, keep_records=keep_records), keep_records)


def compare(scenario: str | Path | Scenario | Mapping[str, Any], platforms: Sequence[str],
            overrides: Overrides = None, *, seed: int | None = None,
            replications: int | None = None, jobs: int = 1) -> CompareResult:
    """``schedsim compare``: the scenario on each platform with the same seeds and churn."""
    from schedsim import estimate
    from schedsim.platforms import PLATFORMS
    from schedsim.runner import compare_platforms

    s = load(scenario, overrides, seed=seed, replications=replications)
    names = list(dict.fromkeys(platforms)) if not isinstance(platforms, str) else [platforms]
    for name in names:
        if name not in PLATFORMS:
            raise InputError("platforms", "", "one of " + ", ".join(sorted(PLATFORMS)), name)
    if len(names) < 2:
        raise InputError("platforms", "", "at least two different platforms", list(platforms))
    _check_jobs(jobs)
    estimate.guard(estimate.for_compare(s, names, jobs=jobs), s.source)
    results = compare_platforms(s, names, jobs=jobs)
    return CompareResult(s, {name: _run_result(summary) for name, summary in results.items()})


def sweep(scenario: str | Path, grid: Mapping[str, Sequence[Any]] | Sequence[str],
          overrides: Overrides = None, *, replications: int | None = None,
          jobs: int = 1) -> SweepResult:
    """``schedsim sweep`` in memory: the cross product of ``grid`` (``{key: [values]}`` or
    ``"KEY=V1,V2"`` strings), each point's replications. For a sweep that writes its rows as
    they finish and resumes after an interruption, use the command."""
    from schedsim import estimate
    from schedsim.studies import jobs as study_jobs
    from schedsim.studies import sweep as sweeps

    path = _path(scenario, "sweep")
    if isinstance(grid, Mapping):
        items = [f"{key}=" + ",".join(_yaml_text(v) for v in _values(key, values))
                 for key, values in grid.items()]
    else:
        items = [grid] if isinstance(grid, str) else [str(g) for g in grid]
    axes = sweeps.parse_grid(items)
    base = tuple(override_items(overrides))
    s = load(path, list(base), replications=replications)
    _check_jobs(jobs)
    points = sweeps.load_points(path, axes, base)
    estimate.guard(estimate.for_sweep(points, s.replications, jobs), path)
    rows: list[dict[str, Any]] = []
    study_jobs.execute(path, sweeps.plan(axes, s.replications, base), workers=jobs,
                       on_row=rows.append)
    rows.sort(key=lambda r: (int(r["point"]), int(r["replication"])))
    from schedsim.metrics import METRICS

    out = []
    for row in rows:
        ovr = tuple(json.loads(row["overrides"]))
        point = dict(o.partition("=")[::2] for o in ovr[len(base):])
        out.append(SweepRow(int(row["point"]), int(row["replication"]),
                            {k: _yaml_value(point[k], "--grid") for k, _ in axes}, ovr,
                            row["failure"] or None,
                            {name: float(row[name]) for name in METRICS}))
    return SweepResult(path, axes, out)


def plan(scenario: str | Path, deadline: float | str, vary: Mapping[str, Any] | Sequence[str],
         overrides: Overrides = None, *, seed: int | None = None,
         replications: int | None = None, confidence: float = 0.95,
         budget: float | None = None, **options: Any) -> PlanResult:
    """``schedsim plan``: the cheapest configuration whose makespan meets ``deadline``
    (seconds, or a duration such as ``"2h"``) in at least ``confidence`` of the
    replications. ``vary``: ``{key: "LO..HI"}``, ``{key: range(lo, hi + 1)}`` or
    ``{key: [choices]}``, or ``--vary``-like strings. Other keyword ``options`` go to the
    planner as they are."""
    import math

    from schedsim.studies import plan as planner
    from schedsim.units import UnitError, parse_duration

    path = _path(scenario, "plan")
    try:
        deadline_s = parse_duration(deadline)
    except UnitError:
        deadline_s = -1.0
    if not deadline_s > 0:
        raise InputError("deadline", "", 'a duration > 0 such as "6h" or 21600', deadline)
    if not 0 < confidence <= 1:
        raise InputError("confidence", "", "a number in (0, 1]", confidence)
    if budget is not None and not (math.isfinite(budget) and budget >= 0):
        raise InputError("budget", "", "a finite number of USD >= 0", budget)
    s = load(path, overrides, seed=seed, replications=replications)
    # As the command does: the seed and replications in force travel with every point.
    base = override_items(overrides) + [f"replications={s.replications}", f"seed={s.seed}"]
    raw: PlannerResult = planner.plan(path, base, deadline_s, confidence=confidence,
                                      budget=budget, vary=_vary_items(vary), **options)
    return PlanResult(deadline_s, confidence, planner.as_json(raw), raw)


# --------------------------------------------------------------------------- helpers

def override_items(overrides: Overrides) -> list[str]:
    """``overrides`` as ``--set`` items: a dict's values are written as YAML (JSON) text."""
    if overrides is None:
        return []
    if isinstance(overrides, str):
        raise InputError("overrides", "", "a dict of KEY: VALUE or a list of 'KEY=VALUE' "
                         "strings (not one string)", overrides)
    if isinstance(overrides, Mapping):
        return [f"{key}={_yaml_text(value)}" for key, value in overrides.items()]
    items = list(overrides)
    for item in items:
        if not isinstance(item, str):
            raise InputError("overrides", "", "'KEY=VALUE' strings", item)
    return items


def _yaml_text(value: Any) -> str:
    """``value`` as the YAML text ``--set`` would take: a string as it is where YAML reads it
    back unchanged (``60s``, ``ideal``), else JSON, which YAML reads back as written."""
    if isinstance(value, str) and value == value.strip() and "," not in value:
        from schedsim.safe_load import load_yaml

        try:
            if load_yaml(value, "overrides") == value:
                return value
        except InputError:
            pass
    return json.dumps(value, default=str)


def _yaml_value(text: str, source: str) -> Any:
    from schedsim.safe_load import load_yaml

    return load_yaml(text, source)


def _values(key: str, values: Any) -> list[Any]:
    if isinstance(values, str) or not isinstance(values, Sequence | range):
        raise InputError("grid", key, "a list of values", values)
    return list(values)


def _vary_items(vary: Mapping[str, Any] | Sequence[str]) -> list[str]:
    if isinstance(vary, str):
        return [vary]
    if not isinstance(vary, Mapping):
        return [str(v) for v in vary]
    items = []
    for key, spec in vary.items():
        if isinstance(spec, range) and spec.step == 1 and len(spec) > 0:
            items.append(f"{key}={spec.start}..{spec.stop - 1}")
        elif isinstance(spec, str):
            items.append(f"{key}={spec}")
        elif isinstance(spec, Sequence):
            items.append(f"{key}=" + ",".join(_yaml_text(v) for v in spec))
        else:
            raise InputError("vary", key, '"LO..HI", range(LO, HI + 1) or a list of choices',
                             spec)
    return items


def _path(scenario: Any, command: str) -> str:
    if not isinstance(scenario, str | Path):
        raise InputError("scenario", "", f"a scenario file's path ({command} loads it again "
                         "for every point)", type(scenario).__name__)
    return str(scenario)


def _check_jobs(jobs: int) -> None:
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InputError("jobs", "", "an integer >= 1", jobs)


def _run_result(summary: Summary, keep_records: bool = False) -> RunResult:
    results: list[Replicated] = summary.results
    return RunResult(summary.scenario, summary.data,
                     [r.log for r in results] if keep_records else [])


def _frame(rows: list[dict[str, Any]]) -> Any:
    try:
        import pandas
    except ImportError:
        raise ModuleNotFoundError("to_frame() needs pandas, an optional extra: "
                                  "pip install 'schedsim[frames]'", name="pandas") from None
    return pandas.DataFrame(rows)
