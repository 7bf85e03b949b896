"""Churn: lifetimes, notices, caps, traces, zone reclaims and replacements."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from schedsim.loading import parse_scenario
from schedsim.metrics import Outcome
from schedsim.runner import run_scenario
from schedsim.simulation import Simulation

from .conftest import CONTRACT, REPO, make, pool


def churn(**entry: object) -> dict[str, object]:
    return {"churn": [{"pool": "p", **entry}]}


def test_notice_drains_running_tasks_finish() -> None:
    # Tasks of 10 s, nodes live 25 s with a 20 s notice: a node takes tasks until t = 5 and
    # finishes the one it runs (ends at 10 or 20 <= 25), so nothing is lost.
    s = make({"workload": {"tasks": 20, "duration": "10s"}, **pool(2),
              **churn(lifetime="25s", notice="20s", replace_delay="0s")})
    m = Simulation(s).run().metrics
    assert m["tasks_completed"] == 20 and m["wasted_core_s"] == 0
    assert m["task_attempts"] == 20 and m["preemptions"] >= 2


def test_without_notice_work_is_lost_and_retried() -> None:
    s = make({"workload": {"tasks": 20, "duration": "10s"}, **pool(2),
              **churn(lifetime="25s", notice="0s")})
    run = Simulation(s).run()
    lost = [r for r in run.log if r.outcome == Outcome.PREEMPTED]
    assert lost and all(r.end - r.start == pytest.approx(5.0) for r in lost)
    assert run.metrics["tasks_completed"] == 20
    assert run.metrics["task_attempts"] == 20 + len(lost)
    assert run.metrics["wasted_core_s"] == pytest.approx(5.0 * len(lost))


def test_max_lifetime_caps_and_replacement_boots() -> None:
    # On-prem pilots: 1 h wall time, 10 min queue wait (boot) before each pilot starts.
    s = make({"workload": {"tasks": 8, "duration": "50min"},
              "cluster": {"pools": [{"name": "p", "count": 1, "boot_time": "10min"}]},
              **churn(max_lifetime="1h", replace_delay="0s")})
    run = Simulation(s).run()
    # Pilot k is ready at 10 + 70 (k - 1) min, finishes one task 50 min later and loses the
    # next after 10 min: the 8th task ends at 60 + 70 * 7 = 550 min.
    assert run.metrics["makespan_s"] == pytest.approx(550 * 60)
    assert run.metrics["tasks_completed"] == 8


def test_no_replacement_stalls_and_fails_the_job() -> None:
    s = make({"workload": {"tasks": 10, "duration": "10s"}, **pool(1),
              **churn(lifetime="25s", replace=False)})
    run = Simulation(s).run()
    assert run.failure is not None and "stalled" in run.failure
    assert run.metrics["job_failed"] == 1 and run.metrics["tasks_completed"] == 2
    assert run.metrics["tasks_failed"] == 8 and run.metrics["makespan_s"] == pytest.approx(25)


def test_horizon_ends_the_run() -> None:
    s = make({"workload": {"tasks": 100, "duration": "10s"}, **pool(1), "horizon": "55s"},
             drop=("churn",))
    run = Simulation(s).run()
    assert run.metrics["makespan_s"] == 55 and run.metrics["tasks_completed"] == 5
    assert run.metrics["tasks_failed"] == 95 and "horizon" in (run.failure or "")


def test_trace_replay(tmp_path: Path) -> None:
    (tmp_path / "trace.csv").write_text("time,pool,event\n15s,p,reclaim\n20s,p,launch\n")
    data = dict(copy.deepcopy(CONTRACT), workload={"tasks": 4, "duration": "10s"}, **pool(1),
                **churn(trace="trace.csv", replace=False))
    s = parse_scenario(data, "t.yaml", tmp_path)
    run = Simulation(s).run()
    # node 0 finishes task 0 at 10, loses task 1 at 15; node 1 arrives at 20 and runs 3 tasks.
    assert run.metrics["makespan_s"] == pytest.approx(50.0)
    assert run.metrics["preemptions"] == 1 and run.metrics["nodes_launched"] == 2


def test_zone_reclaims_take_a_fraction_at_once() -> None:
    s = make({"workload": {"tasks": 400, "duration": "100s"}, **pool(100),
              **churn(zone_reclaims={"mean_interval": "50s", "fraction": 0.5},
                      replace_delay="1000s")})
    run = Simulation(s).run()
    # Losses come in bursts: many attempts end at exactly the same instant.
    lost_ends = [r.end for r in run.log if r.outcome == Outcome.PREEMPTED]
    assert len(lost_ends) > 20 and len(set(lost_ends)) < len(lost_ends) / 5


def test_band_churn_runs() -> None:
    s = make({"workload": {"tasks": 50, "duration": "1h"}, **pool(5),
              **churn(band=">20%", notice="120s")})
    assert Simulation(s).run().metrics["tasks_completed"] == 50


def test_changing_the_platform_stream_does_not_shift_preemptions() -> None:
    # Preemption times depend only on the churn streams: changing task durations (another
    # stream) leaves the sequence of node losses the same.
    a = make({"workload": {"tasks": 3000, "duration": "1s"}, **pool(10),
              **churn(lifetime={"dist": "exponential", "mean": "100s"})})
    b = make({"workload": {"tasks": 3000, "duration": {"dist": "exponential", "mean": "1s"}},
              **pool(10), **churn(lifetime={"dist": "exponential", "mean": "100s"})})

    def losses(s: object) -> list[float]:
        sim = Simulation(s)  # type: ignore[arg-type]
        seen: list[float] = []
        sim.cluster.on_gone.append(lambda n: seen.append(sim.env.now))
        sim.run()
        return seen[:20]

    assert losses(a) == losses(b)


def test_spot_scenario_runs_quickly() -> None:
    from schedsim.loading import load_scenario

    s = load_scenario(REPO / "scenarios" / "spot.yaml",
                      ["workload.tasks=3000", "replications=2"])
    summary = run_scenario(s)
    assert summary.data["metrics"]["tasks_completed"]["mean"] == 3000
