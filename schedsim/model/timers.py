"""Timers on the hot path: call a function at a simulated time, with one SimPy event.

``env.timeout(d).callbacks.append(fn)`` builds a Timeout (argument checks, a method call to
schedule it) for every task step. :func:`call_later` puts a plain, already-triggered event
on the environment's queue directly, which is what ``Timeout`` does, at about half the cost.
The event is an ordinary SimPy event: it is processed in time order with every other event,
and equal times keep the order in which they were scheduled.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

import simpy
from simpy.events import NORMAL, Event


def _call(event: Any) -> None:
    event._call(event._value)


def call_later(env: simpy.Environment, delay: float, fn: Callable[[Any], None],
               arg: Any = None) -> Event:
    """Call ``fn(arg)`` ``delay`` seconds from now; returns the event (compare it to tell a
    stale timer from the current one)."""
    event = Event(env)
    event._ok = True
    event._value = arg
    event._call = fn  # type: ignore[attr-defined]
    event.callbacks.append(_call)
    heapq.heappush(env._queue, (env._now + (delay if delay > 0.0 else 0.0), NORMAL,
                                next(env._eid), event))
    return event
