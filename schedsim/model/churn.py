"""Spot churn: when nodes leave, with what notice, and whether they come back.

Each churn entry names a pool. A node of that pool draws its lifetime when it becomes ready
(from a lifetime distribution, or from a monthly interruption ``band``), capped by
``max_lifetime`` (24 h preemptible VMs, a batch job's wall time). It gets its reclaim notice
``notice`` seconds before the end and is gone at the end. Trace replay reclaims or launches
nodes at given times, and zone-wide reclaims take a fraction of the pool's live nodes at once
(correlated losses). A lost node is replaced after ``replace_delay`` plus a fresh boot, unless
``replace`` is false. All draws come from per-pool streams, in an order fixed by churn alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

import simpy

from schedsim.distributions import Draws
from schedsim.model.cluster import Cluster, Node, NodeState
from schedsim.model.engine import Engine
from schedsim.rng import Streams
from schedsim.scenario import DRAIN, ChurnSpec


class Churn:
    """Schedules reclaims for the pools that have a churn entry."""

    def __init__(self, env: Engine, cluster: Cluster, specs: tuple[ChurnSpec, ...],
                 streams: Streams) -> None:
        self.env = env
        self.cluster = cluster
        self.specs = {s.pool: s for s in specs}
        self._lifetimes = {s.pool: Draws(s.lifetime, streams.get(f"lifetime/{s.pool}"))
                           for s in specs if s.lifetime is not None}
        self._streams = streams
        self.preemptions = 0
        self.on_preempted: list[Callable[[Node], None]] = []  # after the node is removed
        # A platform that provisions replacements itself (Ray's autoscaler) takes over here.
        self.replacer: Callable[[Node], None] | None = None
        # Lifetimes are drawn at launch, in launch order, so the k-th node of a pool gets the
        # k-th draw whatever the boot times; they take effect once the node is ready.
        self._drawn: dict[int, float] = {}
        cluster.on_launch.append(self._draw)

    def start(self) -> None:
        for spec in self.specs.values():
            if spec.trace:
                self.env.process(self._replay(spec))
            if spec.zone_reclaims is not None:
                self.env.process(self._zone_reclaims(spec))

    def _draw(self, node: Node) -> None:
        draws = self._lifetimes.get(node.pool)
        if draws is not None:
            self._drawn[node.id] = draws.next()

    def node_ready(self, node: Node) -> None:
        """Draw the node's lifetime (wired after the platform's hook, so a notice due at once
        reaches a platform that already knows the node)."""
        spec = self.specs.get(node.pool)
        if spec is None:
            return
        life = self._drawn.pop(node.id, math.inf)
        if spec.max_lifetime is not None:
            life = min(life, spec.max_lifetime)
        if math.isfinite(life):
            self._schedule_end(node, life, spec.notice)

    def _schedule_end(self, node: Node, remaining: float, notice: float) -> None:
        # One pending timer per node at a time (the notice, then the end), so that the
        # event heap holds one churn entry per live node, not two.
        if notice > 0:  # no notice at all is an abrupt loss: nobody is told
            warn_in = max(0.0, remaining - notice)
            if warn_in > 0:
                self.env.after(warn_in, self._warn, (node, remaining - warn_in))
                return
            self.cluster.notify(node)
        self.env.after(remaining, self._gone, node)

    def _warn(self, arg: tuple[Node, float]) -> None:
        node, left = arg
        if node.state == NodeState.GONE:
            return
        self.cluster.notify(node)
        self.env.after(left, self._gone, node)

    def reclaim(self, node: Node) -> None:
        """Reclaim one node now: notice first if it is running, at once if still booting."""
        if node.state == NodeState.GONE:
            return
        spec = self.specs[node.pool]
        if node.state == NodeState.READY:
            self._schedule_end(node, spec.notice, spec.notice)
        elif node.state == NodeState.BOOTING:
            self._gone(node)

    def _gone(self, node: Node) -> None:
        if node.state == NodeState.GONE:
            return
        self._drawn.pop(node.id, None)
        self.cluster.remove(node)
        self.preemptions += 1
        for hook in self.on_preempted:
            hook(node)
        spec = self.specs[node.pool]
        if spec.replace and self.replacer is not None:
            self.replacer(node)
        elif spec.replace:
            if spec.replace_delay > 0:
                self.env.timeout(spec.replace_delay).callbacks.append(
                    lambda _e: self._replace(node.pool))
            else:
                self.cluster.launch(node.pool)

    def _replace(self, pool: str) -> None:
        self.cluster.launch(pool)

    def drains(self, pool: str) -> bool:
        """True if the deployment drains a node of ``pool`` at its notice (``on_notice:
        drain``); else it does nothing until the node shuts down."""
        spec = self.specs.get(pool)
        return spec is not None and spec.on_notice == DRAIN

    def replace_delay(self, pool: str) -> float:
        """Provisioning delay before a replacement of ``pool`` is launched."""
        spec = self.specs.get(pool)
        return spec.replace_delay if spec is not None else 0.0

    def _replay(self, spec: ChurnSpec) -> Generator[simpy.Event, Any, None]:
        rng = self._streams.get(f"trace/{spec.pool}")
        for event in spec.trace:
            if event.time > self.env.now:
                yield self.env.timeout(event.time - self.env.now)
            if event.event == "launch":
                self.cluster.launch(event.pool)
                continue
            live = [n for n in self.cluster.live[event.pool] if n.state != NodeState.NOTIFIED]
            if live:
                self.reclaim(live[int(rng.integers(len(live)))])

    def _zone_reclaims(self, spec: ChurnSpec) -> Generator[simpy.Event, Any, None]:
        assert spec.zone_reclaims is not None
        rng = self._streams.get(f"zone/{spec.pool}")
        while True:
            yield self.env.timeout(float(rng.exponential(spec.zone_reclaims.mean_interval)))
            for node in list(self.cluster.live[spec.pool]):
                if rng.random() < spec.zone_reclaims.fraction:
                    self.reclaim(node)
