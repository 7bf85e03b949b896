"""Replications of one scenario, serial or in a process pool, and the JSON summary.

Replication ``r`` always uses the seed's child stream ``r``, so the numbers do not depend on
how many processes ran them or in which order they finished: serial and parallel runs give the
same summary. The summary follows the contract in docs/metrics.md.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from schedsim.metrics import METRICS, summarize
from schedsim.scenario import Scenario
from schedsim.simulation import RunResult, Simulation
from schedsim.watch import Progress


@dataclass
class Summary:
    """What a run of all replications produced."""

    scenario: Scenario
    results: list[RunResult]
    bound: dict[str, object]
    data: dict[str, Any] = field(default_factory=dict)


# (replication, tasks finished, tasks in the bag), a few times a second while it runs
OnProgress = Callable[[int, int, int], None]


def run_replication(scenario: Scenario, replication: int, keep_records: bool,
                    progress: Progress | None = None) -> RunResult:
    return Simulation(scenario, replication, keep_records, progress=progress).run()


def run_scenario(scenario: Scenario, *, jobs: int = 1, keep_records: bool = False,
                 on_done: Callable[[int], None] | None = None,
                 on_progress: OnProgress | None = None) -> Summary:
    """Run every replication and summarise them. ``on_progress`` gets ticks within each
    replication of a serial run; a pooled run reports whole replications (``on_done``) only."""
    reps = list(range(scenario.replications))
    results: dict[int, RunResult] = {}
    if jobs <= 1 or len(reps) <= 1:
        for r in reps:
            tick = None if on_progress is None else functools.partial(on_progress, r)
            results[r] = run_replication(scenario, r, keep_records, tick)
            if on_done:
                on_done(r)
    else:
        # Ticks from the workers would need a channel back (a queue the pool's initializer
        # hands to each process, fed by run_replication's progress); until then, per replication.
        with ProcessPoolExecutor(max_workers=min(jobs, len(reps))) as pool:
            futures = {pool.submit(run_replication, scenario, r, keep_records): r for r in reps}
            for future, r in futures.items():
                results[r] = future.result()
                if on_done:
                    on_done(r)
    ordered = [results[r] for r in reps]
    bound = Simulation(scenario, 0, keep_records=False).bound()  # a fresh, unrun model
    summary = Summary(scenario, ordered, bound)
    summary.data = summary_json(scenario, [r.metrics for r in ordered], bound,
                                [r.failure for r in ordered], [r.events for r in ordered],
                                kinds=[r.failure_kind for r in ordered])
    return summary


def compare_platforms(scenario: Scenario, platforms: list[str], *, jobs: int = 1,
                      on_done: Callable[[int], None] | None = None) -> dict[str, Summary]:
    """The same scenario, seeds and churn on each platform (only the platform changes)."""
    return {p: run_scenario(scenario.with_platform(p), jobs=jobs, on_done=on_done)
            for p in platforms}


def summary_json(scenario: Scenario, runs: list[dict[str, float]], bound: dict[str, object],
                 failures: list[str | None], events: list[int],
                 platform: str | None = None,
                 kinds: list[str | None] | None = None) -> dict[str, Any]:
    """The summary contract (docs/metrics.md) from one metrics dict per replication."""
    metrics = {name: summarize([run[name] for run in runs]) for name in METRICS}
    return finite({
        "scenario": scenario.name,
        "platform": platform or scenario.platform.type,
        "seed": scenario.seed,
        "replications": len(runs),
        "metrics": metrics,
        "bound": {"throughput_tasks_per_s": bound["throughput_tasks_per_s"],
                  "binding": bound["binding"],
                  "makespan_lower_bound_s": bound["makespan_lower_bound_s"],
                  "limits": bound["limits"]},
        "failures": failures,
        "failure_kinds": kinds if kinds is not None else [None] * len(runs),
        "events": events,
    })


def finite(value: Any) -> Any:
    """Replace NaN and infinities (not valid JSON) with None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value
