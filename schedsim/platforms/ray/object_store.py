"""Results: inline with the reply, or stored on their node and pulled by the driver.

Results up to ``inline_limit`` return inline to the driver with the reply (one-way latency);
larger ones stay in the node's object store until the driver fetches them: at once and
concurrently with ``batched`` (each node sending at most ``max_bytes_in_flight`` at a time,
the head's store admitting at most ``head_object_store`` of active pulls), one by one in
submission order with ``get_in_loop``. A fetch is a request then the data (two latencies),
and every fetched result also crosses the driver's intake into the head's store
(``driver_intake``, a link they share). A task completes when the driver holds its result.
"""

from __future__ import annotations

from schedsim.model.network import Transfer
from schedsim.platforms.ray.raylet import Attempt, RayNode
from schedsim.platforms.ray.state import RayState


class ObjectStore(RayState):
    """The object stores' part of :class:`~schedsim.platforms.ray.platform.RayPlatform`."""

    def _fetch_alone_time(self) -> float:
        """A get of one stored result on an idle path: the request's latency, then the data
        (its latency and bytes), then the object manager's overhead."""
        net = self.ctx.network
        base = self.config.object_fetch_overhead
        if net is None:
            return base
        return base + net.latency + net.lone_transfer_time(self._out, to_manager=True) + \
            self._intake_wait

    def _request_pull(self, attempt: Attempt, rnode: RayNode) -> None:
        """Pull a stored result now, or wait: for room in the head's store (first come first
        served), then for its node's outbound limit."""
        if self._in_store >= self._store_limit:
            self._admit.append(attempt)
        elif rnode.pulling < self._pull_limit:
            self._pull_one(attempt, rnode)
        else:
            rnode.pulls.append(attempt)

    def _pull_one(self, attempt: Attempt, rnode: RayNode) -> None:
        """The driver fetches a stored result: the head's store holds at most
        head_object_store of active pulls, the node sends at most max_bytes_in_flight at a
        time, and every result crosses the driver's intake."""
        rnode.pulling += 1
        self._in_store += 1
        if self._net is not None:
            Transfer(self.env, rnode.pull_path, self._out, self._pull_delay, self._cb_pulled,
                     attempt)
        else:
            self.env.after(self.config.object_fetch_overhead, self._cb_pulled, attempt)

    def _pulled(self, attempt: Attempt) -> None:
        """A batched fetch of a stored result reached the driver (_result_ready inline: this
        runs once per task)."""
        rnode = attempt.slot.rnode
        rnode.pulling -= 1
        self._in_store -= 1  # handed to the driver, or died with its node
        if rnode.dead:  # the transfer died with the node, and so did the ones waiting
            rnode.pulls.clear()
        else:
            if attempt.active:
                attempt.active = False
                rnode.attempts.discard(attempt)
                self._results.append(attempt)
                self.driver.poke()  # only pulls start afterwards: the driver may run at once
            if rnode.pulls:
                self._request_pull(rnode.pulls.popleft(), rnode)
        admit = self._admit
        while admit and self._in_store < self._store_limit:
            waiting = admit.popleft()
            if waiting.active and not waiting.slot.rnode.dead:
                self._request_pull(waiting, waiting.slot.rnode)

    def _arrived(self, attempt: Attempt) -> None:
        """A small result reached the driver's process with the reply (inline)."""
        rnode = attempt.slot.rnode
        if not attempt.active or rnode.dead:
            return  # the transfer died with the node
        rnode.attempts.discard(attempt)
        self.inline_held += self._out
        self._check_memory()
        attempt.active = False
        self._result_ready(attempt)

    def _result_ready(self, attempt: Attempt) -> None:
        # Its callers only lease or start pulls afterwards, so the driver may run at once.
        if self._batched:
            self._results.append(attempt)
        else:
            self._ready_results[attempt.task.id] = attempt
        self.driver.poke()
