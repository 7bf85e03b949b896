"""The control plane: the head node, the GCS's health checks, the autoscaler.

A reclaim notice is handled as the churn entry's ``on_notice`` says: ``shutdown`` (the node
works on, then shuts down cleanly and the GCS knows at once) or ``drain`` (no new leases from
the notice; retries it causes do not count against ``max_retries``). A loss with no notice is
found by the GCS health checks. Then the node's tasks, and results stored only there
(lineage), are retried while retries last. The autoscaler replaces lost nodes on its next
reconcile tick. Losing the head node fails the job, GCS fault tolerance or not: the driver,
which owns every task, runs there.
"""

from __future__ import annotations

from schedsim.model.cluster import Node
from schedsim.platforms.ray.raylet import Attempt, RayNode
from schedsim.platforms.ray.state import RayState


class ControlPlane(RayState):
    """The control plane's part of :class:`~schedsim.platforms.ray.platform.RayPlatform`."""

    def start(self) -> None:
        if self.config.head_pool is not None:
            self.head_node = self.ctx.cluster.launch(self.config.head_pool, role="manager")

    def node_notified(self, node: Node) -> None:
        """A notice is metadata: the node drains only if the deployment calls drain_node
        (reason PREEMPTION); otherwise it keeps taking leases until it shuts down."""
        rnode = node.data
        if isinstance(rnode, RayNode):
            rnode.notified = True
            rnode.draining = self.ctx.churn.drains(node.pool)

    def node_lost(self, node: Node) -> None:
        if node.role == "manager":
            self._head_lost(node)
            return
        rnode = node.data
        if not isinstance(rnode, RayNode) or rnode.dead:
            return
        rnode.dead = True
        now = self.env.now
        for attempt in self._in_loss_order(rnode.attempts):
            # The node, and the task's process with it, is gone; a stored result held its
            # slot until it finished running.
            self.execution.lost(attempt, node.id, attempt.slot.index,
                                attempt.done_at if attempt.done_at >= 0 else now)
        # A clean shutdown (the raylet exits) is reported at once, a silent loss after the
        # health checks fail.
        self.detection.lost(node, clean=rnode.notified)

    def _detected(self, node: Node) -> None:
        """The GCS marks the node dead: its tasks and its stored results are retried."""
        rnode: RayNode = node.data
        rnode.detected = True
        lost = [a for a in self._in_loss_order(rnode.attempts) if a.active]
        rnode.attempts.clear()
        for attempt in lost:
            attempt.active = False
            self._retry(attempt.task, not rnode.draining)  # a drain's retries are free
        if rnode.replace:
            self._launch_replacement(node.pool)
        self._lease()

    def _in_loss_order(self, attempts: set[Attempt]) -> list[Attempt]:
        """Running ones first, then stored results, each in task order (a set of objects has
        no fixed order: it follows their addresses)."""
        large = self._large
        return sorted(attempts, key=lambda a: (large and a.done_at >= 0, a.task.id))

    def _autoscale(self, node: Node) -> None:
        """Churn asks for a replacement: the autoscaler acts once the GCS knows."""
        rnode = node.data
        if not isinstance(rnode, RayNode) or rnode.detected:
            self._launch_replacement(node.pool)
        else:
            rnode.replace = True

    def _launch_replacement(self, pool: str) -> None:
        """Launch on the autoscaler's next reconcile tick, after the provisioning delay."""
        tick = self.config.reconcile_interval
        delay = tick - (self.env.now % tick) + self.ctx.churn.replace_delay(pool)
        self.env.after(delay, self._launch, pool)

    def _launch(self, pool: str) -> None:
        self.ctx.cluster.launch(pool)

    def _head_lost(self, node: Node) -> None:
        """The driver, owner of every task and its results, dies with the head: Ray recovers
        lost data but not a lost owner, with or without GCS fault tolerance."""
        why = "the driver, owner of every task, was on it"
        if self.config.gcs_fault_tolerance:
            why += "; GCS fault tolerance restores the GCS, not the driver"
        self.ctx.fail_job(f"Ray head node lost at {self.env.now:g} s ({why})", "manager_lost")
