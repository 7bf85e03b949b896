"""Golden values: run a pinned case through the command line and compare its numbers.

A case is a scenario file, ``--set`` overrides and the platforms it runs on; its golden file
(``tests/golden/CASE.json``) holds, per platform and replication, the metrics in
:data:`PINNED` and the failure kind. Cases run through ``schedsim run`` / ``schedsim compare``
in-process (``--json`` to a temporary file), so a change of wiring anywhere between the
command line and the model is caught. Numbers compare exactly (their repr, which JSON keeps);
``scripts/golden.py`` writes and checks the files, ``tests/test_golden.py`` checks them.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from pathlib import Path
from typing import Any

from schedsim.cli import main

REPO = Path(__file__).resolve().parents[1]
GOLDEN_DIR = REPO / "tests" / "golden"

# Per replication; the derived metrics (throughput, cost per 1k, 0/1 flags) follow from these.
PINNED = ("makespan_s", "tasks_completed", "tasks_failed", "tasks_out_of_retries",
          "task_attempts", "preemptions", "nodes_launched", "wasted_core_s", "cost_usd",
          "held_utilization", "compute_utilization")

Replications = list[dict[str, Any]]  # one {metric: value, "failure_kind": ...} per replication


def replications(summary: dict[str, Any]) -> Replications:
    """The pinned numbers of one platform's JSON summary (docs/metrics.md), by replication."""
    metrics = summary["metrics"]
    reps: Replications = []
    for r in range(summary["replications"]):
        row = {name: metrics[name]["values"][r] for name in PINNED}
        row["failure_kind"] = summary["failure_kinds"][r]
        reps.append(row)
    return reps


def _cli(argv: list[str]) -> dict[str, Any]:
    """``schedsim ARGV --json FILE`` in this process; the JSON it wrote."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "summary.json"
        with contextlib.redirect_stdout(io.StringIO()) as printed:  # the tables
            rc = main([*argv, "--json", str(out)])
        if rc not in (0, 3):  # 3: a job failed or left tasks unfinished (docs/cli.md)
            raise RuntimeError(f"schedsim {' '.join(argv)} exited {rc}: {printed.getvalue()}")
        data: dict[str, Any] = json.loads(out.read_text())
    summaries = [data] if "metrics" in data else list(data.values())
    failed = any(any(s["failure_kinds"]) or any(s["metrics"]["tasks_failed"]["values"])
                 for s in summaries)
    if rc != (3 if failed else 0):
        raise RuntimeError(f"schedsim {' '.join(argv)} exited {rc} with failed={failed}")
    return data


def _sets(overrides: list[str]) -> list[str]:
    return [arg for item in overrides for arg in ("--set", item)]


def run_case(case: dict[str, Any], platform: str, jobs: int = 1) -> Replications:
    """``schedsim run SCENARIO --set ... --set platform.type=PLATFORM --jobs JOBS``."""
    argv = ["run", str(REPO / case["scenario"]), *_sets(case["overrides"]),
            "--set", f"platform.type={platform}", "--jobs", str(jobs)]
    return replications(_cli(argv))


def compare_case(case: dict[str, Any], platforms: list[str],
                 jobs: int = 1) -> dict[str, Replications]:
    """``schedsim compare SCENARIO --set ... --platform P ... --jobs JOBS``."""
    argv = ["compare", str(REPO / case["scenario"]), *_sets(case["overrides"]),
            *(arg for p in platforms for arg in ("--platform", p)), "--jobs", str(jobs)]
    return {p: replications(summary) for p, summary in _cli(argv).items()}


def differences(golden: Replications, now: Replications, where: str) -> list[str]:
    """One line per number that is not exactly (by repr) its golden value."""
    if len(golden) != len(now):
        return [f"{where}: {len(now)} replications, golden {len(golden)}"]
    lines = []
    for r, (old, new) in enumerate(zip(golden, now, strict=True)):
        for key in sorted(set(old) | set(new)):
            a, b = old.get(key), new.get(key)
            if repr(a) == repr(b):
                continue
            rel = ""
            if isinstance(a, float) and isinstance(b, float) and a != 0 and math.isfinite(b):
                rel = f" (relative {abs(b - a) / abs(a):.3g})"
            lines.append(f"{where} replication {r} {key}: golden {a!r}, now {b!r}{rel}")
    return lines


def golden_path(name: str) -> Path:
    return GOLDEN_DIR / f"{name}.json"


def load_cases() -> dict[str, dict[str, Any]]:
    """Every golden file, by case name."""
    cases = {}
    for path in sorted(GOLDEN_DIR.glob("*.json")):
        data: dict[str, Any] = json.loads(path.read_text())
        cases[data["case"]] = data
    return cases
