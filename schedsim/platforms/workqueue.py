"""CCTools Work Queue: one single-threaded manager that stages every file itself.

The manager is a :class:`~schedsim.model.server.SerialServer`. Retrievals of finished tasks are
pushed to it and served first; otherwise it dispatches the next ready task to a free worker
slot; only when it has neither does it accept connecting workers and notice workers lost
without a goodbye. A dispatch costs a per-task service time, a scan of every connected worker
and the one-way send of the task's files; a retrieval costs its service time and a fetch (a
round trip plus the bytes). The executable is sent once per worker connection (cached) and
again to every new connection. A retrieval still queued when its worker is dropped is
skipped at no cost. A task takes a whole worker unless ``task_cores`` says otherwise.

At a reclaim notice (``churn[].on_notice``) the worker either keeps working (``shutdown``) or
is drained (no new tasks); either way it closes its connection when the node goes, the
manager sees it at once and requeues its tasks, which count as retries only after a
shutdown. A node lost with no notice is noticed by the keepalive check 30 to 150 s later
(drawn), in an idle moment of the manager. ``max_retries`` 0 retries for ever. Facts and
sources: docs/models.md.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from schedsim.metrics import DONE, Outcome
from schedsim.model.cluster import Node
from schedsim.model.server import Job, SerialServer
from schedsim.model.workload import Task
from schedsim.platforms.base import Platform
from schedsim.platforms.detection import DetectionLaw, LossDetection
from schedsim.platforms.execution import NOT_RUNNING, Execution, RetryBudget, Running
from schedsim.platforms.workqueue_options import (
    FactoryConfig,
    WorkQueueConfig,
    default_config,
    slots_of,
)

if TYPE_CHECKING:
    from schedsim.platforms.context import PlatformContext


class Worker:
    """A work_queue_worker process on one node, as the manager sees it. It keeps what a
    task's steps read of its node (id, speed, the cores an attempt holds), so that they touch
    the worker and not the node: at 100k nodes every object touched is a likely cache miss."""

    __slots__ = ("node", "slots", "connected", "open", "dead", "notified", "draining",
                 "has_exe", "running", "idle_since", "node_id", "speed", "cores", "tries",
                 "active", "free_slots")

    def __init__(self, node: Node, slots: int, cores: int) -> None:
        self.node = node
        self.node_id = node.id
        self.speed = node.speed
        self.cores = cores  # the cores each of its attempts holds
        self.slots = slots
        # Which of its slots (cores, or task_cores apiece) are free, for the attempt log
        # and traces: a stack, lowest index on top. Which slot a task takes changes nothing.
        self.free_slots: list[int] = []
        self.connected = False
        self.open = False  # connected and not draining: may be sent tasks
        self.dead = False  # the node is gone, whether or not the manager knows
        self.notified = False  # its node got a reclaim notice: it will leave cleanly
        self.draining = False  # and the deployment drains it: no new tasks, retries free
        self.has_exe = False
        self.running: set[Attempt] = set()
        self.idle_since = 0.0
        self.tries = 0  # connect attempts that found the listen queue full
        self.active = True  # never stale as a manager job: its accept checks it is alive


# Attempt.exec_start before the worker has the task, and once its loss is logged (the
# manager learns of it later).
NOT_SENT = -1.0
LOSS_LOGGED = -2.0


class Attempt(Running):
    """One dispatch of a task to a worker."""

    __slots__ = ("worker", "slot", "exec_start", "exec_time", "active", "ran")

    def __init__(self, task: Task, worker: Worker, slot: int, start: float) -> None:
        # Running's fields set here, not by its __init__: one call less per attempt.
        self.task = task
        self.start = start
        self.speed = worker.speed
        self.run_start = NOT_RUNNING
        self.run = None
        self.worker = worker
        self.slot = slot  # which of the worker's slots it holds
        self.exec_start = NOT_SENT
        self.exec_time = 0.0  # the worker's launch of the task plus its run on this node
        self.active = True
        self.ran = False  # the task's process has exited


# Connections one idle pass accepts at most, while more wait (work_queue.c MAX_NEW_WORKERS).
MAX_NEW_WORKERS = 10
MAX_CONNECT_RETRY = 60.0  # s: the longest wait between two connect attempts


def _nothing(_arg: object) -> None:
    pass


def _task_id(attempt: Attempt) -> int:
    return attempt.task.id


def _stale(attempt: Attempt) -> bool:
    """A queued retrieval whose worker was dropped: its task is back in the queue."""
    return not attempt.active


class WorkQueuePlatform(Platform):
    name = "workqueue"
    config: WorkQueueConfig

    def __init__(self, ctx: PlatformContext, config: Any) -> None:
        super().__init__(ctx, config if config is not None else default_config())
        cfg = self.config
        self._free: deque[Worker] = deque()  # one entry per free slot (lazily cleaned)
        self._accepts: deque[Worker] = deque()
        self._accept_batch = 0  # accepts made in a row in the current idle pass
        self._suspects: deque[Worker] = deque()  # lost abruptly, past the keepalive delay
        self._connected = 0  # workers the manager holds, for its per-worker scan
        self._retries = RetryBudget(cfg.max_retries or None)
        self._exec_sum = 0.0
        self._exec_n = 0
        self.manager_node: Node | None = None
        self.manager_up = cfg.manager_pool is None
        self.exe_sends = 0
        self.connections: list[float] = []  # when each worker connection was accepted
        host = ctx.host
        self.server = SerialServer(self.env, "manager", self._pull, self._idle, _stale,
                                   host.book if host is not None and host.platform_work
                                   else None)
        # Callbacks bound once (an attribute read of a method makes a new bound method):
        # they ride on every task's timers and manager jobs.
        self._cb_dispatched = self._dispatched
        self._cb_retrieved = self._retrieved
        self._workload = ctx.workload
        self.execution = Execution(ctx, self._executed, cfg.task_launch_time)
        # Keepalive: a silent worker is dropped a timeout after the next check, U(0, interval).
        self.detection = LossDetection(ctx, DetectionLaw(
            (cfg.keepalive_timeout,), cfg.keepalive_interval, "workqueue/keepalive"), self._found)

    # ------------------------------------------------------------------ manager node

    def start(self) -> None:
        if self.config.factory is not None:
            self.env.process(self._factory(self.config.factory))
        if self.config.manager_pool is not None:
            self.manager_node = self.ctx.cluster.launch(self.config.manager_pool, role="manager")

    def _factory(self, cfg: FactoryConfig) -> Generator[simpy.Event, Any, None]:
        """Every cycle: launch workers towards one per waiting or running task, within
        [min_workers, max_workers], at most workers_per_cycle at a time; idle workers past
        their idle timeout exit. Scans the pool once per cycle, never per event."""
        cluster = self.ctx.cluster
        while True:
            now = self.env.now
            nodes = [n for n in cluster.live[cfg.pool] if n.role == "worker"]
            for node in nodes:
                worker = node.data
                if isinstance(worker, Worker) and worker.connected and not worker.running \
                        and now - worker.idle_since >= cfg.idle_timeout:
                    self._disconnect(worker)
                    cluster.remove(node)
            live = sum(1 for n in cluster.live[cfg.pool] if n.role == "worker")
            busy = self.ctx.workload.ready + sum(
                len(n.data.running) for n in cluster.live[cfg.pool]
                if isinstance(n.data, Worker))
            target = min(cfg.max_workers, max(cfg.min_workers, busy))
            for _ in range(min(cfg.workers_per_cycle, max(0, target - live))):
                cluster.launch(cfg.pool)
            yield self.env.timeout(cfg.cycle)

    def _staging_time(self, size: float) -> float:
        """A send to the worker, one way: latency plus the bytes."""
        net = self.ctx.network
        return net.lone_transfer_time(size) if net is not None and size > 0 else 0.0

    def _fetch_time(self, size: float) -> float:
        """A fetch asks for the file and waits for it: a round trip plus the bytes."""
        net = self.ctx.network
        return net.lone_transfer_time(size, to_manager=True) + net.latency \
            if net is not None and size > 0 else 0.0

    # ------------------------------------------------------------------ node events

    def node_ready(self, node: Node) -> None:
        if node.role == "manager":
            self.manager_node = node
            self.manager_up = True
            self.server.wake()
            return
        worker = Worker(node, self._slots_of(node.cores), self._cores_of(node))
        node.data = worker
        host = self.ctx.host
        if host is not None and host.platform_work:
            # The worker's processes start as CPU work on the shared host, one per slot
            # (a live node is one work_queue_worker per core), then it connects.
            for _ in range(worker.slots - 1):
                host.launch(self.config.worker_connect_time, _nothing)
            host.launch(self.config.worker_connect_time, self._request_accept, worker)
            return
        self.env.after(self.config.worker_connect_time, self._request_accept, worker)

    def _request_accept(self, worker: Worker) -> None:
        if worker.dead or worker.draining:
            return
        cfg = self.config
        if cfg.listen_backlog is not None and len(self._accepts) >= cfg.listen_backlog:
            # The listen queue is full: the SYN is dropped and sent again later.
            delay = min(cfg.connect_retry * 2.0 ** worker.tries, MAX_CONNECT_RETRY)
            worker.tries += 1
            self.env.after(delay, self._request_accept, worker)
            return
        self._accepts.append(worker)
        self.server.wake()

    def node_notified(self, node: Node) -> None:
        worker = node.data
        if not isinstance(worker, Worker):
            return
        worker.notified = True  # shutdown: nothing yet; SIGTERM comes when the node goes
        if self.ctx.churn.drains(node.pool):
            worker.draining = True
            worker.open = False  # work_queue_specify_draining_by_hostname

    def node_lost(self, node: Node) -> None:
        if node.role == "manager":
            self.ctx.fail_job(f"Work Queue manager node lost at {self.env.now:g} s",
                              "manager_lost")
            return
        worker = node.data
        if not isinstance(worker, Worker) or worker.dead:
            return
        worker.dead = True
        if not worker.connected:
            return
        if not worker.notified:  # (else SIGTERM: the worker aborts its tasks and says so)
            now = self.env.now
            for attempt in sorted(worker.running, key=_task_id):  # a set has no fixed order
                if attempt.exec_start >= 0 and attempt.active:
                    # The node, and the task's process with it, is gone: the work is lost
                    # now; the manager learns of it later.
                    self.execution.lost(attempt, node.id, attempt.slot, now, worker.cores)
                    attempt.exec_start = LOSS_LOGGED
                else:
                    self.execution.lose(attempt)
        self.detection.lost(node, clean=worker.notified)

    def _found(self, node: Node) -> None:
        """The manager learns that a worker is gone: a closed connection at once (retries a
        drain forced do not count), a silent one in its next idle pass."""
        worker: Worker = node.data
        if worker.notified:
            self._disconnect(worker, counts=not worker.draining)
        else:
            self._suspects.append(worker)
            self.server.wake()

    def _slots_of(self, cores: int) -> int:
        """Tasks a worker of ``cores`` cores runs at once."""
        return slots_of(self.config, cores)

    def _cores_of(self, node: Node) -> int:
        return node.cores if self.config.task_cores is None else self.config.task_cores

    def _disconnect(self, worker: Worker, counts: bool = True) -> None:
        """The manager drops a worker: its tasks go back to the queue (or fail, when
        ``counts`` and a task is out of retries)."""
        if not worker.connected:
            worker.dead = True
            return
        worker.connected = worker.open = False
        worker.dead = True
        self._connected -= 1
        now = self.env.now
        for attempt in sorted(worker.running, key=_task_id):
            if not attempt.active or attempt.exec_start == LOSS_LOGGED:
                self.execution.lose(attempt)  # the worker kills its tasks as it leaves
                if not attempt.active:
                    continue
            else:
                self.execution.lost(attempt, worker.node_id, attempt.slot, now, worker.cores)
            attempt.active = False
            if counts:
                self._retry(attempt.task)
            else:
                self.ctx.workload.requeue(attempt.task)
                self.server.wake()
        worker.running.clear()

    def _retry(self, task: Task) -> None:
        if not self._retries.spend(task.id):
            self.ctx.task_failed()
            return
        self.ctx.workload.requeue(task)
        self.server.wake()

    # ------------------------------------------------------------------ the manager loop

    def _idle(self) -> bool:
        """Chores of a pass that sent and received nothing: accepts and keepalive checks."""
        if not self.manager_up:
            return False
        did = False
        while self._suspects:
            self._disconnect(self._suspects.popleft())
            did = True
        if self.config.accept_time > 0:
            return self._accept_next(0) or did
        while self._accepts:
            worker = self._accepts.popleft()
            if worker.dead or worker.draining:
                continue
            self._accept(worker)
            did = True
        return did

    def _accept_next(self, batch: int) -> bool:
        """Start the handshake of the next waiting worker (``batch`` accepted already in
        this pass); False if none waits. The manager accepts up to MAX_NEW_WORKERS in a
        row while connections wait (work_queue.c, connect_new_workers)."""
        while self._accepts:
            worker = self._accepts.popleft()
            if worker.dead or worker.draining:
                continue
            self._accept_batch = batch + 1  # one handshake at a time: one count will do
            self.server.push(self.config.accept_time, self._accepted, worker)
            return True
        return False

    def _accepted(self, worker: Worker) -> None:
        self._accept(worker)
        if self._accept_batch < MAX_NEW_WORKERS:
            self._accept_next(self._accept_batch)

    def _accept(self, worker: Worker) -> None:
        """The manager holds the worker's connection: its slots may be sent tasks."""
        if worker.dead or worker.draining:
            return
        worker.connected = worker.open = True
        self._connected += 1
        self.connections.append(self.env.now)
        worker.idle_since = self.env.now
        worker.has_exe = False  # a new connection starts with an empty cache
        worker.free_slots = list(range(worker.slots - 1, -1, -1))
        self._free.extend([worker] * worker.slots)

    def _pull(self) -> Job | None:
        """Dispatch the next ready task to a free slot, if both exist."""
        wl = self._workload
        if not self.manager_up or not wl.ready:
            return None
        free = self._free
        while free and not free[0].open:
            free.popleft()
        if not free:
            return None
        worker = free.popleft()
        task = wl.take()
        assert task is not None
        attempt = Attempt(task, worker, worker.free_slots.pop(), self.env.now)
        worker.running.add(attempt)
        size = wl.input_size
        if not worker.has_exe:
            worker.has_exe = True
            size += self.ctx.workload_spec.executable_size
            self.exe_sends += 1
        cfg = self.config
        service = cfg.dispatch_time + cfg.scan_time_per_worker * self._connected \
            + self._staging_time(size)
        return service, self._cb_dispatched, attempt

    def _dispatched(self, attempt: Attempt) -> None:
        if not attempt.active:
            return
        worker = attempt.worker
        if worker.dead:
            return  # sent into a dead connection: found out when the worker is dropped
        attempt.exec_start = self.env.now
        cfg = self.config
        attempt.exec_time = cfg.task_launch_time + attempt.task.duration / worker.speed
        if self.ctx.host is None:
            self.execution.run(attempt)
        else:
            self.execution.launch_on_host(attempt)
        if cfg.fast_abort is not None and self._exec_n >= cfg.fast_abort_after:
            limit = cfg.fast_abort * self._exec_sum / self._exec_n
            self.env.after(limit, self._fast_abort, attempt)

    def _executed(self, attempt: Attempt) -> None:
        """The task's process exited (a lost worker's run was cancelled): fetch its output."""
        attempt.ran = True
        if self.ctx.host is not None:
            attempt.exec_time = self.env.now - attempt.exec_start  # as the host allowed
        size = self._workload.output_size
        service = self.config.retrieval_time + self._fetch_time(size)
        self.server.push(service, self._cb_retrieved, attempt)

    def _retrieved(self, attempt: Attempt) -> None:
        if not attempt.active or attempt.worker.dead:
            return  # a dead worker's output never arrives: dropped with the worker
        attempt.active = False
        worker = attempt.worker
        worker.running.discard(attempt)
        now = self.env.now
        if not worker.running:
            worker.idle_since = now
        self._exec_sum += attempt.exec_time
        self._exec_n += 1
        self.ctx.log.add(attempt.task.id, worker.node_id, attempt.slot, attempt.start, now, DONE,
                         worker.cores)
        self.ctx.task_completed()
        worker.free_slots.append(attempt.slot)
        if worker.open:
            self._free.append(worker)

    def _fast_abort(self, attempt: Attempt) -> None:
        if not attempt.active or attempt.worker.dead or attempt.exec_start < 0:
            return
        if not attempt.ran:
            self.execution.lose(attempt)
            attempt.active = False
            worker = attempt.worker
            worker.running.discard(attempt)
            self.ctx.log.add(attempt.task.id, worker.node_id, attempt.slot, attempt.start,
                             self.env.now, Outcome.CANCELLED, worker.cores)
            self.ctx.workload.requeue(attempt.task)
            worker.free_slots.append(attempt.slot)
            if worker.open:
                self._free.append(worker)
            self.server.wake()
