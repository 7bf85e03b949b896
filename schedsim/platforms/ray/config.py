"""Ray's options: the dataclass of their documented defaults, their units, the reader of a
scenario's ``platform.ray`` block over the defaults in force, and the driver's throughput
limits (docs/models.md).

Light on purpose (no model, no SimPy): the platform registry reads and resolves these when a
scenario is loaded, and ``schedsim check`` prints them and the bound, without importing the
model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from schedsim.platforms.base import defaults_in_force, read_placement
from schedsim.platforms.options import PlatformOptions
from schedsim.reader import Reader

if TYPE_CHECKING:
    from schedsim.scenario import Scenario

DRIVER_PATTERNS = ("batched", "get_in_loop")


@dataclass(frozen=True)
class RayConfig:
    """Ray's options. A field's default is its documented source default (docs/models.md); the
    calibration profile's fitted value replaces it where the profile has one ([profile]: the
    shipped one does), and the scenario's value replaces both
    (:func:`~schedsim.platforms.base.defaults_in_force`; ``schedsim check`` prints the values
    in force and which won)."""

    submit_time: float = 130e-6  # driver s per .remote(): ~7.7k tasks/s single-client async
    result_time: float = 50e-6  # driver s per result consumed [assumed]
    lease_latency: float = 0.001  # owner -> raylet lease -> worker push [assumed] [profile]
    worker_start_time: float = 1.0  # first task on a slot starts its process [assumed] [profile]
    task_launch_time: float = 0.004  # s per attempt: subprocess start and wait [profile]
    inline_limit: float = 100 * 1024.0  # bytes, max_direct_call_object_size
    object_fetch_overhead: float = 0.001  # s per result fetched from an object store [assumed]
    max_bytes_in_flight: float = 2 * 1024.0**3  # per sending node's object manager (2 GiB)
    driver_intake: float = 2.5e9  # bytes/s the driver takes results into the head's store [guess]
    head_object_store: float = 16 * 1024.0**3  # bytes the head's store holds for pulls [guess]
    max_retries: int = 3  # Ray default; -1 means unlimited
    health_check_period: float = 3.0  # s, GCS default
    health_check_timeout: float = 10.0  # s, GCS default
    health_check_failures: int = 5  # GCS default failure threshold
    autoscaler: bool = True  # replace lost nodes on the reconcile tick
    reconcile_interval: float = 5.0  # s, autoscaler loop
    driver: str = "batched"  # batched | get_in_loop
    max_pending: int | None = None  # backpressure (ray.wait); None: submit everything
    pending_task_bytes: float = 10 * 1024.0  # driver memory per pending task [assumed]
    driver_memory: float = 16 * 1024.0**3  # bytes available to the driver [assumed]
    gcs_fault_tolerance: bool = False  # restores the GCS, not the driver: no effect on the job
    head_pool: str | None = None  # None: a dedicated head node (cluster.manager)


# The unit of each option, for ``schedsim check`` (values are held in these units).
UNITS = {"submit_time": "s", "result_time": "s", "lease_latency": "s", "worker_start_time": "s",
         "task_launch_time": "s", "inline_limit": "B", "object_fetch_overhead": "s",
         "max_bytes_in_flight": "B", "driver_intake": "B/s", "head_object_store": "B",
         "max_retries": "", "health_check_period": "s", "health_check_timeout": "s",
         "health_check_failures": "checks", "autoscaler": "", "reconcile_interval": "s",
         "driver": "", "max_pending": "tasks", "pending_task_bytes": "B", "driver_memory": "B",
         "gcs_fault_tolerance": "", "head_pool": "pool"}



def read_config(r: Reader, d: RayConfig | None = None) -> RayConfig:
    """The options the scenario gives, each else its value in ``d``: the defaults in force
    (:func:`~schedsim.platforms.base.defaults_in_force`) unless given."""
    d = d if d is not None else defaults_in_force(RayConfig, "ray").values
    head_pool = read_placement(r, "head") if r.has("head") else d.head_pool
    max_retries = r.take("max_retries", _retries, "an integer >= -1 (-1: unlimited)",
                         d.max_retries)
    cfg = RayConfig(
        submit_time=r.take_duration("submit_time", d.submit_time),
        result_time=r.take_duration("result_time", d.result_time),
        lease_latency=r.take_duration("lease_latency", d.lease_latency),
        worker_start_time=r.take_duration("worker_start_time", d.worker_start_time),
        task_launch_time=r.take_duration("task_launch_time", d.task_launch_time),
        inline_limit=r.take_size("inline_limit", d.inline_limit),
        object_fetch_overhead=r.take_duration("object_fetch_overhead",
                                              d.object_fetch_overhead),
        max_bytes_in_flight=r.take_size("max_bytes_in_flight", d.max_bytes_in_flight),
        driver_intake=r.take_rate("driver_intake", d.driver_intake),
        head_object_store=r.take_size("head_object_store", d.head_object_store),
        max_retries=max_retries,
        health_check_period=r.take_duration("health_check_period", d.health_check_period,
                                            positive=True),
        health_check_timeout=r.take_duration("health_check_timeout", d.health_check_timeout),
        health_check_failures=r.take_int("health_check_failures", 1, d.health_check_failures),
        autoscaler=r.take_bool("autoscaler", d.autoscaler),
        reconcile_interval=r.take_duration("reconcile_interval", d.reconcile_interval,
                                           positive=True),
        driver=r.take_choice("driver", DRIVER_PATTERNS, d.driver),
        max_pending=r.take_int("max_pending", 1, default=None) if r.has("max_pending")
        else d.max_pending,
        pending_task_bytes=r.take_size("pending_task_bytes", d.pending_task_bytes),
        driver_memory=r.take_size("driver_memory", d.driver_memory),
        gcs_fault_tolerance=r.take_bool("gcs_fault_tolerance", d.gcs_fault_tolerance),
        head_pool=head_pool,
    )
    r.done()
    return cfg



def default_config() -> RayConfig:
    """The options of a scenario that gives none: the defaults in force."""
    return read_config(Reader("<defaults>", "platform.ray", {}))



def _retries(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < -1:
        raise ValueError
    return value


def throughput_limits(s: Scenario, cfg: RayConfig) -> dict[str, float]:
    """The driver's rates and the worker slots' rate, in tasks/s (schedsim/bound.py)."""
    per_task = cfg.submit_time + cfg.result_time
    limits = {"driver": 1.0 / per_task if per_task > 0 else float("inf")}
    out = s.workload.output_size
    if out > cfg.inline_limit and s.network is not None:
        # Every large result enters the head's store through the driver's intake.
        limits["driver_intake"] = cfg.driver_intake / out
    # One task per core at a time: the worker's launch, then the run at pool speed.
    mean, launch = s.workload.duration.mean, cfg.task_launch_time
    rate = sum(p.count * p.cores / (launch + mean / p.speed)
               for p in s.cluster.pools if launch + mean > 0)
    if rate > 0:
        limits["worker_slots"] = rate
    return limits


OPTIONS = PlatformOptions(RayConfig, read_config, UNITS, throughput_limits)
