"""Fitting the platforms' overhead parameters to the live runs (calibration, last step).

What a per-task record shows is read off it: Work Queue reports its own per-task phases, so
the manager's dispatch and retrieval times are medians over every live task; Ray's lease
latency is the median idle gap of a worker slot between one task's end and the next one's
start (the time to hand a warm worker its next task). What no record shows directly (how long
a Work Queue worker takes to connect; how long Ray takes to start a worker process) is fitted
by optimisation: the simulator runs each live configuration with candidate values, with common
random numbers so the objective is smooth, and the fit minimises the squared relative errors
between simulated and live mean makespans (bounded trust-region least squares).

Only configurations with no more slots than the host has CPUs enter the optimisation. With
more, the live run oversubscribes the host (three or four emulated one-core nodes on two cores:
tasks, worker start-up and the platforms' own daemons compete for CPU), which the simulator's
nodes, each with cores of its own, do not represent; Ray on this host also starts at most
``min(cpu_count, num_cpus)`` workers at once (its ``maximum_startup_concurrency``). Those
configurations are still simulated and their errors reported, flagged ``oversubscribed``. The fit
first proves itself on synthetic makespans made by the simulator with known values
(tests/test_calibration.py). The result is the profile's ``platforms`` section, which the
platform models use as their defaults (docs/calibration.md).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize

from schedsim.calibration.platforms import CALIBRATED
from schedsim.calibration.profile import load_profile, platform_defaults
from schedsim.loading import parse_scenario
from schedsim.simulation import Simulation

LOWER_S, UPPER_S = 1e-6, 60.0  # search range of every fitted time (s)
# Parameters fitted by optimisation, with their starting points (the models' own defaults),
# and parameters read off per-task records: name -> (measured statistic, what it is).
FREE: dict[str, dict[str, float]] = {name: c.free for name, c in CALIBRATED.items()}
PHASES: dict[str, dict[str, tuple[str, str]]] = {name: c.phases
                                                 for name, c in CALIBRATED.items()}


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
    oversubscribed: bool = False  # more slots than the host had CPUs


def targets(measured: dict[str, Any], host_cpus: int | None = None) -> list[Target]:
    """The live configurations of one platform from a profile's ``measured`` section."""
    out = []
    for c in measured.get("configs", []):
        mk = c.get("makespan_s") or {}
        if mk.get("count"):
            slots = c["nodes"] * c["cores"]
            out.append(Target(c["label"], c["tasks"], c["n"], c["tolerance"], c["nodes"],
                              c["cores"], float(mk["mean"]),
                              host_cpus is not None and slots > host_cpus))
    return out


def live_host(profile: Path, n: int, tolerance: float, bandwidth: float | None = None,
              platform: str | None = None, speed: float | None = None,
              host: dict[str, float] | None = None) -> dict[str, Any]:
    """Scenario keys that describe this host for a live configuration of ``platform``.

    Outputs move over the loopback interface (Work Queue's manager fetches each output file;
    Ray's results above 100 KiB go through its object store): the scenario gets a network
    whose links have the loopback bandwidth fitted from Work Queue's retrievals (the
    profile's ``platforms.loopback``) and the task's fitted output size. Without a fitted
    bandwidth, no network. The emulated nodes are processes on this host: their tasks share
    its CPUs with each other and with the platform's own processes (``host``: ``cluster.host``
    keys), and even a lone task runs at ``speed`` beside those processes; both as the
    profile's ``platforms.live_host`` measured them for the platform, unless given (the
    platform's own ``PLATFORM_host_cpus`` before the shared ``host_cpus``: a platform
    calibrated on its own, ``calibrate --platform``, may have been on another host).
    """
    out: dict[str, Any] = {}
    fitted = platform_defaults("live_host", profile) if platform is not None else {}
    if speed is None:
        speed = fitted.get(f"{platform}_task_speed")
    if speed is not None:
        out["speed"] = speed
    cpus = fitted.get(f"{platform}_host_cpus", fitted.get("host_cpus"))
    if host is None and cpus is not None:
        host = {"cpus": cpus,
                "background": fitted.get(f"{platform}_background_cpus", 0.0)}
    if host is not None:
        out["host"] = host
    if bandwidth is None:
        bandwidth = platform_defaults("loopback", profile).get("bandwidth")
    if not bandwidth:
        return out
    size = load_profile(profile).output_bytes(n, tolerance)
    link = {"bandwidth": bandwidth, "latency": 0.0}
    out.update({"network": {"manager": dict(link), "worker": dict(link)},
                "output_size": max(0.0, size)})
    return out


def _slowdowns(measured: dict[str, Any], profile: Path) -> list[tuple[int, float]]:
    """(slots, live mean of the program's own total_s / the profile's mean) per config."""
    prof = load_profile(profile)
    out = []
    for c in measured.get("configs", []):
        stat = c.get("task_total_s") or {}
        if stat.get("count") and stat.get("mean"):
            out.append((c["nodes"] * c["cores"],
                        float(stat["mean"]) / prof.mean_time(c["n"], c["tolerance"])))
    return out


def task_speed(measured: dict[str, Any], profile: Path) -> float | None:
    """How fast the task itself runs on the live host beside a platform's processes.

    The profile's mean task time (measured one process at a time on a quiet host) over the
    mean of the program's own ``total_s`` in the live runs with one slot (a lone task, which
    no other task slows down), median over those configurations; None without any. Read off
    the task's own timings, never off makespans.
    """
    ratios = [1.0 / s for slots, s in _slowdowns(measured, profile) if slots == 1]
    return float(np.median(ratios)) if ratios else None


def background_cpus(measured: dict[str, Any], profile: Path, host_cpus: int,
                    speed: float) -> float | None:
    """CPUs the platform's own processes keep busy while the host's CPUs all run tasks.

    With as many slots as CPUs (k = C), the tasks share C - D CPUs (schedsim/model/host.py),
    so each runs k / (C - D) times slower than alone: D = C - k / s, where s is the live
    slowdown of the program's own time beyond the lone-task speed. Median over such
    configurations, at least 0; None without any.
    """
    values = [host_cpus - slots / (s * speed) for slots, s in _slowdowns(measured, profile)
              if slots == host_cpus and host_cpus > 1]
    return max(0.0, float(np.median(values))) if values else None


def fit_loopback(measured: dict[str, Any], profile: Path) -> tuple[float, float] | None:
    """Work Queue's retrieval time against the output's size: (fixed s, bytes/s).

    A least-squares line through each live configuration's median ``retrieval_s`` against the
    profile's output size for its n and tolerance; None when fewer than two sizes or no
    positive slope.
    """
    prof = load_profile(profile)
    xs, ys = [], []
    for c in measured.get("configs", []):
        stat = c.get("retrieval_s") or {}
        if stat.get("count"):
            xs.append(prof.output_bytes(c["n"], c["tolerance"]))
            ys.append(float(stat["median"]))
    if len(set(xs)) < 2:
        return None
    slope, intercept = np.polyfit(np.asarray(xs), np.asarray(ys), 1)
    if slope <= 0:
        return None
    return max(0.0, float(intercept)), float(1.0 / slope)


def simulate(platform: str, options: dict[str, float], target: Target, profile: Path,
             replications: int, bandwidth: float | None = None,
             speed: float | None = None, shared: dict[str, float] | None = None,
             seed: int = 1) -> float:
    """Mean simulated makespan of a live configuration (seeds fixed: common random numbers;
    another ``seed`` draws other task times, as the recovery tests' targets do)."""
    profile = profile.resolve()  # the scenario names it relative to its own folder
    host = live_host(profile, target.n, target.tolerance, bandwidth, platform, speed, shared)
    workload: dict[str, Any] = {"tasks": target.tasks,
                                "duration": {"dist": "profile", "n": target.n,
                                             "tolerance": target.tolerance,
                                             "profile": str(profile)}}
    if "network" in host:
        workload["output_size"] = host["output_size"]
    data: dict[str, Any] = {
        "name": f"fit-{target.label}", "seed": seed, "replications": 1,
        "platform": {"type": platform, platform: dict(options)},
        "workload": workload,
        "cluster": {"pools": [{"name": "host", "count": target.nodes, "cores": target.cores,
                               "speed": host.get("speed", 1.0)}]},
    }
    if "host" in host:
        data["cluster"]["host"] = host["host"]
    if "network" in host:
        data["network"] = host["network"]
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
        free: dict[str, float], replications: int = 40, max_evals: int = 120,
        bandwidth: float | None = None, speed: float | None = None,
        shared: dict[str, float] | None = None) -> FitResult:
    """Least squares over ``free`` on the configurations that do not oversubscribe the host
    (all of them if none qualifies); ``fixed`` options are held. Every configuration's error
    is reported."""
    names = list(free)
    usable = [g for g in goals if not g.oversubscribed] or list(goals)
    evals = 0

    def options(x: np.ndarray) -> dict[str, float]:
        return dict(fixed, **{k: float(v) for k, v in zip(names, x, strict=True)})

    def residuals(x: np.ndarray) -> np.ndarray:
        nonlocal evals
        evals += 1
        opts = options(x)
        return np.array([(simulate(platform, opts, g, profile, replications, bandwidth, speed,
                                   shared) - g.makespan_s) / g.makespan_s for g in usable])

    x0 = np.array([free[k] for k in names])
    # Makespans are close to linear in overheads (with the seeds fixed), so a bounded
    # trust-region least squares on the relative residuals is well conditioned, unlike a
    # simplex over parameters whose effects differ by orders of magnitude.
    res = optimize.least_squares(residuals, x0, bounds=(LOWER_S, UPPER_S), x_scale=x0,
                                 diff_step=1e-2, max_nfev=max_evals, xtol=1e-6)
    best = options(res.x)
    per_config: list[dict[str, float | str]] = []
    for g in goals:
        sim = simulate(platform, best, g, profile, replications, bandwidth, speed, shared)
        per_config.append({"config": g.label, "live_makespan_s": g.makespan_s,
                           "simulated_makespan_s": sim,
                           "relative_error": (sim - g.makespan_s) / g.makespan_s,
                           "oversubscribed": g.oversubscribed, "fitted": g in usable})
    rms = math.sqrt(float(np.mean([float(p["relative_error"]) ** 2 for p in per_config
                                   if p["fitted"]])))
    return FitResult({k: best[k] for k in names}, per_config, rms, evals)


def measured_phases(platform: str, measured: dict[str, Any], profile: Path,
                    host_cpus: int | None = None) -> dict[str, float]:
    """The overheads read off per-task records (``PHASES``): for each, the median over the
    configurations that do not oversubscribe the host of each one's median."""
    quiet = [c for c in measured.get("configs", [])
             if host_cpus is None or c["nodes"] * c["cores"] <= host_cpus]
    prof = load_profile(profile)
    out = {}
    for name, (phase, _what) in PHASES[platform].items():
        # The launch is what remains once the task's own teardown (which grows with n and
        # is part of the task's time) is taken out.
        values = [c[phase]["median"] - (prof.teardown_s(c["n"])
                                        if name == "task_launch_time" else 0.0)
                  for c in quiet if c.get(phase, {}).get("count")]
        if values:
            out[name] = float(np.median(values))
    return out


def sized_phases(platform: str, measured: dict[str, Any], profile: Path,
                 host_cpus: int | None, bandwidth: float | None
                 ) -> dict[str, tuple[str, float | None, float]]:
    """For each phase of ``platform`` that grows with the output (``Calibrated.sized``): its
    rate's name, the rate (None where the line does not rise) and the intercept, from a least
    squares line through the configurations' medians against the task's fitted output size.
    A phase that includes the output's crossing of the network has it taken out (the model's
    network carries it)."""
    quiet = [c for c in measured.get("configs", [])
             if host_cpus is None or c["nodes"] * c["cores"] <= host_cpus]
    prof = load_profile(profile)
    out: dict[str, tuple[str, float | None, float]] = {}
    for name, (rate, over_network) in CALIBRATED[platform].sized.items():
        phase = PHASES[platform][name][0]
        points = [(prof.output_bytes(c["n"], c["tolerance"]), c[phase]["median"])
                  for c in quiet if c.get(phase, {}).get("count")]
        if len({x for x, _ in points}) < 2:
            continue
        slope, intercept = np.polyfit([x for x, _ in points], [y for _, y in points], 1)
        if over_network and bandwidth:
            slope -= 1.0 / bandwidth
        # A rise under 1 ns per MB is none (a flat line's slope is rounding noise).
        out[name] = (rate, float(1.0 / slope) if slope > 1e-15 else None,
                     max(0.0, float(intercept)))
    return out


def fit_platforms(doc: dict[str, Any], profile: Path, replications: int = 40,
                  only: Iterable[str] | None = None) -> dict[str, Any]:
    """The profile's ``platforms`` section from its ``measured`` section.

    With ``only``, those platforms alone are fitted into a copy of the profile's section:
    every other platform's section and ``live_host`` entry stay as they are (the loopback
    bandwidth too, unless Work Queue, whose retrievals it is read off, is among them)."""
    chosen = list(FREE) if only is None else list(only)
    section: dict[str, Any] = {} if only is None else copy.deepcopy(doc.get("platforms", {}))
    line = None
    if "workqueue" in chosen:
        line = fit_loopback(doc.get("measured", {}).get("workqueue", {}), profile)
        section.pop("loopback", None)
    if line is not None:
        section["loopback"] = {"parameters": {"bandwidth": {
            "value": line[1], "unit": "B/s",
            "source": "slope of Work Queue's median retrieval_s against the task's fitted "
                      "output size, least squares over the live configurations"}}}
    bandwidth = (line[1] if line is not None else None if "workqueue" in chosen
                 else platform_defaults("loopback", profile).get("bandwidth"))
    if only is not None:
        host_params = section.get("live_host", {}).get("parameters", {})
        for platform in chosen:
            section.pop(platform, None)
            for key in [k for k in host_params if k.startswith(f"{platform}_")]:
                del host_params[key]
    for platform in chosen:
        free = FREE[platform]
        measured = doc.get("measured", {}).get(platform)
        if not measured:
            continue
        # A platform calibrated on its own (calibrate --platform) has its host's CPUs.
        host_cpus = measured.get("host_cpus", doc.get("measured", {}).get("host_cpus"))
        goals = targets(measured, host_cpus)
        if not goals:
            continue
        fixed = measured_phases(platform, measured, profile, host_cpus)
        params: dict[str, Any] = {
            name: {"value": value, "unit": "s",
                   "source": f"median of {PHASES[platform][name][1]}, over the live "
                             "configurations that do not oversubscribe the host"}
            for name, value in fixed.items()}
        for name, (rate, rate_value, intercept) in sized_phases(
                platform, measured, profile, host_cpus, bandwidth).items():
            what = PHASES[platform][name][1]
            fixed[name] = intercept
            params[name] = {"value": intercept, "unit": "s",
                            "source": f"intercept of the median of {what} against the task's "
                                      "fitted output size, least squares over the live "
                                      "configurations that do not oversubscribe the host"}
            if rate_value is not None:
                fixed[rate] = rate_value
                params[rate] = {"value": rate_value, "unit": "B/s",
                                "source": f"1 / slope of the same line ({what})"
                                + (", less the loopback's 1 / bandwidth"
                                   if CALIBRATED[platform].sized[name][1] else "")}
        if platform == "workqueue" and line is not None:
            fixed["retrieval_time"] = line[0]
            params["retrieval_time"] = {
                "value": line[0], "unit": "s",
                "source": "intercept of Work Queue's median retrieval_s against the output "
                          "size (the size-dependent part is the loopback bandwidth)"}
        speed = task_speed(measured, profile)
        host_params = section.setdefault("live_host", {"parameters": {}})["parameters"]
        if speed is not None:
            host_params[f"{platform}_task_speed"] = {
                "value": speed, "unit": "1",
                "source": f"the profile's mean task time over the mean of compress_task's own "
                          f"total_s in {platform}'s one-slot live runs (median)"}
        shared = None
        if host_cpus:
            # Measured on its own, under its own name: the shared entry is the others' host's.
            cpus_key = f"{platform}_host_cpus" if "host_cpus" in measured else "host_cpus"
            host_params[cpus_key] = {"value": float(host_cpus), "unit": "CPUs",
                                     "source": "os.cpu_count() of the calibrating host"}
            background = background_cpus(measured, profile, host_cpus,
                                         1.0 if speed is None else speed)
            if background is not None:
                host_params[f"{platform}_background_cpus"] = {
                    "value": background, "unit": "CPUs",
                    "source": f"C - k / s on {platform}'s live runs with as many slots (k) as "
                              f"CPUs (C), s the slowdown of compress_task's own total_s "
                              f"beyond the one-slot speed (median)"}
            shared = {"cpus": float(host_cpus), "background": background or 0.0}
        result = fit(platform, goals, profile, fixed, free, replications,
                     bandwidth=bandwidth, speed=1.0 if speed is None else speed, shared=shared)
        for name, value in result.values.items():
            params[name] = {"value": value, "unit": "s",
                            "source": "fitted: simulated vs live mean makespans, least squares, "
                                      "on the configurations that do not oversubscribe the "
                                      "host"}
        section[platform] = {"parameters": params,
                             "fit": {"rms_relative_error": result.rms_relative_error,
                                     "per_config": result.per_config,
                                     "evaluations": result.evaluations,
                                     "replications_per_evaluation": replications}}
    return section
