"""One replication of a scenario: builds the SimPy model, runs it, and measures it.

A :class:`Simulation` owns one SimPy environment (an :class:`~schedsim.model.engine.Engine`)
and wires the components explicitly: the lazy workload, the cluster and its churn, the network
(only when the scenario has one) and the platform chosen by the scenario's ``platform.type``.
The job ends when every task has finished or failed, when the platform fails it (a lost head
node, a driver out of memory), when the scenario's horizon passes, when nothing is left to
happen (a stalled job: every node gone and none replaced), or when no task finishes for a long
stretch while attempts or nodes are lost (no progress, schedsim/watch.py).
:meth:`Simulation.run` returns the replication's metrics; a ``progress`` callback gets the
tasks finished so far while it runs.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import simpy

from schedsim.bound import scenario_bound
from schedsim.distributions import Draws
from schedsim.metrics import FAILURE_KINDS, AttemptLog, NodeEvent, NodeLog
from schedsim.model.churn import Churn
from schedsim.model.cluster import Cluster, Node
from schedsim.model.engine import Engine
from schedsim.model.host import SharedHost
from schedsim.model.network import Network
from schedsim.model.workload import Workload
from schedsim.platforms import create_platform
from schedsim.platforms.context import PlatformContext
from schedsim.rng import Streams
from schedsim.scenario import Scenario
from schedsim.watch import Progress, Watch

WATCHDOG_FACTOR = 1000.0  # default horizon: this many times the makespan lower bound ...
WATCHDOG_SLACK_S = 7 * 86400.0  # ... plus a week
GC_YOUNG_THRESHOLD = 100_000  # allocations between young collections during a run (700)
# Runs of at least this many tasks freeze the model for the collector, after a full collection
# (tens of ms in a large process: it would dwarf a small run, which freezing does not speed up).
FREEZE_MIN_TASKS = 20_000


@dataclass
class RunResult:
    """Metrics of one replication, the reason it failed if it did, and its attempt log."""

    metrics: dict[str, float]
    failure: str | None
    log: AttemptLog
    events: int
    failure_kind: str | None = None  # one of metrics.FAILURE_KINDS when the job failed
    nodes: NodeLog | None = None  # node lifecycle events, kept with the attempt records


class Simulation:
    """The model of one replication."""

    def __init__(self, scenario: Scenario, replication: int = 0, keep_records: bool = True,
                 progress: Progress | None = None,
                 progress_interval: float | None = None) -> None:
        self.scenario = scenario
        self.replication = replication
        self.env = Engine()
        self.streams = Streams(scenario.seed, replication)
        wl = scenario.workload
        self.workload = Workload(wl.tasks, Draws(wl.duration, self.streams.get("durations")),
                                 wl.input_size, wl.output_size)
        self.log = AttemptLog(keep_records)
        self.network = Network(self.env, scenario.network) if scenario.network else None
        self.host = SharedHost(self.env, scenario.cluster.host, wl.task) \
            if scenario.cluster.host is not None else None
        self.cluster = Cluster(self.env, scenario.cluster, self.streams)
        self.churn = Churn(self.env, self.cluster, scenario.churn, self.streams)
        self.platform = create_platform(PlatformContext(
            self.env, self.cluster, self.churn, self.network, self.host, self.workload, self.log,
            self.streams, wl, scenario.cluster, scenario.network,
            self.task_completed, self.task_failed, self.fail_job), scenario.platform)
        self.cluster.on_ready.append(self.platform.node_ready)
        self.cluster.on_ready.append(self.churn.node_ready)
        self.cluster.on_notice.append(self.platform.node_notified)
        self.cluster.on_gone.append(self.platform.node_lost)
        if self.network is not None:
            self.cluster.on_gone.append(lambda node: self.network.forget_node(node.id)
                                        if self.network is not None else None)
        self.done = self.env.event()
        self.failure: str | None = None
        self.failure_kind: str | None = None
        self.out_of_retries = 0  # tasks failed by their retry limit (not by a job failure)
        self.end: float | None = None  # when the job ended, if not at the last event
        self._last_change = 0.0  # last completion or node event, for a stalled job's end
        self.cluster.on_ready.append(self._changed)
        self.cluster.on_gone.append(self._changed)
        self.watch = Watch(self, progress, progress_interval)
        self.env.on_bucket = self.watch.poll
        self.nodes = self._record_nodes() if keep_records else None

    def _record_nodes(self) -> NodeLog:
        """Node events for traces and plots: hooks that only write down, so a run with them
        makes the same numbers as one without."""
        log, env = NodeLog(), self.env

        def hook(event: NodeEvent) -> Callable[[Node], None]:
            return lambda node: log.add(env.now, node.id, event)

        def launched(node: Node) -> None:
            log.labels[node.id] = node.pool if node.role == "worker" \
                else f"{node.pool}, {node.role}"
            log.add(env.now, node.id, NodeEvent.LAUNCHED)

        self.cluster.on_launch.append(launched)
        self.cluster.on_ready.append(hook(NodeEvent.READY))
        self.cluster.on_notice.append(hook(NodeEvent.NOTICE))
        self.cluster.on_gone.append(hook(NodeEvent.GONE))
        self.churn.on_preempted.append(hook(NodeEvent.PREEMPTED))
        return log

    def _changed(self, _node: object = None) -> None:
        self._last_change = self.env.now

    # ---------------------------------------------------------------- platform callbacks

    def task_completed(self) -> None:
        wl = self.workload
        wl.completed += 1
        self._last_change = self.env.now
        if wl.completed + wl.failed >= wl.total and not self.done.triggered:  # wl.finished
            self.done.succeed()

    def task_failed(self) -> None:
        """A task ran out of retries; the job goes on."""
        self.out_of_retries += 1
        self.workload.failed += 1
        if self.workload.finished and not self.done.triggered:
            self.done.succeed()

    def fail_job(self, reason: str, kind: str) -> None:
        """The job as a whole fails now (``kind``: one of FAILURE_KINDS); every unfinished
        task counts as failed."""
        assert kind in FAILURE_KINDS, kind
        if self.done.triggered:
            return
        self.failure = reason
        self.failure_kind = kind
        self.workload.failed += self.workload.unfinished
        self.done.succeed()

    def bound(self) -> dict[str, object]:
        """The analytic bound of this scenario on this platform (schedsim/bound.py)."""
        return scenario_bound(self.scenario)

    def horizon(self) -> float:
        """The scenario's horizon, or a watchdog far beyond any sane makespan.

        Churn with replacements never runs out of events, so a job that cannot progress
        (say, a head node lost over and over) would otherwise run for ever.
        """
        if self.scenario.horizon is not None:
            return self.scenario.horizon
        lower = float(self.bound()["makespan_lower_bound_s"])  # type: ignore[arg-type]
        return WATCHDOG_FACTOR * lower + WATCHDOG_SLACK_S

    def _horizon(self, limit: float) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(limit)
        if self.env.peek() == float("inf"):
            self._stalled()  # nothing else was going to happen: it stalled long ago
        else:
            self.fail_job(f"horizon of {limit:g} s reached", "horizon")

    def _stalled(self) -> None:
        self.end = self._last_change
        self.fail_job(f"stalled at {self.end:g} s: no node left to run "
                      f"{self.workload.unfinished} unfinished tasks", "stalled")

    # ---------------------------------------------------------------- running

    def run(self) -> RunResult:
        env = self.env
        self.cluster.start()
        self.churn.start()
        self.platform.start()
        env.process(self._horizon(self.horizon()))
        # The model built so far lives as long as the run: the cyclic collector need not scan
        # it, and young objects are collected less often (docs/performance.md). Earlier runs'
        # models in this process go first: frozen, a study's worker would keep every one.
        threshold = gc.get_threshold()
        freeze = self.scenario.workload.tasks >= FREEZE_MIN_TASKS
        if freeze:
            gc.collect()
            gc.freeze()
        gc.set_threshold(max(threshold[0], GC_YOUNG_THRESHOLD), *threshold[1:])
        try:
            env.run(until=self.done)
        except RuntimeError:  # no event left at all (cannot happen with a horizon)
            self._stalled()
        finally:
            gc.set_threshold(*threshold)
            if freeze:
                gc.unfreeze()
        self.watch.done()
        return RunResult(self.measure(), self.failure, self.log, env.scheduled,
                         self.failure_kind, self.nodes)

    def measure(self) -> dict[str, float]:
        end = self.env.now if self.end is None else self.end
        wl = self.workload
        cost = self.cluster.cost(end)
        ready_core_s = self.cluster.ready_core_seconds(end)
        return {
            "makespan_s": end,
            "throughput_tasks_per_s": wl.completed / end if end > 0 else 0.0,
            "tasks_completed": float(wl.completed),
            "tasks_failed": float(wl.failed),
            "task_attempts": float(self.log.attempts),
            "preemptions": float(self.churn.preemptions),
            "nodes_launched": float(self.cluster.nodes_launched),
            "wasted_core_s": self.log.wasted_core_s,
            "cost_usd": cost,
            "cost_per_1k_tasks_usd": 1000.0 * cost / wl.completed if wl.completed else float("nan"),
            "compute_utilization": self.log.compute_core_s / ready_core_s
            if ready_core_s else 0.0,
            "held_utilization": self.log.held_core_s / ready_core_s if ready_core_s else 0.0,
            "job_failed": 1.0 if self.failure else 0.0,
            "tasks_out_of_retries": float(self.out_of_retries),
            "bag_completed": 1.0 if wl.completed == wl.total else 0.0,
            "job_lost_manager": 1.0 if self.failure_kind == "manager_lost" else 0.0,
            "job_hit_horizon": 1.0 if self.failure_kind == "horizon" else 0.0,
        }

