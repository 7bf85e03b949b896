"""The event loop: a SimPy environment whose queue also holds plain callbacks.

SimPy's queue holds ``(time, priority, id, event)`` and every step pops one, swaps out its
callback list, calls each callback and checks whether it failed. A task step of a platform
model (a run ends, a transfer arrives, a server finishes a job) needs none of that: it is one
function to call with one argument at a time. :class:`Engine` keeps SimPy's queue, clock,
priorities and event ids but stores ``(time, priority, id, fn, arg)``: :meth:`Engine.at` and
:meth:`Engine.after` push a callback with no event object, and every SimPy event (timeouts,
processes, conditions: :meth:`Engine.schedule` is what SimPy calls) is pushed as
``(..., process_event, event)``, which does exactly what ``Environment.step`` does. Order is
SimPy's: by time, then priority, then the order of scheduling, for callbacks and events alike.

This module is the only one that touches SimPy's private fields (``_queue``, ``_eid``, the
clock): the rest of the package schedules through ``at``, ``after`` and ``cancel``, reads the
clock as ``now`` (a plain attribute here, not SimPy's property) and counts events with
``scheduled`` (tests/test_layering.py checks it).
The loop is inlined in :meth:`Engine.run`. :attr:`Engine.on_bucket`, when set, is called
once per bucket taken, so that whoever watches a run (progress, watchdogs) polls it every few
hundred events at no cost per event.

On the benchmark's bare loop (three timers a task, 10k workers) this is about 1.4x SimPy's
``step`` with an already-triggered event per timer (docs/performance.md).

The queue is a calendar: a binary heap holds only the entries of the current time bucket;
later entries wait unsorted in per-bucket lists (a bucket is ``width`` seconds of simulated
time), and a bucket is sorted into the heap when the clock reaches it. A pop costs
O(log m) in a heap of the m entries of one bucket instead of O(log n) in all n pending
entries: with 100k workers, n is a few hundred thousand and a heap that size misses the CPU
caches on every level. The width adapts to keep buckets at a few hundred entries. Order is
exactly the heap's (time, priority, scheduling order), since bucket numbers grow with time.
:class:`RealtimeEngine` is SimPy's real-time environment on the same queue, for live runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from heapq import heappop, heappush
from math import floor
from time import monotonic, sleep
from typing import Any

import simpy
from simpy.core import EmptySchedule, Infinity, StopSimulation
from simpy.events import NORMAL, URGENT, Event, EventPriority

# A scheduled callback: (time, priority, id, fn, arg). at/after return it as the handle that
# cancel takes and that callers compare by identity.
Entry = tuple[float, int, int, Callable[[Any], None], Any]


def process_event(event: Event) -> None:
    """What ``simpy.Environment.step`` does with a popped event: run its callbacks, then fail
    loudly if it failed and nobody defused it."""
    callbacks, event.callbacks = event.callbacks, None  # type: ignore[assignment]
    try:
        for callback in callbacks:
            callback(event)
    except StopSimulation:
        # As SimPy: the callbacks after the one that stopped run when the simulation resumes.
        event.callbacks = callbacks[callbacks.index(callback) + 1:]
        event.env.schedule(event, EventPriority(-1))
        raise
    if not event._ok and not hasattr(event, "_defused"):
        exc = type(event._value)(*event._value.args)
        exc.__cause__ = event._value
        raise exc


INITIAL_WIDTH = 1.0  # s of simulated time per bucket, before the first adjustment
BUCKET_TARGET = 256  # entries per bucket the width aims at
RESIZE_EVERY = 256  # buckets between looks at their mean size
LAST_BUCKET = sys.maxsize  # for entries at an infinite time


def _cancelled(_arg: object) -> None:
    """What a cancelled entry calls instead of its callback."""


class Engine(simpy.Environment):
    """A ``simpy.Environment`` that also runs plain callbacks (:meth:`at`, :meth:`after`), on a
    calendar queue."""

    # The clock: a plain attribute, which the loop sets and every model reads once or twice
    # per step (SimPy's ``now`` is a property over ``_now``; _now is kept as an alias below).
    now: float = 0.0

    def __init__(self, initial_time: float = 0) -> None:
        super().__init__(initial_time)  # sets _now, hence now
        self._width = INITIAL_WIDTH
        self._inv = 1.0 / INITIAL_WIDTH
        self._cur = self._bucket(initial_time)  # entries up to this bucket are in _queue
        self._buckets: dict[int, list[Entry]] = {}  # later buckets, unsorted
        self._order: list[int] = []  # heap of the numbers of the later buckets
        self._advances = 0  # buckets taken since the width was last looked at
        self._taken = 0  # and the entries they held
        self.resizes = 0
        # Called each time a bucket is taken (every few hundred events), never per event:
        # where progress reports and watchdogs look at a run without slowing it down.
        self.on_bucket: Callable[[], None] | None = None

    @property
    def _now(self) -> float:
        return self.now

    @_now.setter
    def _now(self, t: float) -> None:
        self.now = t

    @property
    def scheduled(self) -> int:
        """Events and callbacks scheduled so far (each takes an id; a run's event count)."""
        return int(repr(self._eid)[len("count("):-1])  # the next id, read without taking it

    def _bucket(self, t: float) -> int:
        try:
            return floor(t * self._inv)
        except OverflowError:
            return LAST_BUCKET

    def _push(self, entry: Entry) -> None:
        try:
            b = floor(entry[0] * self._inv)  # times are >= 0: as int(), twice as fast
        except OverflowError:
            b = LAST_BUCKET
        if b <= self._cur:
            heappush(self._queue, entry)  # type: ignore[misc]
            return
        bucket = self._buckets.get(b)
        if bucket is None:
            self._buckets[b] = [entry]
            heappush(self._order, b)
        else:
            bucket.append(entry)

    def _advance(self) -> bool:
        """The current bucket is empty: make the next one current. False if none is left."""
        if not self._order:
            return False
        b = heappop(self._order)
        bucket = self._buckets.pop(b)
        bucket.sort()  # a sorted list is a heap
        self._cur = b
        self._queue = bucket  # type: ignore[assignment]
        self._advances += 1
        self._taken += len(bucket)
        if self._advances >= RESIZE_EVERY or len(bucket) > 16 * BUCKET_TARGET:
            self._look_at_width(bucket)
        if self.on_bucket is not None:
            self.on_bucket()
        return True

    def _look_at_width(self, bucket: list[Entry]) -> None:
        mean = self._taken / self._advances
        self._advances = self._taken = 0
        if mean > 4 * BUCKET_TARGET and bucket[0][0] < bucket[-1][0]:
            self._resize(self._width * BUCKET_TARGET / mean)
        elif mean < BUCKET_TARGET / 16 and len(self._order) > 4 * RESIZE_EVERY:
            self._resize(self._width * BUCKET_TARGET / max(mean, 1.0))

    def _resize(self, width: float) -> None:
        """Re-bucket every waiting entry with a new width (rare: O(pending entries))."""
        self.resizes += 1
        self._width = width
        self._inv = 1.0 / width
        current = self._queue
        self._cur = max((self._bucket(e[0]) for e in current), default=self._bucket(self.now))
        self._cur = max(self._cur, self._bucket(self.now))
        waiting = self._buckets
        self._buckets = {}
        self._order = []
        for bucket in waiting.values():
            for entry in bucket:
                self._push(entry)

    def schedule(self, event: Event, priority: EventPriority = NORMAL,
                 delay: float = 0) -> None:
        self._push((self.now + delay, priority, next(self._eid), process_event, event))

    def at(self, t: float, fn: Callable[[Any], None], arg: Any = None) -> Entry:
        """Call ``fn(arg)`` at time ``t`` (not before now); returns its handle. Ties run in
        the order of scheduling, after SimPy's urgent events of that time."""
        if t < self.now:
            raise ValueError(f"cannot schedule at {t!r}: the clock is at {self.now!r}")
        entry = (t, NORMAL, next(self._eid), fn, arg)
        # _push, inline: this runs once or more per task step.
        try:
            b = floor(t * self._inv)
        except OverflowError:
            b = LAST_BUCKET
        if b <= self._cur:
            heappush(self._queue, entry)  # type: ignore[misc]
            return entry
        bucket = self._buckets.get(b)
        if bucket is None:
            self._buckets[b] = [entry]
            heappush(self._order, b)
        else:
            bucket.append(entry)
        return entry

    def after(self, delay: float, fn: Callable[[Any], None], arg: Any = None) -> Entry:
        """Call ``fn(arg)`` ``delay`` seconds from now (a negative delay is no delay);
        returns its handle."""
        return self.at(self.now + (delay if delay > 0.0 else 0.0), fn, arg)

    def cancel(self, entry: Entry) -> bool:
        """Cancel a pending callback: it stays in the queue and is popped at its time as
        before, calling nothing (so the queue, its buckets and the events counted are as if
        it ran). O(entries of its bucket). False if it already ran or was cancelled."""
        b = self._bucket(entry[0])
        where = self._queue if b <= self._cur else self._buckets.get(b, [])
        for i, e in enumerate(where):
            if e is entry:
                # Same time, priority and id: the heap (or the bucket) keeps its order.
                where[i] = (entry[0], entry[1], entry[2], _cancelled, None)  # type: ignore
                return True
        return False

    def peek(self) -> float:
        if self._queue:
            return self._queue[0][0]
        if self._order:
            return min(self._buckets[self._order[0]])[0]
        return Infinity

    def step(self) -> None:
        if not self._queue and not self._advance():
            raise EmptySchedule
        self.now, _, _, fn, arg = heappop(self._queue)  # type: ignore[misc]
        fn(arg)

    def run(self, until: float | Event | None = None) -> Any:
        """As ``simpy.Environment.run``: until the queue is empty, a time, or an event."""
        if until is not None:
            if not isinstance(until, Event):
                at = until if isinstance(until, int) else float(until)
                if at <= self.now:
                    raise ValueError(f"until ({at}) must be greater than the current "
                                     "simulation time")
                until = Event(self)
                until._ok = True
                until._value = None
                self.schedule(until, URGENT, at - self.now)
            elif until.callbacks is None:
                return until.value  # already processed
            until.callbacks.append(StopSimulation.callback)
        try:
            self._loop()
        except StopSimulation as exc:
            return exc.args[0]
        if until is not None:
            raise RuntimeError(f'No scheduled events left but "until" event was not '
                               f"triggered: {until}")
        return None

    def _loop(self) -> None:
        pop = heappop
        while True:
            queue = self._queue
            while queue:
                self.now, _, _, fn, arg = pop(queue)  # type: ignore[misc]
                fn(arg)
            if not self._advance():
                return


class RealtimeEngine(Engine):
    """SimPy's ``RealtimeEnvironment`` (not strict) on the :class:`Engine` queue: each event
    is processed once the wall clock reaches its time times ``factor``."""

    def __init__(self, initial_time: float = 0, factor: float = 1.0) -> None:
        super().__init__(initial_time)
        self.env_start = initial_time
        self.factor = factor
        self.real_start = monotonic()

    def sync(self) -> None:
        """Start the wall clock now (as ``RealtimeEnvironment.sync``)."""
        self.real_start = monotonic()

    def step(self) -> None:
        at = self.peek()
        if at is Infinity:
            raise EmptySchedule
        real = self.real_start + (at - self.env_start) * self.factor
        while (delta := real - monotonic()) > 0:
            sleep(delta)
        super().step()

    def _loop(self) -> None:
        while self._queue or self._order:
            self.step()

