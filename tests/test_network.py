"""Full- and half-duplex links: worked by hand, through the network and through the platforms."""

from __future__ import annotations

from typing import Any

import pytest

from schedsim.errors import InputError
from schedsim.model.engine import Engine
from schedsim.model.network import Network, Transfer
from schedsim.runner import run_scenario
from schedsim.simulation import Simulation

from .conftest import make

MB = 1e6


def _two_waves(duplex: str | None) -> dict[str, Any]:
    # Ten one-core nodes boot at 0 and ten at 2 s, one 1 s task each, 1 MB in and 1 MB out,
    # over a 10 MB/s manager link (worker links are fat). The first wave's inputs take
    # 10 MB / 10 MB/s = 1 s, they run to 2 s, and their outputs leave just as the second
    # wave's inputs arrive: the two overlap on the manager link.
    boot = {"count": 10, "cores": 1}
    manager: dict[str, Any] = {"bandwidth": "10 MB/s"}
    if duplex is not None:
        manager["duplex"] = duplex
    return {"workload": {"tasks": 20, "duration": "1s", "input_size": MB, "output_size": MB},
            "cluster": {"pools": [{"name": "a", **boot}, {"name": "b", **boot,
                                                          "boot_time": "2s"}]},
            "network": {"manager": manager, "worker": {"bandwidth": "1 GB/s"}}}


@pytest.mark.parametrize("duplex", [None, "full"])
def test_full_duplex_manager_link_carries_inputs_and_outputs_apart(duplex: str | None) -> None:
    # Full duplex (the default): the first wave's outputs and the second's inputs each take
    # 1 s in their own direction (2 to 3 s), the second wave runs to 4 s and its outputs
    # take 1 s: 5 s.
    s = make(_two_waves(duplex), drop=("churn",))
    assert Simulation(s).run().metrics["makespan_s"] == pytest.approx(5.0)


def test_half_duplex_manager_link_shares_inputs_and_outputs() -> None:
    # Half duplex: from 2 s, 20 flows of 1 MB share 10 MB/s and end together at 4 s; the
    # second wave runs to 5 s and its outputs take 1 s: 6 s.
    s = make(_two_waves("half"), drop=("churn",))
    assert Simulation(s).run().metrics["makespan_s"] == pytest.approx(6.0)


@pytest.mark.parametrize("duplex,expected", [("full", 1.0), ("half", 2.0)])
def test_node_link_directions_on_a_multicore_node(duplex: str, expected: float) -> None:
    # A 4-core node's input and output of 100 MB at once over its own 100 MB/s link (the
    # manager link is fat): 1 s each apart, 2 s both if they share one link.
    spec = make({"network": {"manager": {"bandwidth": "10 GB/s"},
                             "worker": {"bandwidth": "100 MB/s", "duplex": duplex}}}).network
    assert spec is not None
    env = Engine()
    net = Network(env, spec)
    ends: list[float] = []
    Transfer(env, net.path_to_node(3, 4), 100 * MB, 0.0, lambda _t: ends.append(env.now))
    Transfer(env, net.path_to_manager(3, 4), 100 * MB, 0.0, lambda _t: ends.append(env.now))
    env.run()
    assert ends == pytest.approx([expected, expected])


@pytest.mark.parametrize("duplex", ["full", "half"])
def test_paths_by_direction_and_forget_node(duplex: str) -> None:
    spec = make({"network": {"manager": {"bandwidth": "1 GB/s", "duplex": duplex},
                             "worker": {"bandwidth": "1 GB/s", "duplex": duplex}}}).network
    assert spec is not None
    net = Network(Engine(), spec)
    to_node, to_manager = net.path_to_node(5, 2), net.path_to_manager(5, 2)
    assert to_node[0] is net.manager_tx and to_manager[0] is net.manager_rx
    assert net.path_to_node(6, 1) == (net.manager_tx,)
    assert net.path_to_manager(6, 1) == (net.manager_rx,)
    shared = set(map(id, to_node)) & set(map(id, to_manager))
    assert len(shared) == (0 if duplex == "full" else 2)
    assert net.path_to_node(5, 2) == to_node  # kept while the node lives
    net.forget_node(5)  # both directions go
    assert not set(map(id, net.path_to_node(5, 2)[1:] + net.path_to_manager(5, 2)[1:])) & \
        set(map(id, to_node + to_manager))


@pytest.mark.parametrize("duplex,per_task", [("full", 3 * MB), ("half", 4 * MB)])
def test_bound_counts_the_busier_direction_if_full_duplex(duplex: str, per_task: float) -> None:
    # 1 MB in, 3 MB out: a full-duplex link carries 3 MB per task in its busier direction,
    # a half-duplex one 4 MB. Exponential task times keep the nodes out of step, so the
    # manager link's directions stay busy.
    s = make({"replications": 1,
              "workload": {"tasks": 1000, "duration": {"dist": "exponential", "mean": "1s"},
                           "input_size": MB, "output_size": 3 * MB},
              "cluster": {"pools": [{"name": "p", "count": 20, "cores": 1}]},
              "network": {"manager": {"bandwidth": "30 MB/s", "duplex": duplex},
                          "worker": {"bandwidth": "10 MB/s", "duplex": duplex}}},
             drop=("churn",))
    summary = run_scenario(s)
    limits: Any = summary.bound["limits"]
    assert limits["manager_link"] == pytest.approx(30 * MB / per_task)
    assert limits["worker_links"] == pytest.approx(20 * 10 * MB / per_task)
    assert summary.bound["binding"] == "manager_link"
    # The run stays under the bound and comes near it (the half-duplex bound, 7.5 tasks/s,
    # is well below what full duplex achieves).
    throughput = summary.results[0].metrics["throughput_tasks_per_s"]
    assert 0.95 * limits["manager_link"] < throughput <= limits["manager_link"]


@pytest.mark.parametrize("value", ["simplex", "FULL", 1, None])
def test_duplex_is_a_strict_choice(value: Any) -> None:
    with pytest.raises(InputError) as err:
        make({"network": {"manager": {"bandwidth": "1 GB/s", "duplex": value},
                          "worker": {"bandwidth": "1 GB/s"}}})
    message = str(err.value)
    assert "network.manager.duplex" in message and "full | half" in message
    assert "\n" not in message


def test_duplex_defaults_to_full() -> None:
    spec = make({"network": {"manager": {"bandwidth": "1 GB/s"},
                             "worker": {"bandwidth": "1 GB/s"}}}).network
    assert spec is not None
    assert spec.manager.duplex == "full" and spec.worker.duplex == "full"
