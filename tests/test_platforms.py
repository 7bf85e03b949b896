"""Work Queue and Ray models: each test fails if its mechanism is removed."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from schedsim.errors import InputError
from schedsim.loading import load_scenario
from schedsim.metrics import Outcome
from schedsim.platforms import PLATFORMS
from schedsim.platforms.base import Platform
from schedsim.platforms.ray import RayPlatform
from schedsim.runner import compare_platforms, run_scenario
from schedsim.simulation import RunResult, Simulation

from .conftest import REPO, make

NET = {"manager": {"bandwidth": "10 Gbps"}, "worker": {"bandwidth": "1 Gbps"}}


def run(platform: str, options: dict[str, Any] | None = None, **top: Any) -> RunResult:
    data: dict[str, Any] = {"platform": {"type": platform, platform: options or {}}}
    data.update(top)
    return Simulation(make(data, drop=() if "churn" in top else ("churn",))).run()


def doomed(notice: str, on_notice: str = "shutdown") -> dict[str, Any]:
    """One task; it starts on a node that dies at t = 10 s; a stable node takes it over."""
    return {"workload": {"tasks": 1, "duration": "100s"},
            "cluster": {"pools": [{"name": "doomed", "count": 1},
                                  {"name": "stable", "count": 1}]},
            "churn": [{"pool": "doomed", "lifetime": "10s", "notice": notice,
                       "on_notice": on_notice, "replace": False}]}


def test_every_registry_entry_names_its_model_and_its_options() -> None:
    """The registry holds names (imported on first use): a misspelt one fails here, not in
    the first run of that platform."""
    for kind, entry in PLATFORMS.items():
        assert issubclass(entry.cls, Platform) and entry.cls.name == kind
        if entry.options is None:
            assert entry.config is None and entry.units == {}
            continue
        config = entry.config
        assert config is not None and dataclasses.is_dataclass(config)
        assert set(entry.units) == {f.name for f in dataclasses.fields(config)}


def test_short_tasks_are_capped_by_the_workqueue_manager() -> None:
    work = {"workload": {"tasks": 5000, "duration": "10ms"},
            "cluster": {"pools": [{"name": "p", "count": 200}]}}
    manager = {"dispatch_time": "2.3ms", "retrieval_time": "0.5ms", "scan_time_per_worker": 0}
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


@pytest.mark.parametrize("platform,notice,on_notice,low,high", [
    ("workqueue", "0s", "shutdown", 10 + 30 + 100, 10 + 150 + 100.1),  # keepalive: 30 + U(0, 120)
    # SIGTERM at the end of the notice: the close is seen at once
    ("workqueue", "5s", "shutdown", 10 + 100, 10 + 100.1),
    ("workqueue", "5s", "drain", 10 + 100, 10 + 100.1),
    # health checks: 5 x 10 s + 4 x 3 s + phase
    ("ray", "0s", "shutdown", 10 + 62 + 101, 10 + 65 + 101.1),
    ("ray", "5s", "shutdown", 10 + 101, 10 + 101.1),  # a clean shutdown is reported at once
    ("ray", "5s", "drain", 10 + 101, 10 + 101.1),  # and so is a drained node's death
])
def test_loss_detection_delays(platform: str, notice: str, on_notice: str, low: float,
                               high: float) -> None:
    # Fixed start-up overheads, whatever the calibration profile says.
    options = {"worker_start_time": "1s", "lease_latency": "1ms"} if platform == "ray" else \
        {"worker_connect_time": "0.05s", "dispatch_time": 0, "retrieval_time": 0}
    result = run(platform, options, **doomed(notice, on_notice))
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
    def churny(on_notice: str) -> dict[str, Any]:
        return {"workload": {"tasks": 100, "duration": "100s"},
                "cluster": {"pools": [{"name": "p", "count": 20}]},
                "churn": [{"pool": "p", "lifetime": {"dist": "exponential", "mean": "150s"},
                           "notice": "30s", "on_notice": on_notice}]}

    drained = run("ray", {"max_retries": 0}, **churny("drain"))
    shutdown = run("ray", {"max_retries": 0}, **churny("shutdown"))
    assert drained.metrics["tasks_failed"] == 0
    assert shutdown.metrics["tasks_failed"] > 0


def test_ray_notice_is_metadata_unless_the_deployment_drains() -> None:
    """Twenty 1.5 s tasks; one node is noticed at 2 s and gone at 10 s. With ``shutdown`` it
    keeps taking leases through the notice, is reported dead at once (no health checks) and
    the task it was running counts a retry (max_retries 0: it fails); with ``drain`` it takes
    nothing after 2 s and loses nothing."""
    def scenario(on_notice: str) -> dict[str, Any]:
        return {"workload": {"tasks": 20, "duration": "1.5s"},
                "cluster": {"pools": [{"name": "doomed", "count": 1},
                                      {"name": "stable", "count": 1}]},
                "churn": [{"pool": "doomed", "lifetime": "10s", "notice": "8s",
                           "on_notice": on_notice, "replace": False}]}

    options = {"max_retries": 0, "worker_start_time": "1s", "lease_latency": "1ms",
               "task_launch_time": "0s"}
    doomed_id = 0  # the first pool's node is launched first

    def late_starts(result: RunResult) -> int:
        return sum(1 for a in result.log if a.node == doomed_id and a.start > 2.0)

    shutdown = run("ray", options, **scenario("shutdown"))
    assert late_starts(shutdown) >= 4
    assert shutdown.metrics["tasks_failed"] == 1  # the task running at 10 s, counted
    failed = [a for a in shutdown.log if a.outcome == Outcome.FAILED]
    assert [a.start for a in failed] == [10.0]  # no 62 s health-check wait
    drain = run("ray", options, **scenario("drain"))
    assert late_starts(drain) == 0
    assert drain.metrics["tasks_failed"] == 0


def test_ray_drain_on_notice_is_an_unknown_key() -> None:
    with pytest.raises(InputError, match="drain_on_notice"):
        make({"platform": {"type": "ray", "ray": {"drain_on_notice": True}}})


@pytest.mark.parametrize("driver,output,expected", [
    # lease + worker start, input request + data + latency, run, pull request + data + latency
    ("batched", "1 MB", 1.001 + 0.015 + 0.008 + 0.015 + 10 + 0.015 + 0.008 + 0.015),
    ("get_in_loop", "1 MB", 1.001 + 0.015 + 0.008 + 0.015 + 10 + 0.015 + 0.008 + 0.015),
    # an inline result rides on the reply: one latency
    ("batched", "10 KB", 1.001 + 0.015 + 0.008 + 0.015 + 10 + 0.00008 + 0.015),
])
def test_ray_fetches_pay_a_round_trip(driver: str, output: str, expected: float) -> None:
    """One task on one node, 15 ms one way (10 + 5), 1 Gbps per flow: fetching the 1 MB
    input or a stored result is a request then the data (2 x 15 ms + 8 ms)."""
    work = {"workload": {"tasks": 1, "duration": "10s", "input_size": "1 MB",
                         "output_size": output},
            "cluster": {"pools": [{"name": "p", "count": 1}]},
            "network": {"manager": {"bandwidth": "10 Gbps", "latency": "10ms"},
                        "worker": {"bandwidth": "1 Gbps", "latency": "5ms"}}}
    options = {"driver": driver, "submit_time": 0, "result_time": 0, "lease_latency": "1ms",
               "worker_start_time": "1s", "task_launch_time": 0, "object_fetch_overhead": 0}
    result = run("ray", options, **work)
    assert result.metrics["makespan_s"] == pytest.approx(expected, abs=1e-9)


def ten_results(worker_bandwidth: str) -> dict[str, Any]:
    """Ten tasks on ten one-core nodes finish together, each with a 100 MB stored result."""
    return {"workload": {"tasks": 10, "duration": "0.5s", "output_size": "100 MB"},
            "cluster": {"pools": [{"name": "p", "count": 10}]},
            "network": {"manager": {"bandwidth": "100 Gbps"},
                        "worker": {"bandwidth": worker_bandwidth}}}


FAST_DRIVER = {"submit_time": 0, "result_time": 0, "lease_latency": "1ms",
               "worker_start_time": 0, "task_launch_time": 0, "object_fetch_overhead": 0}


def test_ray_bytes_in_flight_bound_each_sending_node() -> None:
    """max_bytes_in_flight bounds what one node sends at a time, not the driver's pulls: at
    one result's size each node still sends its one result at once, 0.8 s at 1 Gbps (read as
    a global limit, the ten pulls took turns: 8 s)."""
    options = {**FAST_DRIVER, "max_bytes_in_flight": "100 MB", "driver_intake": "100 GB/s"}
    result = run("ray", options, **ten_results("1 Gbps"))
    assert result.metrics["makespan_s"] == pytest.approx(0.001 + 0.5 + 0.8, abs=1e-9)


@pytest.mark.parametrize("driver", ["batched", "get_in_loop"])
def test_ray_driver_intake_limits_a_head_receiving_many_results(driver: str) -> None:
    """Ten 100 MB results, each on a 10 Gbps node (0.08 s alone), into a driver that takes
    1 GB/s: the ten pulls share the intake and end together after 1 GB / 1 GB/s (batched),
    or the driver gets them one by one at 0.1 s each (get_in_loop): 1 s either way."""
    options = {**FAST_DRIVER, "driver": driver, "driver_intake": "1 GB/s"}
    scenario = make({"platform": {"type": "ray", "ray": options}, **ten_results("10 Gbps")},
                    drop=("churn",))
    summary = run_scenario(scenario)
    assert summary.bound["binding"] == "driver_intake"
    assert summary.bound["limits"]["driver_intake"] == pytest.approx(1e9 / 100e6)
    result = Simulation(scenario).run()
    assert result.metrics["makespan_s"] == pytest.approx(0.001 + 0.5 + 1.0, abs=1e-9)


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


def test_ray_gcs_fault_tolerance_does_not_save_the_driver() -> None:
    """The driver owns every task and lives on the head: GCS fault tolerance restores the
    cluster's metadata, not the owner, so losing the head still fails the job."""
    data = head_scenario("ray", "head", True)
    data["platform"]["ray"]["gcs_fault_tolerance"] = True
    result = Simulation(make(data)).run()
    assert result.failure is not None
    assert "head node lost at 50 s" in result.failure and "driver" in result.failure
    assert result.metrics["job_failed"] == 1
    assert result.metrics["makespan_s"] == pytest.approx(50.0)
    assert 0 < result.metrics["tasks_completed"] < 100


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


WQ_ZERO = {"worker_connect_time": "0s", "dispatch_time": 0, "retrieval_time": 0,
           "task_launch_time": 0, "scan_time_per_worker": 0}


def test_workqueue_silent_loss_detection_is_spread_over_the_keepalive_cycle() -> None:
    """An abrupt loss is dropped 30 s after the next keepalive check, which comes up to
    120 s after the loss: the delay is spread over 30..150 s, the same for the same seed."""
    def delay(seed: int) -> float:
        result = run("workqueue", WQ_ZERO, seed=seed, **doomed("0s"))
        return result.metrics["makespan_s"] - 10 - 100

    delays = [delay(seed) for seed in range(20)]
    assert all(30 <= d <= 150 for d in delays)
    assert min(delays) < 60 and max(delays) > 120
    assert delay(3) == delays[3]


def notice_modes(on_notice: str) -> dict[str, Any]:
    """Three 60 s tasks; 'doomed' (speed 1) gets its notice at 30 s and is gone at 100 s;
    'stable' (speed 0.75) takes 80 s a task."""
    return {"workload": {"tasks": 3, "duration": "60s"},
            "cluster": {"pools": [{"name": "doomed", "count": 1},
                                  {"name": "stable", "count": 1, "speed": 0.75}]},
            "churn": [{"pool": "doomed", "lifetime": "100s", "notice": "70s",
                       "on_notice": on_notice, "replace": False}]}


@pytest.mark.parametrize("on_notice,makespan", [
    # the notified worker still gets the third task at 60 s; it dies with the node at 100 s
    # and reruns on 'stable' from 100 s
    ("shutdown", 100 + 80),
    # drained at 30 s: the third task waits for 'stable', free at 80 s
    ("drain", 80 + 80),
])
def test_workqueue_notice_shutdown_or_drain(on_notice: str, makespan: float) -> None:
    result = run("workqueue", WQ_ZERO, **notice_modes(on_notice))
    assert result.metrics["tasks_completed"] == 3
    assert result.metrics["makespan_s"] == pytest.approx(makespan)


def test_workqueue_drained_retries_do_not_count() -> None:
    """With one retry allowed, tasks lost to shutdowns fail; tasks lost to drains never do."""
    def failed(on_notice: str) -> float:
        churny = {"workload": {"tasks": 100, "duration": "100s"},
                  "cluster": {"pools": [{"name": "p", "count": 20}]},
                  "churn": [{"pool": "p", "lifetime": {"dist": "exponential", "mean": "150s"},
                             "notice": "30s", "on_notice": on_notice}]}
        result = run("workqueue", {"max_retries": 1}, **churny)
        assert result.metrics["tasks_completed"] + result.metrics["tasks_failed"] == 100
        return result.metrics["tasks_failed"]

    assert failed("shutdown") > 0
    assert failed("drain") == 0


def test_workqueue_honour_notice_is_gone() -> None:
    with pytest.raises(InputError, match="honour_notice"):
        run("workqueue", {"honour_notice": True})


def test_workqueue_skips_fetches_from_dropped_workers() -> None:
    """Two 1 s tasks with 10 s outputs. 'fast' (speed 2) ends its task at 0.5 s and the
    manager fetches it until 10.5 s; 'doomed' ends at 1 s and its fetch waits in the queue,
    but its node is gone at 3 s. The manager must not spend 10 s fetching from a dropped
    worker: the task reruns on 'fast' at 10.5 s, is fetched from 11 s, done at 21 s."""
    data = {"platform": {"type": "workqueue", "workqueue": WQ_ZERO},
            "workload": {"tasks": 2, "duration": "1s", "output_size": "12.5 MB"},
            "cluster": {"pools": [{"name": "fast", "count": 1, "speed": 2.0},
                                  {"name": "doomed", "count": 1}]},
            "churn": [{"pool": "doomed", "lifetime": "3s", "notice": "1s",
                       "replace": False}],
            "network": {"manager": {"bandwidth": "10 Mbps"},
                        "worker": {"bandwidth": "10 Mbps"}}}
    sim = Simulation(make(data))
    result = sim.run()
    assert result.metrics["tasks_completed"] == 2
    assert result.metrics["makespan_s"] == pytest.approx(21.0)
    platform: Any = sim.platform
    assert platform.server.skipped == 1


def test_workqueue_scan_of_connected_workers_lowers_the_manager_cap() -> None:
    """Each dispatch scans every connected worker: 2000 workers x 1 us add 2 ms to the
    2.8 ms a task costs the manager. The bound is the best the manager could do with any
    number c of workers connected: 1 / (2.8 ms + c us) where that meets c / 15 ms."""
    work = {"workload": {"tasks": 5000, "duration": "10ms"},
            "cluster": {"pools": [{"name": "p", "count": 2000}]}}
    manager = {"dispatch_time": "2.3ms", "retrieval_time": "0.5ms",
               "scan_time_per_worker": "1us", "task_launch_time": "5ms"}
    every = 1 / (0.0028 + 2000 * 1e-6)  # all 2000 connected at t = 0
    c = (-0.0028 + (0.0028 ** 2 + 4 * 1e-6 * 0.015) ** 0.5) / (2 * 1e-6)
    best = 1 / (0.0028 + c * 1e-6)
    assert best == pytest.approx(c / 0.015)
    summary = run_scenario(make({"platform": {"type": "workqueue", "workqueue": manager},
                                 **work}, drop=("churn",)))
    assert summary.bound["binding"] == "manager"
    assert summary.bound["throughput_tasks_per_s"] == pytest.approx(best)
    wq = run("workqueue", manager, **work)
    assert 0.9 * every < wq.metrics["throughput_tasks_per_s"] <= every < best


def test_workqueue_fetch_is_a_round_trip() -> None:
    """One worker, three 1 s tasks, 1 MB in and out over 8 Mbps links with 50 ms latency
    each: a dispatch sends the input (0.1 s one way + 1 s), a retrieval fetches the output
    (0.2 s round trip + 1 s), so each task takes 1.1 + 1 + 1.2 s."""
    work = {"workload": {"tasks": 3, "duration": "1s", "input_size": "1 MB",
                         "output_size": "1 MB"},
            "cluster": {"pools": [{"name": "p", "count": 1}]},
            "network": {"manager": {"bandwidth": "8 Mbps", "latency": "50ms"},
                        "worker": {"bandwidth": "8 Mbps", "latency": "50ms"}}}
    result = run("workqueue", WQ_ZERO, **work)
    assert result.metrics["makespan_s"] == pytest.approx(3 * (1.1 + 1 + 1.2))
    summary = run_scenario(make({"platform": {"type": "workqueue", "workqueue": WQ_ZERO},
                                 **work}, drop=("churn",)))
    assert summary.bound["limits"]["manager"] == pytest.approx(1 / (1.1 + 1.2))


def test_ray_head_object_store_admits_pulls_first_come_first_served() -> None:
    # 100 one-core nodes each finish a 1 GB result at about t = 1 s; the head's link takes
    # 1 GB/s. With room for two pulls in the head's store, results arrive two every 2 s, so
    # by a 61 s horizon about 29 pairs are in; with every pull active at once (the link
    # shared 100 ways) none is.
    def completed(store: str) -> float:
        data = {"platform": {"type": "ray", "ray": {
                    "head_object_store": store, "driver_intake": "1000 GB/s",
                    "worker_start_time": 0, "lease_latency": 0, "task_launch_time": 0,
                    "object_fetch_overhead": 0}},
                "workload": {"tasks": 100, "duration": "1s", "output_size": "1 GB"},
                "cluster": {"pools": [{"name": "p", "count": 100}]},
                "network": {"manager": {"bandwidth": "8 Gbps"},
                            "worker": {"bandwidth": "8 Gbps"}},
                "horizon": "61s"}
        return run_scenario(make(data, drop=("churn",))).data["metrics"][
            "tasks_completed"]["mean"]

    assert 54 <= completed("2 GB") <= 60
    assert completed("1000 GB") == 0


@pytest.mark.parametrize("intake", ["2.5 GB/s", "0.5 GB/s"])
def test_ray_pulls_over_one_merged_link_match_the_two_links(
        intake: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Full duplex, one-core nodes, large results: the head's inbound link carries only the
    # pulls, so it and the intake hold the same flows. Where one of them binds throughout
    # (the head's 1.25 GB/s link, or a 0.5 GB/s intake) one merged link is the same, attempt
    # by attempt, with churn and retries.
    data = {"platform": {"type": "ray", "ray": {"driver_intake": intake}},
            "workload": {"tasks": 400, "duration": {"dist": "exponential", "mean": "20s"},
                         "output_size": "200 MB"},
            "cluster": {"pools": [{"name": "p", "count": 40}]},
            "churn": [{"pool": "p", "lifetime": {"dist": "exponential", "mean": "10min"},
                       "notice": "0s"}],
            "network": {"manager": {"bandwidth": "10 Gbps", "latency": "0.1ms"},
                        "worker": {"bandwidth": "10 Gbps", "latency": "0.1ms"}}}

    def attempts() -> tuple[list[Any], dict[str, float]]:
        result = Simulation(make(data)).run()
        return list(result.log), result.metrics

    merged = attempts()
    monkeypatch.setattr(RayPlatform, "merge_pull_links", False)
    apart = attempts()
    assert merged == apart
    assert merged[1]["tasks_completed"] + merged[1]["tasks_failed"] == 400
