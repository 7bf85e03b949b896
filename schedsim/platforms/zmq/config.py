"""The zmq platform's parameters: their defaults, sources, units and the scenario reader.

``platform: {type: zmq, zmq: {...}}`` sets them. A field's default is its documented source
default (docs/models.md): the live implementation's constants (:mod:`schedsim.live.zmq.protocol`:
the ZeroMQ Guide's Paranoid Pirate heartbeats, a retry budget), or a guess said plainly. The
calibration profile's fitted value replaces a default where the profile has one, and the
scenario's value replaces both (:func:`~schedsim.platforms.base.defaults_in_force`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from schedsim.platforms.base import defaults_in_force
from schedsim.platforms.options import PlatformOptions
from schedsim.reader import Reader

if TYPE_CHECKING:
    from schedsim.scenario import Scenario


@dataclass(frozen=True)
class ZmqConfig:
    """The coordinator's, the workers' and the failure detector's parameters."""

    dispatch_time: float = 5e-4  # s of coordinator time per dispatch: encode, send, journal [guess]
    result_time: float = 5e-4  # s of coordinator time per result: output file, journal [guess]
    # s from the task's exit to its result reaching the coordinator, per worker, in parallel:
    # the worker reads the output and sends it (the network's part is the network's) [guess]
    result_latency: float = 2e-3
    # B/s at which the worker reads and sends an output, beyond the network's own transfer;
    # None: no size cost [guess]
    result_send_rate: float | None = None
    # B/s at which the coordinator writes an output file, in its serial result job (None: no
    # size cost) [guess]
    result_write_rate: float | None = None
    worker_start_time: float = 0.15  # s from node ready to the worker's hello [guess]
    task_launch_time: float = 5e-3  # s per attempt: the worker forks the task [guess]
    heartbeat_interval: float = 1.0  # s (live protocol; ZeroMQ Guide ch. 4)
    heartbeat_liveness: int = 3  # silent intervals before a worker is given up (idem)
    max_retries: int = 3  # lost attempts a task may have beyond its first (live protocol)

    def send_s(self, size: float) -> float:
        """The worker's time to read and send an output of ``size`` bytes."""
        rate = self.result_send_rate
        return self.result_latency + (size / rate if rate else 0.0)

    def journal_s(self, size: float) -> float:
        """The coordinator's serial time for a result with an output of ``size`` bytes."""
        rate = self.result_write_rate
        return self.result_time + (size / rate if rate else 0.0)

    @property
    def detection_delay(self) -> float:
        """How long after a worker falls silent the coordinator gives it up."""
        return self.heartbeat_interval * self.heartbeat_liveness


# The unit of each option, for ``schedsim check`` (values are held in these units).
UNITS = {"dispatch_time": "s", "result_time": "s", "result_latency": "s",
         "result_send_rate": "B/s", "result_write_rate": "B/s",
         "worker_start_time": "s",
         "task_launch_time": "s", "heartbeat_interval": "s", "heartbeat_liveness": "intervals",
         "max_retries": ""}


def read_config(r: Reader, d: ZmqConfig | None = None) -> ZmqConfig:
    """The options the scenario gives, each else its value in ``d`` (the defaults in force)."""
    d = d if d is not None else defaults_in_force(ZmqConfig, "zmq").values
    cfg = ZmqConfig(
        dispatch_time=r.take_duration("dispatch_time", d.dispatch_time),
        result_time=r.take_duration("result_time", d.result_time),
        result_latency=r.take_duration("result_latency", d.result_latency),
        result_send_rate=r.take_rate("result_send_rate", default=None)
        if r.has("result_send_rate") else d.result_send_rate,
        result_write_rate=r.take_rate("result_write_rate", default=None)
        if r.has("result_write_rate") else d.result_write_rate,
        worker_start_time=r.take_duration("worker_start_time", d.worker_start_time),
        task_launch_time=r.take_duration("task_launch_time", d.task_launch_time),
        heartbeat_interval=r.take_duration("heartbeat_interval", d.heartbeat_interval,
                                           positive=True),
        heartbeat_liveness=r.take_int("heartbeat_liveness", 1, d.heartbeat_liveness),
        max_retries=r.take_int("max_retries", 0, d.max_retries),
    )
    r.done()
    return cfg


def default_config() -> ZmqConfig:
    """The options of a scenario that gives none: the defaults in force."""
    return read_config(Reader("<defaults>", "platform.zmq", {}))


def throughput_limits(s: Scenario, cfg: ZmqConfig) -> dict[str, float]:
    """The coordinator's rate and the worker slots' rate, in tasks/s (schedsim/bound.py)."""
    limits: dict[str, float] = {}
    per_task = cfg.dispatch_time + cfg.journal_s(s.workload.output_size)
    if per_task > 0:
        limits["coordinator"] = 1.0 / per_task
    # Each slot runs one task at a time: the worker's fork, then the run at pool speed.
    mean, launch = s.workload.duration.mean, cfg.task_launch_time
    if launch + mean > 0:
        limits["worker_slots"] = sum(p.count * p.cores / (launch + mean / p.speed)
                                     for p in s.cluster.pools)
    return limits


OPTIONS = PlatformOptions(ZmqConfig, read_config, UNITS, throughput_limits)
