"""The state Ray's parts share in one replication, and the steps one part calls on another.

The driver (``driver.py``), the raylets (``raylet.py``), the object stores
(``object_store.py``) and the control plane (``control.py``) are parts of one
:class:`~schedsim.platforms.ray.platform.RayPlatform`: they read and write this state, and call
each other only through the steps declared here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from schedsim.model.cluster import Node
from schedsim.model.network import Link
from schedsim.model.server import SerialServer
from schedsim.model.workload import Task
from schedsim.platforms.base import Platform
from schedsim.platforms.detection import LossDetection
from schedsim.platforms.execution import Execution, RetryBudget
from schedsim.platforms.ray.config import RayConfig, default_config

if TYPE_CHECKING:
    from schedsim.platforms.context import PlatformContext
    from schedsim.platforms.ray.raylet import Attempt, RayNode, Slot


class RayState(Platform):
    """What Ray's parts share; :class:`~schedsim.platforms.ray.platform.RayPlatform` wires
    their callbacks."""

    name = "ray"
    config: RayConfig
    stage_submissions = True  # False: every run of submissions ends with a timer (tests)
    merge_pull_links = True  # False: pulls cross the head's link and the intake apart (tests)
    # Wired by RayPlatform: the driver's server, the attempts' execution, the loss detection
    # and callbacks bound once (an attribute read of a method makes a new bound method).
    driver: SerialServer
    execution: Execution
    detection: LossDetection
    _cb_pulled: Callable[[Attempt], None]
    _cb_arrived: Callable[[Attempt], None]
    _cb_consumed: Callable[[Attempt], None]
    _cb_consume_all: Callable[[list[Attempt]], None]
    _cb_submit_all: Callable[[list[Task]], None]
    _cb_staged_due: Callable[[object], None]

    def __init__(self, ctx: PlatformContext, config: Any) -> None:
        super().__init__(ctx, config if config is not None else default_config())
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
        host = ctx.host
        shared = host is not None and host.platform_work
        self._out = ctx.workload.output_size
        self._large = self._out > cfg.inline_limit
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
            if self._large and ctx.network is not None else ()
        # With full duplex and one-core nodes the head's inbound link carries nothing but
        # these pulls (large results only, no inputs, no node links): it and the intake share
        # the same flows, so one link of the smaller bandwidth is exactly both, at one flow
        # per transfer instead of two.
        net = ctx.network
        self._pull_link: tuple[Link, ...] = ()
        if self.merge_pull_links and self._intake and net is not None and \
                net.manager_rx is not net.manager_tx and \
                all(p.cores == 1 for p in ctx.cluster_spec.pools):
            rx = net.manager_rx
            self._pull_link = (Link(self.env, "manager<+intake",
                                    min(rx.bandwidth, cfg.driver_intake), rx.latency,
                                    flow_cap=rx.flow_cap),)
        # A lone fetch moves at the slower of the path and the intake.
        spec = ctx.network_spec
        self._intake_wait = 0.0 if spec is None else max(
            0.0, self._out / cfg.driver_intake -
            self._out / min(spec.manager.bandwidth, spec.worker.bandwidth))
        # Bound once: these run once or more per task.
        self._batched = cfg.driver == "batched"
        self._net = ctx.network
        self._host = ctx.host
        self._in = ctx.workload.input_size
        self._fetch = self._net is not None and self._in > 0
        self._log = ctx.log.add
        # A fetch of a stored result is a request, then the data: two one-way latencies (the
        # request's folded into the end: one event less, the same time on an idle path), then
        # the object manager's overhead.
        self._pull_delay = 2.0 * (self._net.latency if self._net is not None else 0.0) + \
            cfg.object_fetch_overhead
        self._workload = ctx.workload
        self._completed = ctx.task_completed
        # Staging needs a driver that cannot run out of memory (at most this many pending
        # tasks, each with at most one inline result held): then no check is due on time.
        bound = cfg.max_pending if cfg.max_pending is not None else ctx.workload.total
        per_task = cfg.pending_task_bytes + (0.0 if self._large else self._out)
        # (Not when the driver's work queues for a shared host: its end is not its own.)
        self._can_stage = self.stage_submissions and bound * per_task <= cfg.driver_memory \
            and not shared

    # ------------------------------------------------------------------ steps across parts

    def _lease(self) -> None:
        """Lease free slots to waiting tasks (raylet.py)."""
        raise NotImplementedError

    def _submit_staged_if_due(self) -> None:
        """Apply the staged run of submissions if it has ended (driver.py)."""
        raise NotImplementedError

    def _staged_timer_at_end(self) -> None:
        """A free slot waits for the staged tasks (driver.py)."""
        raise NotImplementedError

    def _check_memory(self) -> None:
        """Fail the job if the driver is out of memory (driver.py)."""
        raise NotImplementedError

    def _retry(self, task: Task, counted: bool) -> None:
        """A lost task: retry it, or report it failed (driver.py)."""
        raise NotImplementedError

    def _fetch_alone_time(self) -> float:
        """A get of one stored result on an idle path (object_store.py)."""
        raise NotImplementedError

    def _request_pull(self, attempt: Attempt, rnode: RayNode) -> None:
        """Pull a stored result now or when there is room (object_store.py)."""
        raise NotImplementedError

    def _arrived(self, attempt: Attempt) -> None:
        """A small result reached the driver (object_store.py)."""
        raise NotImplementedError

    def _result_ready(self, attempt: Attempt) -> None:
        """A result is at the driver (object_store.py)."""
        raise NotImplementedError
