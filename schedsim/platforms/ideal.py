"""The ideal platform: the analytic baseline with zero scheduling overhead.

Every core of a ready node is a slot that takes the next ready task at once. Tasks stage their
input and output over the network when the scenario has one, and otherwise run back to back. A
node that gets a reclaim notice drains (its slots take no new task), and a node that is lost
sends its running tasks straight back to the queue, with unlimited retries. Slots with nothing
to do wait in a FIFO of idle slots and are woken one per requeued task, so no event is spent
on slots that have nothing to do.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from schedsim.metrics import Outcome
from schedsim.model.cluster import Node, NodeState
from schedsim.model.network import Flow, Transfer
from schedsim.model.workload import Task
from schedsim.platforms.base import Platform
from schedsim.reader import Reader

if TYPE_CHECKING:
    from schedsim.simulation import Simulation


def read_config(r: Reader) -> None:
    """The ideal platform has no parameters."""
    r.done()
    return None


class Slot:
    """One core of a node, running one task at a time."""

    __slots__ = ("node", "index", "process", "wake", "task", "transfer")

    def __init__(self, node: Node, index: int) -> None:
        self.node = node
        self.index = index
        self.process: simpy.Process | None = None
        self.wake: simpy.Event | None = None  # set while the slot waits for work
        self.task: Task | None = None
        self.transfer: Flow | Transfer | None = None


class IdealPlatform(Platform):
    name = "ideal"

    def __init__(self, sim: Simulation, config: Any) -> None:
        super().__init__(sim, config)
        self._idle: deque[Slot] = deque()

    def node_ready(self, node: Node) -> None:
        slots = [Slot(node, i) for i in range(node.cores)]
        node.data = slots
        for slot in slots:
            slot.process = self.env.process(self._run(slot))

    def node_notified(self, node: Node) -> None:
        for slot in node.data or ():
            if slot.wake is not None and slot.process is not None:
                slot.process.interrupt("drain")

    def node_lost(self, node: Node) -> None:
        for slot in node.data or ():
            if slot.process is not None and slot.process.is_alive:
                slot.process.interrupt("lost")

    def _requeue(self, task: Task) -> None:
        self.sim.workload.requeue(task)
        idle = self._idle
        while idle:
            slot = idle.popleft()
            if slot.wake is not None and slot.node.state == NodeState.READY:
                wake, slot.wake = slot.wake, None
                wake.succeed()
                return

    def _run(self, slot: Slot) -> Generator[simpy.Event, Any, None]:
        sim = self.sim
        env = self.env
        node = slot.node
        workload = sim.workload
        log = sim.log
        network = sim.network
        in_size = workload.input_size if network is not None else 0.0
        out_size = workload.output_size if network is not None else 0.0
        start = 0.0
        try:
            while node.state == NodeState.READY:
                task = workload.take()
                if task is None:
                    slot.wake = env.event()
                    self._idle.append(slot)
                    yield slot.wake
                    continue
                slot.task = task
                start = env.now
                if in_size and network is not None:
                    # The input's arrival and the run time that follows are one event.
                    slot.transfer = network.transfer(node.id, node.cores, in_size, task[1])
                    yield slot.transfer.event
                else:
                    yield env.timeout(task[1])
                if out_size and network is not None:
                    slot.transfer = network.transfer(node.id, node.cores, out_size)
                    yield slot.transfer.event
                slot.transfer = None
                slot.task = None
                log.add(task[0], node.id, slot.index, start, env.now, Outcome.DONE)
                sim.task_completed()
        except simpy.Interrupt:
            slot.wake = None
            if slot.transfer is not None:
                slot.transfer.cancel()
                slot.transfer = None
            if slot.task is not None:
                log.add(slot.task[0], node.id, slot.index, start, env.now, Outcome.PREEMPTED)
                self._requeue(slot.task)
                slot.task = None
