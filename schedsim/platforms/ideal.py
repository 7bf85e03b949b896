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
from typing import TYPE_CHECKING, Any

from schedsim.metrics import DONE, Outcome
from schedsim.model.cluster import Node
from schedsim.model.engine import Entry
from schedsim.model.network import NOT_DUE, Link, Transfer
from schedsim.model.workload import Task
from schedsim.platforms.base import Platform

if TYPE_CHECKING:
    from schedsim.simulation import Simulation


# Slot.run_start when no run is under way (before it, or once counted), and when the run is
# folded into the input transfer's delivery (it began at the transfer's due time minus the run).
NOT_RUNNING = -1.0
IN_TRANSFER = -2.0


class Slot:
    """One core of a node, running one task at a time. It keeps what a task's steps read of
    its node (id, speed, network paths, whether it takes tasks), so that they touch the slot
    and not the node: at 100k nodes every object touched is a likely cache miss."""

    __slots__ = ("index", "task", "start", "run_start", "pending", "idle", "ready", "node_id",
                 "speed", "path_to_node", "path_to_manager")

    def __init__(self, node: Node, index: int, path_to_node: tuple[Link, ...],
                 path_to_manager: tuple[Link, ...]) -> None:
        self.index = index
        self.task: Task | None = None
        self.start = 0.0
        self.run_start = NOT_RUNNING  # when its task's process began to run (compute time)
        self.pending: Transfer | Entry | None = None  # what the slot waits for
        self.idle = False  # waiting in the idle FIFO for a requeued task
        self.ready = True  # its node is ready (not notified, not gone): it takes tasks
        self.node_id = node.id
        self.speed = node.speed
        self.path_to_node = path_to_node  # the links its inputs cross
        self.path_to_manager = path_to_manager  # the links its outputs cross


class IdealPlatform(Platform):
    """Slots are callback-driven: each step of a task is one scheduled event, no process."""

    name = "ideal"

    def __init__(self, sim: Simulation, config: Any) -> None:
        super().__init__(sim, config)
        self._idle: deque[Slot] = deque()
        network = sim.network
        self._network = network
        self._in = sim.workload.input_size if network is not None else 0.0
        self._out = sim.workload.output_size if network is not None else 0.0
        self._host = sim.host
        # Bound once: these run once or twice per task.
        self._take = sim.workload.take
        self._log = sim.log.add
        self._attempts = sim.log
        self._completed = sim.task_completed
        # Callbacks bound once (an attribute read of a method makes a new bound method):
        # they ride on every task's timers and transfers.
        self._cb_ran, self._cb_returned = self._ran, self._returned
        self._latency = network.latency if network is not None else 0.0

    def node_ready(self, node: Node) -> None:
        net = self._network
        to_node = net.path_to_node(node.id, node.cores) if net is not None else ()
        to_manager = net.path_to_manager(node.id, node.cores) if net is not None else ()
        slots = [Slot(node, i, to_node, to_manager) for i in range(node.cores)]
        node.data = slots
        for slot in slots:
            self._next(slot)

    def node_notified(self, node: Node) -> None:
        for slot in node.data or ():
            slot.idle = slot.ready = False  # drains: a running task finishes, nothing new

    def node_lost(self, node: Node) -> None:
        for slot in node.data or ():
            slot.idle = slot.ready = False
            pending, slot.pending = slot.pending, None
            task = slot.task
            if task is not None:
                self._cut_run(slot, task, pending)
            if isinstance(pending, Transfer):
                pending.cancel()
            elif pending is not None:
                self.env.cancel(pending)  # the run's timer
            if task is not None:
                slot.task = None
                self.sim.log.add(task.id, node.id, slot.index, slot.start, self.env.now,
                                 Outcome.PREEMPTED)
                self._requeue(task)

    def _cut_run(self, slot: Slot, task: Task, pending: Transfer | Entry | None) -> None:
        """The node is lost under a task: the part of its run done so far was computed."""
        start = slot.run_start
        if start == IN_TRANSFER and isinstance(pending, Transfer) and pending.due != NOT_DUE:
            start = pending.due - task.duration / slot.speed
        if start >= 0.0 and self.env.now > start:
            self._attempts.compute_core_s += self.env.now - start
        slot.run_start = NOT_RUNNING

    def _requeue(self, task: Task) -> None:
        self.sim.workload.requeue(task)
        idle = self._idle
        while idle:
            slot = idle.popleft()
            if slot.idle and slot.ready:
                slot.idle = False
                self._next(slot)
                return

    def _next(self, slot: Slot) -> None:
        """The slot is free: take the next task, or wait in the idle FIFO."""
        if not slot.ready:
            return
        task = self._take()
        if task is None:
            slot.idle = True
            self._idle.append(slot)
            return
        slot.task = task
        slot.start = now = self.env.now
        if self._in:  # (a network)
            if self._host is None:
                # The input's arrival and the run time that follows are one event.
                slot.run_start = IN_TRANSFER
                slot.pending = Transfer(self.env, slot.path_to_node, self._in,
                                        self._latency + task.duration / slot.speed,
                                        self._cb_ran, slot)
            else:
                slot.pending = Transfer(self.env, slot.path_to_node, self._in, self._latency,
                                        self._on_host, slot)
        elif self._host is not None:
            self._on_host(slot)
        else:
            slot.run_start = now
            slot.pending = self.env.after(task.duration / slot.speed, self._cb_ran, slot)

    def _on_host(self, slot: Slot) -> None:
        """The task runs as CPU work on the shared host (cancelled if its node is lost)."""
        assert self._host is not None and slot.task is not None
        slot.run_start = self.env.now
        slot.pending = self._host.run(slot.task.duration / slot.speed, self._ran, slot)

    def _ran(self, slot: Slot) -> None:
        """The task ran; send its output back."""
        start = slot.run_start
        self._attempts.compute_core_s += self.env.now - start if start >= 0.0 else \
            slot.task.duration / slot.speed  # type: ignore[union-attr]  # (a task is running)
        slot.run_start = NOT_RUNNING
        if self._out:  # (a network)
            slot.pending = Transfer(self.env, slot.path_to_manager, self._out, self._latency,
                                    self._cb_returned, slot)
        else:
            self._returned(slot)

    def _returned(self, slot: Slot) -> None:
        task: Task = slot.task  # type: ignore[assignment]
        slot.pending = None
        slot.task = None
        self._log(task.id, slot.node_id, slot.index, slot.start, self.env.now, DONE)
        self._completed()
        self._next(slot)
