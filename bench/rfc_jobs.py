"""The RFC study's jobs as one of its pool workers runs them: in one process, largest first.

Reads a study's folder (its ``rfc-base.yaml`` and ``rfc-runs.csv``: every job that ran, the
sensitivity runs included), groups the jobs into classes (nodes, tasks, platform, churn), takes
``--per-class`` of each, evenly spaced, and runs them in this process one after another in the
study's order (largest first), as a worker of ``schedsim rfc --jobs J`` does. Prints each job's
CPU and wall time, the process's RSS after it, and whether its row equals the stored one in
every column both files have; then estimates the whole study from the CPU times: each class's
mean times its count, over ``--jobs`` workers, and the share of that work in the first
``--first`` jobs (where a rate read early in a run comes from). CPU time, not wall time, is the
measure on a shared host. Usage: ``python bench/rfc_jobs.py [--study docs] [--per-class 2]
[--jobs 2] [--first 445] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

try:
    from schedsim.studies.jobs import Job, run_job
except ImportError:  # the code before the studies package (2026-12-02 13:55), for an A/B
    from schedsim.sweep import Job, run_job  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_core import bare_simpy  # noqa: E402  (a script beside this one, not a package)


def rss_mb() -> float:
    """This process's resident memory now (Linux), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def job_class(overrides: list[str]) -> str:
    """nodes/tasks/platform/churn of a job: the axes its run time depends on most."""
    ov = dict(o.split("=", 1) for o in overrides)
    churn = json.loads(ov["churn"])
    kind = "none" if not churn else "zone" if "zone_reclaims" in churn[0] \
        else "abrupt" if churn[0].get("notice") == "0s" else "notice"
    return "/".join((ov["cluster.pools.spot.count"], ov["workload.tasks"],
                     ov["platform.type"], kind))


def same_cell(a: str, b: str) -> bool:
    """Equal as written, or as numbers (older files wrote counts as floats: 200000.0)."""
    if a == b:
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def tasks_of(overrides: list[str]) -> int:
    return next(int(o.split("=", 1)[1]) for o in overrides if o.startswith("workload.tasks="))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--study", default=str(HERE.parent / "docs"))
    ap.add_argument("--per-class", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=2, help="workers the estimate is for")
    ap.add_argument("--first", type=int, default=445)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    study = Path(args.study)
    stored = list(csv.DictReader((study / "rfc-runs.csv").open(encoding="utf-8")))
    # The study runs the largest first (rfc._run_jobs); ties keep the file's order.
    stored.sort(key=lambda r: -tasks_of(json.loads(r["overrides"])))
    classes: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(stored):
        classes[job_class(json.loads(row["overrides"]))].append(i)
    picked = sorted(i for members in classes.values()
                    for i in members[::max(1, len(members) // args.per_class)][:args.per_class])
    base = str(study / "rfc-base.yaml")
    # The host's speed now: CPU time grows with the other processes' load (shared caches and
    # cores), so a bare SimPy loop measured alongside tells runs on different hosts apart.
    cpu = time.process_time()
    bare_simpy(200_000, 10_000)
    bare = 200_000 / (time.process_time() - cpu)
    runs: list[dict[str, Any]] = []
    for i in picked:
        row = stored[i]
        overrides = json.loads(row["overrides"])
        job = Job(int(row["point"]), int(row["replication"]), tuple(overrides))
        cpu, wall = time.process_time(), time.perf_counter()
        got = run_job(base, job)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        same = all(same_cell(str(got[k]), row[k]) for k in got if k in row and k != "point")
        runs.append({"index": i, "class": job_class(overrides), "cpu_s": cpu, "wall_s": wall,
                     "rss_mb": rss_mb(), "same_row": same})
        print(f"{i:5d} {runs[-1]['class']:28s} cpu {cpu:6.2f} s  wall {wall:6.2f} s  "
              f"rss {runs[-1]['rss_mb']:6.0f} MB  {'same' if same else 'DIFFERENT'}",
              flush=True)
    mean: dict[str, float] = defaultdict(float)
    for r in runs:
        mean[r["class"]] += r["cpu_s"] / sum(1 for s in runs if s["class"] == r["class"])
    per_job = [mean[job_class(json.loads(row["overrides"]))] for row in stored]
    total = sum(per_job)
    first = sum(per_job[:args.first])
    out = {"study": str(study), "jobs": len(stored), "runs": runs, "class_cpu_s": mean,
           "total_cpu_s": total, "workers": args.jobs, "estimate_wall_s": total / args.jobs,
           "first": args.first, "bare_simpy_tasks_per_cpu_s": bare, "first_cpu_s": first,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "rows_same": sum(r["same_row"] for r in runs)}
    print(f"\n{len(stored)} jobs: {total / 60:.1f} CPU-min, about {total / args.jobs / 60:.1f} "
          f"min on {args.jobs} workers; the first {args.first}: {first / 60:.1f} CPU-min "
          f"({100 * first / total:.0f}%), {args.first / (first / args.jobs / 60):.0f} jobs/min "
          f"against {len(stored) / (total / args.jobs / 60):.0f} for the whole study; "
          f"peak RSS {out['peak_rss_mb']:.0f} MB; rows equal to the stored ones: "
          f"{out['rows_same']}/{len(runs)}; bare SimPy loop {bare:,.0f} tasks per CPU-s")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
