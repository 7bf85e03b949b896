"""Live runs: a scenario run for real on this host, on Work Queue, Ray or ZeroMQ.

:func:`run_live` runs one replication with real processes (``wq_manager`` and
``work_queue_worker``, a local Ray cluster, or the ZeroMQ coordinator and workers of
:mod:`schedsim.live.zmq`) executing the real task, ``compress_task``, or
the waiting task of emulated-scale runs, ``wait_task`` (``workload.task: wait``), and turns
churn into fault injection: nodes are killed and replaced when the simulator's own churn
model says so. It returns per-attempt records and the same metrics as a simulated replication;
:func:`live_summary` builds the same JSON summary as ``schedsim run``. See docs/live.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schedsim.live.base import LiveAttempt, LiveRunError
    from schedsim.live.run import LiveResult, check_live_scenario, run_live
    from schedsim.live.summary import live_summary, run_live_replications

__all__ = ["LiveAttempt", "LiveResult", "LiveRunError", "check_live_scenario", "live_summary",
           "run_live", "run_live_replications"]
# Loaded on first use: the command line imports schedsim.live.cli at every start, and the
# runs import the whole simulator.
_HOME = {"live_summary": "summary", "run_live_replications": "summary", "LiveAttempt": "base",
         "LiveRunError": "base"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_HOME.get(name, 'run')}")
    return getattr(module, name)
