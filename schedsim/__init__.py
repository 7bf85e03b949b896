"""schedsim: a SimPy simulator of bags of tasks on Work Queue, Ray and ideal platforms.

It projects makespan, throughput, cost and robustness of a bag of tasks spread over pools of
nodes that come and go (spot churn), with confidence intervals over replications and an
analytic bound naming the resource that limits the run.

The Python API (docs/api.md, schedsim/api.py): ``schedsim.load``, ``run``, ``compare``,
``sweep`` and ``plan``, imported on first use so that ``import schedsim`` stays cheap. The
studies behind ``sweep`` and ``plan`` are the modules of :mod:`schedsim.studies`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from schedsim.version import __version__

__all__ = ["__version__", "load", "run", "compare", "sweep", "plan", "Estimate", "Replication",
           "RunResult", "CompareResult", "SweepRow", "SweepResult", "PlanResult"]
_API = frozenset(__all__[1:])

if TYPE_CHECKING:
    from schedsim.api import (
        CompareResult,
        Estimate,
        PlanResult,
        Replication,
        RunResult,
        SweepResult,
        SweepRow,
        compare,
        load,
        plan,
        run,
        sweep,
    )


def __getattr__(name: str) -> Any:
    if name in _API:
        from schedsim import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
