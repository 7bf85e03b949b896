"""Watching one replication from outside its model: progress ticks and the no-progress watchdog.

The engine calls :meth:`Watch.poll` once per calendar bucket (every few hundred events), never
per event, so watching costs nothing measurable (docs/performance.md). Two things look there:

* **Progress**: a callback gets (tasks finished, tasks in the bag) at most every
  ``interval`` seconds of wall time, so a bar moves within a long replication.
* **No progress**: a job in which no task finishes for a stall window while attempts or nodes
  keep being lost (every task longer than any node's lifetime, nodes that die while booting)
  would otherwise churn until the horizon, which grows with the task length. The window is
  :data:`STALL_WINDOW_FACTOR` times the time one task needs at worst: the longest task drawn so
  far on the slowest pool, the longest mean boot time and replacement delay, and one wave of
  the cluster's slots at the analytic bound's rate (a shared link or a manager that serves
  tasks one at a time). When no task has finished for half a window, a timer is set at the
  window's end; a healthy run never gets that far, so it schedules no extra event and its
  results and event count stay exactly as they were (docs/models.md, "How a job ends").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from time import monotonic
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from schedsim.simulation import Simulation

# A run ends as "no_progress" when no task finished for this many times the time one task
# needs at worst, while attempts or nodes were lost (docs/models.md, "How a job ends").
STALL_WINDOW_FACTOR = 100.0
PROGRESS_INTERVAL_S = 0.25  # wall seconds between progress ticks

Progress = Callable[[int, int], None]  # (tasks finished, tasks in the bag)


class Watch:
    """Polled by the engine; reports progress and ends a job that stopped progressing."""

    def __init__(self, sim: Simulation, progress: Progress | None = None,
                 interval: float | None = None) -> None:
        self.sim = sim
        self.progress = progress
        self.interval = PROGRESS_INTERVAL_S if interval is None else interval
        self._next_tick = 0.0  # monotonic time of the next progress tick
        self._finished = 0  # tasks finished when last seen changing ...
        self._since = 0.0  # ... and the simulated time it was seen
        self._lost = 0  # attempts ended and nodes lost by then
        self._armed = False
        self._task_time: float | None = None  # the fixed part of the window's time scale
        self._speed = min(p.speed for p in sim.scenario.cluster.pools)

    def poll(self) -> None:
        wl = self.sim.workload
        finished = wl.completed + wl.failed
        if self.progress is not None:
            now = monotonic()
            if now >= self._next_tick:
                self._next_tick = now + self.interval
                self.progress(finished, wl.total)
        if finished != self._finished:
            self._finished = finished
            self._since = self.sim.env.now
            self._lost = self._losses()
        elif not self._armed and self.sim.env.now - self._since >= self.window() / 2:
            self._armed = True
            self.sim.env.after(self._since + self.window() - self.sim.env.now,
                               self._check)

    def done(self) -> None:
        """The replication ended: a last tick with the final count."""
        if self.progress is not None:
            wl = self.sim.workload
            self.progress(wl.completed + wl.failed, wl.total)

    def _losses(self) -> int:
        # Every attempt that ended (log.attempts) without a task finishing was lost.
        return self.sim.log.attempts + self.sim.churn.preemptions

    def window(self) -> float:
        """The stall window (s): STALL_WINDOW_FACTOR times one task's time at worst."""
        if self._task_time is None:
            self._task_time = self._fixed_time()
        return STALL_WINDOW_FACTOR * (self.sim.workload.longest / self._speed + self._task_time)

    def _fixed_time(self) -> float:
        s = self.sim.scenario
        boot = max(p.boot_time.mean for p in s.cluster.pools)
        replace = max((c.replace_delay for c in s.churn), default=0.0)
        rate = float(self.sim.bound()["throughput_tasks_per_s"])  # type: ignore[arg-type]
        wave = s.cluster.initial_cores / rate if rate > 0 and math.isfinite(rate) else 0.0
        return boot + replace + wave

    def _check(self, _arg: object = None) -> None:
        self._armed = False
        sim = self.sim
        wl = sim.workload
        if wl.completed + wl.failed != self._finished or sim.done.triggered:
            return  # it progressed after all: poll sets the next timer if needed
        window = self.window()
        if sim.env.now - self._since < window:  # the window grew (a longer task was drawn)
            self._armed = True
            sim.env.after(self._since + window - sim.env.now, self._check)
            return
        lost = self._losses() - self._lost
        if lost == 0:  # nothing is being lost either: long attempts or transfers, not a stall
            self._since = sim.env.now
            self._lost = self._losses()
            return
        sim.fail_job(f"no progress: no task finished in {window:g} s "
                     f"({STALL_WINDOW_FACTOR:g} x the {window / STALL_WINDOW_FACTOR:g} s a task "
                     f"needs at worst) while {lost} attempts or nodes were lost; "
                     f"{wl.unfinished} tasks unfinished", "no_progress")
