"""Platform registry: each platform is looked up by its scenario ``type``.

A platform registers its class and the reader of its ``platform:`` options here; scenario
loading, ``schedsim run`` and ``schedsim compare`` all look platforms up in this one table, so a
wrong ``type`` lists the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from schedsim.platforms import ideal, ray, workqueue
from schedsim.platforms.base import Platform
from schedsim.reader import Reader
from schedsim.scenario import PlatformSpec

if TYPE_CHECKING:
    from schedsim.simulation import Simulation


@dataclass(frozen=True)
class PlatformEntry:
    cls: type[Platform]
    read_config: Callable[[Reader], Any]


PLATFORMS: dict[str, PlatformEntry] = {
    "ideal": PlatformEntry(ideal.IdealPlatform, ideal.read_config),
    "workqueue": PlatformEntry(workqueue.WorkQueuePlatform, workqueue.read_config),
    "ray": PlatformEntry(ray.RayPlatform, ray.read_config),
}


def read_platform(r: Reader) -> PlatformSpec:
    """``platform: {type: NAME, NAME: {options}, OTHER: {options}}``; every block is checked."""
    kind = r.take_choice("type", PLATFORMS)
    configs = {}
    for name, entry in PLATFORMS.items():
        configs[name] = entry.read_config(r.child(name, {}))
    r.done()
    return PlatformSpec(type=kind, configs=configs)


def create_platform(sim: Simulation, spec: PlatformSpec) -> Platform:
    return PLATFORMS[spec.type].cls(sim, spec.config)
