"""Pools of nodes and their lifecycle: requested -> booting -> ready -> notified -> gone.

The cluster launches nodes (initially ``count`` per pool, later replacements), draws each one's
boot time from its pool's stream, and tells its listeners when a node becomes ready, receives
a reclaim notice, or is gone. It also keeps the accounts: every node is billed per second from
launch to release at its pool's price with a 60 s minimum, and the core-seconds each node was
ready count towards utilisation. A manager or head node, where the scenario has one, is a node
too, billed for the whole run. Who decides that a node leaves is the churn model's business.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Any

import simpy

from schedsim.distributions import Draws
from schedsim.rng import Streams
from schedsim.scenario import ClusterSpec, PoolSpec

MIN_BILLED_S = 60.0  # per-node billing minimum (AWS/GCP/Azure per-second billing after 60 s)


class NodeState(IntEnum):
    REQUESTED = 0
    BOOTING = 1
    READY = 2
    NOTIFIED = 3
    GONE = 4


class Node:
    """One machine of a pool (or the manager); platforms hang their per-node state on ``data``."""

    __slots__ = ("id", "pool", "cores", "price_per_hour", "state", "launched_at", "ready_at",
                 "released_at", "index", "data", "role", "speed")

    def __init__(self, node_id: int, pool: str, cores: int, price_per_hour: float,
                 launched_at: float, role: str = "worker", speed: float = 1.0) -> None:
        self.id = node_id
        self.role = role  # "worker", or "manager" for a manager/head placed in a pool
        self.pool = pool
        self.cores = cores
        self.speed = speed  # a task on this node takes its duration / speed
        self.price_per_hour = price_per_hour
        self.state = NodeState.REQUESTED
        self.launched_at = launched_at
        self.ready_at: float | None = None
        self.released_at: float | None = None
        self.index = -1  # position in its pool's live list
        self.data: Any = None

    @property
    def usable(self) -> bool:
        """Ready and not told to leave: may take new work."""
        return self.state == NodeState.READY

    def cost(self, until: float) -> float:
        end = self.released_at if self.released_at is not None else until
        return self.price_per_hour / 3600.0 * max(MIN_BILLED_S, end - self.launched_at)


NodeHook = Callable[[Node], None]


class Cluster:
    """All nodes of one replication, with their lifecycle events and accounts."""

    def __init__(self, env: simpy.Environment, spec: ClusterSpec, streams: Streams) -> None:
        self.env = env
        self.spec = spec
        self._pools: dict[str, PoolSpec] = {p.name: p for p in spec.pools}
        self._boot: dict[str, Draws] = {p.name: Draws(p.boot_time, streams.get(f"boot/{p.name}"))
                                        for p in spec.pools}
        self.live: dict[str, list[Node]] = {p.name: [] for p in spec.pools}
        self.on_launch: list[NodeHook] = []
        self.on_ready: list[NodeHook] = []
        self.on_notice: list[NodeHook] = []
        self.on_gone: list[NodeHook] = []
        self.nodes_launched = 0
        self.nodes_lost = 0
        self._next_id = 0
        self._released_cost = 0.0
        self._released_core_s = 0.0
        self.manager: Node | None = None
        if spec.manager is not None:
            self.manager = Node(-1, "manager", 1, spec.manager.price_per_hour, 0.0)
            self.manager.state = NodeState.READY
            self.manager.ready_at = 0.0

    def start(self) -> None:
        """Launch every pool's initial nodes at time 0."""
        for pool in self.spec.pools:
            for _ in range(pool.count):
                self.launch(pool.name)

    def launch(self, pool_name: str, role: str = "worker") -> Node:
        pool = self._pools[pool_name]
        node = Node(self._next_id, pool.name, pool.cores, pool.price_per_hour, self.env.now,
                    role, pool.speed)
        self._next_id += 1
        self.nodes_launched += 1
        live = self.live[pool.name]
        node.index = len(live)
        live.append(node)
        node.state = NodeState.BOOTING
        for hook in self.on_launch:
            hook(node)
        boot = self._boot[pool.name].next()
        if boot > 0:
            self.env.timeout(boot).callbacks.append(lambda _e: self._ready(node))
        else:
            self._ready(node)
        return node

    def _ready(self, node: Node) -> None:
        if node.state != NodeState.BOOTING:
            return  # reclaimed while booting
        node.state = NodeState.READY
        node.ready_at = self.env.now
        for hook in self.on_ready:
            hook(node)

    def notify(self, node: Node) -> None:
        """The node got its reclaim notice: it will be gone soon."""
        if node.state != NodeState.READY:
            return
        node.state = NodeState.NOTIFIED
        for hook in self.on_notice:
            hook(node)

    def remove(self, node: Node) -> None:
        """The node is gone (reclaimed, or its wall time ended): bill it and tell the listeners."""
        if node.state == NodeState.GONE:
            return
        was_ready = node.ready_at is not None
        node.state = NodeState.GONE
        node.released_at = self.env.now
        self.nodes_lost += 1
        live = self.live[node.pool]
        last = live.pop()
        if last is not node:
            live[node.index] = last
            last.index = node.index
        self._released_cost += node.cost(self.env.now)
        if was_ready:
            assert node.ready_at is not None
            self._released_core_s += node.cores * (self.env.now - node.ready_at)
            for hook in self.on_gone:
                hook(node)

    # ------------------------------------------------------------------ accounts at the end

    def live_nodes(self) -> list[Node]:
        return [n for nodes in self.live.values() for n in nodes]

    def cost(self, end: float) -> float:
        """Total bill if every node still alive is released at ``end``."""
        total = self._released_cost + sum(n.cost(end) for n in self.live_nodes())
        if self.manager is not None:
            total += self.manager.cost(end)
        return total

    def ready_core_seconds(self, end: float) -> float:
        """Core-seconds during which worker nodes were ready (available for tasks)."""
        return self._released_core_s + sum(
            n.cores * (end - n.ready_at) for n in self.live_nodes() if n.ready_at is not None)
