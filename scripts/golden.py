"""Check or rewrite the golden values of tests/test_golden.py (docs/testing.md).

Usage: ``python scripts/golden.py [--check | --write] [--case NAME ...] [--platform NAME ...]``.
``--check`` (the default) runs the cases and lists every number that moved; ``--write`` runs
them and writes ``tests/golden/CASE.json``, keeping the entries it did not run. Rewrite only
for a deliberate model change, and say in the commit which numbers moved and why.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the helpers in tests/, and this checkout's schedsim

from schedsim.platforms import PLATFORMS  # noqa: E402
from tests.golden_run import differences, golden_path, load_cases, run_case  # noqa: E402

ALL = list(PLATFORMS)
# bench/ideal_1m.yaml (1M tasks on 10k workers, 2 h lifetimes, 120 s notice) at 1:50 scale,
# the same 100 tasks per worker; the failure cases shorten lifetimes and drop the notice.
BENCH_SMALL = ["workload.tasks=20000", "cluster.pools.spot.count=200", "replications=2"]
ABRUPT = ["workload.tasks=5000", "cluster.pools.spot.count=100", "replications=3",
          "churn.0.lifetime={dist: exponential, mean: 10min}", "churn.0.notice=0s"]

CASES: list[dict[str, Any]] = [
    {"case": "contract-example", "scenario": "scenarios/contract-example.yaml",
     "overrides": [], "platforms": ALL, "note": "as shipped"},
    {"case": "onprem", "scenario": "scenarios/onprem.yaml",
     "overrides": ["workload.tasks=4000", "cluster.pools.slurm.count=5"], "platforms": ALL,
     "note": "4,000 tasks on 5 pilots (80 cores): pilots reach the 4 h wall-time limit on "
             "every platform"},
    {"case": "rfc-local", "scenario": "scenarios/rfc-local.yaml",
     "overrides": [], "platforms": ALL, "note": "as shipped"},
    {"case": "spot", "scenario": "scenarios/spot.yaml",
     "overrides": ["workload.tasks=10000", "cluster.pools.spot.count=50",
                   "platform.ray.max_pending=2000"], "platforms": ALL,
     "note": "10,000 tasks on 50 nodes (400 cores); Ray's max_pending scaled with the tasks "
             "(a fifth of them, as shipped) so backpressure binds"},
    {"case": "bench-churn", "scenario": "bench/ideal_1m.yaml",
     "overrides": BENCH_SMALL, "platforms": ALL,
     "note": "the benchmark at 1:50 (20,000 tasks on 200 workers): preemptions with notice, "
             "requeues, network transfers"},
    {"case": "bench-abrupt-retries", "scenario": "bench/ideal_1m.yaml",
     "overrides": [*ABRUPT, "platform.workqueue.max_retries=2", "platform.ray.max_retries=1"],
     "platforms": ALL,
     "note": "10 min lifetimes, no notice, small retry budgets: tasks out of retries on Work "
             "Queue and Ray"},
    {"case": "bench-manager-on-spot", "scenario": "bench/ideal_1m.yaml",
     "overrides": [*ABRUPT, "platform.workqueue.manager={pool: spot}",
                   "platform.ray.head={pool: spot}"],
     "platforms": ["workqueue", "ray"],
     "note": "the manager / head on a spot node: the job fails when it is lost"},
]


def definition(case: dict[str, Any]) -> dict[str, Any]:
    return {k: case[k] for k in ("case", "scenario", "overrides", "note")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="compare with the files (default)")
    mode.add_argument("--write", action="store_true", help="rewrite the files")
    ap.add_argument("--case", action="append", choices=[c["case"] for c in CASES])
    ap.add_argument("--platform", action="append", choices=ALL)
    args = ap.parse_args()
    stored = load_cases()
    problems: list[str] = []
    for case in CASES:
        name = case["case"]
        if args.case and name not in args.case:
            continue
        old = stored.get(name)
        if old is not None and definition(old) != definition(case):
            problems.append(f"{name}: scenario, overrides or note differ from the file")
        new = {**definition(case), "platforms": dict((old or {}).get("platforms", {}))}
        for platform in case["platforms"]:
            if args.platform and platform not in args.platform:
                continue
            start = time.perf_counter()
            reps = run_case(case, platform)
            print(f"{name} on {platform}: {time.perf_counter() - start:.2f} s", flush=True)
            golden = (old or {}).get("platforms", {}).get(platform)
            if golden is None:
                problems.append(f"{name} on {platform}: no golden values yet")
            else:
                problems += differences(golden, reps, f"{name} on {platform}")
            new["platforms"][platform] = reps
        if args.write:
            golden_path(name).write_text(json.dumps(new, indent=2) + "\n")
    for line in problems:
        print(line)
    if args.write:
        print(f"wrote tests/golden/: {len(problems)} change(s) listed above")
        return 0
    print("golden values unchanged" if not problems else f"{len(problems)} difference(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
