"""Ray: a driver that owns every task, raylets that lease workers, GCS health checks.

The driver is a :class:`~schedsim.model.server.SerialServer`: it submits tasks one
``.remote()`` at a time (``submit_time`` each), at most ``max_pending`` outstanding when
backpressure is on, and processes each result (``result_time``). A submitted task waits for a
free worker slot, pays the lease and push latency (and a worker process start the first time a
slot is used), fetches its input over the head's link, and runs. Results up to
``inline_limit`` return inline to the driver with the reply (one-way latency); larger ones
stay in the node's object store until the driver fetches them: at once and concurrently with
``batched`` (each node sending at most ``max_bytes_in_flight`` at a time), one by one in
submission order with ``get_in_loop``. A fetch is a request then the data (two latencies), and
every fetched result also crosses the driver's intake into the head's store
(``driver_intake``, a link they share). A task completes when the driver holds its result.
The driver's memory is pending tasks x ``pending_task_bytes`` plus inline results not yet
consumed; beyond ``driver_memory`` the job fails (OOM).

Notices, node losses, their retries, the autoscaler and the head node: ``control``.
The package holds one module per part: ``config`` (options), ``driver`` (submission,
backpressure, memory, staged submissions, results consumed), ``raylet`` (slots, leases,
running an attempt), ``object_store`` (inline results and pulls), ``control`` (health checks,
the head, the autoscaler), and ``platform`` (the shared state and the bound).
Facts and sources: docs/models.md.
"""

from typing import TYPE_CHECKING, Any

from schedsim.platforms.ray.config import (
    DRIVER_PATTERNS,
    OPTIONS,
    UNITS,
    RayConfig,
    default_config,
    read_config,
)

if TYPE_CHECKING:
    from schedsim.platforms.ray.platform import RayPlatform

__all__ = ["DRIVER_PATTERNS", "OPTIONS", "UNITS", "RayConfig", "RayPlatform", "default_config",
           "read_config"]


def __getattr__(name: str) -> Any:
    # The model (SimPy behind it) is imported when first asked for: reading options stays light.
    if name == "RayPlatform":
        from schedsim.platforms.ray.platform import RayPlatform

        return RayPlatform
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
