"""The shared attempt execution (schedsim/platforms/execution.py): each test fails if its
mechanism is removed."""

from __future__ import annotations

from typing import Any

import pytest

from schedsim.metrics import Outcome
from schedsim.model.network import Transfer
from schedsim.model.workload import Task
from schedsim.platforms.execution import IN_TRANSFER, NOT_RUNNING, Execution, Running
from schedsim.simulation import Simulation

from .conftest import make


def context(**top: Any) -> Any:
    sim = Simulation(make({"platform": {"type": "ideal"}, **top}, drop=("churn",)))
    return sim.platform.ctx


def test_a_run_counts_its_compute_time_and_calls_back_once() -> None:
    ctx = context()
    ran: list[float] = []
    execution = Execution(ctx, lambda a: ran.append(ctx.env.now), launch=0.5)
    a = Running(Task(0, 4.0), 0.0, 2.0)
    execution.run(a, delay=1.0)
    assert a.run_start == 1.5
    ctx.env.run()
    assert ran == [3.5]  # 1 s delay, 0.5 s launch, 4 s at speed 2
    assert ctx.log.compute_core_s == 2.0
    assert (a.run, a.run_start) == (None, NOT_RUNNING)


def test_a_lost_run_counts_what_ran_and_its_timer_never_fires() -> None:
    ctx = context()
    ran: list[Running] = []
    execution = Execution(ctx, ran.append)
    a = Running(Task(7, 10.0), 0.0, 1.0)
    execution.run(a)
    ctx.env.at(4.0, lambda _: execution.lost(a, 3, 0, ctx.env.now))
    ctx.env.run()
    assert ran == []  # cancelled, not merely ignored
    assert ctx.log.compute_core_s == 4.0
    (record,) = list(ctx.log)
    assert (record.task, record.node, record.end, record.outcome) == \
        (7, 3, 4.0, Outcome.PREEMPTED)


def test_a_run_folded_into_its_input_transfer_counts_from_the_arrival() -> None:
    net = {"manager": {"bandwidth": "8 Mbps", "latency": "0s"},
           "worker": {"bandwidth": "8 Mbps", "latency": "0s"}}
    ctx = context(network=net, cluster={"pools": [{"name": "p", "count": 1}]})
    execution = Execution(ctx, lambda a: None)
    a = Running(Task(0, 10.0), 0.0, 1.0)
    execution.fetch(a, ctx.network.path_to_node(0, 1), 1e6)  # 1 s of input, then 10 s
    assert a.run_start == IN_TRANSFER and isinstance(a.run, Transfer)
    ctx.env.at(6.0, lambda _: execution.lose(a))
    ctx.env.run()
    assert ctx.log.compute_core_s == pytest.approx(5.0)  # ran from 1 s to 6 s
    assert ctx.network.node_links(0)[0].active == 0  # the transfer was withdrawn


def test_the_waiting_task_takes_no_cpu_of_a_shared_host_on_the_ideal_platform() -> None:
    """The ideal platform ran every task as CPU work on a shared host, even the waiting
    task, which waits whatever the host (docs/models.md, Shared host)."""
    common: dict[str, Any] = {"workload": {"tasks": 8, "duration": "10s", "task": "wait"},
                              "platform": {"type": "ideal"}}
    alone = Simulation(make({**common, "cluster": {"pools": [{"name": "p", "count": 4}]}},
                            drop=("churn",))).run()
    shared = Simulation(make({**common, "cluster": {"pools": [{"name": "p", "count": 4}],
                                                    "host": {"cpus": 1}}},
                             drop=("churn",))).run()
    assert alone.metrics["makespan_s"] == pytest.approx(20.0)
    assert shared.metrics["makespan_s"] == alone.metrics["makespan_s"]
