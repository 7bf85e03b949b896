"""The benchmark matrix of issue 6: three scales by three platforms, one process per run.

Each run is ``bench/bench_core.py`` on ``bench/ideal_1m.yaml`` scaled to (tasks, workers), in
a fresh process so that its peak RSS is its own. Prints a markdown table and writes the rows
as JSON. Usage: ``python bench/matrix.py [--scales 100k,1m,10m] [--platforms ideal,workqueue,ray]
[--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCALES = {"100k": (100_000, 1_000), "1m": (1_000_000, 10_000), "10m": (10_000_000, 100_000)}
# Ray's driver runs out of memory holding 10M pending tasks (as the real one would): at 10M
# it submits with backpressure, as Ray's pattern docs advise.
EXTRA = {("ray", "10m"): ["--set", "platform.ray.max_pending=200000"]}


def run(platform: str, tasks: int, workers: int, extra: list[str]) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "row.json"
        subprocess.run([sys.executable, str(HERE / "bench_core.py"),
                        "--set", f"platform.type={platform}",
                        "--set", f"workload.tasks={tasks}",
                        "--set", f"cluster.pools.spot.count={workers}",
                        *extra, "--json", str(out)], check=True, stdout=subprocess.DEVNULL)
        row: dict[str, object] = json.loads(out.read_text())
    return row


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", default="100k,1m,10m")
    ap.add_argument("--platforms", default="ideal,workqueue,ray")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = []
    print("| platform | tasks | workers | wall (s) | tasks/s | events/s | peak RSS (MB) "
          "| bare SimPy tasks/s | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for scale in args.scales.split(","):
        tasks, workers = SCALES[scale]
        for platform in args.platforms.split(","):
            r = run(platform, tasks, workers, EXTRA.get((platform, scale), []))
            rows.append(r)
            print(f"| {platform} | {tasks:,} | {workers:,} | {r['wall_s']} | "
                  f"{r['tasks_per_s']:,} | {r['events_per_s']:,} | {r['peak_rss_mb']} | "
                  f"{r['bare_simpy_tasks_per_s']:,} | {r['ratio_to_bare']} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
