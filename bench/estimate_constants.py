"""Measure the constants of schedsim/estimate.py: memory per node, per slot, per attempt record,
per Ray pending task, per sweep job; events per task and per node lost; time per event.

Each measurement is one replication of ``bench/ideal_1m.yaml`` (network, churn) scaled down,
run in a fresh process so that its peak RSS is its own; memory constants are differences of
peak RSS between two sizes (the interpreter's own memory cancels). Prints the constants as
``NAME = value`` lines next to the values schedsim/estimate.py holds, and with ``--json FILE``
keeps the raw runs. Usage: ``python bench/estimate_constants.py [--part memory|time]
[--platforms ideal,workqueue,ray] [--json FILE]`` (memory: about three minutes; time, which
wants a quiet machine: about five).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCENARIO = HERE / "ideal_1m.yaml"
PLATFORMS = ("ideal", "workqueue", "ray")
SHORT_LIFE = "{dist: exponential, mean: 10min}"

# One replication in a child process: peak RSS, wall time, events and the metrics.
CHILD = r"""
import json, resource, sys, time
from schedsim.loading import load_scenario
from schedsim.simulation import Simulation
scenario = load_scenario(sys.argv[1], json.loads(sys.argv[2]))
keep = sys.argv[3] == "1"
start = time.perf_counter()
result = Simulation(scenario, 0, keep_records=keep).run()
wall = time.perf_counter() - start
print(json.dumps({"rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "wall": wall, "events": result.events, "failure": result.failure,
                  "attempts": result.metrics["task_attempts"],
                  "preemptions": result.metrics["preemptions"]}))
"""

JOBS = r"""
import resource, sys
from schedsim.studies import sweep
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
jobs = sweep.plan([("workload.tasks", ["1", "2"])], int(sys.argv[1]), ("seed=1",))
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 / len(jobs))
"""

BASE = r"""
import resource
import schedsim.runner, schedsim.studies.sweep, schedsim.simulation
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def child(code: str, *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True,
                         text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    return out.stdout.strip().splitlines()[-1]


def run(overrides: list[str], keep: bool = False) -> dict[str, Any]:
    row: dict[str, Any] = json.loads(child(CHILD, str(SCENARIO), json.dumps(overrides),
                                           "1" if keep else "0"))
    row["overrides"] = overrides
    return row


def scaled(platform: str, nodes: int, cores: int, tasks: int, *extra: str) -> list[str]:
    return [f"platform.type={platform}", f"cluster.pools.spot.count={nodes}",
            f"cluster.pools.spot.cores={cores}", f"workload.tasks={tasks}", *extra]


def memory(found: dict[str, Any], raw: dict[str, Any]) -> None:
    """Bytes per node and per slot, per attempt record, per Ray pending task, per sweep job,
    and of a worker process: differences of peak RSS (and the events a node adds)."""
    found["NODE_BYTES"], found["SLOT_BYTES"], found["EVENTS_PER_NODE"] = {}, {}, {}
    for p in PLATFORMS:
        # Two tasks per slot: the peak is every node booted and every slot busy.
        small, big = run(scaled(p, 10_000, 1, 20_000)), run(scaled(p, 50_000, 1, 100_000))
        small8, big8 = run(scaled(p, 1_250, 8, 20_000)), run(scaled(p, 6_250, 8, 100_000))
        per_core1 = (big["rss"] - small["rss"]) / 40_000  # a node and one slot
        per_node8 = (big8["rss"] - small8["rss"]) / 5_000  # a node and eight slots
        slot = max(0.0, (per_node8 - per_core1) / 7)
        found["NODE_BYTES"][p] = round(per_core1 - slot)
        found["SLOT_BYTES"][p] = round(slot)
        # The same cores and tasks on 8x fewer nodes: the events a node adds (boot, ready,
        # its lifetime, the platform's connection).
        found["EVENTS_PER_NODE"][p] = round((small["events"] - small8["events"]) /
                                            (10_000 - 1_250), 1)
        raw[p] = {"small": small, "big": big, "small8": small8, "big8": big8}
        print(p, found["NODE_BYTES"][p], found["SLOT_BYTES"][p], flush=True)
    # Records: 1M attempts kept or not.
    kept = run(scaled("ideal", 10_000, 1, 1_000_000), keep=True)
    dropped = run(scaled("ideal", 10_000, 1, 1_000_000))
    found["RECORD_BYTES"] = round((kept["rss"] - dropped["rss"]) / kept["attempts"], 1)
    # Ray's pending tasks: every task submitted at once, or 10k at a time.
    flood = run(scaled("ray", 10_000, 1, 1_000_000))
    held = run(scaled("ray", 10_000, 1, 1_000_000, "platform.ray.max_pending=10000"))
    found["PENDING_TASK_BYTES"] = round((flood["rss"] - held["rss"]) / (1_000_000 - 10_000))
    found["JOB_BYTES"] = round(float(child(JOBS, "1000000")))
    found["PROCESS_BYTES"] = float(f"{float(child(BASE)):.3g}")
    raw.update({"kept": kept, "dropped": dropped, "flood": flood, "held": held})


def timing(found: dict[str, Any], raw: dict[str, Any], platforms: list[str]) -> None:
    """Events per task (with and without a network) and the time per event, 1M tasks on
    REFERENCE_NODES (10k) nodes as bench/matrix.py's 1m scale; events per node lost; the
    slowdown per decade of nodes. Time depends on the machine's load: run it when quiet."""
    found["EVENTS_PER_TASK"], found["SECONDS_PER_EVENT"] = {}, {}
    for p in platforms:
        net = run(scaled(p, 10_000, 1, 1_000_000))
        bare = run(scaled(p, 10_000, 1, 1_000_000, "network=null"))
        found["EVENTS_PER_TASK"][p] = (round(bare["events"] / 1e6, 2),
                                       round(net["events"] / 1e6, 2))
        found["SECONDS_PER_EVENT"][p] = float(f"{net['wall'] / net['events']:.3g}")
        raw[f"{p}-time"] = {"net": net, "bare": bare}
        print(p, found["EVENTS_PER_TASK"][p], found["SECONDS_PER_EVENT"][p], flush=True)
    if "ideal" not in platforms:
        return
    # A node lost: the same run with nodes living 10 minutes instead of 2 hours.
    net = raw["ideal-time"]["net"]
    churny = run(scaled("ideal", 10_000, 1, 1_000_000, f"churn.0.lifetime={SHORT_LIFE}"))
    found["EVENTS_PER_LOSS"] = round((churny["events"] - net["events"]) /
                                     (churny["preemptions"] - net["preemptions"]), 1)
    # The time per event grows with the nodes: 10x the nodes and tasks.
    wide = run(scaled("ideal", 100_000, 1, 10_000_000))
    found["SLOWDOWN_PER_DECADE"] = round((wide["wall"] / wide["events"]) /
                                         (net["wall"] / net["events"]), 2)
    raw.update({"churny": churny, "wide": wide})


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path)
    ap.add_argument("--part", choices=("all", "memory", "time"), default="all")
    ap.add_argument("--platforms", default=",".join(PLATFORMS),
                    help="the platforms whose time to measure (ideal adds the churn and "
                         "the 10M-task runs)")
    args = ap.parse_args()
    raw: dict[str, Any] = {}
    found: dict[str, Any] = {}
    if args.part in ("all", "memory"):
        memory(found, raw)
    if args.part in ("all", "time"):
        timing(found, raw, args.platforms.split(","))
    from schedsim import estimate  # what the module holds now, to compare

    for name, value in found.items():
        print(f"{name} = {value}  # estimate.py: {getattr(estimate, name)}")
    if args.json:
        args.json.write_text(json.dumps({"constants": found, "runs": raw}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
