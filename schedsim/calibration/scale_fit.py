"""The scale parameters of the platform models, fitted on the fit points of the scale matrix.

At scale on one host the platform's own mechanisms bind, not the tasks: Work Queue's manager
(its per-task dispatch and retrieval, the scan of every connected worker per dispatch, the
connect backlog it drains only when idle) and Ray's driver (submission, result intake), and,
for both, the CPU the platform's own process starts and task launches take on the shared
host (``cluster.host.platform_work``). The parameters are fitted by least squares on the log
of the simulated over the live makespans of the ``fit`` points of
:mod:`schedsim.studies.scale_matrix` (mean over the recorded repeats, the simulator's replication r
drawing the task times of live repeat r), plus, for Work Queue, the times by which half and
all of the workers had connected. The host is shared with other work: each run recorded how
many CPUs other work kept busy in the 2 s before it (B,
:func:`schedsim.studies.scale_matrix.busy_cpus`), and the CPUs the platform's launches
cannot have are ``background_base + B`` (clipped to [0, 90% of the CPUs]),
``background_base`` fitted (the platform's own idle processes and whatever the
window missed). Runs recorded without it hold only the 1-minute load average, which counts
the previous run's processes for a minute after they end, so it is not used: they are read
as B = 0.
The result is a JSON document of named parameters, each with its value, unit and source
(``schedsim/studies/scale/params.json``), which ``schedsim validate --scale`` applies to the
held-out points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize

from schedsim.simulation import Simulation
from schedsim.studies.scale_matrix import FIT, ScalePoint, good_runs, point_by_label, scenario_for

HOST_CPUS = 2.0  # the host the committed matrix was measured on (docs/live.md)


@dataclass(frozen=True)
class Param:
    name: str
    start: float
    low: float
    high: float
    unit: str
    what: str


# Both platforms' hosts: CPUs taken beyond the other work measured before each run.
HOST_BACKGROUND = (
    Param("background_base", 0.3, 0.0, 1.8, "CPUs",
          "the host's CPUs taken beyond the other work measured before the run"),
)

PARAMETERS: dict[str, tuple[Param, ...]] = {
    "workqueue": (
        Param("dispatch_time", 2e-3, 1e-5, 0.05, "s", "manager time per dispatch"),
        Param("retrieval_time", 1e-3, 1e-5, 0.05, "s", "manager time per retrieval"),
        Param("scan_time_per_worker", 1e-5, 1e-8, 1e-3, "s",
              "manager time per connected worker per dispatch"),
        Param("task_launch_time", 5e-3, 1e-4, 0.1, "CPU-s",
              "the worker's launch of a task (fork, exec, wait), CPU on the shared host"),
        Param("worker_connect_time", 0.01, 1e-3, 0.5, "CPU-s",
              "a work_queue_worker's start, CPU on the shared host"),
        Param("accept_time", 0.02, 1e-5, 0.5, "s",
              "manager time per accepted worker connection (handshake)"),
        *HOST_BACKGROUND,
    ),
    "ray": (
        Param("submit_time", 1e-3, 1e-5, 0.05, "s", "driver time per .remote()"),
        Param("result_time", 1e-3, 1e-5, 0.05, "s", "driver time per result consumed"),
        Param("lease_latency", 5e-3, 1e-4, 0.2, "s", "lease and push, per task"),
        Param("task_launch_time", 0.01, 1e-4, 0.2, "CPU-s",
              "the Ray worker's subprocess launch of a task, CPU on the shared host"),
        Param("worker_start_time", 0.5, 0.01, 5.0, "CPU-s",
              "a Ray worker process's start, CPU on the shared host"),
        *HOST_BACKGROUND,
    ),
}
# Set, not fitted: Work Queue's listen queue (CCTools link.c listens with a backlog of 5;
# Linux queues backlog + 1 connections, and the live runs connect in batches of 6) and Linux's
# first SYN retransmission timeout (1 s, doubling).
FIXED: dict[str, dict[str, Any]] = {
    "workqueue": {"listen_backlog": 6, "connect_retry": 1.0},
    "ray": {},
}
FIXED_SOURCES = {
    "listen_backlog": "CCTools link.c listen(fd, 5); Linux queues backlog + 1; the live runs "
                      "connect in batches of 6 (schedsim/studies/scale/matrix-live.jsonl)",
    "connect_retry": "Linux TCP_TIMEOUT_INIT (1 s), doubled at each SYN retransmission",
}
HOST_KEYS = ("background_base",)
LINEAR = HOST_KEYS  # fitted as they are, not in logs


def split(platform: str, values: dict[str, float], busy: float
          ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Platform options and the shared host beside ``busy`` CPUs of other work, from fitted
    values."""
    options = dict(FIXED[platform])
    options.update({k: v for k, v in values.items() if k not in HOST_KEYS})
    background = values.get("background_base", 0.0) + busy
    host = {"cpus": HOST_CPUS, "background": min(max(background, 0.0), 0.9 * HOST_CPUS),
            "platform_work": True}
    return options, host


def simulate(point: ScalePoint, values: dict[str, float], replication: int,
             busy: float = 0.0) -> tuple[float, list[float]]:
    """Makespan, and the worker connection times (Work Queue), of one simulated run beside
    ``busy`` CPUs of other work."""
    options, host = split(point.platform, values, busy)
    sim = Simulation(scenario_for(point, options, host=host), replication)
    result = sim.run()
    connections = list(getattr(sim.platform, "connections", []))
    return float(result.metrics["makespan_s"]), connections


def busy_of(rec: dict[str, Any]) -> float:
    """The CPUs other work kept busy just before a recorded run (0 if not recorded)."""
    return float(rec.get("busy_cpus_before", 0.0))


def live_by_point(records: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for rec in good_runs(records):
        out.setdefault(rec["label"], []).append(rec)
    return out


def _connect_marks(times: Sequence[float], workers: int) -> tuple[float, float] | None:
    """When half, and all, of ``workers`` had connected (None if not all ever did)."""
    ordered = sorted(times)
    if workers < 50 or len(ordered) < workers:
        return None
    return ordered[workers // 2 - 1], ordered[workers - 1]


def residuals(platform: str, values: dict[str, float],
              runs: dict[str, list[dict[str, Any]]]) -> list[float]:
    """Log errors of the simulated against the live makespans (and connect times)."""
    out = []
    for label, recs in sorted(runs.items()):
        point = point_by_label(label)
        if point.platform != platform or point.role != FIT:
            continue
        sims = [simulate(point, values, int(rec["repeat"]), busy_of(rec)) for rec in recs]
        live = float(np.mean([rec["makespan_s"] for rec in recs]))
        out.append(math.log(float(np.mean([s[0] for s in sims])) / live))
        if platform == "workqueue":
            marks_live = [_connect_marks(rec["facts"]["connections_s"], point.workers)
                          for rec in recs if point.killed_nodes == 0]
            marks_sim = [_connect_marks(s[1], point.workers) for s in sims]
            for i in (0, 1):
                lv = [m[i] for m in marks_live if m is not None]
                sv = [m[i] for m in marks_sim if m is not None]
                if lv and sv:
                    # Connect times in seconds, against a 1 s floor (start-up jitter).
                    out.append(0.5 * math.log((1.0 + float(np.mean(sv))) /
                                              (1.0 + float(np.mean(lv)))))
    return out


def fit(platform: str, records: Sequence[dict[str, Any]], max_evaluations: int = 300,
        restarts: int = 2, free: Sequence[str] | None = None,
        held: dict[str, float] | None = None,
        starts: Sequence[dict[str, float]] = ()) -> dict[str, Any]:
    """Fit the platform's scale parameters on the fit points; the parameters document.

    Nelder-Mead in the logs of the parameters (the background's as they are), restarted from its
    own best point ``restarts`` times: the makespan of a discrete-event run is a step
    function of its parameters, on which one simplex can stall. It starts from the
    parameters' defaults and from each of ``starts`` (say, the parameters in force) and keeps
    the lowest cost: from one start alone it stalled at an RMS log error of 0.25 where the
    parameters in force gave 0.036 (docs/models.md, Scale parameters). ``free`` names the
    parameters fitted (default all); the others stay at ``held`` (else their start), for the
    recovery tests, which fit a few on a few points."""
    params = tuple(p for p in PARAMETERS[platform] if free is None or p.name in free)
    fixed = {p.name: p.start for p in PARAMETERS[platform]}
    fixed.update(held or {})
    runs = live_by_point(records)
    lows = np.array([p.low for p in params])
    highs = np.array([p.high for p in params])

    def values_of(x: np.ndarray) -> dict[str, float]:
        out = dict(fixed)
        for p, v, lo, hi in zip(params, x, lows, highs, strict=True):
            out[p.name] = float(np.clip(v, lo, hi)) if p.name in LINEAR else \
                float(np.clip(math.exp(v), lo, hi))
        return out

    def cost(x: np.ndarray) -> float:
        return float(sum(r * r for r in residuals(platform, values_of(x), runs)))

    def x_of(start: dict[str, float]) -> np.ndarray:
        v = [float(np.clip(start.get(p.name, p.start), p.low, p.high)) for p in params]
        return np.array([x if p.name in LINEAR else math.log(x) for p, x in zip(
            params, v, strict=True)])

    evaluations = 0
    best: Any = None
    for start in ({}, *starts):
        x0 = x_of(start)
        for _ in range(1 + restarts):
            found = optimize.minimize(cost, x0, method="Nelder-Mead",
                                      options={"maxfev": max_evaluations, "xatol": 1e-3,
                                               "fatol": 1e-5})
            evaluations += int(found.nfev)
            x0 = found.x
        if best is None or found.fun < best.fun:
            best = found
    values = values_of(best.x)
    final = residuals(platform, values, runs)
    fitted_on = sorted(label for label in runs if point_by_label(label).platform == platform
                       and point_by_label(label).role == FIT)
    source = (f"fitted: least squares of log(simulated / live) makespans (and Work Queue's "
              f"half- and all-connected times) over the scale matrix's fit points "
              f"{', '.join(fitted_on)}")
    doc: dict[str, Any] = {
        "parameters": {p.name: {"value": values[p.name], "unit": p.unit, "what": p.what,
                                "source": source} for p in params},
        "fixed": {k: {"value": v, "source": FIXED_SOURCES[k]} for k, v in FIXED[platform].items()},
        "fit": {"points": fitted_on, "evaluations": evaluations,
                "rms_log_error": math.sqrt(float(np.mean(np.square(final))))
                if final else math.nan},
    }
    return doc
