"""The cost of watching a run (schedsim/watch.py): the engine's per-bucket poll, measured.

Runs the same replication with the poll detached (``env.on_bucket = None``, as before the
watch existed) and attached, with and without a progress callback, alternately in one process
and timed by CPU time (less sensitive than wall time to a busy host); counts the polls and times
one poll alone. Usage: ``python bench/watch_cost.py [SCENARIO] [--set K=V ...] [--rounds N]``
(default ``bench/ideal_1m.yaml`` at 200,000 tasks on 2,000 workers).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from schedsim.loading import load_scenario
from schedsim.simulation import Simulation

HERE = Path(__file__).resolve().parent
DEFAULT = ["workload.tasks=200000", "cluster.pools.spot.count=2000"]


def once(scenario: object, mode: str) -> tuple[float, int, int]:
    """CPU seconds of one replication, its events and the polls it made."""
    ticks = [0]
    progress = (lambda _d, _n: ticks.__setitem__(0, ticks[0] + 1)) if mode == "progress" \
        else None
    sim = Simulation(scenario, 0, keep_records=False, progress=progress)  # type: ignore[arg-type]
    polls = [0]
    poll = sim.watch.poll

    def counted() -> None:
        polls[0] += 1
        poll()

    sim.env.on_bucket = None if mode == "detached" else counted
    start = time.process_time()
    result = sim.run()
    return time.process_time() - start, result.events, polls[0]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", nargs="?", default=str(HERE / "ideal_1m.yaml"))
    ap.add_argument("--set", dest="overrides", action="append", default=None)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    scenario = load_scenario(args.scenario, args.overrides if args.overrides else DEFAULT)
    modes = ("detached", "watched", "progress")
    times: dict[str, list[float]] = {m: [] for m in modes}
    polls = events = 0
    for _ in range(args.rounds):
        for mode in modes:
            cpu, events, n = once(scenario, mode)
            times[mode].append(cpu)
            polls = max(polls, n)
    sim = Simulation(scenario, 0, keep_records=False, progress=lambda _d, _n: None)
    sim.watch.interval = 0.25
    start = time.perf_counter()
    for _ in range(100_000):
        sim.watch.poll()
    per_poll = (time.perf_counter() - start) / 100_000
    out = {"scenario": scenario.name, "platform": scenario.platform.type, "events": events,
           "polls": polls, "events_per_poll": round(events / max(polls, 1)),
           "poll_s": per_poll, "cpu_s": times,
           "watched_over_detached": [round(w / d, 4) for w, d in
                                     zip(times["watched"], times["detached"], strict=True)],
           "progress_over_detached": [round(p / d, 4) for p, d in
                                      zip(times["progress"], times["detached"], strict=True)],
           "polls_share_of_cpu": per_poll * polls / min(times["detached"])}
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
