"""Network links with max-min fair sharing, in virtual time.

A :class:`Link` serves its concurrent flows by processor sharing: with n flows each gets
``min(flow_cap, bandwidth / n)`` bytes/s. Instead of updating every flow when n changes, the link
keeps a virtual clock V (bytes served to each active flow so far); a flow that starts at V0
with S bytes finishes when V reaches V0 + S. Flows sit in a heap by that finish tag, so each
start, cancel or completion costs O(log n) and one timer, never a rescan of all flows.

The :class:`Network` gives each transfer its path: the manager's link (shared by every
transfer to or from the manager, the head or the data store) and the worker node's own link.
For nodes with one core the node link is never shared, and max-min fairness across the two
links reduces exactly to a per-flow cap of the node link's bandwidth on the manager's link.
For multi-core nodes the node's flows also share that node's link, and a transfer ends when
both links have carried it (an approximation of max-min across two links, see docs/models.md).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import Any

import simpy
from simpy.events import NORMAL

from schedsim.scenario import NetworkSpec


class Flow:
    """One transfer's share of one link."""

    __slots__ = ("finish", "on_done", "active")

    def __init__(self, finish: float, on_done: Callable[[], None]) -> None:
        self.finish = finish
        self.on_done = on_done
        self.active = True

    def __lt__(self, other: Flow) -> bool:
        return self.finish < other.finish


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
        self.flows_started = 0
        self.busy_time = 0.0  # seconds with at least one active flow
        self._v = 0.0
        self._t = 0.0
        self._n = 0
        self._heap: list[Flow] = []
        self._timer: simpy.Event | None = None

    @property
    def active(self) -> int:
        return self._n

    def rate(self) -> float:
        """Bytes/s each active flow gets now."""
        return min(self.flow_cap, self.bandwidth / self._n) if self._n else 0.0

    def _advance(self) -> None:
        now = self.env.now
        if self._n:
            self._v += (now - self._t) * min(self.flow_cap, self.bandwidth / self._n)
            self.busy_time += now - self._t
        self._t = now

    def start(self, size: float, on_done: Callable[[], None]) -> Flow:
        """Start a flow of ``size`` bytes; ``on_done`` is called when it has crossed."""
        self._advance()
        flow = Flow(self._v + size, on_done)
        heap = self._heap
        # A join only slows the others down, so the pending timer can stay (it fires early
        # and re-arms) unless the new flow itself is the next to finish.
        first = not heap or flow.finish < heap[0].finish
        heapq.heappush(heap, flow)
        self._n += 1
        self.bytes_started += size
        self.flows_started += 1
        if first or self._timer is None:
            self._arm()
        return flow

    def cancel(self, flow: Flow) -> None:
        """Withdraw a flow (its node was lost); the others speed up."""
        if not flow.active:
            return
        self._advance()
        flow.active = False
        self._n -= 1
        self._arm()

    def _arm(self) -> None:
        heap = self._heap
        while heap and not heap[0].active:
            heapq.heappop(heap)
        if not heap:
            self._timer = None
            return
        rate = min(self.flow_cap, self.bandwidth / self._n)
        delay = max(0.0, (heap[0].finish - self._v) / rate)
        timer = self.env.timeout(delay)
        timer.callbacks.append(self._fire)
        self._timer = timer

    def _fire(self, event: Any) -> None:
        if event is not self._timer:
            return  # superseded by a later arm
        self._advance()
        heap = self._heap
        limit = self._v + 1e-9 * max(1.0, abs(self._v))
        done: list[Flow] = []
        while heap and (not heap[0].active or heap[0].finish <= limit):
            flow = heapq.heappop(heap)
            if flow.active:
                flow.active = False
                self._n -= 1
                done.append(flow)
        self._arm()
        for flow in done:
            flow.on_done()


class Transfer:
    """A transfer in progress over one or two links; ``event`` fires when it has arrived."""

    __slots__ = ("event", "_flows", "_pending", "_latency", "_env")

    def __init__(self, env: simpy.Environment, latency: float) -> None:
        self._env = env
        self.event = env.event()
        self._flows: list[tuple[Link, Flow]] = []
        self._pending = 0
        self._latency = latency

    def _part_done(self) -> None:
        self._pending -= 1
        if self._pending == 0:
            event = self.event
            if self._latency > 0:
                # Trigger after the propagation delay without a separate process.
                event._ok = True
                event._value = None
                self._env.schedule(event, NORMAL, self._latency)
            else:
                event.succeed()

    def cancel(self) -> None:
        for link, flow in self._flows:
            link.cancel(flow)


class Network:
    """The manager's shared link and one link per worker node."""

    def __init__(self, env: simpy.Environment, spec: NetworkSpec) -> None:
        self.env = env
        self.spec = spec
        self.manager = Link(env, "manager", spec.manager.bandwidth, spec.manager.latency,
                            flow_cap=spec.worker.bandwidth)
        self._latency = spec.manager.latency + spec.worker.latency
        self._node_links: dict[int, Link] = {}

    def node_link(self, node_id: int) -> Link:
        link = self._node_links.get(node_id)
        if link is None:
            link = Link(self.env, f"node{node_id}", self.spec.worker.bandwidth,
                        self.spec.worker.latency)
            self._node_links[node_id] = link
        return link

    def forget_node(self, node_id: int) -> None:
        self._node_links.pop(node_id, None)

    def transfer(self, node_id: int, cores: int, size: float) -> Transfer:
        """Move ``size`` bytes between the manager and a worker node (either direction)."""
        tr = Transfer(self.env, self._latency)
        links = [self.manager] if cores <= 1 else [self.manager, self.node_link(node_id)]
        tr._pending = len(links)
        for link in links:
            tr._flows.append((link, link.start(size, tr._part_done)))
        return tr
