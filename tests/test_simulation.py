"""Simulation: what one replication leaves behind in a process that runs many (a study's
pool worker, a sweep, serial replications)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from schedsim.simulation import Simulation

from .conftest import make


@pytest.fixture
def no_automatic_gc() -> Iterator[None]:
    """Only explicit collections: whether a dead model goes must not depend on when the
    allocation counters happen to trigger one."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@pytest.mark.parametrize("platform", ["ideal", "workqueue", "ray"])
def test_a_run_does_not_keep_an_earlier_runs_model(platform: str,
                                                   no_automatic_gc: None) -> None:
    # A run freezes the objects alive when it starts; an earlier run's model, dead but not
    # yet collected, was frozen with them and outlived every later run (a worker of the RFC
    # study grew by each job's model, to gigabytes).
    scenario = make({"platform": {"type": platform}}, drop=("churn",))
    first = Simulation(scenario)
    first.run()
    gone = weakref.ref(first)
    del first
    Simulation(scenario, replication=1).run()
    assert gone() is None
