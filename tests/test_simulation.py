"""Simulation: what one replication leaves behind in a process that runs many (a study's
pool worker, a sweep, serial replications)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from schedsim import simulation
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
def test_a_run_does_not_keep_an_earlier_runs_model(platform: str, no_automatic_gc: None,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # A run freezes the objects alive when it starts; an earlier run's model, dead but not
    # yet collected, was frozen with them and outlived every later run (a worker of the RFC
    # study grew by each job's model, to gigabytes).
    monkeypatch.setattr(simulation, "FREEZE_MIN_TASKS", 1)  # this small run freezes too
    scenario = make({"platform": {"type": platform}}, drop=("churn",))
    first = Simulation(scenario)
    first.run()
    gone = weakref.ref(first)
    del first
    Simulation(scenario, replication=1).run()
    assert gone() is None


def test_a_small_run_pays_no_full_collection(monkeypatch: pytest.MonkeyPatch) -> None:
    # A full collection costs tens of ms in a large process (a test run, a fit's thousands of
    # small simulations): only runs big enough for freezing to pay make one.
    calls: list[int] = []
    monkeypatch.setattr(simulation.gc, "collect", lambda *a: calls.append(1) or 0)
    scenario = make({"workload": {"tasks": 50, "duration": "1s"}}, drop=("churn",))
    Simulation(scenario).run()
    assert calls == []
    monkeypatch.setattr(simulation, "FREEZE_MIN_TASKS", 50)
    Simulation(scenario).run()
    assert calls == [1]
