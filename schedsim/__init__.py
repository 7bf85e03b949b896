"""schedsim: a SimPy simulator of bags of tasks on Work Queue, Ray and ideal platforms.

It projects makespan, throughput, cost and robustness of a bag of tasks spread over pools of
nodes that come and go (spot churn), with confidence intervals over replications and an
analytic bound naming the resource that limits the run.

The Python API (docs/api.md, schedsim/api.py): ``schedsim.load``, ``run``, ``compare``,
``sweep`` and ``plan``, imported on first use so that ``import schedsim`` stays cheap.
``schedsim.sweep`` and ``schedsim.plan`` are also the modules of those studies: calling one
calls the API's function, and its own names stay where they were (``schedsim.plan.describe``).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from schedsim.version import __version__

_API = ("load", "run", "compare", "Estimate", "Replication", "RunResult", "CompareResult",
        "SweepRow", "SweepResult", "PlanResult")
_CALLABLE_MODULES = ("sweep", "plan")
__all__ = ["__version__", "load", "run", "compare", "sweep", "plan", "Estimate", "Replication",
           "RunResult", "CompareResult", "SweepRow", "SweepResult", "PlanResult"]

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
        run,
    )


class _CallableModule(types.ModuleType):
    """A study's module that is also the API function of the same name."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from schedsim import api

        return getattr(api, self.__name__.rpartition(".")[2])(*args, **kwargs)


class _Package(types.ModuleType):
    """This package: the import system binds each loaded submodule on it by name, which is
    where schedsim.sweep and schedsim.plan become callable, however they were imported."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _CALLABLE_MODULES and type(value) is types.ModuleType:
            value.__class__ = _CallableModule
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name in _CALLABLE_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _API:
        from schedsim import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API) | set(_CALLABLE_MODULES))
