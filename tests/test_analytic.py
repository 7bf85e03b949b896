"""The models meet the analytic truths of docs/calibration (zero overhead, no network)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from schedsim.metrics import Outcome
from schedsim.model.engine import Engine
from schedsim.model.network import Link, Transfer
from schedsim.runner import run_scenario
from schedsim.simulation import Simulation

from .conftest import make, pool


def test_batch_of_exponential_tasks_matches_closed_form() -> None:
    # E[makespan] = (N - c)/(c mu) + H_c / mu for N exponential tasks on c slots.
    n, c, mean = 200, 10, 1.0
    s = make({"replications": 400, "workload": {"tasks": n, "duration":
              {"dist": "exponential", "mean": mean}}, **pool(c)}, drop=("churn",))
    values = [run.metrics["makespan_s"] for run in run_scenario(s).results]
    expected = (n - c) / c * mean + sum(1 / k for k in range(1, c + 1)) * mean
    se = np.std(values, ddof=1) / math.sqrt(len(values))
    assert abs(np.mean(values) - expected) < 4 * se, (np.mean(values), expected, se)
    assert 3 * se < 0.03 * expected  # the check is sharp enough to catch a 3% bias


def test_multicore_nodes_are_slots() -> None:
    # Five 2-core nodes behave like ten 1-core nodes: constant tasks, exact makespan.
    s = make({"workload": {"tasks": 100, "duration": "3s"}, **pool(5, cores=2)}, drop=("churn",))
    assert Simulation(s).run().metrics["makespan_s"] == pytest.approx(30.0)


def test_restart_from_zero_under_exponential_lifetimes() -> None:
    # A task of length L restarted from zero on a node with exponential lifetime (rate lam),
    # replaced at once: expected time (e^(lam L) - 1) / lam. One node runs N such tasks in
    # sequence, and memorylessness makes their times independent.
    length, lam, n = 1.0, 1.0, 400
    s = make({"replications": 5, "workload": {"tasks": n, "duration": f"{length}s"},
              **pool(1),
              "churn": [{"pool": "p", "lifetime": {"dist": "exponential", "mean": 1 / lam}}]})
    per_task = [run.metrics["makespan_s"] / n for run in run_scenario(s).results]
    expected = (math.exp(lam * length) - 1) / lam
    # The std of one task's time is about 1.47 here; 2000 tasks give an SE near 0.033.
    assert np.mean(per_task) == pytest.approx(expected, rel=0.08)
    with_waste = run_scenario(s).results[0].metrics
    assert with_waste["preemptions"] > 100 and with_waste["wasted_core_s"] > 100


def test_restart_bias_would_be_caught() -> None:
    # Same check with a longer task: e^2 - 1 = 6.39 vs the e - 1 = 1.72 of L = 1.
    s = make({"replications": 3, "workload": {"tasks": 300, "duration": "2s"}, **pool(1),
              "churn": [{"pool": "p", "lifetime": {"dist": "exponential", "mean": 1}}]})
    per_task = np.mean([r.metrics["makespan_s"] / 300 for r in run_scenario(s).results])
    assert per_task == pytest.approx(math.exp(2) - 1, rel=0.1)


def test_k_equal_flows_finish_together() -> None:
    env = Engine()
    link = Link(env, "l", bandwidth=100.0)
    ends: list[float] = []
    for _ in range(8):
        Transfer(env, [link], 50.0, 0.0, lambda _t: ends.append(env.now))
    env.run()
    assert ends == pytest.approx([8 * 50.0 / 100.0] * 8)


def test_flows_share_max_min_and_cancel_speeds_others_up() -> None:
    env = Engine()
    link = Link(env, "l", bandwidth=100.0, flow_cap=30.0)
    ends: dict[str, float] = {}

    def flow(name: str, size: float, at: float) -> None:
        def go(_e: object) -> None:
            handles[name] = Transfer(env, [link], size, 0.0,
                                     lambda _t: ends.__setitem__(name, env.now))
        env.timeout(at).callbacks.append(go)

    handles: dict[str, object] = {}
    flow("a", 60.0, 0.0)   # alone: capped at 30 B/s
    flow("b", 100.0, 1.0)  # a and b: 30 each (cap) until a ends at t=2
    flow("c", 100.0, 1.0)
    flow("d", 100.0, 1.0)  # from t=1 four flows share 100: 25 each
    env.timeout(3.0).callbacks.append(lambda _e: handles["d"].cancel())  # type: ignore[attr-defined]
    env.run()
    # a: 30 B by t=1, then 25 B/s -> 30 more by t=2.2
    assert ends["a"] == pytest.approx(2.2)
    # b, c: 25 B/s to 2.2 (30 B), 33.3 B/s capped at 30 to t=3 (24 B), then 30 B/s: 46 B left
    assert ends["b"] == pytest.approx(3 + 46 / 30) and ends["c"] == ends["b"]
    assert "d" not in ends


def test_k_flows_through_the_platform() -> None:
    # k one-core nodes each fetch S bytes over a manager link of bandwidth B at time 0.
    k, size, bw = 20, 1e6, 1e6
    s = make({"workload": {"tasks": k, "duration": "0s", "input_size": size},
              **pool(k), "network": {"manager": {"bandwidth": bw, "latency": "10ms"},
                                     "worker": {"bandwidth": "1 GB/s"}}}, drop=("churn",))
    assert Simulation(s).run().metrics["makespan_s"] == pytest.approx(k * size / bw + 0.01)


def test_worker_link_caps_a_lonely_flow() -> None:
    s = make({"workload": {"tasks": 1, "duration": "1s", "input_size": "100 MB",
                           "output_size": "50 MB"}, **pool(1),
              "network": {"manager": {"bandwidth": "10 GB/s"},
                          "worker": {"bandwidth": "100 MB/s"}}}, drop=("churn",))
    assert Simulation(s).run().metrics["makespan_s"] == pytest.approx(1 + 1 + 0.5)


def test_multicore_node_link_is_shared_by_its_slots() -> None:
    s = make({"workload": {"tasks": 4, "duration": "0s", "input_size": "100 MB"},
              **pool(1, cores=4), "network": {"manager": {"bandwidth": "10 GB/s"},
                                              "worker": {"bandwidth": "100 MB/s"}}},
             drop=("churn",))
    assert Simulation(s).run().metrics["makespan_s"] == pytest.approx(4.0)


def test_cost_arithmetic() -> None:
    # 10 on-demand nodes at $0.36/h for 100 s, plus a $0.72/h manager: 0.1 + 0.02 USD.
    s = make({"workload": {"tasks": 10, "duration": "100s"},
              "cluster": {"manager": {"price_per_hour": 0.72},
                          "pools": [{"name": "p", "count": 10, "price_per_hour": 0.36}]}},
             drop=("churn",))
    m = Simulation(s).run().metrics
    assert m["cost_usd"] == pytest.approx(0.1 + 0.02)
    assert m["cost_per_1k_tasks_usd"] == pytest.approx(12.0)


def test_cost_minimum_is_sixty_seconds() -> None:
    s = make({"workload": {"tasks": 10, "duration": "30s"},
              "cluster": {"pools": [{"name": "p", "count": 10, "price_per_hour": 0.36}]}},
             drop=("churn",))
    assert Simulation(s).run().metrics["cost_usd"] == pytest.approx(10 * 0.36 / 3600 * 60)


def test_boot_time_delays_and_is_billed() -> None:
    s = make({"workload": {"tasks": 2, "duration": "100s"},
              "cluster": {"pools": [{"name": "p", "count": 2, "price_per_hour": 3.6,
                                     "boot_time": "50s"}]}}, drop=("churn",))
    m = Simulation(s).run().metrics
    assert m["makespan_s"] == pytest.approx(150.0)
    assert m["cost_usd"] == pytest.approx(2 * 150 * 0.001)
    # No network, no overhead: an attempt holds its slot exactly while it runs.
    assert m["held_utilization"] == pytest.approx(1.0)
    assert m["compute_utilization"] == pytest.approx(1.0)


def test_link_terminates_at_high_bandwidth_and_late_times() -> None:
    # Rounding of simulated time is worth bytes at 10 Gbps: completions must still happen.
    env = Engine(initial_time=1e6)
    link = Link(env, "l", bandwidth=1.25e9, flow_cap=1.25e9)
    ends: list[float] = []
    for size in (2048.0, 3000.0, 2048.0):
        Transfer(env, [link], size, 0.0, lambda _t: ends.append(env.now))
    env.run(until=1e6 + 1)
    assert len(ends) == 3 and link.active == 0


def _fluid_reference(flows: list[tuple[float, float, float | None]], bw: float,
                     cap: float) -> dict[int, float]:
    """Finish times by brute force: recompute every rate at every event."""
    left: dict[int, float] = {}
    ends: dict[int, float] = {}
    t = 0.0
    arrivals = sorted(range(len(flows)), key=lambda i: flows[i][0])
    while arrivals or left:
        rate = min(cap, bw / len(left)) if left else 0.0
        nxt = [(flows[arrivals[0]][0], "arrive", arrivals[0])] if arrivals else []
        nxt += [(flows[i][2], "cancel", i) for i in left if flows[i][2] is not None]
        nxt += [(t + left[i] / rate, "finish", i) for i in left]
        when, what, i = min(nxt, key=lambda e: e[0])
        for j in left:
            left[j] -= (when - t) * rate
        t = when
        if what == "arrive":
            arrivals.pop(0)
            left[i] = flows[i][1]
        else:
            del left[i]
            if what == "finish":
                ends[i] = t
    return ends


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("bw,cap", [(100.0, 30.0), (100.0, 25.0), (100.0, math.inf),
                                    (10.0, 100.0)])
def test_link_matches_a_brute_force_fluid_model(seed: int, bw: float, cap: float) -> None:
    # Random arrivals, sizes and cancellations drive the link in and out of direct mode.
    rng = np.random.default_rng(seed)
    flows: list[tuple[float, float, float | None]] = []
    for _ in range(40):
        at = float(rng.uniform(0, 20))
        cancel = at + float(rng.uniform(0, 3)) if rng.random() < 0.2 else None
        flows.append((at, float(rng.uniform(1, 60)), cancel))
    expected = _fluid_reference(flows, bw, cap)
    env = Engine()
    link = Link(env, "l", bandwidth=bw, flow_cap=cap)
    ends: dict[int, float] = {}
    for i, (at, size, cancel) in enumerate(flows):
        def go(_e: object, i: int = i, size: float = size, cancel: float | None = cancel) -> None:
            tr = Transfer(env, [link], size, 0.0, lambda _t: ends.__setitem__(i, env.now))
            if cancel is not None:
                env.timeout(cancel - env.now).callbacks.append(lambda _e: tr.cancel())
        env.timeout(at).callbacks.append(go)
    env.run()
    assert set(ends) == set(expected)
    for i, end in expected.items():
        assert ends[i] == pytest.approx(end, rel=1e-9, abs=1e-9)
    assert link.active == 0


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("bw,cap", [(100.0, 30.0), (100.0, 25.0), (100.0, 10.0),
                                    (100.0, math.inf)])
def test_transfers_booked_ahead_match_the_fluid_model(seed: int, bw: float, cap: float) -> None:
    # Most transfers are created up to 5 s before they begin (``after``): booked on the link
    # while it is direct with room, taken back when it fills. Some are cancelled before they
    # begin (they never move a byte), some while they move.
    rng = np.random.default_rng(100 + seed)
    flows: list[tuple[float, float, float | None]] = []
    leads: list[float] = []
    for _ in range(40):
        at = float(rng.uniform(5, 25))
        lead = float(rng.uniform(0, 5)) if rng.random() < 0.7 else 0.0
        cancel = at + float(rng.uniform(-min(lead, 2.0), 3)) if rng.random() < 0.25 else None
        flows.append((at, float(rng.uniform(1, 60)), cancel))
        leads.append(lead)
    never = {i for i, (at, _s, cancel) in enumerate(flows) if cancel is not None and cancel < at}
    expected = _fluid_reference([f for i, f in enumerate(flows) if i not in never], bw, cap)
    expected = {i: expected[j] for j, i in enumerate(i for i in range(40) if i not in never)
                if j in expected}
    env = Engine()
    link = Link(env, "l", bandwidth=bw, flow_cap=cap)
    ends: dict[int, float] = {}
    for i, ((at, size, cancel), lead) in enumerate(zip(flows, leads, strict=True)):
        def go(_e: object, i: int = i, size: float = size, cancel: float | None = cancel,
               lead: float = lead) -> None:
            tr = Transfer(env, [link], size, 0.0, lambda _t: ends.__setitem__(i, env.now),
                          after=lead)
            if cancel is not None:
                env.timeout(cancel - env.now).callbacks.append(lambda _e: tr.cancel())
        env.timeout(at - lead).callbacks.append(go)
    env.run()
    assert set(ends) == set(expected)
    for i, end in expected.items():
        assert ends[i] == pytest.approx(end, rel=1e-9, abs=1e-9)
    assert link.active == 0
    moved = sum(size for i, (_a, size, _c) in enumerate(flows) if i not in never)
    assert link.bytes_started == pytest.approx(moved)


@pytest.mark.parametrize("nodes,cpus,background,expected", [
    (1, 2, 0.0, 1.0),  # one task, one CPU of its own
    (2, 2, 0.0, 1.0),  # two tasks, two CPUs
    (3, 2, 0.0, 1.5),  # three tasks share two CPUs: 2/3 of a CPU each
    (2, 2, 0.5, 4 / 3),  # the platform's processes keep half a CPU busy: 0.75 each
    (1, 2, 0.5, 1.0),  # one task still gets a whole CPU
])
def test_shared_host_is_processor_sharing_of_its_cpus(nodes: int, cpus: float,
                                                      background: float,
                                                      expected: float) -> None:
    s = make({"workload": {"tasks": nodes, "duration": "1s"},
              "cluster": {"pools": [{"name": "p", "count": nodes}],
                          "host": {"cpus": cpus, "background": background}}},
             drop=("churn",))
    assert Simulation(s).run().metrics["makespan_s"] == pytest.approx(expected)


@pytest.mark.parametrize("platform", ["ideal", "workqueue", "ray"])
def test_a_lost_node_stops_taking_a_share_of_the_host(platform: str) -> None:
    """Two 2 s tasks on a one-CPU host, one on a node killed at 1 s: the survivor runs at
    half speed until then, alone after, so it ends at 1 + (2 - 0.5) = 2.5 s, not later."""
    zero = {"workqueue": {"dispatch_time": "0s", "retrieval_time": "0s",
                          "worker_connect_time": "0s", "task_launch_time": "0s"},
            "ray": {"submit_time": "0s", "result_time": "0s", "lease_latency": "0s",
                    "worker_start_time": "0s", "task_launch_time": "0s",
                    "autoscaler": False}}.get(platform, {})
    s = make({"platform": {"type": platform, platform: zero},
              "workload": {"tasks": 2, "duration": "2s"},
              "cluster": {"pools": [{"name": "doomed", "count": 1},
                                    {"name": "stable", "count": 1}],
                          "host": {"cpus": 1}},
              "churn": [{"pool": "doomed", "lifetime": "1s", "notice": "1ms",
                         "replace": False}]})
    sim = Simulation(s)
    result = sim.run()
    first = min(r.end for r in result.log if r.outcome == Outcome.DONE)
    # (Work Queue's worker leaves at the 1 ms notice, a millisecond earlier.)
    assert first == pytest.approx(2.5, abs=2e-3)
    assert result.metrics["tasks_completed"] == 2
