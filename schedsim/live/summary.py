"""Live replications summarised in the JSON contract of ``schedsim run`` (docs/metrics.md).

Every metric of :data:`schedsim.metrics.METRICS` gets its mean, 95% interval and one value per
replication, computed by the same :func:`schedsim.metrics.summarize`; the bound is the
scenario's analytic bound without platform limits (a live platform has no modelled limit);
``events`` is 0 for each replication, since nothing was simulated. One key is added,
``live``: the host, the versions and what each replication measured beyond the metrics
(platform start-up, Work Queue's dispatch span, scenario keys a live run ignores).
"""

from __future__ import annotations

import os
import platform as host_platform
from collections.abc import Callable
from typing import Any

from schedsim.bound import throughput_bound
from schedsim.live.run import LiveResult, run_live
from schedsim.metrics import finite
from schedsim.runner import summary_json
from schedsim.scenario import Scenario


def host_facts() -> dict[str, Any]:
    """What this host is, for summaries and calibration profiles."""
    cpu = ""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in open("/proc/meminfo", encoding="utf-8"):
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024**2, 1)
                break
    except OSError:
        pass
    return {"hostname": host_platform.node(), "cpu_model": cpu, "cpus": os.cpu_count(),
            "memory_gib": mem_gb, "os": host_platform.platform(),
            "python": host_platform.python_version()}


def live_summary(scenario: Scenario, platform: str,
                 results: list[LiveResult]) -> dict[str, Any]:
    """The summary JSON of ``schedsim run`` for live replications, plus a ``live`` section."""
    data = summary_json(scenario, [r.metrics for r in results], throughput_bound(scenario, {}),
                        [r.failure for r in results], [0 for _ in results], platform,
                        kinds=[r.failure_kind for r in results])
    data["live"] = finite({
        "host": host_facts(),
        "replications": [{k: v for k, v in r.details.items() if k != "tasks"}
                         for r in results],
    })
    return data


def run_live_replications(scenario: Scenario, platform: str, timeout_s: float = 600.0,
                          on_done: Callable[[int, LiveResult], None] | None = None,
                          ) -> list[LiveResult]:
    """Every replication of the scenario, one after the other (they share the host)."""
    results = []
    for r in range(scenario.replications):
        result = run_live(scenario, platform, r, timeout_s)
        results.append(result)
        if on_done is not None:
            on_done(r, result)
    return results
