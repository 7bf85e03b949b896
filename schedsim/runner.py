"""Replications of one scenario, serial or in a process pool, and the JSON summary.

Replication ``r`` always uses the seed's child stream ``r``, so the numbers do not depend on
how many processes ran them or in which order they finished: serial and parallel runs give the
same summary. Parallel runs use :mod:`schedsim.pool`, which Ctrl-C stops at once. The summary
follows the contract in docs/metrics.md.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from schedsim.bound import scenario_bound
from schedsim.metrics import METRICS, finite, summarize_metric
from schedsim.pool import ProcessPool, report
from schedsim.pool import run as run_jobs
from schedsim.resolve import provenance
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


def _replication_job(scenario: Scenario, keep_records: bool, ticks: bool,
                     replication: int) -> RunResult:
    """One replication as a pool job; its progress goes to the pool's caller."""
    return run_replication(scenario, replication, keep_records,
                           _report_progress if ticks else None)


def _report_progress(done: int, total: int) -> None:
    report((done, total))


def run_scenario(scenario: Scenario, *, jobs: int = 1, keep_records: bool = False,
                 on_done: Callable[[int], None] | None = None,
                 on_progress: OnProgress | None = None,
                 pool: ProcessPool | None = None) -> Summary:
    """Run every replication and summarise them (in ``pool`` if given, else ``jobs``
    processes). ``on_progress`` gets ticks within each replication, from any process."""
    reps = list(range(scenario.replications))
    results: dict[int, RunResult] = {}

    def finished(r: int, result: RunResult) -> None:
        results[r] = result
        if on_done:
            on_done(r)

    ticks = None
    if on_progress is not None:
        def ticks(r: int, payload: Any) -> None:
            on_progress(r, *payload)

    replication = functools.partial(_replication_job, scenario, keep_records,
                                    on_progress is not None)
    if pool is not None:
        pool.run(replication, reps, finished, ticks)
    else:
        run_jobs(replication, reps, workers=jobs, on_result=finished, on_progress=ticks)
    ordered = [results[r] for r in reps]
    bound = scenario_bound(scenario)
    summary = Summary(scenario, ordered, bound)
    summary.data = summary_json(scenario, [r.metrics for r in ordered], bound,
                                [r.failure for r in ordered], [r.events for r in ordered],
                                kinds=[r.failure_kind for r in ordered])
    return summary


def compare_platforms(scenario: Scenario, platforms: list[str], *, jobs: int = 1,
                      on_done: Callable[[int], None] | None = None) -> dict[str, Summary]:
    """The same scenario, seeds and churn on each platform (only the platform changes)."""
    if jobs <= 1 or scenario.replications <= 1:
        return {p: run_scenario(scenario.with_platform(p), on_done=on_done) for p in platforms}
    with ProcessPool(min(jobs, scenario.replications)) as pool:  # one pool for every platform
        return {p: run_scenario(scenario.with_platform(p), on_done=on_done, pool=pool)
                for p in platforms}


def summary_json(scenario: Scenario, runs: list[dict[str, float]], bound: dict[str, object],
                 failures: list[str | None], events: list[int],
                 platform: str | None = None,
                 kinds: list[str | None] | None = None) -> dict[str, Any]:
    """The summary contract (docs/metrics.md) from one metrics dict per replication."""
    metrics = {name: summarize_metric(name, [run[name] for run in runs]) for name in METRICS}
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
        "provenance": provenance(scenario),
    })
