"""The zmq platform: one ZeroMQ coordinator thread and workers that pull their tasks.

The coordinator (devlog 004; the live :mod:`schedsim.live.zmq`) is one
:class:`~schedsim.model.server.SerialServer`. A worker starts ``worker_start_time`` after its
node is ready, says hello and asks for one task per slot; a result also asks for that slot's
next task (one credit per free slot, no prefetch). The coordinator serves results first (each
costs ``result_time``: the output file and the journal) and otherwise hands the oldest request
the next ready task (``dispatch_time``). The task's input crosses the network to the node, the
worker forks it (``task_launch_time``) and runs it, reads its output and sends the result
(``result_latency``, each worker in parallel), and the output crosses the network back to the
coordinator before the result is journalled.

Nothing tells the coordinator that a node is gone (a ROUTER socket reports no disconnects):
it gives a worker up once it has been silent for ``heartbeat_interval x heartbeat_liveness``.
Until then the dead worker's pending requests still receive tasks, which are lost with it. A
given-up worker's tasks go back to the queue while they have lost attempts left
(``max_retries``), else they fail. A drained node (``churn[].on_notice: drain``) stops asking.
Facts and sources: docs/models.md.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from schedsim.metrics import DONE, Outcome
from schedsim.model.network import Link, Transfer
from schedsim.model.server import Job, SerialServer
from schedsim.platforms.base import Platform
from schedsim.platforms.detection import DetectionLaw, LossDetection
from schedsim.platforms.execution import Execution, RetryBudget, Running
from schedsim.platforms.zmq.config import ZmqConfig, default_config

if TYPE_CHECKING:
    from schedsim.model.cluster import Node
    from schedsim.model.workload import Task
    from schedsim.platforms.context import PlatformContext


class Worker:
    """One node's worker process as the coordinator knows it."""

    __slots__ = ("node_id", "speed", "slots", "running", "joined", "dead", "lost", "draining",
                 "active", "path_to_node", "path_to_manager")

    def __init__(self, node: Node, to_node: tuple[Link, ...],
                 to_manager: tuple[Link, ...]) -> None:
        self.node_id = node.id
        self.speed = node.speed
        self.slots = node.cores  # one task per core, as the live worker's --slots
        self.running: dict[int, Attempt] = {}  # slot -> the attempt dispatched to it
        self.joined = False  # its hello reached the coordinator
        self.dead = False  # its node is gone, whether or not the coordinator knows
        self.lost = False  # the coordinator gave it up
        self.draining = False  # it asks for no more tasks
        self.active = True  # a give-up job for it is never stale
        self.path_to_node = to_node  # the links its inputs cross
        self.path_to_manager = to_manager  # the links its outputs cross


class Attempt(Running):
    """One dispatch of a task to a worker's slot; ``run`` holds what it waits for (its input,
    its run, its output's transfer)."""

    __slots__ = ("worker", "slot", "active", "sent", "logged")

    def __init__(self, task: Task, worker: Worker, slot: int, start: float) -> None:
        super().__init__(task, start, worker.speed)
        self.worker = worker
        self.slot = slot
        self.active = True  # neither journalled nor given up
        self.sent = False  # its result left the worker: the coordinator will journal it
        self.logged = False  # recorded as preempted when its node went


def _stale(arg: Attempt | Worker) -> bool:
    """A queued result of an attempt already given up (never a give-up job)."""
    return not arg.active


class ZmqPlatform(Platform):
    name = "zmq"
    config: ZmqConfig

    def __init__(self, ctx: PlatformContext, config: Any) -> None:
        super().__init__(ctx, config if config is not None else default_config())
        cfg = self.config
        self._requests: deque[tuple[Worker, int]] = deque()  # (worker, free slot), FIFO
        self._retries = RetryBudget(cfg.max_retries)
        self._workload = ctx.workload
        network = ctx.network
        self._network = network
        self._in = ctx.workload.input_size if network is not None else 0.0
        self._out = ctx.workload.output_size if network is not None else 0.0
        self._latency = network.latency if network is not None else 0.0
        size = ctx.workload.output_size
        self._send_s, self._journal_s = cfg.send_s(size), cfg.journal_s(size)
        host = ctx.host
        self._host = host
        self.execution = Execution(ctx, self._ran, cfg.task_launch_time)
        self.detection = LossDetection(ctx, DetectionLaw((cfg.detection_delay,)), self._silent)
        self.server = SerialServer(self.env, "coordinator", self._pull, None, _stale,
                                   host.book if host is not None and host.platform_work
                                   else None)
        self.given_up = 0  # workers the coordinator gave up
        # Callbacks bound once: they ride on every task's jobs and transfers.
        self._cb_dispatched, self._cb_returned = self._dispatched, self._returned
        self._cb_send = self._send
        self._cb_journalled = self._journalled

    # ------------------------------------------------------------------ node events

    def node_ready(self, node: Node) -> None:
        net = self._network
        to_node = net.path_to_node(node.id, node.cores) if net is not None else ()
        to_manager = net.path_to_manager(node.id, node.cores) if net is not None else ()
        worker = Worker(node, to_node, to_manager)
        node.data = worker
        start = self.config.worker_start_time
        host = self._host
        if host is not None and host.platform_work:
            host.launch(start, self._hello, worker)  # the interpreter's start is CPU work
        else:
            self.env.after(start, self._hello, worker)

    def _hello(self, worker: Worker) -> None:
        """The worker registered: each of its slots asks for a task."""
        if worker.dead or worker.draining:
            return
        worker.joined = True
        self._requests.extend((worker, slot) for slot in range(worker.slots))
        self.server.wake()

    def node_notified(self, node: Node) -> None:
        worker = node.data
        if isinstance(worker, Worker) and self.ctx.churn.drains(node.pool):
            worker.draining = True  # its running tasks finish; its requests are skipped

    def node_lost(self, node: Node) -> None:
        worker = node.data
        if not isinstance(worker, Worker) or worker.dead:
            return
        worker.dead = True
        now = self.env.now
        for slot in sorted(worker.running):
            attempt = worker.running[slot]
            if attempt.sent:
                continue  # its result is on its way: the coordinator journals it
            # Its input, run or output stops with the node; the coordinator learns later.
            self.execution.lost(attempt, worker.node_id, slot, now)
            attempt.logged = True
        if worker.joined:  # silent, whatever the notice: a ROUTER socket sees no close
            self.detection.lost(node)

    def _silent(self, node: Node) -> None:
        # The check runs in the coordinator's loop: behind what it is serving.
        self.server.push(0.0, self._give_up, node.data)

    def _give_up(self, worker: Worker) -> None:
        """Its tasks go back to the queue, in slot order, or fail out of retries."""
        worker.lost = True
        self.given_up += 1
        for slot in sorted(worker.running):
            attempt = worker.running[slot]
            attempt.active = False
            if not attempt.logged:  # dispatched to the dead worker: it never ran
                self.ctx.log.add(attempt.task.id, worker.node_id, slot, attempt.start,
                                 attempt.start, Outcome.PREEMPTED)
            if self._retries.spend(attempt.task.id):
                self._workload.requeue(attempt.task)
            else:
                self.ctx.task_failed()
        worker.running.clear()

    # ------------------------------------------------------------------ the coordinator

    def _pull(self) -> Job | None:
        """Hand the oldest request of a worker not given up the next ready task."""
        requests, wl = self._requests, self._workload
        while requests and wl.ready:
            worker, slot = requests.popleft()
            if worker.lost or worker.draining:
                continue  # a request of a worker given up or draining: dropped
            task = wl.take()
            assert task is not None
            attempt = Attempt(task, worker, slot, self.env.now)
            worker.running[slot] = attempt
            return self.config.dispatch_time, self._cb_dispatched, attempt
        return None

    def _dispatched(self, attempt: Attempt) -> None:
        """The task reached the worker (its input next, over the network), which forks it."""
        if not attempt.active or attempt.worker.dead:
            return  # sent to a dead worker: lost when the worker is given up
        if self._in:
            self.execution.fetch(attempt, attempt.worker.path_to_node, self._in)
        elif self._host is not None:
            self.execution.launch_on_host(attempt)
        else:
            self.execution.run(attempt)

    def _ran(self, attempt: Attempt) -> None:
        """The task's process exited: the worker reads its output and sends the result."""
        latency = self._send_s
        if latency > 0.0:
            # Cancelled with the attempt if the node goes meanwhile (Execution.lose).
            attempt.run = self.env.after(latency, self._cb_send, attempt)
        else:
            self._send(attempt)

    def _send(self, attempt: Attempt) -> None:
        """The result and its output leave the worker for the coordinator."""
        if self._out:
            attempt.run = Transfer(self.env, attempt.worker.path_to_manager, self._out,
                                   self._latency, self._cb_returned, attempt)
        else:
            self._returned(attempt)

    def _returned(self, attempt: Attempt) -> None:
        attempt.run = None
        attempt.sent = True
        self.server.push(self._journal_s, self._cb_journalled, attempt)

    def _journalled(self, attempt: Attempt) -> None:
        """The coordinator wrote the result; it is also the slot's next request."""
        attempt.active = False
        worker = attempt.worker
        del worker.running[attempt.slot]
        self.ctx.log.add(attempt.task.id, worker.node_id, attempt.slot, attempt.start,
                         self.env.now, DONE)
        self.ctx.task_completed()
        self._requests.append((worker, attempt.slot))
