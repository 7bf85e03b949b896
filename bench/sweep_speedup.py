"""Speed-up of a sweep on a process pool: ``schedsim sweep --jobs 1`` against ``--jobs N``.

Runs the same sweep (16 points of ``bench/ideal_1m.yaml`` scaled down, one replication each)
twice through the real command line, each into a fresh folder, and reports both wall times,
the speed-up, and whether the two results files hold identical rows. The wall time is the
whole command: Python's start, imports and the pool's start are in it. Usage:
``python bench/sweep_speedup.py [--tasks 200000] [--workers 2000] [--jobs 2] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GRID = ["network.worker.bandwidth=1Gbps,2.5Gbps,5Gbps,10Gbps",
        "churn.0.lifetime={dist: exponential, mean: 1h},{dist: exponential, mean: 2h},"
        "{dist: exponential, mean: 4h},{dist: exponential, mean: 8h}"]


def sweep(out: Path, jobs: int, tasks: int, workers: int) -> float:
    argv = [sys.executable, "-m", "schedsim", "sweep", str(HERE / "ideal_1m.yaml"),
            *[a for g in GRID for a in ("--grid", g)],
            "--set", f"workload.tasks={tasks}", "--set", f"cluster.pools.spot.count={workers}",
            "--replications", "1", "--jobs", str(jobs), "--out", str(out)]
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "COLUMNS": "120"})
    return time.perf_counter() - start


def rows(out: Path) -> list[dict[str, str]]:
    with (out / "results.csv").open(newline="", encoding="utf-8") as fh:
        return sorted(csv.DictReader(fh), key=lambda r: (int(r["point"]), int(r["replication"])))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=2_000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        serial, pool = Path(tmp) / "serial", Path(tmp) / "pool"
        t1 = sweep(serial, 1, args.tasks, args.workers)
        tn = sweep(pool, args.jobs, args.tasks, args.workers)
        same = rows(serial) == rows(pool)
        points = len(rows(serial))
    result = {"points": points, "tasks_per_point": args.tasks, "workers": args.workers,
              "jobs": args.jobs, "serial_s": round(t1, 2), "pool_s": round(tn, 2),
              "speedup": round(t1 / tn, 3), "identical_rows": same,
              "cpus": os.cpu_count(), "python": sys.version.split()[0]}
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
