"""Ray: a driver that owns every task, raylets that lease workers, GCS health checks.

The driver is a :class:`~schedsim.model.server.SerialServer`: it submits tasks one
``.remote()`` at a time (``submit_time`` each), at most ``max_pending`` outstanding when
backpressure is on, and processes each result (``result_time``). A submitted task waits for a
free worker slot, pays the lease and push latency (and a worker process start the first time a
slot is used), fetches its input over the head's link, and runs. Results up to
``inline_limit`` return inline to the driver with the reply (one-way latency); larger ones
stay in the node's object store until the driver fetches them: at once and concurrently with
``batched`` (each node sending at most ``max_bytes_in_flight`` at a time), one by one in
submission order with ``get_in_loop``. A fetch is a request then the data (two latencies), and
every fetched result also crosses the driver's intake into the head's store
(``driver_intake``, a link they share). A task completes when the driver holds its result.
The driver's memory is pending tasks x ``pending_task_bytes`` plus inline results not yet
consumed; beyond ``driver_memory`` the job fails (OOM).

A reclaim notice is handled as the churn entry's ``on_notice`` says: ``shutdown`` (the node
works on, then shuts down cleanly and the GCS knows at once) or ``drain`` (no new leases from
the notice; retries it causes do not count against ``max_retries``). A loss with no notice is
found by the GCS health checks. Then the node's tasks, and results stored only there
(lineage), are retried while retries last. The autoscaler replaces lost nodes on its next
reconcile tick. Losing the head node fails the job, GCS fault tolerance or not: the driver,
which owns every task, runs there.
Facts and sources: docs/models.md.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from schedsim.metrics import DONE, Outcome
from schedsim.model.cluster import Node
from schedsim.model.network import NOT_DUE, Link, Transfer
from schedsim.model.server import Job, SerialServer
from schedsim.model.workload import Task
from schedsim.platforms.base import Platform, RetryBudget
from schedsim.platforms.ray_options import RayConfig, default_config

if TYPE_CHECKING:
    from schedsim.simulation import Simulation

SUBMIT_BATCH = 64  # .remote() calls the driver makes per simulated step
# Attempt.run_start when no run is under way (before it, or once counted), and when the run is
# folded into the input transfer's delivery (it began at the transfer's due time minus the run).
NOT_RUNNING = -1.0
IN_TRANSFER = -2.0


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


def _nothing(_arg: object) -> None:
    pass


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


class Attempt:
    __slots__ = ("task", "slot", "start", "active", "done_at", "run_start", "run")

    def __init__(self, task: Task, slot: Slot, start: float) -> None:
        self.task = task
        self.slot = slot
        self.start = start
        self.active = True
        self.done_at = -1.0
        self.run_start = NOT_RUNNING  # when the task's process began to run (compute time)
        # Its input transfer until the input arrived, then its CPU share on a shared host
        # while it runs.
        self.run: Transfer | None = None

    def stop(self) -> None:
        """The node is lost: its input stops arriving, its process stops taking a share of
        a shared host's CPUs."""
        if self.run is not None:
            self.run.cancel()
            self.run = None


class RayPlatform(Platform):
    name = "ray"
    config: RayConfig
    stage_submissions = True  # False: every run of submissions ends with a timer (tests)
    merge_pull_links = True  # False: pulls cross the head's link and the intake apart (tests)

    def __init__(self, sim: Simulation, config: Any) -> None:
        super().__init__(sim, config if config is not None else default_config())
        cfg = self.config
        self._waiting: deque[Task] = deque()  # submitted, waiting for a lease
        # The driver's last run of .remote() calls, when nothing more was to be submitted
        # after it: its tasks join the queue at the end of the run (_staged_end), applied
        # then or at the first step that could see them, with a timer only when a free
        # slot waits for them. Saves the driver's submit event per task under backpressure.
        self._staged: list[Task] | None = None
        self._staged_end = 0.0
        self._staged_timer = False
        self._results: list[Attempt] = []  # results at the driver, not yet consumed
        self._free: deque[Slot] = deque()
        self._retries = RetryBudget(None if cfg.max_retries < 0 else cfg.max_retries)
        self._ready_results: dict[int, Attempt | None] = {}  # get_in_loop: id -> result/failed
        self._next_get = 0  # get_in_loop: next task id the driver waits for
        self.submitted = 0
        self.resolved = 0  # results consumed or failures reported to the driver
        self.inline_held = 0.0  # bytes of inline results the driver holds, not yet consumed
        self.peak_driver_memory = 0.0
        self.head_node: Node | None = None
        self.head_up = cfg.head_pool is None
        host = sim.host
        shared = host is not None and host.platform_work
        self.driver = SerialServer(self.env, "driver", self._pull,
                                   stretch=host.book if host is not None and shared else None)
        self._out = sim.workload.output_size
        self._large = self._out > cfg.inline_limit
        self._rng = sim.streams.get("ray/health")
        # Results in flight out of one node (its object manager's outbound limit).
        self._pull_limit = max(1, int(cfg.max_bytes_in_flight // self._out)) if self._large \
            else 0
        # The head's pull manager activates pulls only while they fit in its object store:
        # the others wait, first come first served.
        self._store_limit = max(1, int(cfg.head_object_store // self._out)) if self._large \
            else 0
        self._in_store = 0  # pulls active into the head's store
        self._admit: deque[Attempt] = deque()  # stored results waiting for room there
        # The driver takes every large result into the head's store: a link they all cross.
        self._intake: tuple[Link, ...] = (Link(self.env, "driver_intake", cfg.driver_intake),) \
            if self._large and sim.network is not None else ()
        # With full duplex and one-core nodes the head's inbound link carries nothing but
        # these pulls (large results only, no inputs, no node links): it and the intake share
        # the same flows, so one link of the smaller bandwidth is exactly both, at one flow
        # per transfer instead of two.
        net = sim.network
        self._pull_link: tuple[Link, ...] = ()
        if self.merge_pull_links and self._intake and net is not None and \
                net.manager_rx is not net.manager_tx and \
                all(p.cores == 1 for p in sim.scenario.cluster.pools):
            rx = net.manager_rx
            self._pull_link = (Link(self.env, "manager<+intake",
                                    min(rx.bandwidth, cfg.driver_intake), rx.latency,
                                    flow_cap=rx.flow_cap),)
        # A lone fetch moves at the slower of the path and the intake.
        spec = sim.scenario.network
        self._intake_wait = 0.0 if spec is None else max(
            0.0, self._out / cfg.driver_intake -
            self._out / min(spec.manager.bandwidth, spec.worker.bandwidth))
        if cfg.autoscaler:
            sim.churn.replacer = self._autoscale
        # Bound once: these run once or more per task.
        self._batched = cfg.driver == "batched"
        self._net = sim.network
        self._host = sim.host
        self._in = sim.workload.input_size
        self._fetch = self._net is not None and self._in > 0
        self._log = sim.log.add
        # A fetch of a stored result is a request, then the data: two one-way latencies (the
        # request's folded into the end: one event less, the same time on an idle path), then
        # the object manager's overhead.
        self._pull_delay = 2.0 * (self._net.latency if self._net is not None else 0.0) + \
            cfg.object_fetch_overhead
        self._workload = sim.workload
        self._completed = sim.task_completed
        # Callbacks bound once (an attribute read of a method makes a new bound method):
        # they ride on every task's timers, transfers and driver jobs.
        self._cb_executed, self._cb_pulled = self._executed, self._pulled
        self._cb_consume_all, self._cb_submit_all = self._consume_all, self._submit_all
        self._cb_staged_due = self._staged_due
        # Staging needs a driver that cannot run out of memory (at most this many pending
        # tasks, each with at most one inline result held): then no check is due on time.
        bound = cfg.max_pending if cfg.max_pending is not None else sim.workload.total
        per_task = cfg.pending_task_bytes + (0.0 if self._large else self._out)
        # (Not when the driver's work queues for a shared host: its end is not its own.)
        self._can_stage = self.stage_submissions and bound * per_task <= cfg.driver_memory \
            and not shared

    # ------------------------------------------------------------------ head node

    def start(self) -> None:
        if self.config.head_pool is not None:
            self.head_node = self.sim.cluster.launch(self.config.head_pool, role="manager")

    # ------------------------------------------------------------------ driver

    @property
    def driver_memory(self) -> float:
        return (self.submitted - self.resolved) * self.config.pending_task_bytes + \
            self.inline_held

    def _check_memory(self) -> None:
        used = self.driver_memory
        if used > self.peak_driver_memory:
            self.peak_driver_memory = used
            if used > self.config.driver_memory:
                limit = self.config.driver_memory / 2**30
                self.sim.fail_job(f"Ray driver out of memory at {self.env.now:g} s: "
                                  f"{self.submitted - self.resolved} pending tasks, "
                                  f"{used / 2**30:.1f} GiB > {limit:.1f} GiB", "driver_oom")

    def _pull(self) -> Job | None:
        """The driver's next step: consume ready results, else submit, else wait on a get.

        Ready results are consumed as one batch (what ray.wait returns), and submissions go
        out in runs of up to SUBMIT_BATCH ``.remote()`` calls: one timer per batch instead of
        one per task, with the same driver time per task.
        """
        self._submit_staged_if_due()
        if not self.head_up:
            return None
        cfg = self.config
        if self._results:
            batch, self._results = self._results, []
            return cfg.result_time * len(batch), self._cb_consume_all, batch
        wl = self._workload
        room = wl.ready if cfg.max_pending is None else \
            min(wl.ready, cfg.max_pending - (self.submitted - self.resolved))
        if room > 0:
            n = min(room, SUBMIT_BATCH)
            tasks: list[Task] = [wl.take() for _ in range(n)]  # type: ignore[misc]  # ready
            service = cfg.submit_time * n
            if n == room and self._can_stage and service > 0 and \
                    (self._waiting or not self._free) and \
                    (self._batched or self._next_get not in self._ready_results):
                # The driver has nothing else to do after this run unless woken, and no
                # free slot waits for its tasks: they are staged for the run's end, and the
                # driver is busy until then, with no timer.
                self._staged = tasks
                self._staged_end = self.env.now + service
                return service, None, None
            return service, self._cb_submit_all, tasks
        if not self._batched and self._next_get in self._ready_results:
            attempt = self._ready_results.pop(self._next_get)
            self._next_get += 1
            while self._next_get in self._ready_results and \
                    self._ready_results[self._next_get] is None:
                self._ready_results.pop(self._next_get)  # failed: ray.get raised, move on
                self._next_get += 1
            if attempt is None:
                return 0.0, _nothing, None
            service = cfg.result_time
            if self._large:
                service += self._fetch_alone_time()
            return service, self._consumed, attempt
        return None

    def _fetch_alone_time(self) -> float:
        """A get of one stored result on an idle path: the request's latency, then the data
        (its latency and bytes), then the object manager's overhead."""
        net = self.sim.network
        base = self.config.object_fetch_overhead
        if net is None:
            return base
        return base + net.latency + net.lone_transfer_time(self._out, to_manager=True) + \
            self._intake_wait

    def _submit_all(self, tasks: list[Task]) -> None:
        self._submitted(tasks)
        self._lease()

    def _submitted(self, tasks: list[Task]) -> None:
        """A run of submissions ended: its tasks are pending and wait for a lease."""
        self.submitted += len(tasks)
        self._waiting.extend(tasks)
        self._check_memory()

    def _submit_staged_if_due(self) -> None:
        """If the staged run of submissions has ended, its tasks join the queue now, as at
        its end (nothing could see them in between; the caller leases if it may)."""
        if self._staged is not None and self.env.now >= self._staged_end:
            tasks, self._staged = self._staged, None
            self._submitted(tasks)

    def _staged_timer_at_end(self) -> None:
        """A free slot waits for the staged tasks: lease them at the end of their run."""
        if not self._staged_timer:
            self._staged_timer = True
            self.env.at(self._staged_end, self._cb_staged_due)

    def _staged_due(self, _arg: object) -> None:
        self._staged_timer = False
        self._lease()

    def _consume_all(self, batch: list[Attempt]) -> None:
        for attempt in batch:
            self._consumed(attempt)

    def _consumed(self, attempt: Attempt) -> None:
        """The driver holds the result: the task is complete."""
        slot = attempt.slot
        if not self._large:
            self.inline_held -= self._out
        elif not self._batched:
            slot.rnode.attempts.discard(attempt)  # a batched fetch took it out already
        self.resolved += 1
        # The attempt held its slot until it finished running; the wait for the driver is
        # not slot time.
        self._log(attempt.task.id, slot.node_id, slot.index, attempt.start, attempt.done_at,
                  DONE)
        self._completed()

    # ------------------------------------------------------------------ leasing and running

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
        fetch, launch, size = self._fetch, cfg.task_launch_time, self._in
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
                if self._host is not None:
                    attempt.run = Transfer(env, rnode.path_to_node, size, latency + launch,
                                           self._launched, attempt, delay + latency)
                else:
                    attempt.run_start = IN_TRANSFER
                    attempt.run = Transfer(env, rnode.path_to_node, size,
                                           latency + launch + task.duration / slot.speed,
                                           self._cb_executed, attempt, delay + latency)
            elif self._host is not None:
                if self._host.platform_work:
                    # Leased, then the worker process starts (once per slot) and launches
                    # the task, both CPU work on the shared host.
                    env.after(cfg.lease_latency, self._start_worker
                              if delay > cfg.lease_latency else self._launch_task, attempt)
                else:
                    env.after(delay + cfg.task_launch_time, self._launched, attempt)
            else:
                attempt.run_start = env.now + delay + cfg.task_launch_time
                env.after(delay + cfg.task_launch_time + task.duration / slot.speed,
                          self._cb_executed, attempt)

    def _start_worker(self, attempt: Attempt) -> None:
        """A cold slot: its worker process starts, as CPU work on the shared host."""
        if not attempt.active or attempt.slot.rnode.dead:
            return
        assert self._host is not None
        self._host.launch(self.config.worker_start_time, self._launch_task, attempt)

    def _launch_task(self, attempt: Attempt) -> None:
        """The worker launches the task's process, as CPU work on the shared host."""
        if not attempt.active or attempt.slot.rnode.dead:
            return
        assert self._host is not None
        self._host.launch(self.config.task_launch_time, self._launched, attempt)

    def _launched(self, attempt: Attempt) -> None:
        """The worker started the task's process on a shared host: it runs as CPU work
        (the waiting task: it waits)."""
        if not attempt.active or attempt.slot.rnode.dead:
            return
        assert self.sim.host is not None
        attempt.run_start = self.env.now
        attempt.run = self.sim.host.task(attempt.task.duration / attempt.slot.speed,
                                         self._executed, attempt)

    def _executed(self, attempt: Attempt) -> None:
        slot = attempt.slot
        rnode = slot.rnode
        if not attempt.active or rnode.dead:
            return  # lost with its node: retried when the GCS notices
        attempt.run = None
        attempt.done_at = now = self.env.now
        start = attempt.run_start
        self.sim.log.compute_core_s += now - start if start >= 0.0 else \
            attempt.task.duration / slot.speed  # (IN_TRANSFER: the run ended the transfer)
        attempt.run_start = NOT_RUNNING
        if not rnode.draining:
            self._free.append(slot)
        if self._large:  # stored on the node (done_at is set) until fetched
            if self._batched:
                self._request_pull(attempt, rnode)
            else:
                self._result_ready(attempt)
        elif self._net is not None and self._out > 0:
            Transfer(self.env, rnode.path_to_manager, self._out, self._net.latency,
                     self._arrived, attempt)
        else:
            self._arrived(attempt)
        if self._waiting or self._staged is not None:
            self._lease()

    def _request_pull(self, attempt: Attempt, rnode: RayNode) -> None:
        """Pull a stored result now, or wait: for room in the head's store (first come first
        served), then for its node's outbound limit."""
        if self._in_store >= self._store_limit:
            self._admit.append(attempt)
        elif rnode.pulling < self._pull_limit:
            self._pull_one(attempt, rnode)
        else:
            rnode.pulls.append(attempt)

    def _pull_one(self, attempt: Attempt, rnode: RayNode) -> None:
        """The driver fetches a stored result: the head's store holds at most
        head_object_store of active pulls, the node sends at most max_bytes_in_flight at a
        time, and every result crosses the driver's intake."""
        rnode.pulling += 1
        self._in_store += 1
        if self._net is not None:
            Transfer(self.env, rnode.pull_path, self._out, self._pull_delay, self._cb_pulled,
                     attempt)
        else:
            self.env.after(self.config.object_fetch_overhead, self._cb_pulled, attempt)

    def _pulled(self, attempt: Attempt) -> None:
        """A batched fetch of a stored result reached the driver (_result_ready inline: this
        runs once per task)."""
        rnode = attempt.slot.rnode
        rnode.pulling -= 1
        self._in_store -= 1  # handed to the driver, or died with its node
        if rnode.dead:  # the transfer died with the node, and so did the ones waiting
            rnode.pulls.clear()
        else:
            if attempt.active:
                attempt.active = False
                rnode.attempts.discard(attempt)
                self._results.append(attempt)
                self.driver.poke()  # only pulls start afterwards: the driver may run at once
            if rnode.pulls:
                self._request_pull(rnode.pulls.popleft(), rnode)
        admit = self._admit
        while admit and self._in_store < self._store_limit:
            waiting = admit.popleft()
            if waiting.active and not waiting.slot.rnode.dead:
                self._request_pull(waiting, waiting.slot.rnode)

    def _arrived(self, attempt: Attempt) -> None:
        """A small result reached the driver's process with the reply (inline)."""
        rnode = attempt.slot.rnode
        if not attempt.active or rnode.dead:
            return  # the transfer died with the node
        rnode.attempts.discard(attempt)
        self.inline_held += self._out
        self._check_memory()
        attempt.active = False
        self._result_ready(attempt)

    def _result_ready(self, attempt: Attempt) -> None:
        # Its callers only lease or start pulls afterwards, so the driver may run at once.
        if self._batched:
            self._results.append(attempt)
        else:
            self._ready_results[attempt.task.id] = attempt
        self.driver.poke()

    # ------------------------------------------------------------------ failures

    def node_notified(self, node: Node) -> None:
        """A notice is metadata: the node drains only if the deployment calls drain_node
        (reason PREEMPTION); otherwise it keeps taking leases until it shuts down."""
        rnode = node.data
        if isinstance(rnode, RayNode):
            rnode.notified = True
            rnode.draining = self.sim.churn.drains(node.pool)

    def node_lost(self, node: Node) -> None:
        if node.role == "manager":
            self._head_lost(node)
            return
        rnode = node.data
        if not isinstance(rnode, RayNode) or rnode.dead:
            return
        rnode.dead = True
        now = self.env.now
        attempts = self._in_loss_order(rnode.attempts)
        for attempt in attempts:
            self._cut_run(attempt, now)
            attempt.stop()  # the node, and the task's process with it, is gone
        for attempt in attempts:
            end = attempt.done_at if attempt.done_at >= 0 else now
            self.sim.log.add(attempt.task.id, node.id, attempt.slot.index, attempt.start, end,
                             Outcome.PREEMPTED)
        if rnode.notified:
            # A clean shutdown (the raylet exits) is reported at once; only the retries a
            # drain caused are free.
            self._detected(node, counted=not rnode.draining)
        else:
            cfg = self.config
            delay = float(self._rng.uniform(0.0, cfg.health_check_period)) + \
                cfg.health_check_failures * cfg.health_check_timeout + \
                (cfg.health_check_failures - 1) * cfg.health_check_period
            self.env.timeout(delay).callbacks.append(lambda _e: self._detected(node, True))

    def _cut_run(self, attempt: Attempt, now: float) -> None:
        """The node is lost under a task: the part of its run done so far was computed."""
        start = attempt.run_start
        run = attempt.run
        if start == IN_TRANSFER and run is not None and run.due != NOT_DUE:
            start = run.due - attempt.task.duration / attempt.slot.speed
        if start >= 0.0 and now > start:
            self.sim.log.compute_core_s += now - start
        attempt.run_start = NOT_RUNNING

    def _detected(self, node: Node, counted: bool) -> None:
        """The GCS marks the node dead: its tasks and its stored results are retried."""
        rnode: RayNode = node.data
        rnode.detected = True
        lost = [a for a in self._in_loss_order(rnode.attempts) if a.active]
        rnode.attempts.clear()
        for attempt in lost:
            attempt.active = False
            self._retry(attempt.task, counted)
        if rnode.replace:
            self._launch_replacement(node.pool)
        self._lease()

    def _in_loss_order(self, attempts: set[Attempt]) -> list[Attempt]:
        """Running ones first, then stored results, each in task order (a set of objects has
        no fixed order: it follows their addresses)."""
        large = self._large
        return sorted(attempts, key=lambda a: (large and a.done_at >= 0, a.task.id))

    def _autoscale(self, node: Node) -> None:
        """Churn asks for a replacement: the autoscaler acts once the GCS knows."""
        rnode = node.data
        if not isinstance(rnode, RayNode) or rnode.detected:
            self._launch_replacement(node.pool)
        else:
            rnode.replace = True

    def _launch_replacement(self, pool: str) -> None:
        """Launch on the autoscaler's next reconcile tick, after the provisioning delay."""
        tick = self.config.reconcile_interval
        delay = tick - (self.env.now % tick) + self.sim.churn.replace_delay(pool)
        self.env.timeout(delay).callbacks.append(lambda _e: self._launch(pool))

    def _launch(self, pool: str) -> None:
        self.sim.cluster.launch(pool)

    def _retry(self, task: Task, counted: bool) -> None:
        self._submit_staged_if_due()  # queued before this retry, and counted in memory
        if counted and not self._retries.spend(task.id):
            self.resolved += 1
            self.sim.log.add(task.id, -1, -1, self.env.now, self.env.now, Outcome.FAILED)
            if self.config.driver == "get_in_loop":
                self._ready_results[task.id] = None
            self.sim.task_failed()
            self.driver.wake()
            return
        self._waiting.append(task)

    def _head_lost(self, node: Node) -> None:
        """The driver, owner of every task and its results, dies with the head: Ray recovers
        lost data but not a lost owner, with or without GCS fault tolerance."""
        why = "the driver, owner of every task, was on it"
        if self.config.gcs_fault_tolerance:
            why += "; GCS fault tolerance restores the GCS, not the driver"
        self.sim.fail_job(f"Ray head node lost at {self.env.now:g} s ({why})", "manager_lost")

    # ------------------------------------------------------------------ bound
