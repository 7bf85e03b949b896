"""Work Queue and Ray models: each test fails if its mechanism is removed."""

from __future__ import annotations

from typing import Any

import pytest

from schedsim.platforms.ray import RayPlatform
from schedsim.runner import compare_platforms, run_scenario
from schedsim.scenario import load_scenario
from schedsim.simulation import RunResult, Simulation

from .conftest import REPO, make

NET = {"manager": {"bandwidth": "10 Gbps"}, "worker": {"bandwidth": "1 Gbps"}}


def run(platform: str, options: dict[str, Any] | None = None, **top: Any) -> RunResult:
    data: dict[str, Any] = {"platform": {"type": platform, platform: options or {}}}
    data.update(top)
    return Simulation(make(data, drop=() if "churn" in top else ("churn",))).run()


def doomed(notice: str) -> dict[str, Any]:
    """One task; it starts on a node that dies at t = 10 s; a stable node takes it over."""
    return {"workload": {"tasks": 1, "duration": "100s"},
            "cluster": {"pools": [{"name": "doomed", "count": 1},
                                  {"name": "stable", "count": 1}]},
            "churn": [{"pool": "doomed", "lifetime": "10s", "notice": notice,
                       "replace": False}]}


def test_short_tasks_are_capped_by_the_workqueue_manager() -> None:
    work = {"workload": {"tasks": 5000, "duration": "10ms"},
            "cluster": {"pools": [{"name": "p", "count": 200}]}}
    manager = {"dispatch_time": "2.3ms", "retrieval_time": "0.5ms"}
    wq = run("workqueue", manager, **work)
    cap = 1 / 0.0028
    assert 0.9 * cap < wq.metrics["throughput_tasks_per_s"] <= cap
    summary = run_scenario(make({"platform": {"type": "workqueue", "workqueue": manager},
                                 **work}, drop=("churn",)))
    assert summary.bound["binding"] == "manager"
    assert summary.bound["throughput_tasks_per_s"] == pytest.approx(cap)
    assert run("ideal", **work).metrics["throughput_tasks_per_s"] > 10 * cap


def test_workqueue_resends_the_executable_on_every_connection() -> None:
    exe = 1e6
    common = {"workload": {"tasks": 20, "duration": "10s", "executable_size": exe},
              "cluster": {"pools": [{"name": "p", "count": 1}]}, "network": NET}
    steady = Simulation(make({"platform": {"type": "workqueue"}, **common},
                             drop=("churn",)))
    steady.run()
    assert steady.network is not None
    assert steady.network.manager_tx.bytes_started == exe  # cached after the first task
    churned = Simulation(make({"platform": {"type": "workqueue"}, **common,
                               "churn": [{"pool": "p", "lifetime": "45s", "notice": "5s"}]}))
    result = churned.run()
    assert churned.network is not None
    connections = result.metrics["nodes_launched"]
    assert connections >= 5
    platform: Any = churned.platform
    assert platform.exe_sends == connections
    assert churned.network.manager_tx.bytes_started == exe * connections


@pytest.mark.parametrize("platform,notice,low,high", [
    ("workqueue", "0s", 10 + 150 + 100, 10 + 150 + 100.1),  # keepalive 120 s + timeout 30 s
    ("workqueue", "5s", 5 + 100, 5 + 100.1),  # the worker exits cleanly at the notice
    ("ray", "0s", 10 + 62 + 101, 10 + 65 + 101.1),  # health checks: 5 x 10 s + 4 x 3 s + phase
    ("ray", "5s", 10 + 101, 10 + 101.1),  # drained: the death is reported at once
])
def test_loss_detection_delays(platform: str, notice: str, low: float, high: float) -> None:
    # Fixed start-up overheads, whatever the calibration profile says.
    options = {"worker_start_time": "1s", "lease_latency": "1ms"} if platform == "ray" else \
        {"worker_connect_time": "0.05s", "dispatch_time": 0, "retrieval_time": 0}
    result = run(platform, options, **doomed(notice))
    assert result.metrics["tasks_completed"] == 1
    assert low <= result.metrics["makespan_s"] <= high


def test_unlimited_retries_finish_what_ray_retry_limits_fail() -> None:
    churny = {"workload": {"tasks": 200, "duration": "100s"},
              "cluster": {"pools": [{"name": "p", "count": 20}]},
              "churn": [{"pool": "p", "lifetime": {"dist": "exponential", "mean": "150s"},
                         "notice": "0s"}]}
    wq = run("workqueue", **churny)
    ray = run("ray", {"max_retries": 3}, **churny)
    assert wq.metrics["tasks_completed"] == 200 and wq.metrics["tasks_failed"] == 0
    assert ray.metrics["tasks_failed"] > 0
    assert ray.metrics["tasks_completed"] + ray.metrics["tasks_failed"] == 200
    unlimited = run("ray", {"max_retries": -1}, **churny)
    assert unlimited.metrics["tasks_failed"] == 0


def test_ray_drain_retries_do_not_count() -> None:
    churny = {"workload": {"tasks": 100, "duration": "100s"},
              "cluster": {"pools": [{"name": "p", "count": 20}]},
              "churn": [{"pool": "p", "lifetime": {"dist": "exponential", "mean": "150s"},
                         "notice": "30s"}]}
    drained = run("ray", {"max_retries": 0, "drain_on_notice": True}, **churny)
    abrupt = run("ray", {"max_retries": 0, "drain_on_notice": False}, **churny)
    assert drained.metrics["tasks_failed"] == 0
    assert abrupt.metrics["tasks_failed"] > 0


def head_scenario(platform: str, key: str, in_pool: bool) -> dict[str, Any]:
    options = {key: {"pool": "heads"}} if in_pool else {}
    return {"platform": {"type": platform, platform: options},
            "workload": {"tasks": 100, "duration": "10s"},
            "cluster": {"pools": [{"name": "workers", "count": 5},
                                  {"name": "heads", "count": 0, "market": "spot"}]},
            "churn": [{"pool": "heads", "lifetime": "50s", "notice": "0s"}]}


def test_ray_head_on_spot_fails_the_job_on_demand_does_not() -> None:
    spot = Simulation(make(head_scenario("ray", "head", True))).run()
    assert spot.failure is not None and "head node lost" in spot.failure
    assert spot.metrics["job_failed"] == 1 and spot.metrics["tasks_failed"] > 0
    assert spot.metrics["makespan_s"] == pytest.approx(50.0)
    assert 0 < spot.metrics["tasks_completed"] < 100
    dedicated = Simulation(make(head_scenario("ray", "head", False))).run()
    assert dedicated.failure is None and dedicated.metrics["tasks_completed"] == 100


def test_ray_gcs_fault_tolerance_survives_head_loss() -> None:
    data = head_scenario("ray", "head", True)
    data["platform"]["ray"]["gcs_fault_tolerance"] = True
    result = Simulation(make(data)).run()
    assert result.failure is None and result.metrics["tasks_completed"] == 100


def test_workqueue_manager_on_spot_fails_the_job() -> None:
    result = Simulation(make(head_scenario("workqueue", "manager", True))).run()
    assert result.failure is not None and "manager node lost" in result.failure


def test_get_in_loop_is_slower_than_batched_for_large_results() -> None:
    big = {"workload": {"tasks": 200, "duration": "1s", "output_size": "50 MB"},
           "cluster": {"pools": [{"name": "p", "count": 20}]}, "network": NET}
    batched = run("ray", {"driver": "batched"}, **big)
    in_loop = run("ray", {"driver": "get_in_loop"}, **big)
    assert in_loop.metrics["makespan_s"] > 2 * batched.metrics["makespan_s"]
    small = dict(big, workload={"tasks": 200, "duration": "1s", "output_size": "10 KB"})
    ratio = run("ray", {"driver": "get_in_loop"}, **small).metrics["makespan_s"] / \
        run("ray", {"driver": "batched"}, **small).metrics["makespan_s"]
    assert ratio == pytest.approx(1.0, abs=0.05)  # inline results: the pattern barely matters


def test_unbounded_pending_tasks_oom_and_max_pending_prevents_it() -> None:
    work = {"workload": {"tasks": 10000, "duration": "1s"},
            "cluster": {"pools": [{"name": "p", "count": 50}]}}
    oom = run("ray", {"pending_task_bytes": "10 KiB", "driver_memory": "50 MiB"}, **work)
    assert oom.failure is not None and "out of memory" in oom.failure
    assert oom.metrics["job_failed"] == 1
    bounded = run("ray", {"pending_task_bytes": "10 KiB", "driver_memory": "50 MiB",
                          "max_pending": 1000}, **work)
    assert bounded.failure is None and bounded.metrics["tasks_completed"] == 10000


def test_compare_uses_the_same_churn_for_each_platform() -> None:
    s = make({"workload": {"tasks": 3000, "duration": "1s"},
              "cluster": {"pools": [{"name": "p", "count": 10}]},
              "churn": [{"pool": "p", "lifetime": {"dist": "exponential", "mean": "100s"},
                         "notice": "10s", "replace": False}]})

    def losses(kind: str) -> list[float]:
        sim = Simulation(s.with_platform(kind))
        seen: list[float] = []
        sim.cluster.on_gone.append(lambda n: seen.append(round(sim.env.now, 9)))
        sim.run()
        return seen

    assert losses("workqueue") == losses("ray") == losses("ideal")
    results = compare_platforms(s, ["workqueue", "ray"])
    assert set(results) == {"workqueue", "ray"}
    assert results["ray"].data["platform"] == "ray"


@pytest.mark.parametrize("name", ["spot", "onprem", "rfc-local"])
@pytest.mark.parametrize("platform", ["workqueue", "ray"])
def test_shipped_scenarios_run_on_both_platforms(name: str, platform: str) -> None:
    s = load_scenario(REPO / "scenarios" / f"{name}.yaml",
                      [f"platform.type={platform}", "replications=1",
                       "workload.tasks=2000" if name != "rfc-local" else "workload.tasks=12"])
    result = Simulation(s).run()
    assert result.failure is None
    assert result.metrics["tasks_completed"] == s.workload.tasks


def test_workqueue_factory_grows_and_shrinks_the_pool() -> None:
    data = {"platform": {"type": "workqueue", "workqueue": {"factory": {
                "pool": "p", "min_workers": 2, "max_workers": 12, "workers_per_cycle": 4,
                "cycle": "30s", "idle_timeout": "60s"}}},
            "workload": {"tasks": 60, "duration": "100s"},
            "cluster": {"pools": [{"name": "p", "count": 0},
                                  {"name": "static", "count": 1}]}}
    sim = Simulation(make(data, drop=("churn",)))
    sizes: list[tuple[float, int]] = []
    sim.cluster.on_ready.append(
        lambda n: sizes.append((sim.env.now, len(sim.cluster.live["p"]))) if n.pool == "p"
        else None)
    result = sim.run()
    assert result.metrics["tasks_completed"] == 60
    # 4 workers per 30 s cycle up to the 12-worker cap, never more
    assert max(s for _t, s in sizes) == 12
    assert [s for t, s in sizes if t < 1] == [1, 2, 3, 4]
    assert result.metrics["nodes_launched"] == 12 + 1
    assert sim.cluster.nodes_lost >= 1  # idle workers left once the queue ran dry


@pytest.mark.parametrize("platform", ["ideal", "workqueue", "ray"])
def test_pool_speed_divides_task_time(platform: str) -> None:
    """Ten 10 s tasks in turn on one worker: at speed 2 each takes 5 s, so the makespan
    drops by 50 s on every platform (their fixed overheads are unchanged)."""
    def makespan(speed: float) -> float:
        work = {"workload": {"tasks": 10, "duration": "10s"},
                "cluster": {"pools": [{"name": "p", "count": 1, "speed": speed}]}}
        return run(platform, **work).metrics["makespan_s"]

    assert makespan(1.0) - makespan(2.0) == pytest.approx(50.0, rel=1e-6)


@pytest.mark.parametrize("platform", ["workqueue", "ray"])
def test_task_launch_time_is_paid_by_every_attempt(platform: str) -> None:
    """The worker's per-task launch cost adds to each of ten tasks run in turn."""
    def makespan(launch: str) -> float:
        work = {"workload": {"tasks": 10, "duration": "1s"},
                "cluster": {"pools": [{"name": "p", "count": 1}]}}
        return run(platform, {"task_launch_time": launch}, **work).metrics["makespan_s"]

    assert makespan("50ms") - makespan("0s") == pytest.approx(10 * 0.05, rel=1e-6)


def test_bound_counts_pool_speed_and_launch() -> None:
    work = {"workload": {"tasks": 100, "duration": "1s"},
            "cluster": {"pools": [{"name": "fast", "count": 2, "speed": 2.0},
                                  {"name": "slow", "count": 1}]}}
    ideal = run_scenario(make({"platform": {"type": "ideal"}, **work}, drop=("churn",)))
    assert ideal.bound["limits"]["cores"] == pytest.approx(5.0)  # 2 x 2 + 1 task/s
    ray = run_scenario(make({"platform": {"type": "ray", "ray": {"task_launch_time": "0.5s"}},
                             **work}, drop=("churn",)))
    # A fast core: 0.5 s launch + 0.5 s run; a slow core: 0.5 + 1 s.
    assert ray.bound["limits"]["worker_slots"] == pytest.approx(2 / 1.0 + 1 / 1.5)
    achieved = run("ray", {"task_launch_time": "0.5s"}, **work).metrics
    assert achieved["throughput_tasks_per_s"] <= ray.bound["throughput_tasks_per_s"]


@pytest.mark.parametrize(("driver", "output", "max_pending", "submit"),
                         [("batched", "10 KB", 400, "130us"), ("batched", "400 KB", 400, "130us"),
                          ("get_in_loop", "10 KB", 400, "130us"),
                          ("get_in_loop", "400 KB", 400, "130us"),
                          ("batched", "10 KB", 150, "130us"), ("batched", "10 KB", 140, "5ms"),
                          ("batched", "10 KB", 151, "5ms"), ("batched", "10 KB", None, "5ms"),
                          ("get_in_loop", "10 KB", 200, "20ms")])
def test_staged_submissions_match_the_driver_timer(driver: str, output: str,
                                                   max_pending: int | None,
                                                   submit: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Under backpressure the driver's last run of submissions is staged for its end with no
    timer; the attempts, metrics and failures must equal those of the timer path."""
    work = {"workload": {"tasks": 4000, "duration": {"dist": "lognormal", "mean": "2s",
                                                     "cv": 0.8},
                         "input_size": "200 KB", "output_size": output},
            "cluster": {"pools": [{"name": "calm", "count": 50, "cores": 2},
                                  {"name": "spot", "count": 50}]},  # 150 cores at first
            "churn": [{"pool": "spot", "lifetime": {"dist": "exponential", "mean": "60s"},
                       "notice": "5s"},
                      {"pool": "calm", "lifetime": {"dist": "exponential", "mean": "200s"},
                       "notice": "0s"}],
            "network": NET}
    options = {"driver": driver, "max_retries": 0, "submit_time": submit,
               **({"max_pending": max_pending} if max_pending else {}), "health_check_period": "1s",
               "health_check_timeout": "1s"}
    scenario = make({"platform": {"type": "ray", "ray": options}, **work})
    staged = Simulation(scenario).run()
    monkeypatch.setattr(RayPlatform, "stage_submissions", False)
    timed = Simulation(scenario).run()
    assert staged.failure is None and timed.failure is None
    assert staged.metrics == timed.metrics
    assert staged.metrics["preemptions"] > 0 and staged.metrics["tasks_failed"] > 0
    assert len(staged.log) == len(timed.log)
    for name in ("_task", "_node", "_slot", "_start", "_end", "_outcome"):
        assert getattr(staged.log, name) == getattr(timed.log, name), name
    if driver == "batched" and max_pending == 400:
        # Most tasks wait for a slot, and the driver runs one submission per result: the
        # staged run needs no timer (with free slots waiting, it has one, as before)
        assert timed.events - staged.events > 0.5 * staged.metrics["tasks_completed"]
