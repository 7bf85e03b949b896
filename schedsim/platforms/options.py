"""What the platform registry needs of a platform before any model is built.

A platform's options module (``workqueue_options.py``, ``ray/config.py``, ``zmq/config.py``)
describes them in a :class:`PlatformOptions`: the dataclass of its options, their reader and
units, and the throughput limits the platform adds to the analytic bound. Such a module imports
no model, no SimPy and no numpy, so reading a scenario and ``schedsim check`` stay cheap; the
model is imported only when a platform is built to run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schedsim.reader import Reader
    from schedsim.scenario import Scenario


def _no_limits(_scenario: Scenario, _config: Any) -> dict[str, float]:
    return {}


@dataclass(frozen=True)
class PlatformOptions:
    config: type  # the dataclass of its options
    # Reads the scenario's options over the defaults in force (None: the defaults in force).
    read: Callable[[Reader, Any], Any]
    units: dict[str, str] = field(default_factory=dict)  # option -> unit, for display
    # Upper limits on tasks/s this platform adds (e.g. ``{"manager": 800.0}``), from the
    # scenario and the options in force alone (schedsim/bound.py).
    limits: Callable[[Scenario, Any], dict[str, float]] = _no_limits
