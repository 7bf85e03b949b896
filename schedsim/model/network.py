"""Network links with max-min fair sharing: exact predictions while uncontended, virtual time
while shared.

A :class:`Link` serves its concurrent flows by processor sharing: with n flows each gets
``min(flow_cap, bandwidth / n)`` bytes/s. While n is at most ``k`` (the number of flows that
still get the full per-flow rate: ``bandwidth // flow_cap``, at least 1), every flow moves at
that rate whatever the others do, so its finish time is known the moment it starts. In this
*direct* mode the link arms no timer at all: the transfer schedules its own completion, and
flows that have finished are dropped lazily, from a heap by finish time, at the next start or
cancel. That is the common case (a lone flow, or a few capped flows on a fat manager link) and
costs one SimPy event per transfer.

When a start would make n exceed ``k``, the link switches to *shared* mode: a virtual clock V
(bytes served to each active flow so far) replaces the finish times; a flow that starts at V0
with S bytes finishes when V reaches V0 + S. Flows sit in a heap by that finish tag, so each
start, cancel or completion costs O(log n) and at most one timer, never a rescan of all
flows. When n falls back to ``k`` the remaining flows get exact finish times again. A switch
costs O(k), a constant of the scenario (k is 1 for an uncapped link), not of the number of
flows or workers.

The :class:`Network` gives each transfer its path: the manager's link (shared by every
transfer to or from the manager, the head or the data store) and the worker node's own link.
A full-duplex link (the default, as Ethernet) is two links, one per direction, so inputs and
outputs do not share bandwidth; a half-duplex link is one link both directions share.
For nodes with one core the node link is never shared, and max-min fairness across the two
links reduces exactly to a per-flow cap of the node link's bandwidth on the manager's link.
For multi-core nodes the node's flows also share that node's link, and a transfer ends when
both links have carried it (an approximation of max-min across two links, see docs/models.md).

A :class:`Transfer` calls ``done(tag)`` ``delay`` seconds after its last byte crossed; the
delay is the links' latency plus whatever the caller folds in (a task's run time after its
input arrived), which saves an event per task on the hot path.

A transfer may also begin ``after`` seconds from now (a Ray worker fetches its input once the
lease and push are done). On a single link in direct mode and at most half full, its flow is
booked at once with its future begin time: it counts against ``k`` from now until it ends,
which can only overstate how many flows overlap, so every direct prediction stays exact, and
no event marks its begin. When a start finds the link full, just enough booked flows that
have not begun yet (the latest to begin first) are taken back and begin by an event at their
time, as any transfer would that could not be booked, so the link sees the same flows at the
same times either way.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from itertools import count
from typing import Any

from schedsim.model.engine import Engine, Entry
from schedsim.scenario import HALF, NetworkSpec

UNKNOWN = -1.0  # a flow's finish time while it shares its link
NOT_DUE = -1.0  # a transfer's due time while nothing is scheduled


class Flow:
    """One transfer's share of one link. A transfer over a single link is its own flow."""

    __slots__ = ("link", "owner", "active", "finish", "vtag", "begin", "size")

    link: Link | None
    owner: Transfer | None
    active: bool
    finish: float
    vtag: float
    begin: float
    size: float

    def changed(self) -> None:
        """The link changed this flow's finish time: its transfer reschedules."""
        if self.owner is not None:
            self.owner.changed()

    def rebook(self) -> None:
        """The link took this booked flow back: its transfer begins by an event instead."""
        if self.owner is not None:
            self.owner.rebook()


def _flow(link: Link, owner: Transfer, begin: float, size: float) -> Flow:
    flow = Flow()
    flow.link = link
    flow.owner = owner
    flow.active = True
    flow.finish = UNKNOWN  # simulated time its last byte crosses, once known
    flow.vtag = 0.0  # shared mode: the virtual time at which it finishes
    flow.begin = begin  # when its first byte moves (later than now: booked ahead)
    flow.size = size
    return flow


class Link:
    """A processor-sharing link with an optional per-flow rate cap."""

    def __init__(self, env: Engine, name: str, bandwidth: float,
                 latency: float = 0.0, flow_cap: float = math.inf) -> None:
        self.env = env
        self.name = name
        self.bandwidth = bandwidth
        self.latency = latency
        self.flow_cap = flow_cap
        self.bytes_started = 0.0
        capped_below = bandwidth / flow_cap if math.isfinite(flow_cap) else 0.0
        self.k = max(1, math.floor(capped_below))  # flows that all get the full rate
        self.rate_max = flow_cap if capped_below >= 1.0 else bandwidth
        # Book ahead only while the link is at most half full: a booked flow that must be
        # taken back costs more than it saved. Speed only; results are exact either way.
        self._book_below = max(1, self.k // 2)
        self._n = 0
        self._shared = False
        self._direct: list[tuple[float, int, Flow]] = []  # by finish time
        self._heap: list[tuple[float, int, Flow]] = []  # shared mode: by finish tag
        self._v = 0.0
        self._t = 0.0
        self._seq = count()
        self._timer: Entry | None = None
        self._armed = 0  # arms so far: a timer armed before the last one is stale

    @property
    def active(self) -> int:
        """Flows moving bytes now (not those booked to begin later)."""
        if self._shared:
            return self._n
        now = self.env.now
        self._expire(now)
        return sum(1 for _f, _s, flow in self._direct if flow.active and flow.begin <= now)

    # ---------------------------------------------------------------- direct mode

    def _expire(self, now: float) -> None:
        """Drop the flows whose last byte crossed by ``now``."""
        direct = self._direct
        while direct and direct[0][0] <= now:
            flow = heapq.heappop(direct)[2]
            if flow.active:
                flow.active = False
                self._n -= 1

    def start(self, size: float, owner: Transfer) -> Flow:
        """Start a flow of ``size`` bytes for ``owner``, which hears of its finish."""
        now = self.env.now
        flow = _flow(self, owner, now, size)
        self.add(flow, size, now)
        return flow

    def add(self, flow: Flow, size: float, now: float) -> None:
        """``flow`` (active, begun now) starts moving ``size`` bytes: its finish time is set
        if the link is direct, UNKNOWN if shared (it hears of it later)."""
        self.bytes_started += size
        if not self._shared:
            direct = self._direct
            if direct and direct[0][0] <= now:
                self._expire(now)
            if self._n >= self.k:
                self._take_back(now, self._n - self.k + 1)
            if self._n < self.k:
                flow.finish = finish = now + size / self.rate_max
                heapq.heappush(direct, (finish, next(self._seq), flow))
                self._n += 1
                return
            self._to_shared(now)
        flow.finish = UNKNOWN
        self._advance(now)
        flow.vtag = tag = self._v + size
        heap = self._heap
        # A start only slows the others down, so the pending timer can stay (it fires early
        # and re-arms) unless the new flow itself is the next to finish.
        first = not heap or tag < heap[0][0]
        heapq.heappush(heap, (tag, next(self._seq), flow))
        self._n += 1
        if first or self._timer is None:
            self._arm()

    def book(self, flow: Flow, size: float, begin: float) -> bool:
        """Book ``flow`` (active), which begins at ``begin`` (later than now), if the link is
        in direct mode and at most half full, and set its finish time; False if not (the
        caller starts it at ``begin`` instead)."""
        if self._shared:
            return False
        now = self.env.now
        direct = self._direct
        if direct and direct[0][0] <= now:
            self._expire(now)
        if self._n >= self._book_below:
            return False
        self.bytes_started += size
        flow.finish = finish = begin + size / self.rate_max
        heapq.heappush(direct, (finish, next(self._seq), flow))
        self._n += 1
        return True

    def _take_back(self, now: float, need: int) -> None:
        """The link is full: up to ``need`` booked flows that have not begun, the latest to
        begin first, leave it and begin by an event at their time (they will find the link as
        a transfer started then would). Those left booked still count, so it stays exact."""
        later = [flow for _f, _s, flow in self._direct if flow.active and flow.begin > now]
        if len(later) > need:
            later.sort(key=_begin_time, reverse=True)  # stable: ties keep heap order
            del later[need:]
        for flow in later:
            flow.active = False
            self._n -= 1
            self.bytes_started -= flow.size
            flow.rebook()

    def cancel(self, flow: Flow) -> None:
        """Withdraw a flow (its node was lost); in shared mode the others speed up."""
        now = self.env.now
        if not self._shared:
            self._expire(now)
            if flow.active:
                flow.active = False
                self._n -= 1
                if flow.begin > now:
                    self.bytes_started -= flow.size  # booked, never moved a byte
            return
        if not flow.active:
            return
        self._advance(now)
        flow.active = False
        self._n -= 1
        if self._n <= self.k:
            self._to_direct(now)
        else:
            self._arm()

    # ---------------------------------------------------------------- switching

    def _to_shared(self, now: float) -> None:
        """More than k flows: finish times become unknown, the virtual clock takes over."""
        self._shared = True
        self._v = 0.0
        self._t = now
        rate = self.rate_max
        heap = self._heap
        for finish, seq, flow in self._direct:
            if flow.active:  # all of these finish after now (_expire ran)
                flow.vtag = (finish - now) * rate
                flow.finish = UNKNOWN
                heap.append((flow.vtag, seq, flow))
                flow.changed()
        self._direct = []
        heapq.heapify(heap)

    def _to_direct(self, now: float) -> None:
        """Back to k flows or fewer: each one's finish time is known again."""
        self._shared = False
        self._timer = None  # a pending timer finds itself superseded
        v, rate = self._v, self.rate_max
        direct = self._direct
        for tag, seq, flow in self._heap:
            if flow.active:
                left = tag - v
                flow.finish = now + (left if left > 0.0 else 0.0) / rate
                direct.append((flow.finish, seq, flow))
                flow.changed()
        self._heap = []
        heapq.heapify(direct)

    # ---------------------------------------------------------------- shared mode

    def _advance(self, now: float) -> None:
        n = self._n
        if n:
            self._v += (now - self._t) * self.bandwidth / n
        self._t = now

    def _arm(self) -> None:
        heap = self._heap
        while heap and not heap[0][2].active:
            heapq.heappop(heap)
        if not heap:
            self._timer = None
            return
        delay = (heap[0][0] - self._v) * self._n / self.bandwidth
        self._armed += 1
        self._timer = self.env.after(delay, self._fire, self._armed)

    def _fire(self, armed: int) -> None:
        if self._timer is None or armed != self._armed:
            return  # superseded by a later arm or a switch to direct mode
        now = self.env.now
        self._advance(now)
        heap = self._heap
        v = self._v
        # Flows within a few clock ticks of done are done: at high bandwidth the rounding of
        # simulated time (~1e-13 s at t = 1e3 s) is worth bytes, and a timer too short to
        # move the clock would fire for ever.
        slack_s = 1e-9 + 1e-12 * abs(now)
        limit = v + 1e-9 * (v if v > 1.0 else 1.0) + slack_s * self.bandwidth / self._n
        done: list[Flow] = []
        pop = heapq.heappop
        while heap and (heap[0][0] <= limit or not heap[0][2].active):
            flow = pop(heap)[2]
            if flow.active:
                flow.active = False
                flow.finish = now
                self._n -= 1
                done.append(flow)
        if self._n <= self.k:
            self._to_direct(now)
        else:
            self._arm()
        for flow in done:
            flow.changed()


def _begin_time(flow: Flow) -> float:
    return flow.begin


def _deliver(transfer: Transfer) -> None:
    # A rescheduled transfer leaves its earlier entry on the queue: only the one due now
    # delivers, once.
    if transfer.due == transfer.env.now:
        transfer.due = NOT_DUE
        transfer.flows = ()  # no flow -> transfer -> flow cycle is left for the collector
        transfer.done(transfer.tag)


def _begin(transfer: Transfer) -> None:
    links = transfer.links
    if links is not None:  # None: cancelled before it began
        transfer.links = None
        transfer.start(links, transfer.env.now)


class Transfer(Flow):
    """``size`` bytes over one or more links at once, beginning ``after`` seconds from now;
    ``done(tag)`` is called ``delay`` seconds after the last link has carried them.
    ``cancel()`` withdraws it.

    Over a single link the transfer is that link's flow itself (``link`` is the link); over
    several it owns one :class:`Flow` per link (``link`` is None, ``flows`` holds them).
    """

    __slots__ = ("env", "done", "tag", "delay", "flows", "due", "links")

    flows: tuple[Flow, ...]
    links: Sequence[Link] | None  # while it waits to begin

    def __init__(self, env: Engine, links: Sequence[Link], size: float,
                 delay: float, done: Callable[[Any], None], tag: Any = None,
                 after: float = 0.0) -> None:
        self.env = env
        self.done = done
        self.tag = tag
        self.delay = delay
        self.size = size
        now = env.now
        if after <= 0.0:
            if len(links) == 1:  # the common case, inline
                link = self.link = links[0]
                self.active = True
                self.begin = now
                link.add(self, size, now)
                finish = self.finish
                if finish >= 0.0:
                    due = finish + delay
                    self.due = due = due if due > now else now
                    env.at(due, _deliver, self)
                else:
                    self.due = NOT_DUE
                return
            self.start(links, now)
            return
        self.begin = begin = now + after
        self.due = NOT_DUE
        if len(links) == 1:
            link = self.link = links[0]
            self.active = True
            if link.book(self, size, begin):
                self.due = due = self.finish + delay
                env.at(due, _deliver, self)
                return
        self.link = None
        self.flows = ()
        self.links = links
        env.at(begin, _begin, self)

    def start(self, links: Sequence[Link], now: float) -> None:
        """Begin now on ``links``."""
        self.begin = now
        if len(links) == 1:
            self.link = links[0]
            self.active = True
            self.flows = ()
            self.link.add(self, self.size, now)
        else:
            self.link = None
            self.flows = tuple([link.start(self.size, self) for link in links])
        self.changed()

    def changed(self) -> None:
        """A flow's finish time became known, changed or unknown: (re)schedule ``done``."""
        if self.link is not None:
            latest = self.finish
            if latest < 0.0:
                self.due = NOT_DUE  # an earlier schedule, if any, is now stale
                return
        else:
            latest = 0.0
            for flow in self.flows:
                finish = flow.finish
                if finish < 0.0:
                    self.due = NOT_DUE
                    return
                if finish > latest:
                    latest = finish
        env = self.env
        now = env.now
        due = latest + self.delay
        if due < now:
            due = now
        self.due = due
        env.at(due, _deliver, self)

    def rebook(self) -> None:
        """The link took it back before it began: begin by an event at its begin time."""
        assert self.link is not None
        self.due = NOT_DUE
        self.links = (self.link,)
        self.link = None
        self.flows = ()
        env = self.env
        env.at(self.begin, _begin, self)

    def cancel(self) -> None:
        self.due = NOT_DUE
        self.links = None
        if self.link is not None:
            self.link.cancel(self)
            return
        for flow in self.flows:
            flow.owner = None
            assert flow.link is not None
            flow.link.cancel(flow)
        self.flows = ()


class Network:
    """The manager's link and one link per worker node, each full or half duplex.

    A full-duplex link is two independent :class:`Link` objects, one per direction, so
    inputs (manager to node) and outputs (node to manager) never share bandwidth; a
    half-duplex link is one :class:`Link` that both directions share. ``manager_tx`` carries
    what the manager sends, ``manager_rx`` what it receives (the same link if half duplex).
    """

    def __init__(self, env: Engine, spec: NetworkSpec) -> None:
        self.env = env
        self.spec = spec
        m, w = spec.manager, spec.worker
        self.manager_tx = Link(env, "manager" if m.duplex == HALF else "manager>", m.bandwidth,
                               m.latency, flow_cap=w.bandwidth)
        self.manager_rx = self.manager_tx if m.duplex == HALF else Link(
            env, "manager<", m.bandwidth, m.latency, flow_cap=w.bandwidth)
        self._worker_half = w.duplex == HALF
        self.latency = m.latency + w.latency
        self._lone_rate = min(m.bandwidth, w.bandwidth)
        # Per node: (the link into the node, the link out of it), one Link if half duplex.
        self._node_links: dict[int, tuple[Link, Link]] = {}
        self._to_node = (self.manager_tx,)
        self._to_manager = (self.manager_rx,)

    def node_links(self, node_id: int) -> tuple[Link, Link]:
        """The node's own link towards the node and towards the manager (one Link if half
        duplex), made on first use."""
        links = self._node_links.get(node_id)
        if links is None:
            w = self.spec.worker
            if self._worker_half:
                link = Link(self.env, f"node{node_id}", w.bandwidth, w.latency)
                links = (link, link)
            else:
                links = (Link(self.env, f"node{node_id}<", w.bandwidth, w.latency),
                         Link(self.env, f"node{node_id}>", w.bandwidth, w.latency))
            self._node_links[node_id] = links
        return links

    def lone_transfer_time(self, size: float, to_manager: bool = False) -> float:
        """Time to move ``size`` bytes when nothing else uses the path, and count the bytes
        on the manager's link in that direction.

        A serial sender (the Work Queue manager pushes one file at a time, synchronously)
        never overlaps its own transfers, so its transfers need no fair sharing: each
        takes latency + size / the slower link's bandwidth, whatever the duplex.
        """
        (self.manager_rx if to_manager else self.manager_tx).bytes_started += size
        return self.latency + size / self._lone_rate

    def forget_node(self, node_id: int) -> None:
        self._node_links.pop(node_id, None)  # both directions

    def path_to_node(self, node_id: int, cores: int) -> tuple[Link, ...]:
        """The links a transfer from the manager to this node (an input) crosses: a
        platform keeps it per node and builds each :class:`Transfer` on it."""
        if cores <= 1:
            return self._to_node
        return (self.manager_tx, self.node_links(node_id)[0])

    def path_to_manager(self, node_id: int, cores: int) -> tuple[Link, ...]:
        """The links a transfer from this node to the manager (an output) crosses."""
        if cores <= 1:
            return self._to_manager
        return (self.manager_rx, self.node_links(node_id)[1])
