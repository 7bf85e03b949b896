"""How far each run of the shipped RFC study stays from the no-progress watchdog.

For every run in ``docs/rfc-runs.csv`` (3,000 runs), builds its model, draws its first block
of task times (the window only grows with later blocks) and compares half the stall window
(``schedsim/watch.py``: a timer is set only after no task finished for that long) with the
run's makespan. A run whose makespan is shorter than half its window can never set the timer,
so its results cannot depend on the watchdog. Prints the count of runs where it could, and the
smallest margin. Usage: ``python bench/stall_margin.py [RUNS_CSV] [BASE_YAML]``.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from schedsim.loading import load_scenario
from schedsim.simulation import Simulation

DOCS = Path(__file__).resolve().parent.parent / "docs"


def main() -> int:
    runs = Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS / "rfc-runs.csv"
    base = Path(sys.argv[2]) if len(sys.argv) > 2 else DOCS / "rfc-base.yaml"
    rows = list(csv.DictReader(runs.open(encoding="utf-8")))
    reachable = 0
    margin = float("inf")
    for row in rows:
        scenario = load_scenario(base, json.loads(row["overrides"]))
        sim = Simulation(scenario, int(row["replication"]), keep_records=False)
        sim.workload.take()  # draws the first block of task times
        half = sim.watch.window() / 2
        makespan = float(row["makespan_s"])
        reachable += makespan >= half
        margin = min(margin, half / makespan)
    print(f"{len(rows)} runs; {reachable} could set the watchdog's timer; half the window is "
          f"at least {margin:.3g} x the makespan")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
