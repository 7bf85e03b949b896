"""``schedsim calibrate``: task sweep, fit, live runs, and the profile written beside its data.

Steps, each with a progress bar: (1) the task sweep (:mod:`~schedsim.calibration.measure`),
raw records to ``NAME.task_sweep.jsonl``; (2) the fit (:mod:`~schedsim.calibration.fit`) per
tolerance, and the profile written once, so that (3) the live Work Queue and Ray runs can draw
from it; their attempts go to ``NAME.live.jsonl`` and their phase statistics into the profile's
``measured`` section, and the profile is written again. ``quick`` uses a smaller sweep and fewer
live replications (under 3 minutes on a 2-core host). :func:`calibrate_platforms`
(``--platform``) does step (3) and the fit for named platforms alone, into an existing profile.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from schedsim.calibration.fit import fit_size, fit_time, per_n_table
from schedsim.calibration.measure import (
    FULL_LIVE,
    FULL_SWEEP,
    QUICK_LIVE,
    QUICK_SWEEP,
    LiveConfig,
    SweepPlan,
    add_ratio,
    live_measurements,
    native_binary,
    read_jsonl,
    stats_of,
    task_sweep,
)
from schedsim.calibration.platforms import CALIBRATED
from schedsim.calibration.profile import (
    FORMAT,
    FORMAT_VERSION,
    Profile,
    check_measured,
    load_profile,
)
from schedsim.errors import InputError
from schedsim.metrics import finite
from schedsim.reader import Reader
from schedsim.report import progress_bar

TIME_FORM = "t(n) = (a + b*n) * eps, eps lognormal with mean 1 and coefficient of variation cv"
OUTPUT_FORM = "bytes_out(n) = c*n + d"


def _param(value: float, unit: str, source: str, stderr: float | None = None,
           ) -> dict[str, Any]:
    out: dict[str, Any] = {"value": value, "unit": unit, "source": source}
    if stderr is not None:
        out["stderr"] = stderr
    return out


def fit_sweep(records: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
    """One fitted task model per tolerance, in the profile's format."""
    models = []
    where = ("fit of compress_task's total_s over the task sweep" if source == "native"
             else "fit of zfpy in-process times over the task sweep (native build missing)")
    for tol in sorted({float(r["tolerance"]) for r in records}):
        rows = [r for r in records if float(r["tolerance"]) == tol]
        n = [float(r["n"]) for r in rows]
        t = [float(r["total_s"]) for r in rows]
        tf = fit_time(n, t)
        pf = fit_time(n, [float(r["process_wall_s"]) for r in rows])
        sf = fit_size(n, [float(r["bytes_out"]) for r in rows])
        models.append({
            "tolerance": tol,
            "time": {
                "form": TIME_FORM,
                "quantity": "total_s: compress_task's own time, start to end of write "
                            "(no process start)",
                "a": _param(tf.a_s, "s", where, tf.a_stderr),
                "b": _param(tf.b_s, "s/value", where, tf.b_stderr),
                "cv": _param(tf.cv, "1", where + " (residual spread in log space)",
                             tf.cv_stderr),
                "fit": {k: v for k, v in tf.as_dict().items()
                        if k not in ("a_s", "b_s", "cv", "a_stderr", "b_stderr", "cv_stderr")},
                "per_n": per_n_table(n, t, tf),
            },
            "process_time": {
                "form": TIME_FORM,
                "quantity": "process wall time from fork to exit, measured by the caller",
                "a": _param(pf.a_s, "s", "same fit on process_wall_s", pf.a_stderr),
                "b": _param(pf.b_s, "s/value", "same fit on process_wall_s", pf.b_stderr),
                "cv": _param(pf.cv, "1", "same fit on process_wall_s", pf.cv_stderr),
                "process_start_s": stats_of(float(r["process_wall_s"]) - float(r["total_s"])
                                            for r in rows),
            },
            "output": {
                "form": OUTPUT_FORM,
                "c": _param(sf.c_bytes, "bytes/value", "least squares over the sweep",
                            sf.c_stderr),
                "d": _param(sf.d_bytes, "bytes", "least squares over the sweep", sf.d_stderr),
                "fit": {"points": sf.points, "r2": sf.r2,
                        "max_abs_rel_error": sf.max_abs_rel_error},
            },
        })
    return models


def _dpkg_version(package: str) -> str | None:
    try:
        proc = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package],
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None


def _py_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions(source: str) -> dict[str, Any]:
    from schedsim.version import __version__

    out: dict[str, Any] = {"schedsim": __version__, "numpy": _py_version("numpy"),
                           "scipy": _py_version("scipy"), "ray": _py_version("ray")}
    binary = native_binary()
    if source == "native" and binary is not None:
        out["compress_task_sha256"] = hashlib.sha256(binary.read_bytes()).hexdigest()
    out["libzfp"] = _dpkg_version("libzfp1") or _dpkg_version("libzfp-dev")
    out["coop-computing-tools"] = _dpkg_version("coop-computing-tools")
    if source == "zfpy":
        out["zfpy"] = _py_version("zfpy")
    return out


def write_profile(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(finite(doc), indent=2, allow_nan=False) + "\n",
                   encoding="utf-8")
    tmp.replace(path)


def fit_teardown(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The process's wall time beyond the program's own, against n: a least-squares line
    over every sweep run (all tolerances: freeing memory does not depend on them). Its slope
    is the teardown that grows with n; its intercept, the fixed cost of starting the process
    from the calibrating (Python) process, is reported but not used: each platform's own
    launch cost is measured on its live runs."""
    rows = [r for r in records if r.get("process_wall_s") is not None]
    if len({r["n"] for r in rows}) < 2:
        return None
    n = np.array([float(r["n"]) for r in rows])
    extra = np.array([float(r["process_wall_s"]) - float(r["total_s"]) for r in rows])
    slope, intercept = np.polyfit(n, extra, 1)
    where = ("least squares of process_wall_s - total_s against n over every run of the "
             "task sweep")
    return {"per_value": _param(max(0.0, float(slope)), "s/value", where + " (slope)"),
            "fixed": _param(float(intercept), "s", where + " (intercept; not used: each "
                            "platform's launch cost is measured live)")}


def calibrate(out: Path, *, quick: bool, console: Console, live: bool = True,
              sweep: SweepPlan | None = None, live_configs: Iterable[LiveConfig] | None = None,
              platforms: Iterable[str] = tuple(CALIBRATED), timeout_s: float = 300.0,
              ) -> dict[str, Any]:
    """Measure, fit and write the profile at ``out``; returns the profile document."""
    from schedsim.calibration.host import run_probe, this_host
    from schedsim.calibration.platform_fit import fit_platforms

    # Absolute: the live runs' and the fit's scenarios name the profile from other folders.
    out = out.resolve()
    plan = sweep or (QUICK_SWEEP if quick else FULL_SWEEP)
    configs = list(live_configs if live_configs is not None else
                   (QUICK_LIVE if quick else FULL_LIVE))
    if live and configs:
        from schedsim.live.run import require_tools

        require_tools(tuple(platforms))  # before the task sweep, not after it
    name = out.stem
    sweep_path = out.with_name(f"{name}.task_sweep.jsonl")
    live_path = out.with_name(f"{name}.live.jsonl")
    started = dt.datetime.now(dt.UTC)
    with progress_bar(transient=False) as progress:
        bar = progress.add_task("task sweep (compress_task)", total=plan.runs)
        source, records = task_sweep(plan, sweep_path,
                                     on_run=lambda: progress.advance(bar))
    if source == "zfpy":
        console.print("[yellow]build/native/compress_task is missing: the task sweep used zfpy "
                      "in-process instead (no process start, numpy's data); the profile says "
                      "so[/yellow]")
    doc: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "created_utc": started.isoformat(timespec="seconds"),
        "mode": "quick" if quick else "full",
        # The probe right after the sweep, in the same state of the host: what validate and
        # live compare this host with (schedsim.calibration.host).
        "host": this_host(run_probe() if source == "native" else None),
        "versions": versions(source),
        "task": {
            "program": "compress_task" if source == "native" else "zfpy (in-process)",
            "source": source,
            "source_note": ("native build/native/compress_task, one process per run" if
                            source == "native" else "FALLBACK: build/native/compress_task was "
                            "missing; zfpy in-process, times exclude process start"),
            "sweep": {"n": list(plan.n_values), "tolerances": list(plan.tolerances),
                      "repeats": plan.repeats, "points": len(records),
                      "order": "blocks of back-to-back repeats per point, each after "
                               "one warm-up run, blocks shuffled (seeded)"},
            "models": fit_sweep(records, source),
        },
        "measured": {},
        "raw": {"task_sweep": sweep_path.name},
    }
    teardown = fit_teardown(records) if source == "native" else None
    if teardown is not None:
        doc["task"]["teardown"] = teardown
    write_profile(out, doc)
    load_profile(out)  # the profile must read back before anything uses it
    if live and configs:
        platforms = list(platforms)
        total = sum(c.replications for c in configs) * len(platforms)
        with progress_bar(transient=False) as progress:
            bar = progress.add_task("live runs", total=total)

            def step(platform: str, label: str, rep: int) -> None:
                progress.update(bar, advance=1,
                                description=f"live runs ({platform} {label} r{rep})")

            doc["measured"] = live_measurements(out, configs, live_path, platforms=platforms,
                                                timeout_s=timeout_s, on_run=step)
        doc["raw"]["live"] = live_path.name
        write_profile(out, doc)
        with console.status("fitting platform overheads to the live runs"):
            doc["platforms"] = fit_platforms(doc, out)
        write_profile(out, doc)
    doc["elapsed_s"] = (dt.datetime.now(dt.UTC) - started).total_seconds()
    write_profile(out, doc)
    return doc


def _check_own_cpus(profile: Profile) -> None:
    """``measured.NAME.host_cpus`` (a platform calibrated on its own host), which the fit
    reads: an integer >= 1, else one line. Here, not in check_measured: the profile reader
    is part of the model's fingerprint (studies/rfc.py) and reads no such key."""
    measured = Reader(str(profile.path), "", profile.data).child("measured")
    for platform in CALIBRATED:
        own = measured.child(platform) if measured.has(platform) else None
        if own is not None and own.has("host_cpus"):
            own.take_int("host_cpus", 1)


def _merge_live(path: Path, fresh: Path, platforms: list[str]) -> None:
    """``path`` (the profile's live JSONL) with the records of ``platforms`` replaced by
    those in ``fresh``: the other platforms' lines kept as they were, in their order."""
    kept: list[str] = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                rec = None  # not a record of ours: kept, as every line we do not replace
            if not (isinstance(rec, dict) and rec.get("platform") in platforms):
                kept.append(line)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.writelines(kept)
        fh.write(fresh.read_text(encoding="utf-8"))
    tmp.replace(path)
    fresh.unlink()


def calibrate_platforms(out: Path, platforms: Iterable[str], *, quick: bool,
                        console: Console, live_configs: Iterable[LiveConfig] | None = None,
                        timeout_s: float = 300.0, replications: int = 40) -> dict[str, Any]:
    """``calibrate --platform``: live runs and fit of ``platforms`` alone, into the existing
    profile at ``out``. No task sweep: the task model, every other platform's measurements
    and fitted section stay as they are. Each refitted section records the host it was
    measured on and when (``calibrated``): it may be another host than the profile's."""
    from schedsim.calibration.host import run_probe, this_host
    from schedsim.calibration.platform_fit import fit_platforms
    from schedsim.live.run import require_tools

    profile = load_profile(out)  # one line if missing, malformed or without a task model
    out = profile.path  # absolute: the live runs' scenarios name it from other folders
    platforms = list(dict.fromkeys(platforms))
    configs = list(live_configs if live_configs is not None else
                   (QUICK_LIVE if quick else FULL_LIVE))
    doc: dict[str, Any] = json.loads(json.dumps(profile.data))  # the cached one stays as read
    if doc.get("measured"):
        check_measured(profile)  # the other platforms' runs are refitted by nothing, but read
        _check_own_cpus(profile)
    require_tools(tuple(platforms))
    started = dt.datetime.now(dt.UTC)
    # The probe first, on the host as quiet as the live runs will find it.
    host = this_host(run_probe())
    raw = doc.setdefault("raw", {})
    live_name = raw.get("live") if isinstance(raw.get("live"), str) else f"{out.stem}.live.jsonl"
    live_path = out.with_name(live_name)
    fresh = out.with_name(f"{out.stem}.live.{'-'.join(platforms)}.jsonl.tmp")
    with progress_bar(transient=False) as progress:
        bar = progress.add_task("live runs", total=sum(c.replications for c in configs)
                                * len(platforms))

        def step(platform: str, label: str, rep: int) -> None:
            progress.update(bar, advance=1, description=f"live runs ({platform} {label} r{rep})")

        try:
            measured = live_measurements(out, configs, fresh, platforms=platforms,
                                         timeout_s=timeout_s, on_run=step)
        except BaseException:  # a failed or interrupted run leaves the profile's files alone
            fresh.unlink(missing_ok=True)
            raise
    _merge_live(live_path, fresh, platforms)
    raw["live"] = live_path.name
    into = doc.setdefault("measured", {})
    for platform in platforms:
        # Its own host's CPUs: the shared host_cpus is the other platforms' host's.
        into[platform] = dict(measured[platform], host_cpus=measured["host_cpus"])
    into.setdefault("host_cpus", measured["host_cpus"])
    if {"workqueue", "ray"} & set(platforms):
        into.pop("rfc_comparison", None)
        add_ratio(into)
    write_profile(out, doc)
    with console.status(f"fitting {', '.join(platforms)} to the live runs"):
        doc["platforms"] = fit_platforms(doc, out, replications, only=platforms)
    for platform in platforms:
        if platform in doc["platforms"]:
            doc["platforms"][platform]["calibrated"] = {
                "utc": started.isoformat(timespec="seconds"),
                "mode": "quick" if quick else "full",
                "elapsed_s": (dt.datetime.now(dt.UTC) - started).total_seconds(),
                "host": host}
    write_profile(out, doc)
    return doc


def refit(out: Path, console: Console, only: Iterable[str] | None = None) -> dict[str, Any]:
    """Refit only the platform overheads of an existing profile to its own live runs (with
    ``only``, those platforms' alone: the task's teardown and the others' sections kept)."""
    import copy

    from schedsim.calibration.platform_fit import fit_platforms

    profile = load_profile(out)  # one line if missing or malformed
    out = profile.path  # absolute, as in calibrate
    # A copy, so that the cached profile stays as read.
    doc: dict[str, Any] = copy.deepcopy(profile.data)
    if not doc.get("measured"):
        raise InputError(str(out), "measured", "live runs to fit (run schedsim calibrate)",
                         has_value=False)
    check_measured(profile)
    _check_own_cpus(profile)
    raw = Reader(str(out), "", doc).child("raw", {})
    sweep = raw.take_str("task_sweep", None)
    if only is not None:
        only = list(dict.fromkeys(only))
        missing = [p for p in only if not doc["measured"].get(p)]
        if missing:
            raise InputError("--platform", "", "a platform with live runs in the profile "
                             "(calibrate it: schedsim calibrate --platform NAME)",
                             ", ".join(missing))
    elif sweep and doc["task"].get("source") == "native" and (out.parent / sweep).is_file():
        teardown = fit_teardown(read_jsonl(out.parent / sweep, ("n", "total_s"),
                                           ("process_wall_s",)))
        if teardown is not None:
            doc["task"]["teardown"] = teardown
            write_profile(out, doc)
    with console.status("fitting platform overheads to the live runs"):
        doc["platforms"] = fit_platforms(doc, out, only=only)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if only is None:
        doc["refitted_utc"] = now
    else:  # where and when they were measured, from the section they had
        old = profile.data.get("platforms", {})
        for platform in only:
            if platform in doc["platforms"]:
                was = old.get(platform, {}) if isinstance(old.get(platform), dict) else {}
                if "calibrated" in was:
                    doc["platforms"][platform]["calibrated"] = was["calibrated"]
                doc["platforms"][platform]["refitted_utc"] = now
    write_profile(out, doc)
    return doc
