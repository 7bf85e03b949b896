"""The RFC-at-scale pipeline on a tiny grid: report, plots, verdict table."""

from __future__ import annotations

from pathlib import Path

import pytest

from schedsim import rfc


def test_tiny_grid_writes_report_plots_and_verdicts(tmp_path: Path) -> None:
    grid = rfc.Grid(nodes=(5, 10), churn=("none", "volatile"), n=(200_000, 2_000_000_000),
                    link_gbps=(10.0,), head=("spot",), replications=3)
    rows = rfc.run_grid(grid)
    assert len(rows) == 8
    for row in rows:
        assert row["winner_throughput"] in ("workqueue", "ray", "-")
        assert row["why"]
        assert row["throughput_ratio_wq_over_ray"] > 0
    rfc.heatmaps(rows, tmp_path / "h.png")
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
    text = rfc.report(rows, "h.png", {"overall": {"ray": {
        "median_abs_error": 0.5, "p95_abs_error": 1.0, "bias": "simulation over-predicts"}}},
        quick=True)
    assert "Where the recommendation holds" in text and "How sure we are" in text
    every = text.split("## Every point")[1]
    assert every.count("\n| 5 |") + every.count("\n| 10 |") == 8
    assert "## The answer" in text and "## By scale and task size" in text
    # The counts in words are the rows' own: here every verdict is one of three outcomes.
    wins = sum(1 for r in rows if r["winner_throughput"] == "workqueue")
    assert f"Work Queue is ahead beyond the CIs at {wins} of 8 points" in text


def test_mechanisms_are_named() -> None:
    base = {"ray_failures": [], "wq_failures": [], "ray_failed_fraction": 0.0,
            "winner_throughput": "ray", "wq_binding": "manager", "ray_binding": "cores",
            "wq_wasted_core_s": 0.0, "ray_wasted_core_s": 0.0,
            "wq_throughput_tasks_per_s": 95.0, "wq_bound": 100.0,
            "ray_throughput_tasks_per_s": 150.0, "ray_bound": 1000.0}
    assert "serial manager" in rfc.mechanism(base)
    lost = dict(base, ray_failures=["Ray head node lost"], winner_throughput="-")
    assert "head-node loss" in rfc.mechanism(lost)
    retries = dict(base, ray_failed_fraction=0.1, winner_throughput="-")
    assert "max_retries" in rfc.mechanism(retries)


@pytest.mark.parametrize("churn", list(rfc.CHURN))
def test_every_churn_level_is_a_valid_scenario(churn: str) -> None:
    from schedsim.scenario import parse_scenario

    parse_scenario(rfc.scenario_data(10, churn, 200_000, 10.0, "spot", 1), "t")


def test_interrupted_grid_resumes_from_its_cache_with_the_same_rows(tmp_path: Path) -> None:
    grid = rfc.Grid(nodes=(5,), churn=("none", "volatile"), n=(200_000,), link_gbps=(10.0,),
                    head=("on_demand", "spot"), replications=2)
    cache = tmp_path / "points.jsonl"
    first = rfc.run_grid(grid, cache=cache)
    lines = cache.read_text().splitlines()
    assert len(lines) == 4
    # Killed after two points, in the middle of writing the third.
    cache.write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])
    ran: list[str] = []
    resumed = rfc.run_grid(grid, on_point=ran.append, jobs=2, cache=cache)
    assert resumed == first  # same numbers, in grid order, whatever ran in parallel
    assert len(ran) == 4  # every point reported, two of them from the cache
    assert len(rfc.load_cache(cache, 2)) == 4
    assert rfc.load_cache(cache, 3) == {}  # other replications: nothing is reused
