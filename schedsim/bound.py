"""The analytic upper bound on throughput, and which resource sets it.

No run can complete tasks faster than its slowest resource allows: the cores (total initial
cores / mean task time), the manager's shared link (bandwidth / bytes staged per task, counted
in the busier direction if the link is full duplex), the worker links (nodes x bandwidth /
bytes per task, likewise) and whatever a platform adds (a manager that serves tasks one at a
time: 1 / per-task service time). The smallest of these is the bound; its
name says which resource limits the run. Churn, boot and detection delays only lower the
achieved throughput further, so the bound stays an upper bound.
"""

from __future__ import annotations

import math

from schedsim.platforms import throughput_limits
from schedsim.scenario import FULL, LinkSpec, Scenario


def resource_limits(scenario: Scenario, platform_limits: dict[str, float]) -> dict[str, float]:
    """Tasks/s each resource could sustain on its own."""
    limits: dict[str, float] = {}
    mean = scenario.workload.duration.mean
    # A core of a pool with speed s runs a task in mean / s on average.
    cores = sum(p.count * p.cores * p.speed for p in scenario.cluster.pools)
    limits["cores"] = cores / mean if mean > 0 else math.inf
    net = scenario.network
    size_in, size_out = scenario.workload.input_size, scenario.workload.output_size
    if net is not None and size_in + size_out > 0:
        per_task = _bytes_per_task(net.manager, size_in, size_out)
        limits["manager_link"] = net.manager.bandwidth / per_task
        nodes = sum(p.count for p in scenario.cluster.pools)
        per_task = _bytes_per_task(net.worker, size_in, size_out)
        limits["worker_links"] = nodes * net.worker.bandwidth / per_task
    limits.update(platform_limits)
    return limits


def _bytes_per_task(link: LinkSpec, size_in: float, size_out: float) -> float:
    """Bytes per task on the busier direction of a full-duplex link (each direction carries
    one of input and output), or on a half-duplex link (it carries both)."""
    return max(size_in, size_out) if link.duplex == FULL else size_in + size_out


def throughput_bound(scenario: Scenario, platform_limits: dict[str, float]) -> dict[str, object]:
    """``{"throughput_tasks_per_s", "binding", "makespan_lower_bound_s", "limits"}``."""
    limits = resource_limits(scenario, platform_limits)
    binding = min(limits, key=lambda k: limits[k])
    best = limits[binding]
    return {
        "throughput_tasks_per_s": best,
        "binding": binding,
        "makespan_lower_bound_s": scenario.workload.tasks / best if best > 0 else math.inf,
        "limits": limits,
    }


def scenario_bound(scenario: Scenario) -> dict[str, object]:
    """:func:`throughput_bound` of the scenario on its platform, from the scenario and the
    options in force alone: no model is built (``schedsim check``, estimates, the watchdog)."""
    return throughput_bound(scenario, throughput_limits(scenario))
