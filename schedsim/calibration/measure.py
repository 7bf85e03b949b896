"""Measuring the real task and the real platforms on this host.

Task sweep. ``compress_task`` (``build/native``) runs over a grid of sizes ``n`` and zfp
tolerances, one process at a time. Each point is a block of back-to-back repeats after one
unrecorded warm-up run of the same point, as in a bag of identical tasks; the blocks run in a
shuffled order (so that drift of the host, such as frequency changes, does not line up with
``n``). A small task run straight after a large one is far slower than in a bag of its own
kind (about 7 ms instead of 4 ms at n = 1e5 here: the kernel is still freeing the large one's
memory), which a run-by-run shuffle would have put into the small sizes' times.
Each run gives one JSON record with the program's own phase times (``total_s`` is what
the task model is fitted to) and the process wall time measured here from fork to exit. Where
the native build is missing, the sweep falls back to ``zfpy`` in-process (same zfp mode,
numpy's generator instead of mt19937_64, no process start) and every record says so.

Live runs. :func:`live_measurements` runs small scenarios for real on Work Queue and Ray
(:func:`schedsim.live.run_live`), saves every attempt as JSONL and summarises the phases the
platforms measure themselves: Work Queue's dispatch (``commit_end - commit_start``), execution
and retrieval, Ray's per-task overhead (slot claimed to result received, minus the task's own
``total_s``), and the idle gap of a slot between two tasks.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from schedsim.calibration.platforms import CALIBRATED
from schedsim.errors import InputError
from schedsim.native import NATIVE_DIR, PACKAGE_HOME

COMPRESS_TASK = NATIVE_DIR / "compress_task"
SWEEP_SEED = 20260219  # the order of the sweep's runs (the RFC's date)


def native_binary() -> Path | None:
    return COMPRESS_TASK if os.access(COMPRESS_TASK, os.X_OK) else None


def zfpy_available() -> bool:
    try:
        import zfpy  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class SweepPlan:
    n_values: tuple[int, ...]
    tolerances: tuple[float, ...]
    repeats: int

    @property
    def runs(self) -> int:
        return len(self.n_values) * len(self.tolerances) * self.repeats


QUICK_SWEEP = SweepPlan((100_000, 200_000, 500_000, 1_000_000, 2_000_000, 5_000_000,
                         10_000_000), (1e-4, 1e-3, 1e-2), 10)
FULL_SWEEP = SweepPlan((100_000, 200_000, 500_000, 1_000_000, 2_000_000, 3_000_000,
                        5_000_000, 7_000_000, 10_000_000), (1e-5, 1e-4, 1e-3, 1e-2, 1e-1), 12)


def run_native(binary: Path, n: int, tolerance: float, seed: int, out: Path) -> dict[str, Any]:
    """One compress_task process; its JSON record plus the wall time from fork to exit."""
    argv = [str(binary), "--n", str(n), "--tolerance", repr(tolerance), "--seed", str(seed),
            "--out", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"compress_task failed ({proc.returncode}): {proc.stderr.strip()}")
    rec: dict[str, Any] = json.loads(proc.stdout)
    rec["process_wall_s"] = wall
    return rec


def run_zfpy(n: int, tolerance: float, seed: int, out: Path) -> dict[str, Any]:
    """The same work in-process with zfpy: generate, compress (fixed accuracy), write."""
    import zfpy

    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    data = rng.random(n, dtype=np.float32)
    generated = time.perf_counter()
    stream = zfpy.compress_numpy(data, tolerance=tolerance)
    compressed = time.perf_counter()
    out.write_bytes(stream)
    end = time.perf_counter()
    return {"n": n, "tolerance": tolerance, "seed": seed, "bytes_in": 4 * n,
            "bytes_out": len(stream), "generate_s": generated - start,
            "compress_s": compressed - generated, "write_s": end - compressed,
            "total_s": end - start, "process_wall_s": end - start}


def task_sweep(plan: SweepPlan, raw_path: Path, *, prefer_native: bool = True,
               on_run: Callable[[], None] | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Run the sweep, append every record to ``raw_path`` (JSONL); returns (source, records).

    ``source`` is "native" or "zfpy"; RuntimeError when neither is available.
    """
    binary = native_binary() if prefer_native else None
    if binary is None and not zfpy_available():
        raise RuntimeError("neither build/native/compress_task (scripts/install_native.sh) nor "
                           "the zfpy package (pip install zfpy) is available")
    source = "native" if binary is not None else "zfpy"
    points = [(n, tol) for n in plan.n_values for tol in plan.tolerances]
    order = np.random.default_rng(SWEEP_SEED).permutation(len(points))
    records: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="schedsim-sweep-"))
    try:
        def one(n: int, tol: float, seed: int) -> dict[str, Any]:
            out = work / "out.zfp"
            if binary is not None:
                return run_native(binary, n, tol, seed, out)
            return run_zfpy(n, tol, seed, out)

        raw_path.parent.mkdir(parents=True, exist_ok=True)
        with raw_path.open("w", encoding="utf-8") as fh:
            for i in order:
                n, tol = points[int(i)]
                one(n, tol, 10_000)  # warm-up of this point: the previous block's memory
                for rep in range(plan.repeats):
                    rec = one(n, tol, 1 + rep)
                    rec.update({"kind": "task", "source": source, "repeat": rep})
                    records.append(rec)
                    fh.write(json.dumps(rec) + "\n")
                    if on_run is not None:
                        on_run()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return source, records


def read_jsonl(path: Path, numbers: tuple[str, ...] = (),
               nullable: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The records of a JSON-lines file; each must hold ``numbers`` as numbers and
    ``nullable`` as numbers or null (InputError naming the file and line otherwise)."""
    if not path.is_file():  # a FIFO would block
        raise InputError(str(path), "", "a JSON-lines file", has_value=False)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), "", f"a readable JSON-lines file ({type(exc).__name__})",
                         has_value=False) from None
    records = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or not all(
                    _is_number(rec.get(k)) for k in numbers) or not all(
                    rec.get(k) is None or _is_number(rec[k]) for k in nullable):
                raise ValueError
        except (ValueError, RecursionError):
            what = ", ".join(numbers) + "".join(f" and {k} (or null)" for k in nullable)
            raise InputError(str(path), f"line {i}", "a JSON object" + (
                f" with numbers {what}" if what else ""), line) from None
        records.append(rec)
    return records


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and \
        math.isfinite(value)


# --------------------------------------------------------------------------- statistics


def stats_of(values: Iterable[float | None], unit: str = "s") -> dict[str, Any]:
    """Summary statistics of a measured quantity."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if x.size == 0:
        return {"unit": unit, "count": 0}
    return {"unit": unit, "count": int(x.size), "mean": float(x.mean()),
            "median": float(np.median(x)), "p10": float(np.percentile(x, 10)),
            "p90": float(np.percentile(x, 90)), "min": float(x.min()), "max": float(x.max())}


# --------------------------------------------------------------------------- live runs


@dataclass(frozen=True)
class LiveConfig:
    """A small scenario run live for calibration."""

    label: str
    tasks: int
    n: int
    nodes: int
    cores: int
    replications: int
    tolerance: float = 1e-3


QUICK_LIVE = (LiveConfig("rfc", 12, 200_000, 3, 1, 3),
              LiveConfig("large-n", 8, 2_000_000, 2, 1, 2))
FULL_LIVE = (LiveConfig("rfc", 12, 200_000, 3, 1, 10),
             LiveConfig("large-n", 12, 2_000_000, 2, 1, 5),
             LiveConfig("one-slot", 10, 3_000_000, 1, 1, 5),
             LiveConfig("many-small", 60, 100_000, 2, 2, 5),
             # Short tasks on one slot: start-up and per-task costs weigh most here.
             LiveConfig("short-one-slot", 24, 200_000, 1, 1, 5),
             # As many slots as CPUs, short tasks: the platform's own CPU use shows here.
             LiveConfig("short-two-slots", 24, 500_000, 2, 1, 5))


def live_scenario_data(cfg: LiveConfig, profile: Path) -> dict[str, Any]:
    return {
        "name": f"calibrate-{cfg.label}",
        "seed": 1,
        "replications": cfg.replications,
        "workload": {"tasks": cfg.tasks,
                     "duration": {"dist": "profile", "n": cfg.n, "tolerance": cfg.tolerance,
                                  "profile": str(profile)}},
        "cluster": {"pools": [{"name": "host", "count": cfg.nodes, "cores": cfg.cores}]},
    }


def slot_gaps(attempts: list[dict[str, Any]]) -> list[float]:
    """Idle time of a slot between the end of one attempt and the start of the next."""
    by_slot: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for a in attempts:
        if a["node"] < 0:
            continue
        by_slot.setdefault((a["node"], a["slot"]), []).append((a["start_s"], a["end_s"]))
    gaps = []
    for spans in by_slot.values():
        spans.sort()
        gaps += [max(0.0, s2 - e1) for (_s1, e1), (s2, _e2) in zip(spans, spans[1:],
                                                                    strict=False)]
    return gaps


def live_measurements(profile: Path, configs: Iterable[LiveConfig], raw_path: Path, *,
                      platforms: Iterable[str] = tuple(CALIBRATED), timeout_s: float = 300.0,
                      on_run: Callable[[str, str, int], None] | None = None) -> dict[str, Any]:
    """Run each configuration live on each platform; JSONL to ``raw_path``; the summary."""
    from schedsim.live.run import run_live
    from schedsim.loading import parse_scenario

    configs = list(configs)
    platforms = list(platforms)
    measured: dict[str, Any] = {}
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    with raw_path.open("w", encoding="utf-8") as fh:
        for platform in platforms:
            rows = []
            for cfg in configs:
                scenario = parse_scenario(live_scenario_data(cfg, profile), f"<{cfg.label}>",
                                          PACKAGE_HOME)
                reps = []
                for r in range(cfg.replications):
                    result = run_live(scenario, platform, r, timeout_s)
                    attempts = [a.as_dict() for a in result.attempts]
                    _write(fh, {"kind": "replication", "platform": platform,
                                "config": cfg.label, "replication": r,
                                "metrics": result.metrics, "failure": result.failure,
                                "details": result.details, "t0_epoch": result.t0_epoch})
                    for a in attempts:
                        _write(fh, {"kind": "attempt", "platform": platform,
                                    "config": cfg.label, "replication": r, **a})
                    reps.append((result, attempts))
                    if on_run is not None:
                        on_run(platform, cfg.label, r)
                rows.append(_config_stats(platform, cfg, reps))
            measured[platform] = {"configs": rows}
    # Configurations with more slots than this oversubscribe the host (platform_fit).
    measured["host_cpus"] = os.cpu_count() or 1
    add_ratio(measured)
    return measured


def _write(fh: IO[str], rec: dict[str, Any]) -> None:
    fh.write(json.dumps(rec, default=str) + "\n")


def _config_stats(platform: str, cfg: LiveConfig, reps: list[tuple[Any, list[dict[str, Any]]]],
                  ) -> dict[str, Any]:
    done = [a for _r, atts in reps for a in atts if a["outcome"] == "done"]
    row: dict[str, Any] = {
        "label": cfg.label, "tasks": cfg.tasks, "n": cfg.n, "tolerance": cfg.tolerance,
        "nodes": cfg.nodes, "cores": cfg.cores, "replications": cfg.replications,
        "makespan_s": stats_of(r.metrics["makespan_s"] for r, _a in reps),
        "failed_replications": sum(1 for r, _a in reps if r.failure),
        "slot_gap_s": stats_of(g for _r, atts in reps for g in slot_gaps(atts)),
        # Time 0 to the first attempt: worker start and connection (Work Queue), worker
        # process start and lease (Ray, whose workers start on demand).
        "first_start_s": stats_of(min((a["start_s"] for a in atts), default=None)
                                  for _r, atts in reps),
        "task_total_s": stats_of(a.get("task_total_s") for a in done),
    }
    own = CALIBRATED[platform]
    for key, of_run in own.replication_stats.items():
        row[key] = stats_of(of_run(r) for r, _a in reps)
    for key in own.attempt_stats:
        row[key] = stats_of(a.get(key) for a in done)
    for key, of_attempt in own.derived.items():
        row[key] = stats_of(of_attempt(a) for a in done)
    return row


RFC = {"workqueue_wall_s": 2.26823, "ray_wall_s": 1.272, "ratio": 2.26823 / 1.272}


def add_ratio(measured: dict[str, Any]) -> None:
    try:
        wq = next(c for c in measured["workqueue"]["configs"] if c["label"] == "rfc")
        ray = next(c for c in measured["ray"]["configs"] if c["label"] == "rfc")
    except (KeyError, StopIteration):
        return
    ratio = wq["makespan_s"]["mean"] / ray["makespan_s"]["mean"]
    measured["rfc_comparison"] = {
        "config": "12 tasks, n=200000, tolerance 1e-3, 3 one-core workers",
        "workqueue_makespan_s": wq["makespan_s"]["mean"],
        "ray_makespan_s": ray["makespan_s"]["mean"],
        "ratio_workqueue_over_ray": ratio,
        "rfc": RFC,
    }
