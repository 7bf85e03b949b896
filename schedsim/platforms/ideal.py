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

from schedsim.metrics import DONE
from schedsim.model.cluster import Node
from schedsim.model.network import Link, Transfer
from schedsim.model.workload import Task
from schedsim.platforms.base import Platform
from schedsim.platforms.execution import Execution, Running

if TYPE_CHECKING:
    from schedsim.platforms.context import PlatformContext


class Slot(Running):
    """One core of a node, running one task at a time (``task`` None when free). It keeps
    what a task's steps read of its node (id, speed, network paths, whether it takes tasks),
    so that they touch the slot and not the node: at 100k nodes every object touched is a
    likely cache miss."""

    __slots__ = ("index", "idle", "ready", "node_id", "path_to_node", "path_to_manager")

    def __init__(self, node: Node, index: int, path_to_node: tuple[Link, ...],
                 path_to_manager: tuple[Link, ...]) -> None:
        super().__init__(None, 0.0, node.speed)  # type: ignore[arg-type]  # free
        self.index = index
        self.idle = False  # waiting in the idle FIFO for a requeued task
        self.ready = True  # its node is ready (not notified, not gone): it takes tasks
        self.node_id = node.id
        self.path_to_node = path_to_node  # the links its inputs cross
        self.path_to_manager = path_to_manager  # the links its outputs cross


class IdealPlatform(Platform):
    """Slots are callback-driven: each step of a task is one scheduled event, no process."""

    name = "ideal"

    def __init__(self, ctx: PlatformContext, config: Any) -> None:
        super().__init__(ctx, config)
        self._idle: deque[Slot] = deque()
        network = ctx.network
        self._in = ctx.workload.input_size if network is not None else 0.0
        self._out = ctx.workload.output_size if network is not None else 0.0
        self._network = network
        self._host = ctx.host
        self.execution = Execution(ctx, self._ran)
        # Bound once: these run once or twice per task.
        self._take = ctx.workload.take
        self._log = ctx.log.add
        self._completed = ctx.task_completed
        # A callback bound once (an attribute read of a method makes a new bound method): it
        # rides on every task's output transfer.
        self._cb_returned = self._returned
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
            task = slot.task
            if task is None:
                continue
            # The run, or the output's transfer, stops; the task goes back to the queue.
            self.execution.lost(slot, node.id, slot.index, self.env.now)
            slot.task = None  # free
            self._requeue(task)

    def _requeue(self, task: Task) -> None:
        self.ctx.workload.requeue(task)
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
        slot.start = self.env.now
        if self._in:  # (a network)
            self.execution.fetch(slot, slot.path_to_node, self._in)
        elif self._host is not None:
            self.execution.on_host(slot)
        else:
            self.execution.run(slot)

    def _ran(self, slot: Slot) -> None:
        """The task ran; send its output back."""
        if self._out:  # (a network)
            slot.run = Transfer(self.env, slot.path_to_manager, self._out, self._latency,
                                self._cb_returned, slot)
        else:
            self._returned(slot)

    def _returned(self, slot: Slot) -> None:
        task = slot.task
        slot.run = None
        slot.task = None  # type: ignore[assignment]  # free
        self._log(task.id, slot.node_id, slot.index, slot.start, self.env.now, DONE)
        self._completed()
        self._next(slot)
