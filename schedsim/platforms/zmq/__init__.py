"""The platform ``zmq``: a ZeroMQ coordinator with pulling workers and heartbeats (devlog 004).

:mod:`~schedsim.platforms.zmq.config` holds its parameters (defaults, sources, units, the
scenario reader) and :mod:`~schedsim.platforms.zmq.model` the simulated coordinator and
workers. Its live counterpart is :mod:`schedsim.live.zmq`.
"""

from typing import TYPE_CHECKING, Any

from schedsim.platforms.zmq.config import OPTIONS, UNITS, ZmqConfig, read_config

if TYPE_CHECKING:
    from schedsim.platforms.zmq.model import ZmqPlatform

__all__ = ["OPTIONS", "UNITS", "ZmqConfig", "ZmqPlatform", "read_config"]


def __getattr__(name: str) -> Any:
    # The model (SimPy behind it) is imported when first asked for: reading options stays light.
    if name == "ZmqPlatform":
        from schedsim.platforms.zmq.model import ZmqPlatform

        return ZmqPlatform
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
