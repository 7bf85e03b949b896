"""A shared host: emulated nodes that are processes on one machine share its CPUs.

A live run on one machine (``schedsim live``, calibration, validation) emulates every node as
processes on the same host, beside the platform's own processes (the Work Queue manager and
workers; Ray's raylet, GCS, driver and worker processes). The tasks then compete for the
host's CPUs, which separate machines would not. ``cluster.host: {cpus: C, background: D}``
says so: every task's run on a worker node is CPU work (its duration divided by the pool's
speed, in CPU-seconds) served by processor sharing over C - D CPUs, at most one CPU per task
(a single-threaded program). While at most C - D tasks run, each runs at full speed; with k
more than that, each gets (C - D) / k of a CPU, as the Linux scheduler gives CPU-bound
processes equal shares. ``background`` is the CPU the platform's own processes keep busy,
measured by calibration (docs/calibration.md).

The waiting task (``workload.task: wait``) uses no CPU: its run is a plain wait whatever the
host. With ``platform_work``, the platform's own process starts (a Work Queue worker, a Ray
worker process) and each task's launch (fork, exec, wait) are CPU work on the host instead,
which is what limits hundreds of waiting slots on a few CPUs (docs/models.md, Shared host).
They are served one after another, first come first served, each at the speed of the host's
free CPUs (C - D): the k-th of a burst of starts of c CPU-seconds ends k c / (C - D) after
the burst. Launchers start processes in turn (a shell its workers, a raylet its workers at
a bounded concurrency), and a burst that ended all at once, as processor sharing would have
it, would hit Work Queue's connect backlog in one instant, which the live runs do not show.
The manager's and the driver's own jobs (dispatch, retrieval, accept; submission, result
intake) queue there too: they are the platform's CPU work on the same host, so a burst of
worker starts delays them, as live. Launches do not take a share from CPU-bound tasks (only
the waiting task runs at scale).

The sharing is the network's :class:`~schedsim.model.network.Link` (max-min fair with a
per-flow cap), so it costs one event per task while the host is not oversubscribed and
O(log k) per change when it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schedsim.model.engine import Engine, Entry
from schedsim.model.network import Link, Transfer
from schedsim.scenario import WAIT_TASK, HostSpec


class SharedHost:
    """The CPUs that every worker node's tasks share."""

    def __init__(self, env: Engine, spec: HostSpec, task: str = "") -> None:
        self.env = env
        self.spec = spec
        self.cpu = Link(env, "host-cpu", spec.cpus - spec.background, flow_cap=1.0)
        self.tasks_use_cpu = task != WAIT_TASK
        self.platform_work = spec.platform_work
        self._launches_free_at = 0.0  # when the launch queue is next free

    def run(self, work: float, done: Callable[[Any], None], tag: Any = None) -> Transfer:
        """Run ``work`` CPU-seconds; ``done(tag)`` when finished. ``cancel()`` the result
        when the task's process dies first, so that it stops taking a share."""
        return Transfer(self.env, (self.cpu,), work, 0.0, done, tag)

    def task(self, seconds: float, done: Callable[[Any], None], tag: Any = None
             ) -> Transfer | Entry:
        """A task's run: CPU work, or a wait of ``seconds`` for the waiting task (a timer);
        the handle cancels it."""
        if self.tasks_use_cpu:
            return self.run(seconds, done, tag)
        return self.env.after(seconds, done, tag)

    def launch(self, seconds: float, done: Callable[[Any], None], tag: Any = None) -> Entry:
        """The platform's own start of a process: ``seconds`` of CPU in the launch queue
        with ``platform_work``, else a delay of ``seconds``. ``done(tag)`` at its end; the
        timer's handle cancels the call (not the CPU booked)."""
        now = self.env.now
        if self.platform_work and seconds > 0:
            return self.env.after(self.book(seconds) - now, done, tag)
        return self.env.after(seconds, done, tag)

    def book(self, seconds: float) -> float:
        """Queue ``seconds`` of the platform's CPU work; the time it ends (first come first
        served, at the host's free CPUs)."""
        begin = max(self.env.now, self._launches_free_at)
        self._launches_free_at = begin + seconds / (self.spec.cpus - self.spec.background)
        return self._launches_free_at
