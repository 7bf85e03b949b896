"""Fitting the platforms' overhead parameters to the live runs (calibration, last step).

Work Queue reports its own per-task phases, so the manager's dispatch and retrieval times are
taken straight from them (medians over every live task). What no phase shows directly (how long
a Work Queue worker takes to connect; how long Ray takes to start a worker process and to lease
a task) is fitted by optimisation: the simulator runs each live configuration with candidate
values, with common random numbers so the objective is smooth, and the fit
minimises the squared relative errors between simulated and live mean makespans (bounded
trust-region least squares). The fit
first proves itself on synthetic makespans made by the simulator with known values
(tests/test_calibration.py). The result is the profile's ``platforms`` section, which the
platform models use as their defaults (docs/calibration.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize

from schedsim.scenario import parse_scenario
from schedsim.simulation import Simulation

LOWER_S, UPPER_S = 1e-6, 60.0  # search range of every fitted time (s)
# Parameters fitted by optimisation, with their starting points (the models' own defaults).
FREE: dict[str, dict[str, float]] = {
    "workqueue": {"worker_connect_time": 0.05},
    "ray": {"worker_start_time": 1.0, "lease_latency": 0.001},
}
# Parameters read off the platform's own per-task phases: name -> measured statistic.
PHASES: dict[str, dict[str, str]] = {
    "workqueue": {"dispatch_time": "dispatch_s", "retrieval_time": "retrieval_s"},
    "ray": {},
}


@dataclass(frozen=True)
class Target:
    """One live configuration and its measured mean makespan."""

    label: str
    tasks: int
    n: int
    tolerance: float
    nodes: int
    cores: int
    makespan_s: float


def targets(measured: dict[str, Any]) -> list[Target]:
    """The live configurations of one platform from a profile's ``measured`` section."""
    out = []
    for c in measured.get("configs", []):
        mk = c.get("makespan_s") or {}
        if mk.get("count"):
            out.append(Target(c["label"], c["tasks"], c["n"], c["tolerance"], c["nodes"],
                              c["cores"], float(mk["mean"])))
    return out


def simulate(platform: str, options: dict[str, float], target: Target, profile: Path,
             replications: int) -> float:
    """Mean simulated makespan of a live configuration (seeds fixed: common random numbers)."""
    data = {
        "name": f"fit-{target.label}", "seed": 1, "replications": 1,
        "platform": {"type": platform, platform: dict(options)},
        "workload": {"tasks": target.tasks,
                     "duration": {"dist": "profile", "n": target.n,
                                  "tolerance": target.tolerance, "profile": str(profile)}},
        "cluster": {"pools": [{"name": "host", "count": target.nodes, "cores": target.cores}]},
    }
    scenario = parse_scenario(data, f"<fit {target.label}>", profile.parent)
    runs = [Simulation(scenario, r, keep_records=False).run().metrics["makespan_s"]
            for r in range(replications)]
    return float(np.mean(runs))


@dataclass
class FitResult:
    values: dict[str, float]
    per_config: list[dict[str, float | str]]
    rms_relative_error: float
    evaluations: int


def fit(platform: str, goals: Sequence[Target], profile: Path, fixed: dict[str, float],
        free: dict[str, float], replications: int = 40, max_evals: int = 120) -> FitResult:
    """Nelder-Mead in log space over ``free``; ``fixed`` options are held."""
    names = list(free)
    evals = 0

    def options(x: np.ndarray) -> dict[str, float]:
        return dict(fixed, **{k: float(v) for k, v in zip(names, x, strict=True)})

    def residuals(x: np.ndarray) -> np.ndarray:
        nonlocal evals
        evals += 1
        opts = options(x)
        return np.array([(simulate(platform, opts, g, profile, replications) - g.makespan_s)
                         / g.makespan_s for g in goals])

    x0 = np.array([free[k] for k in names])
    # Makespans are close to linear in overheads (with the seeds fixed), so a bounded
    # trust-region least squares on the relative residuals is well conditioned, unlike a
    # simplex over parameters whose effects differ by orders of magnitude.
    res = optimize.least_squares(residuals, x0, bounds=(LOWER_S, UPPER_S), x_scale=x0,
                                 diff_step=1e-2, max_nfev=max_evals, xtol=1e-6)
    best = options(res.x)
    per_config: list[dict[str, float | str]] = []
    for g in goals:
        sim = simulate(platform, best, g, profile, replications)
        per_config.append({"config": g.label, "live_makespan_s": g.makespan_s,
                           "simulated_makespan_s": sim,
                           "relative_error": (sim - g.makespan_s) / g.makespan_s})
    rms = math.sqrt(float(np.mean([float(p["relative_error"]) ** 2 for p in per_config])))
    return FitResult({k: best[k] for k in names}, per_config, rms, evals)


def fit_platforms(doc: dict[str, Any], profile: Path, replications: int = 40
                  ) -> dict[str, Any]:
    """The profile's ``platforms`` section from its ``measured`` section."""
    section: dict[str, Any] = {}
    for platform, free in FREE.items():
        measured = doc.get("measured", {}).get(platform)
        if not measured:
            continue
        goals = targets(measured)
        if not goals:
            continue
        fixed: dict[str, float] = {}
        params: dict[str, Any] = {}
        for name, phase in PHASES[platform].items():
            values = [c[phase]["median"] for c in measured["configs"]
                      if c.get(phase, {}).get("count")]
            if values:
                fixed[name] = float(np.median(values))
                params[name] = {"value": fixed[name], "unit": "s",
                                "source": f"median of Work Queue's own {phase} per task, "
                                          "over the live configurations"}
        result = fit(platform, goals, profile, fixed, free, replications)
        for name, value in result.values.items():
            params[name] = {"value": value, "unit": "s",
                            "source": "fitted: simulated vs live mean makespans, least squares"}
        section[platform] = {"parameters": params,
                             "fit": {"rms_relative_error": result.rms_relative_error,
                                     "per_config": result.per_config,
                                     "evaluations": result.evaluations,
                                     "replications_per_evaluation": replications}}
    return section
