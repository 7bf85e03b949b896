"""Work Queue's options: their dataclass, reader, units and the manager's throughput limit.

Light on purpose (no model, no SimPy): the platform registry reads and resolves these when a
scenario is loaded, and ``schedsim check`` prints them and the bound, without importing the
model in :mod:`schedsim.platforms.workqueue`. The mechanisms the options drive are described
there and in docs/models.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from schedsim.platforms.base import defaults_in_force, read_placement
from schedsim.platforms.options import PlatformOptions
from schedsim.reader import Reader

if TYPE_CHECKING:
    from schedsim.scenario import Scenario


@dataclass(frozen=True)
class FactoryConfig:
    """work_queue_factory: keeps one worker per waiting or running task within bounds."""

    pool: str
    min_workers: int = 5  # work_queue_factory defaults
    max_workers: int = 100
    workers_per_cycle: int = 5
    cycle: float = 30.0  # s
    idle_timeout: float = 300.0  # s a worker may sit idle before it exits


@dataclass(frozen=True)
class WorkQueueConfig:
    """Work Queue's options. A field's default is its documented source default
    (docs/models.md); the calibration profile's fitted value replaces it where the profile has
    one ([profile]: the shipped one does), and the scenario's value replaces both
    (:func:`~schedsim.platforms.base.defaults_in_force`; ``schedsim check`` prints the values
    in force and which won)."""

    dispatch_time: float = 0.0023  # s of manager time per dispatch (docs/native.md) [profile]
    retrieval_time: float = 0.0005  # s of manager time per retrieval (docs/native.md) [profile]
    scan_time_per_worker: float = 5e-7  # s per connected worker per dispatch [guess]
    worker_connect_time: float = 0.05  # s from node ready to the worker's connect [profile]
    task_launch_time: float = 0.005  # s per attempt: sandbox, fork and wait [profile]
    # The connect backlog: None, every worker is accepted in the manager's next idle pass;
    # else the listen queue holds this many unaccepted connections, a worker that finds it
    # full retries after connect_retry s, doubling (the kernel's SYN retransmissions), and
    # each accept takes accept_time s of the manager (the handshake), in idle passes only.
    listen_backlog: int | None = None
    connect_retry: float = 1.0  # s, Linux's initial SYN retransmission timeout
    accept_time: float = 0.0  # s of manager time per accepted worker
    keepalive_interval: float = 120.0  # s (work_queue.h)
    keepalive_timeout: float = 30.0  # s (work_queue.h)
    max_retries: int = 0  # 0: unlimited (work_queue.c default)
    task_cores: int | None = None  # None: a task takes a whole worker (WQ default)
    fast_abort: float | None = None  # multiplier; off by default
    fast_abort_after: int = 10  # completions before fast abort acts (work_queue.c)
    manager_pool: str | None = None  # None: a dedicated node (cluster.manager)
    factory: FactoryConfig | None = None  # None: the pools' nodes are all there is


# The unit of each option, for ``schedsim check`` (values are held in these units).
UNITS = {"dispatch_time": "s", "retrieval_time": "s", "scan_time_per_worker": "s",
         "worker_connect_time": "s", "task_launch_time": "s", "listen_backlog": "connections",
         "connect_retry": "s", "accept_time": "s", "keepalive_interval": "s",
         "keepalive_timeout": "s", "max_retries": "", "task_cores": "cores",
         "fast_abort": "x mean", "fast_abort_after": "tasks", "manager_pool": "pool",
         "factory": ""}


def read_config(r: Reader, d: WorkQueueConfig | None = None) -> WorkQueueConfig:
    """The options the scenario gives, each else its value in ``d``: the defaults in force
    (:func:`~schedsim.platforms.base.defaults_in_force`) unless given."""
    d = d if d is not None else defaults_in_force(WorkQueueConfig, "workqueue").values
    manager_pool = read_placement(r, "manager") if r.has("manager") else d.manager_pool
    task_cores = r.take_int("task_cores", 1, default=None) if r.has("task_cores") \
        else d.task_cores
    factory = d.factory
    if r.has("factory"):
        f = r.child("factory")
        fd = FactoryConfig(pool="")
        factory = FactoryConfig(
            pool=f.take_str("pool"),
            min_workers=f.take_int("min_workers", 0, fd.min_workers),
            max_workers=f.take_int("max_workers", 1, fd.max_workers),
            workers_per_cycle=f.take_int("workers_per_cycle", 1, fd.workers_per_cycle),
            cycle=f.take_duration("cycle", fd.cycle, positive=True),
            idle_timeout=f.take_duration("idle_timeout", fd.idle_timeout, positive=True),
        )
        f.done()
    cfg = WorkQueueConfig(
        dispatch_time=r.take_duration("dispatch_time", d.dispatch_time),
        retrieval_time=r.take_duration("retrieval_time", d.retrieval_time),
        scan_time_per_worker=r.take_duration("scan_time_per_worker", d.scan_time_per_worker),
        worker_connect_time=r.take_duration("worker_connect_time", d.worker_connect_time),
        task_launch_time=r.take_duration("task_launch_time", d.task_launch_time),
        listen_backlog=r.take_int("listen_backlog", 1, default=None)
        if r.has("listen_backlog") else d.listen_backlog,
        connect_retry=r.take_duration("connect_retry", d.connect_retry, positive=True),
        accept_time=r.take_duration("accept_time", d.accept_time),
        keepalive_interval=r.take_duration("keepalive_interval", d.keepalive_interval),
        keepalive_timeout=r.take_duration("keepalive_timeout", d.keepalive_timeout),
        max_retries=r.take_int("max_retries", 0, d.max_retries),
        task_cores=task_cores,
        fast_abort=r.take_float("fast_abort", 1.0, default=None, exclusive_min=True)
        if r.has("fast_abort") else d.fast_abort,
        fast_abort_after=r.take_int("fast_abort_after", 1, d.fast_abort_after),
        manager_pool=manager_pool,
        factory=factory,
    )
    r.done()
    return cfg


def default_config() -> WorkQueueConfig:
    """The options of a scenario that gives none: the defaults in force."""
    return read_config(Reader("<defaults>", "platform.workqueue", {}))


def slots_of(config: WorkQueueConfig, cores: int) -> int:
    """Tasks a worker of ``cores`` cores runs at once."""
    task_cores = config.task_cores
    return 1 if task_cores is None else max(1, cores // task_cores)


def throughput_limits(s: Scenario, cfg: WorkQueueConfig) -> dict[str, float]:
    """The manager's serving rate and the worker slots' rate, in tasks/s (schedsim/bound.py)."""
    per_task = cfg.dispatch_time + cfg.retrieval_time
    if s.network is not None:
        rate = min(s.network.manager.bandwidth, s.network.worker.bandwidth)
        lat = s.network.manager.latency + s.network.worker.latency
        if s.workload.input_size > 0:
            per_task += lat + s.workload.input_size / rate  # sent: one way
        if s.workload.output_size > 0:
            per_task += 2 * lat + s.workload.output_size / rate  # fetched: a round trip
    # Each slot runs one task at a time: the worker's launch, then the run at pool speed.
    mean, launch = s.workload.duration.mean, cfg.task_launch_time
    slots = sum(p.count * slots_of(cfg, p.cores) for p in s.cluster.pools)
    rate = sum(p.count * slots_of(cfg, p.cores) / (launch + mean / p.speed)
               for p in s.cluster.pools if launch + mean > 0)
    limits = {"manager": _manager_cap(per_task, cfg.scan_time_per_worker, slots,
                                      slots / rate if rate > 0 else 0.0)}
    if rate > 0:
        limits["worker_slots"] = rate
    return limits


def _manager_cap(per_task: float, scan: float, workers: int, cycle: float) -> float:
    """Tasks/s the manager can serve, at best. With c workers connected it serves at most
    1 / (per_task + scan c), and they run at most c / cycle: the first falls and the second
    rises with c, so no run does better than at the c where they meet (scan c^2 + per_task c
    = cycle), or with every worker connected if that comes first. (A manager that accepts
    workers only in idle passes may hold fewer than all of them, and scan less.)"""
    connected = float(workers)
    if scan > 0 and cycle > 0:
        best = (-per_task + math.sqrt(per_task * per_task + 4 * scan * cycle)) / (2 * scan)
        connected = min(connected, best)
    cost = per_task + scan * connected
    return 1.0 / cost if cost > 0 else math.inf


OPTIONS = PlatformOptions(WorkQueueConfig, read_config, UNITS, throughput_limits)
