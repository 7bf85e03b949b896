"""Benchmark of the simulation core: one replication of a large scenario, timed.

Reports wall time, simulated tasks per second, SimPy events per second and peak RSS, next to a
bare SimPy loop (three timeouts per task, a lazy task counter) measured in the same process as
the floor; also both by CPU time (``process_time``), which other jobs on a shared host disturb
far less than wall time. Usage:
``python bench/bench_core.py [SCENARIO] [--set KEY=VALUE ...] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import simpy

from schedsim.loading import load_scenario
from schedsim.simulation import Simulation

HERE = Path(__file__).resolve().parent


def bare_simpy(tasks: int, workers: int) -> tuple[float, float]:
    """Tasks/s of a bare SimPy loop (workers take from a counter, three timeouts per task) by
    wall time and by CPU time."""
    env = simpy.Environment()
    left = [tasks]

    def worker(env: simpy.Environment):  # type: ignore[no-untyped-def]
        while left[0] > 0:
            left[0] -= 1
            yield env.timeout(0.001)
            yield env.timeout(1.0)
            yield env.timeout(0.001)

    for _ in range(workers):
        env.process(worker(env))
    start, cpu = time.perf_counter(), time.process_time()
    env.run()
    return tasks / (time.perf_counter() - start), tasks / (time.process_time() - cpu)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", nargs="?", default=str(HERE / "ideal_1m.yaml"))
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    scenario = load_scenario(args.scenario, args.overrides)
    tasks = scenario.workload.tasks
    workers = sum(p.count for p in scenario.cluster.pools)
    floor, floor_cpu = bare_simpy(min(tasks, 1_000_000), workers)
    start, cpu_start = time.perf_counter(), time.process_time()
    result = Simulation(scenario, 0, keep_records=False).run()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "scenario": scenario.name, "platform": scenario.platform.type, "tasks": tasks,
        "workers": workers, "network": scenario.network is not None,
        "wall_s": round(wall, 2), "tasks_per_s": round(tasks / wall),
        "events": result.events, "events_per_s": round(result.events / wall),
        "peak_rss_mb": round(rss_mb), "bare_simpy_tasks_per_s": round(floor),
        "ratio_to_bare": round(tasks / wall / floor, 3),
        "cpu_s": round(cpu, 3), "cpu_us_per_task": round(cpu / tasks * 1e6, 3),
        "bare_cpu_us_per_task": round(1e6 / floor_cpu, 3),
        "cpu_ratio_to_bare": round(tasks / cpu / floor_cpu, 3),
        "tasks_completed": result.metrics["tasks_completed"],
        "preemptions": result.metrics["preemptions"],
        "failure": result.failure,
        "python": sys.version.split()[0],
    }
    print(json.dumps(out))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
