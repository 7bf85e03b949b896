"""Validation: the simulator, with the shipped profile, against live runs it never saw.

Each configuration (tasks, n, tolerance, workers, optional injected kills) differs from the
ones calibration used. It is run live on every calibrated platform several times and simulated
with the same profile many times; per configuration we report live and simulated makespan (mean
and spread), the relative error, the per-task latency MAPE (task i's completion time, averaged
over repeats, live against simulated) and the KS distance between the live and simulated
task-latency distributions (a task's latency is its completion time since all tasks were
submitted at time 0; the MAPE compares the k-th completions); overall, per platform, the median
and P95 absolute makespan error, the bias direction and pass or fail against the tolerance (5%
median, 15% P95). The RFC's own run (12 tasks, n = 200,000, 3 workers) is reported beside the
RFC's 1.78. Each configuration is also simulated with the task times its live runs measured,
which isolates the platform model's error from the task model's and the host's. The live runs
are recorded, so that another profile can be compared with them.

An injected kill comes at a fraction of the makespan the same configuration is simulated to
take without it (:func:`kill_moment`), so that it lands mid-run on a fast host and a slow one;
the moment is fixed before the live runs, recorded with each, and simulated as recorded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from schedsim.calibration.host import TaskRatio
from schedsim.calibration.platform_fit import live_host
from schedsim.calibration.platforms import CALIBRATED
from schedsim.calibration.profile import default_profile_path, load_profile, platform_defaults
from schedsim.errors import InputError
from schedsim.loading import parse_scenario
from schedsim.metrics import Outcome
from schedsim.outputs import append_json_line, read_text, replacing
from schedsim.scenario import ChurnSpec, Scenario, TraceEvent
from schedsim.simulation import Simulation

MEDIAN_TOLERANCE = 0.05
P95_TOLERANCE = 0.15
RFC_RATIO = 1.78  # Work Queue / Ray wall time in the RFC (another machine)
PLATFORMS = tuple(CALIBRATED)  # every platform calibration measures live


@dataclass(frozen=True)
class Config:
    label: str
    tasks: int
    n: int
    tolerance: float
    workers: int
    # One worker is killed at this fraction of the configuration's simulated makespan
    # without kills (kill_moment), and replaced.
    kill_at_fraction: float | None = None


QUICK = (Config("one-worker", 8, 500_000, 1e-3, 1),
         Config("two-workers-1e-2", 16, 1_000_000, 1e-2, 2),
         Config("kill", 16, 2_000_000, 1e-3, 2, kill_at_fraction=0.4))
FULL = QUICK + (Config("one-worker-small", 30, 100_000, 1e-4, 1),
                Config("two-workers-large", 8, 5_000_000, 1e-3, 2),
                Config("two-workers-many", 40, 300_000, 1e-3, 2))
RFC = Config("rfc", 12, 200_000, 1e-3, 3)
KILL_REPLICATIONS = 20  # simulations of a kill configuration without kills: its makespan
# Live runs recorded before the kill moment was (2026-12-02) killed every worker and each
# replacement 1 s after it was ready.
LEGACY_KILL_AT_S = 1.0


def scenario_for(cfg: Config, platform: str, profile: Path | None = None,
                 replications: int = 1, task_speed: float | None = None,
                 task_scale: float = 1.0, kill_at_s: float | None = None,
                 legacy_kill: bool = False) -> Scenario:
    """The simulator's scenario of a live configuration. With ``task_speed`` the task runs
    at that speed on machines of their own, instead of at the profile's live-host speed on
    the shared host: for a check of the platform model given the task times measured live.
    ``task_scale`` multiplies the profile's task times (``validate --rescale``: this host's
    task time over the profile host's, schedsim.calibration.host). A kill configuration
    loses one worker ``kill_at_s`` after time 0 (default: :func:`kill_moment`); with
    ``legacy_kill``, every worker and replacement ``kill_at_s`` after it is ready, as live
    runs recorded before 2026-12-02 were made."""
    duration: dict[str, Any] = {"dist": "profile", "n": cfg.n, "tolerance": cfg.tolerance}
    if profile is not None:
        duration["profile"] = str(profile)
    data: dict[str, Any] = {
        "name": f"validate-{cfg.label}", "seed": 11, "replications": replications,
        "horizon": "600s",  # a live run here never takes that long
        # The overheads fitted in the profile validated (not always the shipped one).
        "platform": {"type": platform,
                     platform: platform_defaults(platform, profile or default_profile_path())},
        "workload": {"tasks": cfg.tasks, "duration": duration},
        "cluster": {"pools": [{"name": "host", "count": cfg.workers}]},
    }
    if platform == "ray":
        # A live Ray run has no autoscaler: churn's own replacements stand in for it.
        data["platform"]["ray"]["autoscaler"] = False
    # Outputs cross the loopback at its fitted bandwidth, and the task runs at the speed the
    # platform's live runs measured beside its own processes, as in calibration.
    host = live_host(profile or default_profile_path(), cfg.n, cfg.tolerance,
                     platform=platform)
    if task_speed is not None:
        data["cluster"]["pools"][0]["speed"] = task_speed
    else:
        if "speed" in host or task_scale != 1.0:
            data["cluster"]["pools"][0]["speed"] = host.get("speed", 1.0) / task_scale
        if "host" in host:
            data["cluster"]["host"] = host["host"]
    if "network" in host:
        data["network"] = host["network"]
        data["workload"]["output_size"] = host["output_size"]
    if cfg.kill_at_fraction is not None and legacy_kill:
        data["churn"] = [{"pool": "host", "lifetime": f"{kill_at_s!r}s",
                          "replace": True, "replace_delay": "0s", "notice": "1ms"}]
    scenario = parse_scenario(data, f"<validate {cfg.label}>")
    if cfg.kill_at_fraction is None or legacy_kill:
        return scenario
    if kill_at_s is None:
        kill_at_s = kill_moment(cfg, platform, profile, task_scale)
        assert kill_at_s is not None  # a configuration with kills
    # One worker, drawn as a trace's reclaim draws it, is killed once, kill_at_s after time 0,
    # and replaced at once; a lifetime would kill each replacement again, over and over.
    # A killed worker process closes its connections at once, which Work Queue and Ray see
    # straight away (unlike a vanished VM): a 1 ms notice models exactly that.
    kill = ChurnSpec(pool="host", notice=0.001, replace=True, replace_delay=0.0,
                     trace=(TraceEvent(kill_at_s, "host", "reclaim"),))
    return replace(scenario, churn=(kill,))


def for_live(scenario: Scenario) -> Scenario:
    """The scenario a live run is given: its kills without the 1 ms notice, which stands in
    the simulator for the killed worker's connection closing at once. Live, the SIGKILL
    closes it; a notice would SIGTERM the worker first and let it vacate (docs/live.md)."""
    return replace(scenario, churn=tuple(replace(c, notice=0.0) for c in scenario.churn))


def kill_moment(cfg: Config, platform: str, profile: Path | None = None,
                task_scale: float = 1.0) -> float | None:
    """When a kill configuration kills a worker (seconds after time 0, to the ms):
    ``cfg.kill_at_fraction`` of the mean makespan ``platform`` is simulated to take on the
    same configuration without kills (same profile and task scale), so that the kill lands
    mid-run however fast the task is; None for a configuration without kills."""
    if cfg.kill_at_fraction is None:
        return None
    calm = scenario_for(replace(cfg, kill_at_fraction=None), platform, profile,
                        task_scale=task_scale)
    makespans, _ = simulate(calm, KILL_REPLICATIONS)
    return max(0.001, round(cfg.kill_at_fraction * float(np.mean(makespans)), 3))


def recorded_kill(cfg: Config, runs: Sequence[dict[str, Any]]) -> tuple[float | None, bool]:
    """The kill moment ``runs`` (live records of ``cfg``) were made with, and whether it is
    the legacy kind: the one they record, else the 1 s after ready at which every worker
    and replacement was killed in runs recorded before the moment was (2026-12-02)."""
    if cfg.kill_at_fraction is None:
        return None, False
    moments = {float(rec["kill_at_s"]) for rec in runs if "kill_at_s" in rec}
    if len(moments) > 1:
        raise InputError("live runs", f"{runs[0]['platform']} {cfg.label}",
                         "one kill moment (kill_at_s) per platform and configuration",
                         sorted(moments))
    return (moments.pop(), False) if moments else (LEGACY_KILL_AT_S, True)


def kill_hit(rec: dict[str, Any]) -> bool:
    """Whether a kill hit a live run: an attempt was lost under it (preempted)."""
    return any(a["outcome"] == "preempted" for a in rec["attempts"])


def task_ratio(configs: Sequence[Config], records: Sequence[dict[str, Any]],
               platforms: Sequence[str], profile: Path | None = None) -> TaskRatio | None:
    """This host's task speed from live runs (schedsim.calibration.host): on each of
    ``platforms``, for each configuration with one worker (a lone task, as calibration
    measured the task's speed beside the platform: ``platforms.live_host``), the mean of the
    task's own ``task_total_s`` over the profile's mean there divided by that speed; the
    median of those. None without such runs (another task, or none recorded)."""
    path = profile or default_profile_path()
    prof = load_profile(path)
    ratios, attempts = [], 0
    for cfg in configs:
        if cfg.workers != 1:  # more slots share the host's CPUs: slower than a lone task
            continue
        for platform in platforms:
            measured = [a["task_total_s"] for rec in records
                        if rec["platform"] == platform and rec["config"] == cfg.label
                        for a in rec["attempts"]
                        if a["outcome"] == "done" and a.get("task_total_s")]
            if not measured:
                continue
            speed = live_host(path, cfg.n, cfg.tolerance, platform=platform).get("speed", 1.0)
            expected = prof.mean_time(cfg.n, cfg.tolerance) / speed
            ratios.append(float(np.mean(measured)) / expected)
            attempts += len(measured)
    if not ratios:
        return None
    return TaskRatio(float(np.median(ratios)), len(ratios), attempts)


def completion_times(attempts: Sequence[tuple[int, float, str]]) -> dict[int, float]:
    """Task id -> its completion time, from (task, end, outcome) of every attempt."""
    return {task: end for task, end, outcome in attempts if outcome == "done"}


def compare(live_makespans: Sequence[float], sim_makespans: Sequence[float],
            live_latency: Sequence[dict[int, float]],
            sim_latency: Sequence[dict[int, float]]) -> dict[str, float]:
    """The error measures of one configuration (pure arithmetic, tested on fixed inputs)."""
    live_mean = float(np.mean(live_makespans))
    sim_mean = float(np.mean(sim_makespans))
    # The k-th completion, live against simulated (order statistics averaged over repeats):
    # task ids are not comparable, since Work Queue 9.9 dispatches newest first.
    live_k = _kth_completions(live_latency)
    sim_k = _kth_completions(sim_latency)
    k = min(len(live_k), len(sim_k))
    mape = float(np.mean(np.abs(sim_k[:k] - live_k[:k]) / live_k[:k])) if k else math.nan
    live_all = [v for r in live_latency for v in r.values()]
    sim_all = [v for r in sim_latency for v in r.values()]
    ks = float(stats.ks_2samp(live_all, sim_all).statistic) if live_all and sim_all \
        else math.nan
    return {"live_makespan_s": live_mean,
            "live_makespan_sd": float(np.std(live_makespans, ddof=1))
            if len(live_makespans) > 1 else 0.0,
            "sim_makespan_s": sim_mean,
            "sim_makespan_sd": float(np.std(sim_makespans, ddof=1))
            if len(sim_makespans) > 1 else 0.0,
            "relative_error": (sim_mean - live_mean) / live_mean,
            "latency_mape": mape, "latency_ks": ks}


def _kth_completions(runs: Sequence[dict[int, float]]) -> np.ndarray:
    """Mean over runs of the k-th smallest completion time, for k up to the shortest run."""
    ordered = [sorted(r.values()) for r in runs if r]
    if not ordered:
        return np.array([])
    k = min(len(o) for o in ordered)
    return np.mean([o[:k] for o in ordered], axis=0)


def overall(errors: Sequence[float]) -> dict[str, Any]:
    """Median and P95 absolute error, bias direction, pass or fail."""
    absolute = np.abs(np.asarray(errors, dtype=float))
    median = float(np.median(absolute))
    p95 = float(np.percentile(absolute, 95))
    mean_signed = float(np.mean(errors))
    bias = "over" if mean_signed > 0 else "under" if mean_signed < 0 else "none"
    return {"configs": len(errors), "median_abs_error": median, "p95_abs_error": p95,
            "mean_signed_error": mean_signed, "bias": f"simulation {bias}-predicts"
            if bias != "none" else "no bias",
            "pass": bool(median <= MEDIAN_TOLERANCE and p95 <= P95_TOLERANCE)}


def simulate(scenario: Scenario, replications: int) -> tuple[list[float],
                                                              list[dict[int, float]]]:
    makespans, latencies, _ = simulate_hits(scenario, replications)
    return makespans, latencies


def simulate_hits(scenario: Scenario, replications: int) -> tuple[
        list[float], list[dict[int, float]], int]:
    """:func:`simulate`, and in how many replications an attempt was preempted."""
    makespans, latencies, hits = [], [], 0
    for r in range(replications):
        run = Simulation(scenario, r).run()
        makespans.append(run.metrics["makespan_s"])
        latencies.append({rec.task: rec.end for rec in run.log if rec.outcome == Outcome.DONE})
        hits += any(rec.outcome == Outcome.PREEMPTED for rec in run.log)
    return makespans, latencies, hits


def live_runs(configs: Sequence[Config], *, repeats: int, out: Path,
              profile: Path | None = None, timeout_s: float = 300.0,
              on_step: Callable[[str], None] = lambda _s: None, task_scale: float = 1.0,
              platform_scales: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Run every configuration (and the RFC's) live on every platform, ``repeats`` times.

    Each run is recorded (JSON lines) as it ends: platform, configuration, repeat, makespan
    and every attempt, so that a later profile can be validated against the same live runs
    (``schedsim validate --live FILE``). The records go to a temporary file that replaces
    ``out`` once every run is made: an interrupted validation keeps the earlier file, from
    which its report was made. A kill configuration's records carry the kill moment
    (``kill_at_s``, :func:`kill_moment` with the task scale known before the runs) and how
    many workers were killed before the run ended (``kills``)."""
    from schedsim.live.run import require_tools, run_live

    require_tools(tuple(PLATFORMS))  # all of them before the first run, not after hours

    records = []
    with replacing(out) as tmp, tmp.open("w", encoding="utf-8") as fh:
        for cfg in list(configs) + [RFC]:
            for platform in PLATFORMS:
                scale = (platform_scales or {}).get(platform, task_scale)
                kill_at_s = kill_moment(cfg, platform, profile, scale)
                scenario = scenario_for(cfg, platform, profile, kill_at_s=kill_at_s)
                for r in range(repeats):
                    result = run_live(for_live(scenario), platform, r,
                                      timeout_s=timeout_s)
                    rec = {"platform": platform, "config": cfg.label, "repeat": r,
                           "makespan_s": result.metrics["makespan_s"],
                           **({"kill_at_s": kill_at_s,
                               "kills": int(result.metrics.get("preemptions", 0))}
                              if kill_at_s is not None else {}),
                           "attempts": [a.as_dict() for a in result.attempts]}
                    append_json_line(fh, rec)
                    records.append(rec)
                    on_step(f"{platform} {cfg.label} live r{r}")
    return records


def read_live(path: Path) -> list[dict[str, Any]]:
    """Live runs recorded by :func:`live_runs`; one clear line if the file is not one."""
    records = []
    if path.exists() and not path.is_file() and not path.is_dir():  # a FIFO would block
        raise InputError(str(path), "", "a file of live runs written by schedsim validate "
                         "(this is a special file)", has_value=False)
    lines = read_text(path, "a file of live runs written by schedsim validate").splitlines()
    for i, line in enumerate(lines, 1):
        try:
            rec = json.loads(line)
            if not _is_live_run(rec):
                raise ValueError
        except (ValueError, RecursionError):
            raise InputError(str(path), f"line {i}", "a live run (platform, config, "
                             "makespan_s, attempts: task, end_s, outcome) as written by "
                             "schedsim validate", line[:60]) from None
        records.append(rec)
    return records


def _is_live_run(rec: Any) -> bool:
    """Whether ``rec`` has what :func:`validate` reads of a recorded live run."""
    def number(x: Any) -> bool:
        return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)

    if not isinstance(rec, dict) or not isinstance(rec.get("platform"), str) or \
            not isinstance(rec.get("config"), str) or not number(rec.get("makespan_s")) or \
            not isinstance(rec.get("attempts"), list):
        return False
    return all(isinstance(a, dict) and isinstance(a.get("task"), int) and number(a.get("end_s"))
               and isinstance(a.get("outcome"), str)
               and (a.get("task_total_s") is None or number(a["task_total_s"]))
               for a in rec["attempts"])


def validate(configs: Sequence[Config], *, repeats: int, sim_replications: int,
             profile: Path | None = None, timeout_s: float = 300.0,
             on_step: Callable[[str], None] = lambda _s: None,
             live: Sequence[dict[str, Any]] | None = None,
             live_out: Path | None = None, task_scale: float = 1.0,
             platform_scales: dict[str, float] | None = None) -> dict[str, Any]:
    """Live and simulated runs of every configuration on every platform, and their errors.

    With ``live`` (records of :func:`live_runs`), no live run is made: the simulator is
    compared with those; otherwise the live runs are made and recorded to ``live_out``.
    ``task_scale`` multiplies the profile's task times in the simulations (not the live runs:
    they run the real task); ``platform_scales`` replaces it for a platform calibrated on a
    host of its own (schedsim.calibration.host.decide_platforms)."""
    scales = platform_scales or {}
    if live is None:
        if live_out is None:
            raise ValueError("live_out: where to record the live runs")
        live = live_runs(configs, repeats=repeats, out=live_out, profile=profile,
                         timeout_s=timeout_s, on_step=on_step, task_scale=task_scale,
                         platform_scales=scales)
    # Recorded runs of an earlier validation may lack a platform added since.
    platforms = [p for p in PLATFORMS if any(rec["platform"] == p for rec in live)]
    rows: list[dict[str, Any]] = []
    for cfg in list(configs) + [RFC]:
        for platform in platforms:
            runs = [rec for rec in live
                    if rec["platform"] == platform and rec["config"] == cfg.label]
            if not runs:
                raise InputError("live runs", f"{platform} {cfg.label}",
                                 "live runs of every configuration being validated",
                                 has_value=False)
            # The kill moment the live runs had, whatever this profile would choose now.
            kill_at_s, legacy = recorded_kill(cfg, runs)
            scenario = scenario_for(cfg, platform, profile,
                                    task_scale=scales.get(platform, task_scale),
                                    kill_at_s=kill_at_s, legacy_kill=legacy)
            live_mk = [float(rec["makespan_s"]) for rec in runs]
            live_lat = [completion_times([(a["task"], a["end_s"], a["outcome"])
                                          for a in rec["attempts"]]) for rec in runs]
            sim_mk, sim_lat, sim_hits = simulate_hits(scenario, sim_replications)
            # The platform model alone: the same run, with the task's own time as measured in
            # these live runs (no task model, no host drift, no shared-host model).
            measured = [a["task_total_s"] for rec in runs for a in rec["attempts"]
                        if a["outcome"] == "done" and a.get("task_total_s")]
            platform_error = math.nan
            if measured:
                model = load_profile(profile or default_profile_path()).mean_time(
                    cfg.n, cfg.tolerance)
                as_live = scenario_for(cfg, platform, profile,
                                       task_speed=model / float(np.mean(measured)),
                                       kill_at_s=kill_at_s, legacy_kill=legacy)
                given_mk, _ = simulate(as_live, sim_replications)
                platform_error = (float(np.mean(given_mk)) - float(np.mean(live_mk))) / \
                    float(np.mean(live_mk))
            on_step(f"{platform} {cfg.label} simulated")
            row = {"config": cfg.label, "platform": platform, "tasks": cfg.tasks, "n": cfg.n,
                   "tolerance": cfg.tolerance, "workers": cfg.workers,
                   "kills": kill_at_s is not None, "held_out": cfg is not RFC,
                   "live_repeats": len(runs), "sim_replications": sim_replications}
            if kill_at_s is not None:  # a reader checks that the kill landed mid-run
                row.update(kill_at_s=kill_at_s, kill_at_fraction=None if legacy
                           else cfg.kill_at_fraction,
                           live_kill_hits=sum(kill_hit(rec) for rec in runs),
                           sim_kill_hits=sim_hits)
            row.update(compare(live_mk, sim_mk, live_lat, sim_lat))
            row["platform_model_error"] = platform_error
            rows.append(row)
    summary = {p: overall([r["relative_error"] for r in rows
                           if r["platform"] == p and r["held_out"]]) for p in platforms}
    for p in platforms:
        errors = [r["platform_model_error"] for r in rows if r["platform"] == p
                  and r["held_out"] and not math.isnan(r["platform_model_error"])]
        if errors:
            alone = overall(errors)
            summary[p]["platform_model"] = {k: alone[k] for k in (
                "median_abs_error", "p95_abs_error", "mean_signed_error", "bias")}
    rfc = {r["platform"]: r for r in rows if r["config"] == RFC.label}
    ratio = {"rfc": RFC_RATIO, "live": math.nan, "simulated": math.nan}
    if "workqueue" in rfc and "ray" in rfc:  # the RFC compared these two
        ratio.update(
            live=rfc["workqueue"]["live_makespan_s"] / rfc["ray"]["live_makespan_s"],
            simulated=rfc["workqueue"]["sim_makespan_s"] / rfc["ray"]["sim_makespan_s"])
    return {"configs": rows, "overall": summary, "rfc_ratio_wq_over_ray": ratio,
            "tolerance": {"median": MEDIAN_TOLERANCE, "p95": P95_TOLERANCE},
            "task_scale": task_scale,
            **({"platform_task_scales": dict(scales)} if scales else {})}


# ------------------------------------------------------------------------------ reports


def pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:+.1f}%"


METHOD = """\
# Validation

This file was written by `$command` (`schedsim validate --out docs` runs the full matrix,
`--quick` the small one); edit the text in `schedsim/studies/validation.py`, not here.

## Method
- Configurations that calibration never used (task count, n, tolerance, 1 to 2 workers, one
  with injected worker kills) run live on this host on Work Queue (wq_manager and local
  work_queue_worker processes), Ray (local, loopback) and zmq (schedsim's ZeroMQ coordinator
  and workers, loopback), 10 repeats each (2 with
  `--quick`), and are simulated with the same scenario and the calibration profile (task
  model and fitted platform overheads), 50 replications each (20 with `--quick`).
- Per configuration: live and simulated makespan (mean ± standard deviation), relative error
  (simulated - live) / live, per-task latency MAPE (a task's latency is its completion time
  since time 0; the k-th completions are compared, since Work Queue 9.9 dispatches newest
  first and task ids do not line up), and the KS distance between the two latency samples.
- Per platform, over the held-out configurations: median and P95 absolute makespan error, the
  bias direction, and pass or fail against 5% median and 15% P95.
- The platform model alone: each configuration is simulated a second time with the task's
  own time as these live runs measured it (the pool's speed set to the profile's mean over
  the live mean of compress_task's `total_s`, on machines of their own). Its error is the
  platform model's (connect, dispatch, leases, launches, retrieval); the difference from the
  end-to-end error is the task model's and the host's (drift between calibration and
  validation, the shared-host model). It is reported, not used for pass or fail.
- The live runs are recorded (`DIR/validation-live.jsonl`, every attempt);
  `schedsim validate --live FILE` compares another profile with the same runs, making none.
- The RFC's own run (12 tasks, n = 200,000, 3 workers) is reported apart: calibration used it.
- Injected kills end the worker process, whose connections close at once; the scenarios model
  that as a 1 ms notice (Work Queue and Ray notice at once), not as a vanished machine, and
  the live run gets the kill with no notice (SIGKILL alone; live, a notice is a SIGTERM that
  lets a Work Queue worker vacate first, which runs before 2026-12-03 got); zmq
  finds a killed worker by its silence, after the heartbeat timeout, live and simulated. A
  live Ray run has no autoscaler, so its scenario sets `platform.ray.autoscaler: false` and
  the churn's own replacement (at once) stands in for the harness that restarts the killed node.
- The kill moment: one worker (drawn as a churn trace's `reclaim` draws it, the same one
  live and simulated) is killed once, 0.4 (`kill_at_fraction`) of the makespan the same
  configuration is simulated to take without kills after time 0 (that platform, the same
  profile and task scale, 20 replications), and replaced at once, so that the kill lands
  mid-run on a fast host and a slow one (a fixed 1 s after ready missed runs that ended at
  0.8 to 0.96 s). A lifetime of that length would kill each replacement again: 8 to 60
  kills per run in a trial here. The moment is fixed before the live runs (with `--rescale`,
  by the task scale the first probe gives), recorded with each run (`kill_at_s`, and
  `kills`: workers killed before it ended) and simulated as recorded, so live and simulated
  runs kill at the same moment; runs recorded before 2026-12-02 lack it and were made with
  every worker and replacement killed 1 s after it was ready, which `--live` simulates for
  them. The report gives, per platform, the moment and in how many live runs (and simulated
  replications) the kill hit, i.e. an attempt was preempted (`kill_at_s`, `live_kill_hits`,
  `sim_kill_hits`; the line "Kills" under the table).
- Task times are the profile's task model (compress_task's own time plus the process's
  teardown, which grows with n); each platform adds its own measured launch cost per attempt
  (`task_launch_time`: the Work Queue worker's or the Ray worker's start of the process).
- The emulated nodes are processes on this host: the scenarios carry `cluster.host` (this
  host's CPUs, less those the platform's own processes keep busy) and the lone-task speed that
  calibration measured beside each platform (`platforms.live_host` in the profile), so tasks
  share the CPUs as they do live (docs/models.md, Shared host).
- Another host: live runs on another host than the profile's measure that host, not the
  model. Before any live run, `validate` probes this host (compress_task at n = 1e6,
  tolerance 1e-3: a warm-up and 15 runs, the median of `total_s`, about 2 s) and compares it
  with the profile's host record (docs/calibration.md, The host): another CPU model or
  another core count is said in one line and `validate` stops there (exit 2). The task's
  speed is judged after the live runs, since this VM's speed drifts 2 to 3x within a day and
  one probe is one moment: `validate` probes again, and the speed ratio (task time here over
  there) is the live runs' own, where they have lone tasks (configurations with one worker:
  the mean of compress_task's `total_s` over the profile's mean there divided by the speed
  calibration measured for a lone task beside that platform, `platforms.live_host`; the
  median over platforms and configurations), else the median of both probes' 30 runs
  together over the profile's probe. A ratio off by more than 20% is said in one line and
  `validate` stops (exit 2; the live runs are kept in `DIR/validation-live.jsonl`) pointing
  at `schedsim calibrate`, unless `--rescale` (the simulated task times are multiplied by the
  ratio: the pool's speed divided by it) or `--any-host` (as it is) says otherwise; either
  also lets another CPU or core count through. `--calibrate` calibrates first into
  `--profile FILE` (default `DIR/profile.json`; quick with `--quick`) and validates with
  that profile, with no check. A platform calibrated on its own host (`calibrate
  --platform`) is checked against that host and rescaled by its own ratio, from its own live
  tasks (docs/calibration.md, The host). `--live FILE` makes no live run and checks nothing.
  The check goes into the report (`host_check`: `ratio`, `ratio_from` = `live tasks` or
  `probes before and after`, `here.probe_before_s`, `here.probe_after_s`,
  `here.probe_ratio`, `here.live_tasks`) with the scale (`task_scale`), and a line of the page.

## Known gaps
- Ray with more slots than CPUs: the RFC run (3 one-core workers on 2 CPUs) is under-predicted
  by about 64%. Live, a slot's first task starts 0.54 s after time 0 with 3 slots and
  0.15 s with 1 or 2: Ray starts at most `min(cpu_count, num_cpus)` = 2 worker processes at
  once (`maximum_startup_concurrency`, python/ray/_private/services.py) and each start is
  CPU work (a Python interpreter importing Ray) on an oversubscribed host. The model's
  worker start is a fixed delay per slot, outside the shared host's CPUs. Calibration fits
  only configurations with at most as many slots as CPUs; the held-out matrix keeps to 2.
  Work Queue's RFC run, whose tasks now share the host's CPUs in the model, is within 10%
  (it was +26% before the shared host and the launch times).
- Host noise, and how close to the target this is: the same configuration's live mean
  moved by up to 22% between two runs an hour apart on the same day (Ray two-workers-large
  1.21 s, then 0.94 s), and by up to 16% between two runs back to back (Ray
  one-worker-small 0.460 s, then 0.396 s). Right after the calibration of 2026-11-25 19:37
  UTC, two validations of 5 repeats each gave Work Queue 4.7% / 10.7% and Ray 1.4% / 8.0%
  (median / P95; both pass), then Work Queue 4.3% / 5.8% (pass) and Ray 5.8% / 12.5% (fails
  the median). On 2026-12-02 (20:00 UTC), right after a full calibration on this host
  (`validate --calibrate`, no other work running), all three failed: Work Queue 5.0% / 18.0%,
  Ray 8.3% / 23.2%, zmq 15.2% / 17.9% (zmq 9.1% / 16.6% once its result costs were fitted as
  lines in the output size, docs/models.md). On 2026-12-03 (02:57 to 03:15 UTC, the results
  above, `validate --calibrate` on a quiet host, the kill at 0.4 of the simulated makespan
  and a SIGKILL alone) they fail again: Work Queue 4.0% / 19.1%, Ray 2.6% / 25.2%, zmq
  11.4% / 19.6%. Two things make the P95s: two-workers-1e-2 ran about 20% slower live than
  simulated on all three platforms alike (a host that slowed in those minutes, not a
  platform's mechanism: the platform model alone is 8 to 12% off there), and Ray's kill
  (-27%: a killed Ray worker costs more live, 1.35 s against 0.98 s, with the kill hitting
  10 of 10 runs). The
  5% median target sits at this 2-core host's noise floor. Run `schedsim calibrate` and then
  `schedsim validate` back to back; a profile from another day can be off by 10% or more on
  its own, since the task's own time drifts (this VM's probe read 0.034 s and 0.101 s on the
  same day; 0.87 to 1.17 of the profile's in earlier runs).
- The shared host's background (CPUs the platform's processes hold while every CPU runs a
  task) is read off the 2-slot calibration runs; three calibrations on 2026-11-25 gave 0.21,
  0.06 and 0.04 CPU for Work Queue and 0.30, 0.01 and 0.03 for Ray. At 2 slots on this host
  it is within the noise; it matters when the host is oversubscribed.
- Live Ray nodes are emulated on one raylet (docs/live.md): a killed node is a crashed worker
  process, restarted by the same raylet, which the model shows as a node replaced at once
  with a fresh worker start; Ray counts such a crash against `max_retries`, the model (which
  sees a 1 ms notice and a drain) does not.
- Live runs last well under a second, so start-up costs weigh heavily in them; these errors
  say little about long tasks at scale, where both models are limited by cores or by the
  manager.
- "Platform model alone" uses each configuration's own live task times: it says how good
  the platform model is given the task times, not how well anything was predicted.
"""


def markdown(report: dict[str, Any], plot_name: str | None = None, *, command: str) -> str:
    """The page: the method, the table of configurations, the summary per platform.
    ``command`` is the command that wrote it."""
    lines = [METHOD.replace("$command", command), "## Latest results", "",
             "| platform | config | tasks x n | workers | live makespan | simulated | error "
             "| latency MAPE | KS | platform model alone |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["configs"]:
        lines.append(f"| {r['platform']} | {r['config']}{'' if r['held_out'] else ' (RFC)'} | "
                     f"{r['tasks']} x {r['n']:g} | {r['workers']} | "
                     f"{r['live_makespan_s']:.3f} s ± {r['live_makespan_sd']:.3f} | "
                     f"{r['sim_makespan_s']:.3f} s ± {r['sim_makespan_sd']:.3f} | "
                     f"{pct(r['relative_error'])} | {pct(r['latency_mape'])} | "
                     f"{r['latency_ks']:.2f} | {pct(r.get('platform_model_error'))} |")
    lines += ["", "| platform | held-out configs | median abs error | P95 abs error | bias "
              "| pass (5% / 15%) | platform model alone: median / P95 |",
              "|---|---|---|---|---|---|---|"]
    for platform, o in report["overall"].items():
        alone = o.get("platform_model")
        alone_text = (f"{100 * alone['median_abs_error']:.1f}% / "
                      f"{100 * alone['p95_abs_error']:.1f}%" if alone else "n/a")
        lines.append(f"| {platform} | {o['configs']} | {100 * o['median_abs_error']:.1f}% | "
                     f"{100 * o['p95_abs_error']:.1f}% | {o['bias']} | "
                     f"{'pass' if o['pass'] else 'FAIL'} | {alone_text} |")
    kills = [r for r in report["configs"] if r.get("kill_at_s") is not None]
    if kills:  # whether each kill landed before the run ended
        lines += ["", "Kills: " + "; ".join(
            f"{r['platform']} {r['config']} at {r['kill_at_s']:.3f} s "
            + (f"({r['kill_at_fraction']:g} of its simulated makespan without kills), "
               if r["kill_at_fraction"] is not None else "after each worker was ready, ")
            + f"hit {r['live_kill_hits']} of {r['live_repeats']} live runs and "
            f"{r['sim_kill_hits']} of {r['sim_replications']} simulated" for r in kills) + "."]
    ratio = report["rfc_ratio_wq_over_ray"]
    lines += ["", f"RFC run (12 tasks, n = 200,000, 3 workers): Work Queue / Ray makespan "
              f"ratio live {ratio['live']:.2f}, simulated {ratio['simulated']:.2f}, "
              f"RFC (another machine) {ratio['rfc']:.2f}."]
    host = report.get("host_check")
    if host:  # validate's check of this host against the profile's (docs: Another host)
        ratio = f"{host['ratio']:.2f}" if host["ratio"] is not None else "n/a"
        where = ("the profile's host" if host["same_host"] else
                 "another host than the profile's: " + "; ".join(host["differences"]))
        own = "".join(f"; {p}, calibrated on a host of its own, by {scale:.2f}"
                      for p, scale in report.get("platform_task_scales", {}).items())
        source = {"live tasks": "the live runs' own task times",
                  "probes before and after": "the probes before and after the live runs",
                  }.get(host.get("ratio_from", "probe"), "a probe")
        lines += ["", f"Host check: {where} (task time here over there {ratio}, from "
                  f"{source}); simulated task times scaled by "
                  f"{report.get('task_scale', 1.0):.2f}{own}."]
    if plot_name:
        lines += ["", f"![simulated vs live makespan]({plot_name})"]
    return "\n".join(lines) + "\n"


def summary(report: dict[str, Any]) -> list[str]:
    """A few plain lines for the terminal: each platform's errors and verdict."""
    lines = []
    for platform, o in report["overall"].items():
        lines.append(f"{platform} ({o['configs']} held out): median abs makespan error "
                     f"{100 * o['median_abs_error']:.1f}%, P95 {100 * o['p95_abs_error']:.1f}% "
                     f"({o['bias']}): {'pass' if o['pass'] else 'FAIL'}")
    ratio = report["rfc_ratio_wq_over_ray"]
    lines.append(f"RFC run, Work Queue / Ray makespan: live {ratio['live']:.2f}, simulated "
                 f"{ratio['simulated']:.2f}, RFC {ratio['rfc']:.2f}")
    return lines


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for platform, marker in zip(PLATFORMS, ("o", "s", "^", "D", "v"), strict=False):
        rows = [r for r in report["configs"] if r["platform"] == platform]
        if not rows:
            continue
        ax.scatter([r["live_makespan_s"] for r in rows], [r["sim_makespan_s"] for r in rows],
                   marker=marker, label=platform)
    values = [v for r in report["configs"] for v in (r["live_makespan_s"], r["sim_makespan_s"])]
    low, high = min(values) * 0.8, max(values) * 1.2
    ax.plot([low, high], [low, high], "k--", linewidth=0.8, label="simulated = live")
    ax.fill_between([low, high], [low * 0.85, high * 0.85], [low * 1.15, high * 1.15],
                    color="grey", alpha=0.15, label="±15%")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("live makespan (s)")
    ax.set_ylabel("simulated makespan (s)")
    ax.set_title("schedsim vs live runs on this host")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
