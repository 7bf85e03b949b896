"""Platform registry: each platform is looked up by its scenario ``type``.

A platform registers its class and the reader of its ``platform:`` options here; scenario
loading, ``schedsim run`` and ``schedsim compare`` all look platforms up in this one table, so a
wrong ``type`` lists the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from schedsim.platforms import ideal
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
}


def read_platform(r: Reader) -> PlatformSpec:
    kind = r.take_choice("type", PLATFORMS)
    config = PLATFORMS[kind].read_config(r)
    r.done()
    return PlatformSpec(type=kind, config=config)


def create_platform(sim: Simulation, spec: PlatformSpec) -> Platform:
    return PLATFORMS[spec.type].cls(sim, spec.config)
