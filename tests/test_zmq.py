"""The simulated zmq platform meets its analytic truths (closed forms, the coordinator's
ceiling, heartbeat detection) and reads its parameters from a scenario."""

from __future__ import annotations

import math
from typing import Any

import pytest

from schedsim.errors import InputError
from schedsim.live.zmq import protocol
from schedsim.metrics import Outcome
from schedsim.platforms import throughput_limits
from schedsim.platforms.zmq import ZmqConfig, ZmqPlatform
from schedsim.simulation import Simulation

from .conftest import make, pool


def zmq(**options: Any) -> dict[str, Any]:
    """A zmq platform block: no overheads unless given."""
    base = {"dispatch_time": 0.0, "result_time": 0.0, "result_latency": 0.0,
            "worker_start_time": 0.0, "task_launch_time": 0.0,
            "result_send_rate": 1e30, "result_write_rate": 1e30}  # no size cost either
    return {"platform": {"type": "zmq", "zmq": {**base, **options}}}


def closed_form(n: int, w: int, d: float, c: float, launch: float, start: float) -> float:
    """n tasks of d s on w slots, dispatches of c s by one coordinator thread that is never
    the bottleneck (w c <= launch + d), free results: slot k (1..w) gets its first task at
    start + k c and each later one c after its previous result, so the last task of slot k
    ends at start + k c + m_k (launch + d) + (m_k - 1) c, m_k its number of tasks."""
    ends = []
    for k in range(1, w + 1):
        m = n // w + (1 if k <= n % w else 0)
        if m:
            ends.append(start + k * c + m * (launch + d) + (m - 1) * c)
    return max(ends)


@pytest.mark.parametrize(("n", "w", "cores"), [(40, 4, 1), (37, 6, 2), (5, 8, 1)])
def test_no_churn_makespan_matches_the_closed_form(n: int, w: int, cores: int) -> None:
    d, c, launch, start = 2.0, 0.05, 0.01, 0.3
    s = make({"workload": {"tasks": n, "duration": f"{d}s"},
              **pool(w // cores, cores=cores),
              **zmq(dispatch_time=c, task_launch_time=launch, worker_start_time=start)},
             drop=("churn",))
    got = Simulation(s).run().metrics["makespan_s"]
    assert got == pytest.approx(closed_form(n, w, d, c, launch, start), rel=1e-9)


def test_a_saturated_coordinator_serves_at_its_ceiling() -> None:
    # 200 slots and 1 ms tasks: the coordinator (2 ms + 1 ms per task) is the bottleneck,
    # so n tasks take n (dispatch + result), give or take one task's pass.
    n, c, r = 2000, 0.002, 0.001
    s = make({"workload": {"tasks": n, "duration": "1ms"}, **pool(200),
              **zmq(dispatch_time=c, result_time=r)}, drop=("churn",))
    sim = Simulation(s)
    result = sim.run()
    assert result.metrics["makespan_s"] == pytest.approx(n * (c + r), rel=0.002)
    assert throughput_limits(s)["coordinator"] == pytest.approx(1 / (c + r))
    assert sim.bound()["binding"] == "coordinator"


def test_the_result_latency_is_each_workers_not_the_coordinators() -> None:
    # Reading and sending a result takes each worker L in parallel: it lengthens every slot's
    # cycle by L (the closed form with launch + L) and leaves the coordinator's ceiling alone.
    n, w, d, c, launch, start, lat = 40, 4, 2.0, 0.05, 0.01, 0.3, 0.2
    s = make({"workload": {"tasks": n, "duration": f"{d}s"}, **pool(w),
              **zmq(dispatch_time=c, task_launch_time=launch, worker_start_time=start,
                    result_latency=lat)}, drop=("churn",))
    got = Simulation(s).run().metrics["makespan_s"]
    assert got == pytest.approx(closed_form(n, w, d, c, launch + lat, start), rel=1e-9)
    n, c, r = 2000, 0.002, 0.001
    s = make({"workload": {"tasks": n, "duration": "1ms"}, **pool(200),
              **zmq(dispatch_time=c, result_time=r, result_latency=0.05)}, drop=("churn",))
    assert Simulation(s).run().metrics["makespan_s"] == pytest.approx(n * (c + r), rel=0.05)


def test_result_costs_grow_with_the_output() -> None:
    # An output of B bytes: the worker's send takes B / send_rate more (in parallel), the
    # coordinator's result job B / write_rate more (serial: its ceiling and the bound drop).
    b, send, write = 2e6, 1e8, 1e9
    n, w, d, c, launch, start, lat = 40, 4, 2.0, 0.05, 0.01, 0.3, 0.2
    s = make({"workload": {"tasks": n, "duration": f"{d}s", "output_size": f"{b:g}B"},
              **pool(w),
              **zmq(dispatch_time=c, task_launch_time=launch, worker_start_time=start,
                    result_latency=lat, result_send_rate=send)}, drop=("churn", "network"))
    got = Simulation(s).run().metrics["makespan_s"]
    assert got == pytest.approx(closed_form(n, w, d, c, launch + lat + b / send, start),
                                rel=1e-9)
    n, c, r = 2000, 0.002, 0.001
    s = make({"workload": {"tasks": n, "duration": "1ms", "output_size": f"{b:g}B"},
              **pool(200), **zmq(dispatch_time=c, result_time=r, result_write_rate=write)},
             drop=("churn", "network"))
    sim = Simulation(s)
    assert sim.run().metrics["makespan_s"] == pytest.approx(n * (c + r + b / write), rel=0.01)
    assert throughput_limits(s)["coordinator"] == pytest.approx(1 / (c + r + b / write))


def test_a_node_lost_while_its_worker_sends_a_result_loses_the_attempt() -> None:
    # The task ends at 20 s; its worker needs 2 s to send the result, and the node goes at
    # 21 s: the attempt is lost (never journalled) and runs again on the other node.
    s = make({"workload": {"tasks": 1, "duration": "20s"},
              "cluster": {"pools": [{"name": "a", "count": 1},
                                    {"name": "s", "count": 1, "boot_time": "30s"}]},
              "churn": [{"pool": "a", "lifetime": "21s", "replace": False}],
              **zmq(result_latency=2.0, heartbeat_interval=0.5, heartbeat_liveness=2)})
    result = Simulation(s).run()
    assert [(a.outcome, a.end) for a in result.log] == [
        (Outcome.PREEMPTED, pytest.approx(21.0)), (Outcome.DONE, pytest.approx(52.0))]


def lossy(max_retries: int = 3) -> Simulation:
    """Node a (lifetime 5 s) runs the only task, node b (lifetime 7 s) waits idle, node s
    boots at 6 s; heartbeats every 0.5 s, given up after 4 silent intervals (2 s)."""
    s = make({"workload": {"tasks": 1, "duration": "20s"},
              "cluster": {"pools": [{"name": "a", "count": 1}, {"name": "b", "count": 1},
                                    {"name": "s", "count": 1, "boot_time": "6s"}]},
              "churn": [{"pool": "a", "lifetime": "5s", "replace": False},
                        {"pool": "b", "lifetime": "7s", "replace": False}],
              **zmq(dispatch_time=0.01, result_time=0.01, heartbeat_interval=0.5,
                    heartbeat_liveness=4, max_retries=max_retries)})
    return Simulation(s)


def test_a_silent_worker_is_given_up_after_interval_times_liveness() -> None:
    sim = lossy()
    result = sim.run()
    attempts = [(a.start, a.end, a.outcome) for a in result.log]
    delay = 0.5 * 4
    # a dies at 5 under the task; the coordinator gives it up at 5 + delay and hands the
    # task to b's request, which is still queued (b died at 7, unnoticed until 7 + delay):
    # an attempt that never ran; then to s.
    assert attempts == [
        (pytest.approx(0.0), pytest.approx(5.0), Outcome.PREEMPTED),
        (pytest.approx(5.0 + delay), pytest.approx(5.0 + delay), Outcome.PREEMPTED),
        (pytest.approx(7.0 + delay), pytest.approx(7.0 + delay + 0.01 + 20.0 + 0.01),
         Outcome.DONE)]
    assert sim.platform.given_up == 2


def test_a_task_out_of_lost_attempts_fails() -> None:
    result = lossy(max_retries=1).run()
    assert result.metrics["tasks_failed"] == 1
    assert [a.outcome for a in result.log] == [Outcome.PREEMPTED, Outcome.PREEMPTED]


def test_the_parameters_come_from_the_scenario_and_are_checked() -> None:
    s = make({**pool(1), **zmq(heartbeat_interval="2s", heartbeat_liveness=5)},
             drop=("churn",))
    cfg = s.platform.config
    assert isinstance(cfg, ZmqConfig) and cfg.detection_delay == 10.0
    assert s.platform.sources["zmq"]["heartbeat_liveness"] == "scenario"
    with pytest.raises(InputError, match="heartbeat_liveness"):
        make({**pool(1), **zmq(heartbeat_liveness=0)}, drop=("churn",))
    with pytest.raises(InputError, match="nagle"):
        make({**pool(1), **zmq(nagle=1)}, drop=("churn",))


def test_the_defaults_are_the_live_implementations() -> None:
    d = ZmqConfig()
    assert (d.heartbeat_interval, d.heartbeat_liveness, d.max_retries) == (
        protocol.HEARTBEAT_INTERVAL_S, protocol.HEARTBEAT_LIVENESS, protocol.MAX_RETRIES)


def test_same_seed_same_numbers_under_churn() -> None:
    s = make({**zmq(dispatch_time=0.001, result_time=0.001),
              "churn": [{"pool": "spot", "lifetime": {"dist": "exponential", "mean": "60s"},
                         "replace_delay": "0s"}]})
    a, b = Simulation(s, 1).run(), Simulation(s, 1).run()
    assert a.metrics == b.metrics
    assert a.metrics["preemptions"] > 0 and a.metrics["tasks_completed"] == 2000
    assert isinstance(Simulation(s).platform, ZmqPlatform)
    assert not math.isnan(a.metrics["makespan_s"])
