"""The platform interface: how a scheduler turns ready nodes into task attempts.

The core (cluster, churn, network, workload) is the same for every platform; a platform
decides what happens on each node event and how tasks flow. It is given a
:class:`~schedsim.platforms.context.PlatformContext`, receives ``node_ready``,
``node_notified`` and ``node_lost`` from the cluster, takes tasks from ``ctx.workload``, moves
bytes with ``ctx.network``, records attempts in ``ctx.log`` and reports outcomes with
``ctx.task_completed``, ``ctx.task_failed`` or ``ctx.fail_job``. A platform with a manager
reports the manager's throughput limit through its options module (``limits`` of
:class:`~schedsim.platforms.options.PlatformOptions`) so that the analytic bound can name it.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from schedsim.calibration.profile import platform_defaults
from schedsim.reader import Reader

if TYPE_CHECKING:
    from schedsim.model.cluster import Node
    from schedsim.platforms.context import PlatformContext


C = TypeVar("C")

# Where a platform parameter's value in force came from, in the order they win.
SCENARIO, PROFILE, DEFAULT = "scenario", "profile", "default"
SOURCES = (SCENARIO, PROFILE, DEFAULT)


@dataclass(frozen=True)
class Defaults(Generic[C]):
    """What a platform's options start from before the scenario's own values: the value
    fitted in the calibration profile where it has one, else the documented default (the
    config dataclass's field default, docs/models.md)."""

    values: C
    sources: dict[str, str]  # field -> PROFILE | DEFAULT

    def resolved(self, given: Collection[str]) -> dict[str, str]:
        """Where each field's value in force came from, the scenario having given the
        option keys ``given`` (a placement ``manager``/``head`` sets ``*_pool``)."""
        return {name: SCENARIO if name in given or name.removesuffix("_pool") in given
                else source for name, source in self.sources.items()}


def defaults_in_force(config: type[C], kind: str) -> Defaults[C]:
    """The defaults of ``config`` with the overheads fitted for ``kind`` in the shipped
    calibration profile applied: the one place a platform parameter meets the profile."""
    documented = config()
    names = [f.name for f in dataclasses.fields(documented)]  # type: ignore[arg-type]
    fitted = {k: v for k, v in platform_defaults(kind).items() if k in names}
    return Defaults(dataclasses.replace(documented, **fitted),  # type: ignore[type-var]
                    {name: PROFILE if name in fitted else DEFAULT for name in names})


def read_placement(r: Reader, key: str) -> str | None:
    """``KEY: {pool: NAME}``: run the manager or head on a node of a pool, not a dedicated one."""
    if not r.has(key):
        return None
    placement = r.child(key)
    pool = placement.take_str("pool")
    placement.done()
    return pool


class Platform(ABC):
    """One scheduling platform inside one replication."""

    name: ClassVar[str]

    def __init__(self, ctx: PlatformContext, config: Any) -> None:
        self.ctx = ctx
        self.env = ctx.env
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
