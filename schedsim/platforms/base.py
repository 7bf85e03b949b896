"""The platform interface: how a scheduler turns ready nodes into task attempts.

The core (cluster, churn, network, workload) is the same for every platform; a platform
decides what happens on each node event and how tasks flow. It receives ``node_ready``,
``node_notified`` and ``node_lost`` from the cluster, takes tasks from ``sim.workload``, moves
bytes with ``sim.network``, records attempts in ``sim.log`` and reports outcomes with
``sim.task_completed``, ``sim.task_failed`` or ``sim.fail_job``. A platform with a manager
reports the manager's throughput limit through :meth:`Platform.throughput_limits` so that the
analytic bound can name it.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from schedsim.reader import Reader

if TYPE_CHECKING:
    from schedsim.model.cluster import Node
    from schedsim.simulation import Simulation


C = TypeVar("C")


def calibrated(defaults: C, kind: str) -> C:
    """``defaults`` with the overheads fitted in the default calibration profile applied."""
    from schedsim.calibration.profile import platform_defaults

    fitted = platform_defaults(kind)
    fields = {f.name for f in dataclasses.fields(defaults)}  # type: ignore[arg-type]
    return dataclasses.replace(defaults, **{k: v for k, v in fitted.items()  # type: ignore
                                            if k in fields})


def read_placement(r: Reader, key: str) -> str | None:
    """``KEY: {pool: NAME}``: run the manager or head on a node of a pool, not a dedicated one."""
    if not r.has(key):
        return None
    placement = r.child(key)
    pool = placement.take_str("pool")
    placement.done()
    return pool


class RetryBudget:
    """Failed attempts per task against a limit; only tasks that failed take memory."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit  # None: unlimited
        self._fails: dict[int, int] = {}

    def spend(self, task_id: int) -> bool:
        """Count one failed attempt; True if the task may be tried again."""
        if self.limit is None:
            return True
        fails = self._fails.get(task_id, 0) + 1
        self._fails[task_id] = fails
        return fails <= self.limit


class Platform(ABC):
    """One scheduling platform inside one replication."""

    name: ClassVar[str]

    def __init__(self, sim: Simulation, config: Any) -> None:
        self.sim = sim
        self.env = sim.env
        self.config = config

    def start(self) -> None:  # noqa: B027 - optional hook, most platforms need nothing
        """Called once at time 0, after the initial nodes were launched."""

    @abstractmethod
    def node_ready(self, node: Node) -> None:
        """A worker node finished booting."""

    @abstractmethod
    def node_notified(self, node: Node) -> None:
        """A worker node received its reclaim notice."""

    @abstractmethod
    def node_lost(self, node: Node) -> None:
        """A worker node is gone; whatever ran there is lost."""

    def throughput_limits(self) -> dict[str, float]:
        """Upper limits on tasks/s that this platform adds (e.g. ``{"manager": 800.0}``)."""
        return {}
