"""Failure metrics say what happened: tasks out of retries, job failures by reason, whether
the whole bag completed (each assertion fails on a model that only counts tasks_failed)."""

from __future__ import annotations

from typing import Any

from schedsim.runner import run_scenario
from schedsim.simulation import Simulation

from .conftest import make


def _head_on_spot(platform: str, key: str) -> dict[str, Any]:
    return {"platform": {"type": platform, platform: {key: {"pool": "heads"}}},
            "workload": {"tasks": 100, "duration": "10s"},
            "cluster": {"pools": [{"name": "workers", "count": 5},
                                  {"name": "heads", "count": 0, "market": "spot"}]},
            "churn": [{"pool": "heads", "lifetime": "50s", "notice": "0s"}]}


def test_a_lost_head_fails_the_job_not_the_tasks_retries() -> None:
    for platform, key in (("ray", "head"), ("workqueue", "manager")):
        m = Simulation(make(_head_on_spot(platform, key))).run()
        assert m.failure_kind == "manager_lost"
        assert m.metrics["job_lost_manager"] == 1 and m.metrics["job_hit_horizon"] == 0
        assert m.metrics["tasks_failed"] > 0  # the unfinished tasks of the dead job ...
        assert m.metrics["tasks_out_of_retries"] == 0  # ... did not run out of retries
        assert m.metrics["bag_completed"] == 0


def test_tasks_out_of_retries_while_the_job_goes_on() -> None:
    data = {"platform": {"type": "ray", "ray": {"max_retries": 0}},
            "workload": {"tasks": 200, "duration": "100s"},
            "cluster": {"pools": [{"name": "p", "count": 20}]},
            "churn": [{"pool": "p", "lifetime": {"dist": "exponential", "mean": "150s"},
                       "notice": "0s"}]}
    m = Simulation(make(data)).run()
    assert m.failure is None and m.failure_kind is None
    assert m.metrics["tasks_out_of_retries"] == m.metrics["tasks_failed"] > 0
    assert m.metrics["bag_completed"] == 0 and m.metrics["job_failed"] == 0


def test_horizon_and_a_completed_bag() -> None:
    base = {"platform": {"type": "workqueue"}, "workload": {"tasks": 100, "duration": "10s"},
            "cluster": {"pools": [{"name": "p", "count": 2}]}}
    late = Simulation(make({**base, "horizon": "100s"}, drop=("churn",))).run()
    assert late.failure_kind == "horizon" and late.metrics["job_hit_horizon"] == 1
    assert late.metrics["tasks_out_of_retries"] == 0 and late.metrics["bag_completed"] == 0
    done = run_scenario(make({**base, "replications": 2}, drop=("churn",))).data
    assert done["metrics"]["bag_completed"]["mean"] == 1
    assert done["failure_kinds"] == [None, None]
