"""A single-threaded server: the Work Queue manager, the Ray driver.

Both are one thread that does one thing at a time. Work reaches it two ways: jobs pushed to
it (a finished task to retrieve, a result to process), served first-in first-out and before
anything else, and work it pulls when it has nothing pushed (dispatch the next task, submit
the next one). When it has neither it is idle, runs its idle chores (accepting workers,
keepalive checks) and sleeps until woken. Each job is a service time and a callback run when
the service ends; the queue is a deque, so each job costs O(1) plus one timer.

A pushed job may go stale while it waits (the Work Queue manager dropped the worker whose
output it was to fetch): with a ``stale`` predicate the server asks it of each pushed job's
argument when the job comes up and skips a stale one at no cost, so a disconnect need not
search the queue.

A job may also come with no callback: its effect is already applied, stamped with the time its
service ends (the Ray driver's submissions), and the server is only busy until then. Such a job
needs no timer: the server sleeps, busy, and a wake or poke before the end of the service starts
it at that end, as the timer would have. This is for servers without idle chores.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from schedsim.model.engine import Engine

# (service s, fn, arg): fn(arg) when served; fn None: no callback, the server is only busy
Job = tuple[float, Callable[[Any], None] | None, Any]


class SerialServer:
    """One thread serving pushed jobs first, then pulled work, then idle chores.

    Callback-driven: a job's service is one timer event, and a sleeping server is woken by
    one event at the time of the wake, so the order of work matches a SimPy process that
    yields a timeout per job and an event per sleep, without a generator resume per step.
    """

    def __init__(self, env: Engine, name: str,
                 pull: Callable[[], Job | None] = lambda: None,
                 idle: Callable[[], bool] | None = None,
                 stale: Callable[[Any], bool] | None = None,
                 stretch: Callable[[float], float] | None = None) -> None:
        self.env = env
        # None: a job of service s ends s after it starts; else stretch(s) is its end (the
        # server's work queues for a shared host's CPUs: schedsim/model/host.py).
        self._stretch = stretch
        self.name = name
        self._pull = pull
        self._idle = idle  # None: no idle chores
        self._stale = stale  # None: pushed jobs never go stale
        self.skipped = 0  # stale pushed jobs dropped unserved
        self._pushed: deque[Job] = deque()
        self._sleeping = False
        self._busy_until = 0.0  # the end of the last job without a callback
        self._cb_served = self._served  # bound once: it rides on every job's timer
        env.after(0.0, self._serve)  # starts like a process: at time 0, as an event

    def push(self, service: float, done: Callable[[Any], None], arg: Any = None) -> None:
        """Serve ``done(arg)`` after ``service`` seconds, before any pulled work.

        A sleeping server starts on it at once (:meth:`poke`)."""
        self._pushed.append((service, done, arg))
        self.poke()

    def poke(self) -> None:
        """Like :meth:`wake`, but a sleeping server starts at once, inside the caller, which
        saves the wake-up event (one per task when the server is mostly idle). The server may
        then take work before the call returns, so a caller must not hold state the server
        changes (a loop over its queues, say) across the call."""
        if self._sleeping:
            self._sleeping = False
            if self.env.now < self._busy_until:
                self._resume_at_busy_end()
            else:
                self._serve()

    def wake(self) -> None:
        """Something changed: a sleeping server looks for work again."""
        if self._sleeping:
            self._sleeping = False
            if self.env.now < self._busy_until:
                self._resume_at_busy_end()
            else:
                self.env.after(0.0, self._serve)

    def _resume_at_busy_end(self) -> None:
        """Serve again when the current job without a callback ends (the time its timer
        would have had: the same float, not now plus the time left)."""
        self.env.at(self._busy_until, self._serve)

    def _serve(self, _arg: object = None) -> None:
        pushed = self._pushed
        stale = self._stale
        while True:
            if pushed:
                job = pushed.popleft()
                if stale is not None and stale(job[2]):
                    self.skipped += 1
                    continue
            else:
                pulled = self._pull()
                if pulled is None:
                    if self._idle is not None and self._idle():
                        continue
                    self._sleeping = True
                    return
                job = pulled
            service, done, arg = job
            if done is None:  # its effect is applied: busy until its end, then look again
                assert self._idle is None, "a job without a callback needs no idle chores"
                assert self._stretch is None, "a stretched job needs its callback"
                now = self.env.now
                end = now + service
                if end > now:
                    self._busy_until = end
                    self._sleeping = True
                    return
                continue
            if service > 0:
                end = self.env.now + service if self._stretch is None \
                    else self._stretch(service)
                self.env.at(end, self._cb_served, job)
                return
            done(arg)

    def _served(self, job: Job) -> None:
        job[1](job[2])  # type: ignore[misc]  # jobs with a timer have a callback
        self._serve()
