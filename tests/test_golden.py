"""Golden values: the simulator's numbers, per replication, for every shipped scenario and
benchmark case on every platform (issue 17: pinned before the refactor, then kept).

Each case of tests/golden/*.json runs through ``schedsim run`` (and one through ``schedsim
compare --jobs 2``) and every pinned number must equal its golden value exactly:
floats are compared by repr, which the JSON keeps, so even a last-bit change fails. A change of
the model is regenerated on purpose with ``python scripts/golden.py --write`` (docs/testing.md).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from schedsim.platforms import PLATFORMS

from .golden_run import REPO, compare_case, differences, load_cases, run_case

CASES = load_cases()
RUNS = [(name, platform) for name, case in CASES.items() for platform in case["platforms"]]


def check(golden: list[dict[str, Any]], now: list[dict[str, Any]], where: str) -> None:
    lines = differences(golden, now, where)
    assert not lines, "numbers moved (python scripts/golden.py --check):\n" + "\n".join(lines)


@pytest.mark.parametrize(("name", "platform"), RUNS, ids=[f"{n}-{p}" for n, p in RUNS])
def test_golden_values(name: str, platform: str) -> None:
    case = CASES[name]
    check(case["platforms"][platform], run_case(case, platform), f"{name} on {platform}")


def test_every_shipped_scenario_is_pinned_on_every_platform() -> None:
    shipped = {f"scenarios/{p.name}" for p in (REPO / "scenarios").glob("*.yaml")}
    covered = {case["scenario"] for case in CASES.values()
               if set(case["platforms"]) == set(PLATFORMS)}
    assert shipped and shipped <= covered, f"not pinned on {sorted(PLATFORMS)}: " \
        f"{sorted(shipped - covered)} (add them to scripts/golden.py, then --write)"


def test_a_churny_benchmark_point_is_pinned_on_every_platform() -> None:
    """Churn that loses attempts, so the loss and requeue paths are pinned too (the ideal
    platform drains a node in the benchmark's 120 s notice; it loses attempts without one)."""
    case = CASES["bench-churn"]
    assert case["scenario"].startswith("bench/") and set(case["platforms"]) == set(PLATFORMS)
    for platform, reps in case["platforms"].items():
        assert all(rep["preemptions"] > 0 for rep in reps), platform
    for platform in PLATFORMS:
        reps = [*CASES["bench-churn"]["platforms"][platform],
                *CASES["bench-abrupt-retries"]["platforms"][platform]]
        assert any(rep["task_attempts"] > rep["tasks_completed"] for rep in reps), platform


def test_failure_paths_are_pinned() -> None:
    """Tasks out of retries and a lost manager / head appear in the golden values."""
    retries = CASES["bench-abrupt-retries"]["platforms"]
    assert all(any(r["tasks_out_of_retries"] > 0 for r in retries[p]) for p in ("workqueue", "ray"))
    lost = CASES["bench-manager-on-spot"]["platforms"]
    assert all(r["failure_kind"] == "manager_lost" for p in lost for r in lost[p])


def test_compare_in_two_processes_gives_the_golden_values() -> None:
    """``schedsim compare --jobs 2``: platforms switched its own way (with_platform), the
    replications in one process pool, the same numbers as the serial runs pinned."""
    case = CASES["spot"]
    for platform, reps in compare_case(case, list(PLATFORMS), jobs=2).items():
        check(case["platforms"][platform], reps, f"compare --jobs 2: spot on {platform}")


def test_one_changed_bit_is_a_difference() -> None:
    golden = CASES["spot"]["platforms"]["workqueue"]
    moved = [dict(rep) for rep in golden]
    moved[1]["makespan_s"] = math.nextafter(moved[1]["makespan_s"], math.inf)  # one ulp
    moved[2]["failure_kind"] = "stalled"
    lines = differences(golden, moved, "spot")
    assert len(lines) == 2 and "replication 1 makespan_s" in lines[0]
    assert "replication 2 failure_kind" in lines[1]
    assert differences(golden, golden[:2], "spot") == ["spot: 2 replications, golden 3"]
