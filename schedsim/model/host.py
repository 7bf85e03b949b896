"""A shared host: emulated nodes that are processes on one machine share its CPUs.

A live run on one machine (``schedsim live``, calibration, validation) emulates every node as
processes on the same host, beside the platform's own processes (the Work Queue manager and
workers; Ray's raylet, GCS, driver and worker processes). The tasks then compete for the
host's CPUs, which separate machines would not. ``cluster.host: {cpus: C, background: D}``
says so: every task's run on a worker node is CPU work (its duration divided by the pool's
speed, in CPU-seconds) served by processor sharing over C - D CPUs, at most one CPU per task
(a single-threaded program). While at most C - D tasks run, each runs at full speed; with k
more than that, each gets (C - D) / k of a CPU, as the Linux scheduler gives CPU-bound
processes equal shares. ``background`` is the CPU the platform's own processes keep busy,
measured by calibration (docs/calibration.md).

The sharing is the network's :class:`~schedsim.model.network.Link` (max-min fair with a
per-flow cap), so it costs one event per task while the host is not oversubscribed and
O(log k) per change when it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import simpy

from schedsim.model.network import Link, Transfer
from schedsim.scenario import HostSpec


class SharedHost:
    """The CPUs that every worker node's tasks share."""

    def __init__(self, env: simpy.Environment, spec: HostSpec) -> None:
        self.env = env
        self.spec = spec
        self.cpu = Link(env, "host-cpu", spec.cpus - spec.background, flow_cap=1.0)

    def run(self, work: float, done: Callable[[Any], None], tag: Any = None) -> Transfer:
        """Run ``work`` CPU-seconds; ``done(tag)`` when finished. ``cancel()`` the result
        when the task's process dies first, so that it stops taking a share."""
        return Transfer(self.env, (self.cpu,), work, 0.0, done, tag)
