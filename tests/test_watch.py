"""Watching a replication: progress ticks within it, and a job that cannot progress ends with
its own failure kind, quickly, without touching runs that complete."""

from __future__ import annotations

import time
from typing import Any

import pytest

from schedsim import watch
from schedsim.cli import main
from schedsim.runner import run_scenario
from schedsim.simulation import Simulation

from .conftest import make


def _hopeless(platform: str = "ideal", tasks: int = 100) -> dict[str, Any]:
    """Every task (10 h) is longer than any node lives (1 h): no attempt can ever finish."""
    return {"platform": {"type": platform}, "workload": {"tasks": tasks, "duration": "10h"},
            "cluster": {"pools": [{"name": "p", "count": 5, "market": "spot"}]},
            "churn": [{"pool": "p", "max_lifetime": "1h", "notice": "0s"}]}


def test_progress_ticks_arrive_within_one_replication(monkeypatch: Any) -> None:
    monkeypatch.setattr(watch, "PROGRESS_INTERVAL_S", 0.0)  # a tick at every poll
    ticks: list[tuple[int, int, int]] = []
    summary = run_scenario(make({"replications": 1, "workload": {
        "tasks": 20_000, "duration": {"dist": "exponential", "mean": "1s"}}}),
        on_progress=lambda r, done, total: ticks.append((r, done, total)))
    assert summary.data["metrics"]["tasks_completed"]["mean"] == 20_000
    within = [t for t in ticks if 0 < t[1] < t[2]]
    assert len(within) > 1  # the bar moved while the replication ran
    assert ticks[-1] == (0, 20_000, 20_000)
    assert [t[1] for t in ticks] == sorted(t[1] for t in ticks)


def test_progress_is_rate_limited_by_wall_time() -> None:
    ticks: list[int] = []
    Simulation(make({"workload": {"tasks": 5_000, "duration": "1s"}}),
               progress=lambda done, _n: ticks.append(done), progress_interval=3600.0).run()
    assert ticks == [0, 5_000]  # the first poll, then the final count


@pytest.mark.parametrize("platform", ["ideal", "workqueue", "ray"])
def test_a_job_that_cannot_progress_ends_quickly_with_its_own_kind(platform: str) -> None:
    data = _hopeless(platform)
    if platform == "ray":
        data["platform"]["ray"] = {"max_retries": -1}  # else its tasks run out of retries
    start = time.perf_counter()
    result = Simulation(make(data, drop=("churn",))).run()
    assert time.perf_counter() - start < 30  # the horizon would be 1000 x 200 h + a week
    assert result.failure_kind == "no_progress"
    assert result.failure is not None and "\n" not in result.failure
    assert result.failure.startswith("no progress: no task finished in")
    assert result.metrics["job_failed"] == 1 and result.metrics["job_hit_horizon"] == 0
    assert result.metrics["tasks_completed"] == 0 and result.metrics["tasks_failed"] == 100
    # It ended one stall window after the last (here: no) progress, not at the horizon.
    assert result.metrics["makespan_s"] < 1e8


def test_the_stall_window_does_not_grow_with_the_bag() -> None:
    small = Simulation(make(_hopeless(tasks=100), drop=("churn",))).run()
    big = Simulation(make(_hopeless(tasks=100_000), drop=("churn",))).run()
    assert small.failure_kind == big.failure_kind == "no_progress"
    assert small.metrics["makespan_s"] == big.metrics["makespan_s"]


def test_nodes_that_die_while_booting_are_no_progress() -> None:
    data = _hopeless(tasks=100_000)  # a horizon (1000 x the bound + a week) of 240 days
    data["workload"]["duration"] = "1s"
    data["cluster"]["pools"][0]["boot_time"] = "2h"  # reclaimed before they are ready
    data["churn"][0] = {"pool": "p", "notice": "0s",
                        "zone_reclaims": {"mean_interval": "10min", "fraction": 1.0}}
    result = Simulation(make(data, drop=("churn",))).run()
    assert result.failure_kind == "no_progress"


def test_the_summary_gives_the_reason_in_one_line(tmp_path: Any, capsys: Any) -> None:
    import json

    import yaml

    path = tmp_path / "hopeless.yaml"
    path.write_text(yaml.safe_dump({"name": "hopeless", **_hopeless()}))
    out = tmp_path / "summary.json"
    assert main(["run", str(path), "--json", str(out)]) == 3  # the job failed (docs/cli.md)
    data = json.loads(out.read_text())
    assert data["failure_kinds"] == ["no_progress"]
    (reason,) = data["failures"]
    assert reason.startswith("no progress:") and "\n" not in reason
    assert "no progress:" in capsys.readouterr().out


def _slow(platform: str) -> dict[str, Any]:
    """Tasks of 20 minutes on three nodes that live 30 minutes: slow, but it completes."""
    return {"platform": {"type": platform, "ray": {"max_retries": -1}},
            "workload": {"tasks": 300, "duration": {"dist": "lognormal", "mean": "20min",
                                                    "cv": 0.5}},
            "cluster": {"pools": [{"name": "p", "count": 3, "market": "spot",
                                   "boot_time": "2min"}]},
            "churn": [{"pool": "p", "lifetime": {"dist": "exponential", "mean": "30min"},
                       "notice": "0s", "replace_delay": "1min"}]}


@pytest.mark.parametrize("platform", ["ideal", "workqueue", "ray"])
def test_runs_that_complete_are_unchanged(platform: str, monkeypatch: Any) -> None:
    """Slow churn-heavy runs that complete: the same metrics and events with the watchdog as
    without it (a window that never ends)."""
    data = _slow(platform)
    watched = Simulation(make(data, drop=("churn",))).run()
    monkeypatch.setattr(watch, "STALL_WINDOW_FACTOR", float("inf"))
    unwatched = Simulation(make(data, drop=("churn",))).run()
    assert watched.failure is None and watched.metrics["bag_completed"] == 1
    assert watched.metrics == unwatched.metrics
    assert watched.events == unwatched.events


def test_a_timer_set_for_a_stall_that_did_not_come_changes_nothing(monkeypatch: Any) -> None:
    """With a window as short as one task's time, gaps reach half of it and timers are set;
    completions come before they expire, and the run's metrics stay the same."""
    monkeypatch.setattr(watch, "STALL_WINDOW_FACTOR", float("inf"))  # never set a timer
    unwatched = Simulation(make(_slow("ideal"), drop=("churn",))).run()
    monkeypatch.setattr(watch, "STALL_WINDOW_FACTOR", 1.0)
    watched = Simulation(make(_slow("ideal"), drop=("churn",))).run()
    assert watched.events > unwatched.events  # timers were set ...
    assert watched.failure is None and watched.metrics == unwatched.metrics  # ... in vain


class _Bar:
    """Stands in for the rich progress bar: records what the run command shows."""

    def __init__(self) -> None:
        self.total = 0
        self.shown: list[int] = []

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def add_task(self, _description: str, total: int) -> int:
        self.total = total
        return 0

    def update(self, _bar: int, completed: int) -> None:
        self.shown.append(completed)


def test_the_run_command_bar_counts_tasks_within_a_replication(monkeypatch: Any,
                                                               tmp_path: Any) -> None:
    import schedsim.cli

    bar = _Bar()
    monkeypatch.setattr(schedsim.cli, "progress_bar", lambda: bar)
    monkeypatch.setattr(watch, "PROGRESS_INTERVAL_S", 0.0)
    from .conftest import REPO

    assert main(["run", str(REPO / "scenarios" / "contract-example.yaml"), "--replications",
                 "2", "--set", "workload.tasks=5000", "--json", str(tmp_path / "s.json")]) == 0
    assert bar.total == 10_000
    assert any(0 < shown < 5_000 for shown in bar.shown)  # within the first replication
    assert any(5_000 < shown < 10_000 for shown in bar.shown)  # within the second
    assert bar.shown == sorted(bar.shown) and bar.shown[-1] == 10_000



def test_progress_ticks_come_back_from_pool_workers() -> None:
    """With --jobs 2 the replications run in worker processes; their ticks still arrive."""
    ticks: list[tuple[int, int, int]] = []
    tasks = 400_000  # a second or more per replication, several progress intervals
    summary = run_scenario(make({"replications": 2, "workload": {
        "tasks": tasks, "duration": {"dist": "exponential", "mean": "1s"}}}), jobs=2,
        on_progress=lambda r, done, total: ticks.append((r, done, total)))
    assert summary.data["metrics"]["tasks_completed"]["mean"] == tasks
    assert {r for r, _, _ in ticks} == {0, 1}
    assert any(0 < done < total for _, done, total in ticks)  # moved within a replication
    for r in (0, 1):
        assert max(done for q, done, _ in ticks if q == r) == tasks
