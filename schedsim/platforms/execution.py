"""Running an attempt, written once: input, launch, run on a possibly shared host, loss.

An attempt's run phase is the same on every platform: its input may arrive over the network,
the worker launches the task's process, and the process runs for the task's duration over the
node's speed, as a timer, or as CPU work on a shared host (:mod:`schedsim.model.host`). Its
compute time (docs/metrics.md) is counted when the run ends, or up to the loss when its node
is lost first. :class:`Execution` does these steps for any :class:`Running` (an ideal slot, a
Work Queue or Ray attempt) and calls the platform back when the run has ended; whatever the
attempt waits for in between (a transfer, a timer, a host share) is held in ``run``, so
:meth:`Execution.lose` cancels it. Which steps an attempt takes, and what comes before and
after them (dispatch, leases, outputs, retries), stay the platform's.

:class:`RetryBudget` counts failed attempts against a platform's retry limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from schedsim.metrics import Outcome
from schedsim.model.network import NOT_DUE, Link, Transfer

if TYPE_CHECKING:
    from schedsim.model.engine import Entry
    from schedsim.model.workload import Task
    from schedsim.platforms.context import PlatformContext

# Running.run_start when no run is under way (before it, or once counted), and when the run
# is folded into the input transfer's delivery (it began at the transfer's due time minus the
# run).
NOT_RUNNING = -1.0
IN_TRANSFER = -2.0


class Running:
    """What runs one attempt at a time: the task, when the attempt began, the speed it runs
    at, when its process began to run, and what it waits for now."""

    __slots__ = ("task", "start", "speed", "run_start", "run")

    def __init__(self, task: Task, start: float, speed: float) -> None:
        self.task = task
        self.start = start
        self.speed = speed
        self.run_start = NOT_RUNNING
        self.run: Transfer | Entry | None = None


class Execution:
    """One platform's way of running attempts: ``launch`` seconds for the worker to start
    the task's process, and ``ran(attempt)`` called when the process has exited.

    Platforms call its steps as methods (``self.execution.run(a)``), not through bound
    methods kept in attributes: CPython 3.11 specializes the method call, not the other
    (docs/performance.md, session 11); only callbacks passed as values are bound once."""

    __slots__ = ("env", "host", "log", "launch", "latency", "_then", "_cb_ran",
                 "_cb_on_host")

    def __init__(self, ctx: PlatformContext, ran: Callable[[Any], None],
                 launch: float = 0.0) -> None:
        self.env = ctx.env
        self.host = ctx.host
        self.log = ctx.log
        self.launch = launch
        self.latency = ctx.network.latency if ctx.network is not None else 0.0
        self._then = ran
        # Bound once (an attribute read of a method makes a new bound method): they ride on
        # every attempt's timers and transfers.
        self._cb_ran, self._cb_on_host = self.ran, self.on_host

    def run(self, a: Running, delay: float = 0.0) -> None:
        """No shared host: the process starts ``delay`` + ``launch`` from now and runs."""
        launch = self.launch
        a.run_start = self.env.now + delay + launch
        a.run = self.env.after(delay + launch + a.task.duration / a.speed,
                               self._cb_ran, a)

    def fetch(self, a: Running, path: tuple[Link, ...], size: float, after: float = 0.0
              ) -> None:
        """The input crosses ``path`` (beginning ``after`` from now), then the process is
        launched and runs. Without a shared host the arrival and the run are one event."""
        if self.host is None:
            a.run_start = IN_TRANSFER
            a.run = Transfer(self.env, path, size, self.latency + self.launch +
                             a.task.duration / a.speed,
                             self._cb_ran, a, after)
        else:
            a.run = Transfer(self.env, path, size, self.latency + self.launch,
                             self._cb_on_host, a, after)

    def start_on_host(self, a: Running, delay: float) -> None:
        """The process starts ``delay`` + ``launch`` from now, then runs on the shared host."""
        a.run = self.env.after(delay + self.launch, self._cb_on_host, a)

    def launch_on_host(self, a: Running) -> None:
        """The worker launches the process as the host's CPU work, then it runs there."""
        assert self.host is not None
        a.run = self.host.launch(self.launch, self._cb_on_host, a)

    def on_host(self, a: Running) -> None:
        """The process started on the shared host: it runs as CPU work (the waiting task:
        it waits)."""
        assert self.host is not None
        a.run_start = self.env.now
        a.run = self.host.task(a.task.duration / a.speed,
                               self._cb_ran, a)

    def ran(self, a: Running) -> None:
        """The process exited: its run was computed; the platform takes over."""
        start = a.run_start
        self.log.compute_core_s += self.env.now - start if start >= 0.0 else \
            a.task.duration / a.speed  # (IN_TRANSFER)
        a.run_start = NOT_RUNNING
        a.run = None
        self._then(a)

    def lose(self, a: Running) -> None:
        """The process is killed (its node lost, the task aborted): the part of its run done
        so far was computed, and whatever it waited for is cancelled."""
        start, run, now = a.run_start, a.run, self.env.now
        if start == IN_TRANSFER and isinstance(run, Transfer) and run.due != NOT_DUE:
            start = run.due - a.task.duration / a.speed
        if start >= 0.0 and now > start:
            self.log.compute_core_s += now - start
        a.run_start = NOT_RUNNING
        a.run = None
        if isinstance(run, Transfer):
            run.cancel()
        elif run is not None:
            self.env.cancel(run)

    def lost(self, a: Running, node: int, slot: int, end: float, cores: int = 1) -> None:
        """:meth:`lose`, and the attempt's record: preempted at ``end``."""
        self.lose(a)
        self.log.add(a.task.id, node, slot, a.start, end,
                     Outcome.PREEMPTED, cores)


class RetryBudget:
    """Failed attempts per task against a limit; only tasks that failed take memory."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit  # None: unlimited
        self._fails: dict[int, int] = {}

    def spend(self, task_id: int) -> bool:
        """Count one failed attempt; True if the task may be tried again."""
        if self.limit is None:
            return True
        fails = self._fails.get(task_id, 0) + 1
        self._fails[task_id] = fails
        return fails <= self.limit
