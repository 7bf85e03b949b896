"""The platform ``zmq``: a ZeroMQ coordinator with pulling workers and heartbeats (devlog 004).

:mod:`~schedsim.platforms.zmq.config` holds its parameters (defaults, sources, units, the
scenario reader) and :mod:`~schedsim.platforms.zmq.model` the simulated coordinator and
workers. Its live counterpart is :mod:`schedsim.live.zmq`.
"""

from schedsim.platforms.zmq.config import UNITS, ZmqConfig, read_config
from schedsim.platforms.zmq.model import ZmqPlatform

__all__ = ["UNITS", "ZmqConfig", "ZmqPlatform", "read_config"]
