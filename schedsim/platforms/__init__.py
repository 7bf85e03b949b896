"""Platform registry: each platform is looked up by its scenario ``type``.

A platform registers its class, the dataclass of its options, their units and the reader of its
``platform:`` options here; scenario loading, ``schedsim run`` and ``schedsim compare`` all look
platforms up in this one table, so a wrong ``type`` lists the valid ones. Options are resolved
here, once: the scenario's value, else the calibration profile's, else the documented default,
and the scenario's :class:`~schedsim.scenario.PlatformSpec` records which won.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from schedsim.platforms import ideal, ray, workqueue, zmq
from schedsim.platforms.base import Defaults, Platform, defaults_in_force
from schedsim.reader import Reader
from schedsim.scenario import PlatformSpec

if TYPE_CHECKING:
    from schedsim.platforms.context import PlatformContext


@dataclass(frozen=True)
class PlatformEntry:
    cls: type[Platform]
    # Reads the scenario's options over the defaults in force (None: no options).
    read_config: Callable[[Reader, Any], Any]
    config: type | None = None  # the dataclass of its options
    units: dict[str, str] = field(default_factory=dict)  # option -> unit, for display


PLATFORMS: dict[str, PlatformEntry] = {
    "ideal": PlatformEntry(ideal.IdealPlatform, ideal.read_config),
    "workqueue": PlatformEntry(workqueue.WorkQueuePlatform, workqueue.read_config,
                               workqueue.WorkQueueConfig, workqueue.UNITS),
    "ray": PlatformEntry(ray.RayPlatform, ray.read_config, ray.RayConfig, ray.UNITS),
    "zmq": PlatformEntry(zmq.ZmqPlatform, zmq.read_config, zmq.ZmqConfig, zmq.UNITS),
}


def read_platform(r: Reader) -> PlatformSpec:
    """``platform: {type: NAME, NAME: {options}, OTHER: {options}}``; every block is checked."""
    kind = r.take_choice("type", PLATFORMS)
    configs, sources = {}, {}
    for name, entry in PLATFORMS.items():
        block = r.child(name, {})
        if entry.config is None:
            configs[name] = entry.read_config(block, None)
            continue
        defaults: Defaults[Any] = defaults_in_force(entry.config, name)
        given = block.keys()  # before reading takes them
        configs[name] = entry.read_config(block, defaults.values)
        sources[name] = defaults.resolved(given)
    r.done()
    return PlatformSpec(type=kind, configs=configs, sources=sources)


def create_platform(ctx: PlatformContext, spec: PlatformSpec) -> Platform:
    return PLATFORMS[spec.type].cls(ctx, spec.config)
