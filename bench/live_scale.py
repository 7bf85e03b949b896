"""Emulated-scale live run, measured: worker start-up, memory per slot, limits, and the simulator.

Runs one live replication of a waiting-task scenario (``workload.task: wait``) while a sampler
thread reads, every half second, the proportional set size (PSS, ``/proc/PID/smaps_rollup``)
of every process of the run: Work Queue workers with their shells and tasks, or Ray's
workers, raylets and agents. Then runs ``schedsim run`` of the same scenario (Work Queue or
Ray model on one shared host, as the live run is) for the makespan beside the live one.
Reports, as one JSON object: the host's limits (RLIMIT_NOFILE, MemAvailable, the slot limit
:mod:`schedsim.live.limits` computes), the time from time 0 until N workers had connected
(Work Queue) or the raylets' start-up (Ray), the peak PSS per slot and per node, and both
makespans. Usage::

    python bench/live_scale.py SCENARIO --platform workqueue|ray [--set K=V ...] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from schedsim.live import run_live
from schedsim.live.limits import mem_available, open_files_limit
from schedsim.live.processes import command_name
from schedsim.live.run import host_slot_limit
from schedsim.loading import load_scenario
from schedsim.runner import run_replication

RAY_NODE_COMMS = ("raylet", "ray::DashboardA", "ray::RuntimeEnv")


def pss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def threads(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


class Sampler(threading.Thread):
    """Peak PSS by kind of process, over processes whose command line names ``marker``."""

    def __init__(self, markers: list[str]) -> None:
        super().__init__(daemon=True)
        self.markers = markers
        self.stop = threading.Event()
        self.peak: dict[str, dict[str, float]] = {}
        self.peak_fds: dict[str, int] = {}
        self.peak_threads: dict[str, int] = {}  # the most threads one process of a kind had

    def sample(self) -> None:
        by_kind: dict[str, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                env = Path(f"/proc/{pid}/environ").read_bytes()
            except OSError:
                continue
            if not any(m in cmd for m in self.markers) and not any(
                    m.encode() in env for m in self.markers):
                continue
            by_kind.setdefault(command_name(pid) or "?", []).append(pid)
        for kind, pids in by_kind.items():
            sizes = [pss_bytes(p) for p in pids]
            total = float(sum(sizes))
            peak = self.peak.setdefault(kind, {"count": 0, "total_pss_b": 0.0})
            if total > peak["total_pss_b"]:
                peak.update(count=len(pids), total_pss_b=total, mean_pss_b=total / len(pids))
            fds = max(open_fds(p) for p in pids)
            self.peak_fds[kind] = max(self.peak_fds.get(kind, 0), fds)
            most = max(threads(p) for p in pids)
            self.peak_threads[kind] = max(self.peak_threads.get(kind, 0), most)

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(0.5)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", type=Path)
    ap.add_argument("--platform", required=True, choices=("workqueue", "ray"))
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--sim-set", dest="sim_overrides", action="append", default=[],
                    help="more overrides for the simulator's run only (K=V)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args(argv)
    scenario = load_scenario(args.scenario, args.overrides)
    keep = Path(os.environ.get("TMPDIR", "/tmp")) / f"live-scale-{os.getpid()}"
    # Work Queue's processes name the work folder; Ray's head names the run's Ray folder, and
    # a Ray node's processes (which rename themselves) inherit its SCHEDSIM_RAYLET.
    sampler = Sampler([str(keep), f"schedsim-ray-{os.getpid()}-", "SCHEDSIM_RAYLET="])
    sampler.start()
    started = time.time()
    result = run_live(scenario, args.platform, 0, args.timeout, keep_dir=keep)
    wall = time.time() - started
    sampler.stop.set()
    sampler.join()
    # Replication 0 of the simulator draws the same task times and node losses.
    sim_scenario = load_scenario(args.scenario, args.overrides + args.sim_overrides)
    sim = run_replication(sim_scenario.with_platform(args.platform), 0, False)
    limit = host_slot_limit(scenario, args.platform)
    details = result.details
    out: dict[str, Any] = {
        "scenario": scenario.name, "platform": args.platform,
        "slots": scenario.cluster.initial_cores,
        "host": {"cpus": os.cpu_count(), "rlimit_nofile": open_files_limit(),
                 "mem_available_gib": round(mem_available() / 1024**3, 2),
                 "slot_limit": limit.slots, "slot_limit_why": limit.why},
        "wall_s": wall, "t0_after_s": result.t0_epoch - started,
        "live_makespan_s": result.metrics["makespan_s"],
        "sim_makespan_s": sim.metrics["makespan_s"], "sim_overrides": args.sim_overrides,
        "tasks_completed": result.metrics["tasks_completed"],
        "attempts": len(result.attempts),
        "pss_by_process": sampler.peak, "peak_fds_by_process": sampler.peak_fds,
        "peak_threads_by_process": sampler.peak_threads,
    }
    if args.platform == "workqueue":
        joins = details["worker_connections_s"]
        out["workers_found"] = details["workers_found"]
        out["workers_joined"] = len(joins)
        out["joined_by_s"] = {str(k): joins[k - 1] for k in (1, 50, 100, 150, 200, 250)
                              if len(joins) >= k}
    else:
        out["init_s"] = details.get("init_s")
        out["raylets"] = [{k: r[k] for k in ("raylet", "start_s", "up_s", "lost_s")}
                          for r in details["raylets"]]
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
