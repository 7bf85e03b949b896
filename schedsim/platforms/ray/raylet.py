"""Raylets and leases: each node's worker slots, leased to waiting tasks one per core.

A submitted task waits for a free slot, pays the lease and push latency (and a worker process
start the first time a slot is used), fetches its input over the head's link, and runs
(:class:`~schedsim.platforms.execution.Execution`). When its process exits the slot takes the
next lease and its result goes to the object store or, inline, to the driver. A drained or
dead node leases nothing.
"""

from __future__ import annotations

from collections import deque

from schedsim.model.cluster import Node
from schedsim.model.network import Link, Transfer
from schedsim.model.workload import Task
from schedsim.platforms.execution import NOT_RUNNING, Running
from schedsim.platforms.ray.state import RayState


class Slot:
    """One worker process slot (a CPU) on a node. It keeps what a task's steps read of its
    node, so that they touch the slot and the node's Ray state, not the node itself."""

    __slots__ = ("index", "warm", "rnode", "node_id", "speed")

    def __init__(self, node: Node, index: int, rnode: RayNode) -> None:
        self.index = index
        self.warm = False
        self.rnode = rnode
        self.node_id = node.id
        self.speed = node.speed


class RayNode:
    """Per-node state: its slots, and the attempts that depend on it."""

    __slots__ = ("slots", "attempts", "dead", "draining", "notified", "detected", "replace",
                 "path_to_node", "path_to_manager", "pull_path", "pulling", "pulls")

    def __init__(self, node: Node, path_to_node: tuple[Link, ...] = (),
                 path_to_manager: tuple[Link, ...] = ()) -> None:
        self.slots = [Slot(node, i, self) for i in range(node.cores)]
        self.path_to_node = path_to_node  # the links from the head to this node (inputs)
        self.path_to_manager = path_to_manager  # from this node to the head (outputs)
        # Attempts whose result the driver does not hold yet: running (from the lease),
        # sending their output, or stored here (a large result not yet fetched; done_at set).
        # One set, so a task's steps touch one object of its node.
        self.attempts: set[Attempt] = set()
        self.dead = False
        self.draining = False  # drained at its notice: no new leases, retries free
        self.notified = False  # noticed: shuts down cleanly at the end, reported at once
        self.detected = False  # the GCS knows the node is dead
        self.replace = False  # churn asked for a replacement
        # Large results the driver pulls from here: the path they take (to the head, then
        # the driver's intake), how many are in flight and which wait for the node's outbound limit.
        self.pull_path = path_to_manager
        self.pulling = 0
        self.pulls: deque[Attempt] = deque()


class Attempt(Running):
    """One lease of a slot for a task, until the driver holds its result."""

    __slots__ = ("slot", "active", "done_at")

    def __init__(self, task: Task, slot: Slot, start: float) -> None:
        # Running's fields set here, not by its __init__: one call less per attempt.
        self.task = task
        self.start = start
        self.speed = slot.speed
        self.run_start = NOT_RUNNING
        self.run = None
        self.slot = slot
        self.active = True
        self.done_at = -1.0  # when it finished running (its result stored or sent)


class Raylet(RayState):
    """The raylets' part of :class:`~schedsim.platforms.ray.platform.RayPlatform`."""

    def node_ready(self, node: Node) -> None:
        if node.role == "manager":
            self.head_node = node
            self.head_up = True
            self.driver.wake()
            self._lease()
            return
        net = self._net
        node.data = rnode = RayNode(node) if net is None else RayNode(
            node, net.path_to_node(node.id, node.cores), net.path_to_manager(node.id, node.cores))
        rnode.pull_path = self._pull_link or rnode.path_to_manager + self._intake
        self._free.extend(node.data.slots)
        self._lease()

    def _lease(self) -> None:
        free, queue = self._free, self._waiting
        self._submit_staged_if_due()
        if queue and free and self.head_up:  # (nothing is leased before the head is up)
            self._lease_from(queue, free)
        if free and self._staged is not None:
            self._staged_timer_at_end()  # a free slot waits for the staged tasks

    def _lease_from(self, queue: deque[Task], free: deque[Slot]) -> None:
        cfg = self.config
        env = self.env
        fetch, size, execution = self._fetch, self._in, self.execution
        latency = self._net.latency if self._net is not None else 0.0
        while queue and free:
            slot = free.popleft()
            rnode = slot.rnode
            if rnode.dead or rnode.draining:
                continue
            task = queue.popleft()
            attempt = Attempt(task, slot, env.now)
            rnode.attempts.add(attempt)
            delay = cfg.lease_latency
            if not slot.warm:
                slot.warm = True
                delay += cfg.worker_start_time
            if fetch:
                # The worker fetches the input once leased and pushed: its request reaches
                # the head one latency later, then the data moves (booked on the link now, no
                # event for its begin) and arrives one latency after its last byte left.
                execution.fetch(attempt, rnode.path_to_node, size, delay + latency)
            elif self._host is not None:
                if self._host.platform_work:
                    # Leased, then the worker process starts (once per slot) and launches
                    # the task, both CPU work on the shared host.
                    attempt.run = env.after(cfg.lease_latency, self._start_worker
                                            if delay > cfg.lease_latency
                                            else execution.launch_on_host, attempt)
                else:
                    execution.start_on_host(attempt, delay)
            else:
                execution.run(attempt, delay)

    def _start_worker(self, attempt: Attempt) -> None:
        """A cold slot: its worker process starts, as CPU work on the shared host, then
        launches the task."""
        assert self._host is not None
        attempt.run = self._host.launch(self.config.worker_start_time,
                                        self.execution.launch_on_host, attempt)

    def _executed(self, attempt: Attempt) -> None:
        """The task's process exited (a lost node's run was cancelled): its result is stored
        or sent, and the slot takes the next lease."""
        slot = attempt.slot
        rnode = slot.rnode
        attempt.done_at = self.env.now
        if not rnode.draining:
            self._free.append(slot)
        if self._large:  # stored on the node (done_at is set) until fetched
            if self._batched:
                self._request_pull(attempt, rnode)
            else:
                self._result_ready(attempt)
        elif self._net is not None and self._out > 0:
            Transfer(self.env, rnode.path_to_manager, self._out, self._net.latency,
                     self._cb_arrived, attempt)
        else:
            self._arrived(attempt)
        if self._waiting or self._staged is not None:
            self._lease()
