"""Network links with max-min fair sharing, in virtual time.

A :class:`Link` serves its concurrent flows by processor sharing: with n flows each gets
``min(flow_cap, bandwidth / n)`` bytes/s. Instead of updating every flow when n changes, the link
keeps a virtual clock V (bytes served to each active flow so far); a flow that starts at V0
with S bytes finishes when V reaches V0 + S. Flows sit in a heap by that finish tag, so each
start, cancel or completion costs O(log n) and at most one timer, never a rescan of all flows.

The :class:`Network` gives each transfer its path: the manager's link (shared by every
transfer to or from the manager, the head or the data store) and the worker node's own link.
For nodes with one core the node link is never shared, and max-min fairness across the two
links reduces exactly to a per-flow cap of the node link's bandwidth on the manager's link.
For multi-core nodes the node's flows also share that node's link, and a transfer ends when
both links have carried it (an approximation of max-min across two links, see docs/models.md).

A transfer's ``event`` fires ``delay`` seconds after its last byte crossed; the delay is the
links' latency plus whatever the caller folds in (a task's run time after its input arrived),
which saves an event per task on the hot path.
"""

from __future__ import annotations

import heapq
import math
from itertools import count
from typing import Any

import simpy
from simpy.events import NORMAL, Timeout

from schedsim.scenario import NetworkSpec


def _trigger(env: simpy.Environment, event: simpy.Event, delay: float) -> None:
    """Succeed ``event`` after ``delay`` without a separate timer (as simpy's Timeout does)."""
    if delay > 0:
        event._ok = True
        event._value = None
        env.schedule(event, NORMAL, delay)
    else:
        event.succeed()


class Flow:
    """One transfer's share of one link; ``cancel`` withdraws it."""

    __slots__ = ("link", "event", "delay", "join", "active")

    def __init__(self, link: Link, event: simpy.Event, delay: float,
                 join: Transfer | None) -> None:
        self.link = link
        self.event = event
        self.delay = delay
        self.join = join
        self.active = True

    def cancel(self) -> None:
        self.link.cancel(self)


class Link:
    """A processor-sharing link with an optional per-flow rate cap."""

    def __init__(self, env: simpy.Environment, name: str, bandwidth: float,
                 latency: float = 0.0, flow_cap: float = math.inf) -> None:
        self.env = env
        self.name = name
        self.bandwidth = bandwidth
        self.latency = latency
        self.flow_cap = flow_cap
        self.bytes_started = 0.0
        self._v = 0.0
        self._t = 0.0
        self._n = 0
        self._heap: list[tuple[float, int, Flow]] = []
        self._seq = count()
        self._timer: simpy.Event | None = None
        self._capped_below = bandwidth / flow_cap if math.isfinite(flow_cap) else 0.0

    @property
    def active(self) -> int:
        return self._n

    def _rate(self, n: int) -> float:
        # The cap binds while n * flow_cap <= bandwidth; a comparison, not a min() call.
        return self.flow_cap if n <= self._capped_below else self.bandwidth / n

    def _advance(self) -> None:
        now = self.env._now
        n = self._n
        if n:
            self._v += (now - self._t) * (self.flow_cap if n <= self._capped_below
                                          else self.bandwidth / n)
        self._t = now

    def start(self, size: float, event: simpy.Event, delay: float = 0.0,
              join: Transfer | None = None) -> Flow:
        """Start a flow of ``size`` bytes; ``event`` fires ``delay`` s after it has crossed."""
        if self._n:
            self._advance()
        else:
            self._t = self.env._now  # V does not move while the link is idle
        flow = Flow(self, event, delay, join)
        finish = self._v + size
        heap = self._heap
        # A join only slows the others down, so the pending timer can stay (it fires early
        # and re-arms) unless the new flow itself is the next to finish.
        first = not heap or finish < heap[0][0]
        heapq.heappush(heap, (finish, next(self._seq), flow))
        self._n += 1
        self.bytes_started += size
        if first or self._timer is None:
            self._arm()
        return flow

    def cancel(self, flow: Flow) -> None:
        """Withdraw a flow (its node was lost); the others speed up."""
        if not flow.active:
            return
        self._advance()
        flow.active = False
        flow.join = None
        self._n -= 1
        self._arm()

    def _arm(self) -> None:
        heap = self._heap
        while heap and not heap[0][2].active:
            heapq.heappop(heap)
        if not heap:
            self._timer = None
            return
        delay = (heap[0][0] - self._v) / self._rate(self._n)
        timer = Timeout(self.env, delay if delay > 0 else 0.0)
        timer.callbacks.append(self._fire)
        self._timer = timer

    def _fire(self, event: Any) -> None:
        if event is not self._timer:
            return  # superseded by a later arm
        self._advance()
        heap = self._heap
        v = self._v
        # Flows within a few clock ticks of done are done: at high bandwidth the rounding of
        # simulated time (~1e-13 s at t = 1e3 s) is worth bytes, and a timer too short to
        # move the clock would fire for ever.
        slack_s = 1e-9 + 1e-12 * abs(self._t)
        limit = v + 1e-9 * (v if v > 1.0 else 1.0) + slack_s * self._rate(self._n)
        done: list[Flow] = []
        pop = heapq.heappop
        while heap and (heap[0][0] <= limit or not heap[0][2].active):
            flow = pop(heap)[2]
            if flow.active:
                flow.active = False
                self._n -= 1
                done.append(flow)
        self._arm()
        env = self.env
        for flow in done:
            join = flow.join
            if join is None:
                _trigger(env, flow.event, flow.delay)
            else:
                flow.join = None
                join.part_done()


class Transfer:
    """A transfer over two links at once; ``event`` fires once both have carried it."""

    __slots__ = ("event", "flows", "pending", "delay", "env")

    def __init__(self, env: simpy.Environment, delay: float) -> None:
        self.env = env
        self.event = env.event()
        self.flows: list[Flow] = []
        self.pending = 0
        self.delay = delay

    def part_done(self) -> None:
        self.pending -= 1
        if self.pending == 0:
            self.flows = []
            _trigger(self.env, self.event, self.delay)

    def cancel(self) -> None:
        for flow in self.flows:
            flow.cancel()
        self.flows = []


class Network:
    """The manager's shared link and one link per worker node."""

    def __init__(self, env: simpy.Environment, spec: NetworkSpec) -> None:
        self.env = env
        self.spec = spec
        self.manager = Link(env, "manager", spec.manager.bandwidth, spec.manager.latency,
                            flow_cap=spec.worker.bandwidth)
        self.latency = spec.manager.latency + spec.worker.latency
        self._node_links: dict[int, Link] = {}

    def node_link(self, node_id: int) -> Link:
        link = self._node_links.get(node_id)
        if link is None:
            link = Link(self.env, f"node{node_id}", self.spec.worker.bandwidth,
                        self.spec.worker.latency)
            self._node_links[node_id] = link
        return link

    def lone_transfer_time(self, size: float) -> float:
        """Time to move ``size`` bytes when nothing else uses the path, and count the bytes.

        A serial sender (the Work Queue manager pushes one file at a time, synchronously)
        never overlaps its own transfers, so its transfers need no fair sharing: each
        takes latency + size / the slower link's bandwidth.
        """
        self.manager.bytes_started += size
        return self.latency + size / min(self.spec.manager.bandwidth, self.spec.worker.bandwidth)

    def forget_node(self, node_id: int) -> None:
        self._node_links.pop(node_id, None)

    def transfer(self, node_id: int, cores: int, size: float,
                 then: float = 0.0) -> Flow | Transfer:
        """Move ``size`` bytes between the manager and a worker node (either direction).

        The returned handle has ``event`` (fires ``latency + then`` after the last byte) and
        ``cancel()``.
        """
        if cores <= 1:
            return self.manager.start(size, self.env.event(), self.latency + then)
        tr = Transfer(self.env, self.latency + then)
        tr.pending = 2
        tr.flows = [link.start(size, tr.event, 0.0, tr)
                    for link in (self.manager, self.node_link(node_id))]
        return tr
