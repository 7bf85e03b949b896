"""Validation at scale: the simulator with the fitted scale parameters against the live matrix.

Every point of :mod:`schedsim.studies.scale_matrix` that has live runs is simulated with the scale
parameters of ``schedsim/studies/scale/params.json`` (:mod:`schedsim.calibration.scale_fit`), the
simulator's replication r drawing the task times and kill moments of live repeat r. Per point:
live and simulated mean makespan, the relative error (simulated - live) / live, the live
run-to-run spread ((max - min) / mean of the repeats, made the same hour) beside it, the
host's other work (CPUs busy before each run, mean over the repeats). Per platform, over the
held-out points only (the fit never saw them): median and P95 absolute error, the bias (mean
signed error), the median live spread, the same at 50 or more workers, and pass or fail
against 10% median and 20% P95. The throughput ceiling: the highest tasks/s any live point
of the platform reached (the manager's or driver's limit on this host) against the simulated
tasks/s of that point.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from schedsim.calibration.scale_fit import (
    FIXED,
    FIXED_SOURCES,
    PARAMETERS,
    busy_of,
    live_by_point,
    simulate,
    split,
)
from schedsim.errors import InputError
from schedsim.outputs import read_text
from schedsim.studies import sections
from schedsim.studies.scale_matrix import HELD_OUT, MATRIX

MEDIAN_TOLERANCE = 0.10
P95_TOLERANCE = 0.20
CEILING_TOLERANCE = 0.10
AT_SCALE = 50  # workers from which the target applies
PLATFORMS = ("workqueue", "ray")
# The committed live scale runs and the scale fit: package data, found through the package.
SCALE_DATA = Path(str(files("schedsim.studies").joinpath("scale")))
RECORDS = SCALE_DATA / "matrix-live.jsonl"
PARAMS = SCALE_DATA / "params.json"


def load_params(path: Path) -> dict[str, dict[str, float]]:
    """Platform -> parameter -> value, from a document written by the scale fit."""
    text = read_text(path, "scale parameters written by schedsim validate --scale --fit")
    try:
        doc = json.loads(text)
        return {p: {k: float(v["value"]) for k, v in doc[p]["parameters"].items()}
                for p in PLATFORMS}
    except (ValueError, KeyError, TypeError):
        raise InputError(str(path), "", "scale parameters (workqueue and ray, each with "
                         "parameters: name: {value}) as written by the scale fit",
                         text[:60]) from None


def _stats(values: Sequence[float]) -> dict[str, Any]:
    absolute = np.abs(np.asarray(values, dtype=float))
    if not len(absolute):
        return {"configs": 0}
    return {"configs": len(absolute), "median_abs_error": float(np.median(absolute)),
            "p95_abs_error": float(np.percentile(absolute, 95)),
            "mean_signed_error": float(np.mean(values)),
            "pass": bool(np.median(absolute) <= MEDIAN_TOLERANCE
                         and np.percentile(absolute, 95) <= P95_TOLERANCE)}


def validate_scale(records: Sequence[dict[str, Any]],
                   params: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Rows per point and the per-platform summary (see the module's docstring)."""
    runs = live_by_point(records)
    failed = [r for r in records if "makespan_s" not in r or r.get("failure")]
    rows: list[dict[str, Any]] = []
    for point in MATRIX:
        recs = runs.get(point.label)
        if not recs:
            continue
        live = [float(r["makespan_s"]) for r in recs]
        sims = [simulate(point, params[point.platform], int(r["repeat"]), busy_of(r))[0]
                for r in recs]
        live_mean, sim_mean = float(np.mean(live)), float(np.mean(sims))
        rows.append({
            "label": point.label, "platform": point.platform, "role": point.role,
            "workers": point.workers, "task_s": point.task_s, "tasks": point.tasks,
            "output_b": point.output_b, "kill": point.kill, "repeats": len(live),
            "live_makespan_s": live_mean, "live_runs_s": live, "sim_makespan_s": sim_mean,
            "relative_error": (sim_mean - live_mean) / live_mean,
            "live_spread": (max(live) - min(live)) / live_mean if len(live) > 1 else None,
            "live_tasks_per_s": point.tasks / live_mean, "sim_tasks_per_s": point.tasks / sim_mean,
            "busy_cpus": float(np.mean([busy_of(r) for r in recs])),
        })
    summary: dict[str, Any] = {}
    for platform in PLATFORMS:
        mine = [r for r in rows if r["platform"] == platform]
        held = [r for r in mine if r["role"] == HELD_OUT]
        spreads = [r["live_spread"] for r in held if r["live_spread"] is not None]
        entry: dict[str, Any] = {"held_out": _stats([r["relative_error"] for r in held]),
                                 "fit_points": _stats([r["relative_error"] for r in mine
                                                       if r["role"] != HELD_OUT])}
        entry["held_out"]["median_live_spread"] = float(np.median(spreads)) if spreads \
            else None
        big = [r["relative_error"] for r in held if r["workers"] >= AT_SCALE]
        entry["held_out_at_scale"] = _stats(big)
        if mine:
            top = max(mine, key=lambda r: r["live_tasks_per_s"])
            error = (top["sim_tasks_per_s"] - top["live_tasks_per_s"]) / top["live_tasks_per_s"]
            entry["ceiling"] = {"point": top["label"], "live_tasks_per_s": top["live_tasks_per_s"],
                                "sim_tasks_per_s": top["sim_tasks_per_s"],
                                "relative_error": error,
                                "pass": bool(abs(error) <= CEILING_TOLERANCE)}
        summary[platform] = entry
    return {"points": rows, "overall": summary, "failed_runs": len(failed),
            "tolerance": {"median": MEDIAN_TOLERANCE, "p95": P95_TOLERANCE,
                          "ceiling": CEILING_TOLERANCE, "at_scale_workers": AT_SCALE},
            "params": params}


def _pct(x: float | None) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:+.1f}%"


def _abs_pct(x: float | None) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:.1f}%"


def _size(b: int) -> str:
    return "0" if b == 0 else f"{b / 1e6:g} MB" if b >= 1e6 else f"{b / 1e3:g} KB"


GAPS = """\
What the scale model still misses (runs of 2026-12-02 21:26-21:52 UTC on the quiet 2-CPU host,
other work 0.00 to 0.04 CPUs; Work Queue's abrupt-kill points run again 2026-12-03 02:34 UTC;
a third repeat of every point 2026-12-03 03:13-03:27 UTC):
- Work Queue passes at 50 workers and more, narrowly: its P95 (19.3%) is set by wq-250-2s
  (-21%), whose three live runs took 40.7, 26.5 and 29.9 s (spread 44%), the last workers
  connecting after SYN retransmissions that reached the 16 s wave in the first. Such tails are
  the kernel's timing, not the manager's; with the first two repeats alone the P95 was 22.5%
  (a fail). Six held-out points make a P95 that one point moves.
- Work Queue connects 50 to 80 workers later than live (half of them at 1.3 to 1.6 s against
  0.3 to 0.5 s, the last at 7 to 21 s against 1.6 to 4.9 s), most of wq-50-2s-10MB's +13%:
  its accepts wait in the first-come host queue behind the burst of worker starts, where the
  kernel would share the CPUs among them. Taking the accepts out of that queue (an experiment
  on the first two repeats, refitted) gave a 3.8% median and -25% at wq-250-2s: not kept.
- Accepting up to 10 waiting workers per idle pass, as work_queue.c does, instead of one cut
  Work Queue's held-out median from 13.4% to 5.7% on the first two repeats (each refitted).
- Ray passes at 50 slots and more on two points only (ray-56-2s-100KB +4.0%,
  ray-72-1s-term33 +10.6%). It over-predicts its few-slot points (ray-8-100ms +28%,
  ray-24-500ms-100KB +12%), which fail its all-points P95, and under-predicts the kill fit
  point (ray-32-1s-kill25 -17%: the model's raylet loss costs less than live). Live, the gap
  between two tasks of a slot is about 10 ms at 8 slots with 100-ms tasks (70 tasks/s) and
  about 90 ms at 16 slots with 10-ms tasks (the 134 tasks/s ceiling): a shared rate, where
  the model has a fixed lease of 34 ms per task in parallel, too long below the ceiling. Its fit
  leaves an RMS log error of 0.098 on the fit points, Work Queue's 0.029.
- The fit is a local search on a step function: from the parameters' defaults alone it
  stalled at an RMS log error of 0.25 on the three repeats; it now starts from the defaults
  and from the parameters in force and keeps the better.
- Outputs are not in the scale model (no network in its scenarios); the 1 and 10 MB points
  show no cost beyond the model's error on the loopback.
- Other work on the host is what ran in the 2 s before each run, taken as constant: the same
  matrix run the morning before at load averages 2 to 21 ran 10 to 50% slower
  (bench/results/2026-12-02-morning-scale-matrix.jsonl), more than that input explains; and
  wq-20-10ms took 25.4, 29.1 and 20.2 s on a quiet host (spread 36%).
"""

SECTION_BEGIN = "<!-- scale-validation: begin (schedsim validate --scale --out docs) -->"
SECTION_END = "<!-- scale-validation: end -->"


def _shown(path: str) -> str:
    """A file of the package by its path from the folder holding the package (the
    repository, in a checkout), any other as given."""
    try:
        return Path(path).resolve().relative_to(SCALE_DATA.parents[2]).as_posix()
    except ValueError:
        return path


def markdown(report: dict[str, Any], command: str) -> str:
    """The section of docs/validation.md on the scale matrix, written by ``command`` from
    the runs and parameters the report names."""
    lines = [SECTION_BEGIN, "## At scale: the waiting-task matrix", "",
             f"Written by `{command}` from the live runs recorded in "
             f"`{_shown(report['runs'])}` and the scale parameters in "
             f"`{_shown(report['params_file'])}` (docs/models.md, Scale parameters). Each point "
             "runs the waiting task (`workload.task: wait`, lognormal, cv 0.3), so the "
             "manager or driver, not the tasks, binds; live error = (simulated - live) / "
             "live of the mean over the repeats; spread = (max - min) / mean of the live "
             "repeats, made the same hour; other work = the CPUs other work kept busy in "
             "the 2 s before each run (mean over the repeats; the host has 2).", "",
             "| platform | point | role | workers | task | tasks | output | kill | live "
             "makespan | simulated | error | live spread | other work |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["points"]:
        runs = ", ".join(f"{v:.1f}" for v in r["live_runs_s"])
        lines.append(
            f"| {r['platform']} | {r['label']} | {r['role'].replace('_', '-')} | "
            f"{r['workers']} | {r['task_s']:g} s | {r['tasks']} | {_size(r['output_b'])} | "
            f"{_abs_pct(r['kill']) if r['kill'] else '-'} | {r['live_makespan_s']:.1f} s "
            f"({runs}) | {r['sim_makespan_s']:.1f} s | {_pct(r['relative_error'])} | "
            f"{_abs_pct(r['live_spread'])} | {r['busy_cpus']:.2f} |")
    lines += ["", "| platform | held-out points | median abs error | P95 | bias | median "
              "live spread | at >= 50 workers: median / P95 | pass (10% / 20%) | ceiling "
              "live / simulated (point) |", "|---|---|---|---|---|---|---|---|---|"]
    for platform, s in report["overall"].items():
        h, big, c = s["held_out"], s["held_out_at_scale"], s.get("ceiling", {})
        if not h.get("configs"):
            continue
        at_scale = f"{_abs_pct(big['median_abs_error'])} / {_abs_pct(big['p95_abs_error'])}" \
            if big.get("configs") else "none"
        ceiling = f"{c['live_tasks_per_s']:.0f} / {c['sim_tasks_per_s']:.0f} tasks/s " \
            f"({c['point']}, {_pct(c['relative_error'])})" if c else "n/a"
        lines.append(
            f"| {platform} | {h['configs']} | {_abs_pct(h['median_abs_error'])} | "
            f"{_abs_pct(h['p95_abs_error'])} | {_pct(h['mean_signed_error'])} | "
            f"{_abs_pct(h['median_live_spread'])} | {at_scale} | "
            f"{'pass' if h['pass'] else 'fail'} | {ceiling} |")
    lines += ["", f"Failed live runs recorded: {report['failed_runs']}.", "",
              *parameter_lines(report["params"]), "", GAPS, SECTION_END]
    return "\n".join(lines) + "\n"


def _value(v: float, unit: str) -> str:
    if unit in ("s", "CPU-s"):
        return f"{1e3 * v:.3g} ms" + (" CPU" if unit == "CPU-s" else "")
    return f"{v:.3g} {unit}"


def host_cost(platform: str, values: dict[str, float], workers: int) -> float:
    """CPU-seconds one task costs the host's queue (docs/models.md, Scale parameters): Work
    Queue's dispatch, retrieval, scan of ``workers`` connected workers and launch; Ray's
    submission, result intake and launch."""
    if platform == "workqueue":
        return (values["dispatch_time"] + values["retrieval_time"]
                + values["scan_time_per_worker"] * workers + values["task_launch_time"])
    return values["submit_time"] + values["result_time"] + values["task_launch_time"]


def parameter_lines(params: dict[str, dict[str, float]]) -> list[str]:
    """The fitted parameters, and the throughput ceiling they imply on a quiet host:
    (C - background_base) / the CPU each task costs the host's queue."""
    lines = ["The scale parameters applied (fitted: `schedsim validate --scale --scale-fit`; "
             "set: from the source named):", "",
             "| platform | parameter | value | what |", "|---|---|---|---|"]
    for platform, values in params.items():
        for p in PARAMETERS[platform]:
            if p.name in values:
                lines.append(f"| {platform} | `{p.name}` | {_value(values[p.name], p.unit)} "
                             f"| {p.what} |")
        for name, v in FIXED[platform].items():
            lines.append(f"| {platform} | `{name}` | {v:g} (set) | {FIXED_SOURCES[name]} |")
    lines.append("")
    for platform, values in params.items():
        host = split(platform, values, 0.0)[1]  # as the simulator gets it, no other work
        free = host["cpus"] - host["background"]
        marks = (20, 200) if platform == "workqueue" else (16,)
        costs = ", ".join(f"{1e3 * c:.1f} ms at {w} workers ({free / c:.0f} tasks/s)"
                          for w, c in ((w, host_cost(platform, values, w)) for w in marks))
        lines.append(f"- {platform}: each task costs the host's queue {costs}, on "
                     f"{free:.2f} of the {host['cpus']:g} CPUs (`background_base` taken): the "
                     "queue's bound alone; another limit (Ray's lease) can bind first.")
    return lines


def summary(report: dict[str, Any]) -> list[str]:
    """A few plain lines for the terminal: each platform's held-out errors and verdict."""
    lines = []
    for platform, s in report["overall"].items():
        h = s["held_out"]
        if h.get("configs"):
            lines.append(f"{platform} ({h['configs']} held out): median abs error "
                         f"{_abs_pct(h['median_abs_error'])}, P95 {_abs_pct(h['p95_abs_error'])}"
                         f": {'pass' if h['pass'] else 'fail'}")
    lines.append(f"failed live runs recorded: {report['failed_runs']}")
    return lines


def insert_section(page: str, section: str) -> str:
    """``page`` with its scale section replaced by ``section`` (appended if it has none)."""
    return sections.insert(page, section, SECTION_BEGIN, SECTION_END)


def section_of(page: str) -> str | None:
    """The scale section of a page, if it has one."""
    return sections.find(page, SECTION_BEGIN, SECTION_END)
