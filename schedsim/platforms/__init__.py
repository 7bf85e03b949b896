"""Platform registry: each platform is looked up by its scenario ``type``.

One table, one line per platform: where its model class lives and where its options module
lives (a :class:`~schedsim.platforms.options.PlatformOptions`: the dataclass of its options,
their reader, units and the throughput limits it adds to the bound). Each is imported by name
when first used: reading a scenario imports the light options modules only, and a model with
SimPy behind it is imported when a platform is built to run. Scenario loading, ``schedsim
run`` and ``schedsim compare`` all look platforms up here, so a wrong ``type`` lists the valid
ones. Options are resolved here, once: the scenario's value, else the calibration profile's,
else the documented default, and the scenario's :class:`~schedsim.scenario.PlatformSpec`
records which won.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from schedsim.platforms.base import Defaults, Platform, defaults_in_force
from schedsim.platforms.options import PlatformOptions
from schedsim.reader import Reader
from schedsim.scenario import PlatformSpec

if TYPE_CHECKING:
    from schedsim.platforms.context import PlatformContext
    from schedsim.scenario import Scenario


@dataclass(frozen=True)
class PlatformEntry:
    """Where a platform's parts live, as modules of this package (``"ray:RayPlatform"`` is
    the class RayPlatform of schedsim.platforms.ray), imported on first use."""

    model: str  # "module:Class" of its Platform subclass
    options: str | None = None  # the module whose OPTIONS describe them (None: no options)

    @property
    def cls(self) -> type[Platform]:
        module, _, name = self.model.partition(":")
        cls: type[Platform] = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        return cls

    @property
    def described(self) -> PlatformOptions | None:
        if self.options is None:
            return None
        described: PlatformOptions = importlib.import_module(f"{__name__}.{self.options}").OPTIONS
        return described

    @property
    def config(self) -> type | None:
        """The dataclass of its options (None: it has none)."""
        d = self.described
        return None if d is None else d.config

    @property
    def units(self) -> dict[str, str]:
        d = self.described
        return {} if d is None else d.units

    def read_config(self, r: Reader, defaults: Any = None) -> Any:
        """Its options as the scenario gives them over ``defaults`` (None: those in force)."""
        d = self.described
        if d is None:
            r.done()
            return None
        return d.read(r, defaults)

    def limits(self, scenario: Scenario, config: Any) -> dict[str, float]:
        """Upper limits on tasks/s it adds, with options ``config`` (schedsim/bound.py)."""
        d = self.described
        return {} if d is None else d.limits(scenario, config)


PLATFORMS: dict[str, PlatformEntry] = {
    "ideal": PlatformEntry("ideal:IdealPlatform"),
    "workqueue": PlatformEntry("workqueue:WorkQueuePlatform", "workqueue_options"),
    "ray": PlatformEntry("ray.platform:RayPlatform", "ray.config"),
    "zmq": PlatformEntry("zmq.model:ZmqPlatform", "zmq.config"),
}


def read_platform(r: Reader) -> PlatformSpec:
    """``platform: {type: NAME, NAME: {options}, OTHER: {options}}``; every block is checked."""
    kind = r.take_choice("type", PLATFORMS)
    configs, sources = {}, {}
    for name, entry in PLATFORMS.items():
        block = r.child(name, {})
        config = entry.config
        if config is None:
            configs[name] = entry.read_config(block)
            continue
        defaults: Defaults[Any] = defaults_in_force(config, name)
        given = block.keys()  # before reading takes them
        configs[name] = entry.read_config(block, defaults.values)
        sources[name] = defaults.resolved(given)
    r.done()
    return PlatformSpec(type=kind, configs=configs, sources=sources)


def throughput_limits(scenario: Scenario) -> dict[str, float]:
    """Upper limits on tasks/s that the scenario's platform adds, with its options in force."""
    spec = scenario.platform
    return PLATFORMS[spec.type].limits(scenario, spec.config)


def create_platform(ctx: PlatformContext, spec: PlatformSpec) -> Platform:
    return PLATFORMS[spec.type].cls(ctx, spec.config)
