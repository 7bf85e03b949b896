"""The platform-overhead fit recovers known values, and its result becomes the defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schedsim.calibration.platform_fit import (
    Target,
    background_cpus,
    fit,
    measured_phases,
    simulate,
    task_speed,
)
from schedsim.calibration.profile import default_profile_path, platform_defaults
from schedsim.platforms import ray_options as ray_platform
from schedsim.platforms import workqueue_options as wq_platform
from schedsim.reader import Reader

PROFILE = default_profile_path()
CONFIGS = [("rfc", 12, 200_000, 3, 1), ("large-n", 12, 2_000_000, 2, 1),
           ("many-small", 60, 100_000, 2, 2)]


def synthetic(platform: str, truth: dict[str, float], reps: int) -> list[Target]:
    """Makespans the simulator itself produces with known parameter values."""
    goals = []
    for label, tasks, n, nodes, cores in CONFIGS:
        probe = Target(label, tasks, n, 1e-3, nodes, cores, 1.0)
        goals.append(Target(label, tasks, n, 1e-3, nodes, cores,
                            simulate(platform, truth, probe, PROFILE, reps)))
    return goals


def test_ray_overheads_are_recovered_within_five_percent() -> None:
    truth = {"worker_start_time": 0.4, "lease_latency": 0.005}
    goals = synthetic("ray", truth, reps=8)
    result = fit("ray", goals, PROFILE, {}, {"worker_start_time": 1.0, "lease_latency": 0.001},
                 replications=8, max_evals=200)
    for name, value in truth.items():
        assert result.values[name] == pytest.approx(value, rel=0.05), result.values
    assert result.rms_relative_error < 0.01


def test_workqueue_connect_time_is_recovered_within_five_percent() -> None:
    fixed = {"dispatch_time": 1e-4, "retrieval_time": 5e-4}
    goals = synthetic("workqueue", dict(fixed, worker_connect_time=0.2), reps=8)
    result = fit("workqueue", goals, PROFILE, fixed, {"worker_connect_time": 0.05},
                 replications=8)
    assert result.values["worker_connect_time"] == pytest.approx(0.2, rel=0.05)


def test_fitted_values_become_the_platform_defaults() -> None:
    fitted = platform_defaults("workqueue")
    assert {"dispatch_time", "retrieval_time", "worker_connect_time"} <= set(fitted)
    config = wq_platform.read_config(Reader("t", "platform.workqueue", {}))
    assert config.dispatch_time == fitted["dispatch_time"]
    assert config.worker_connect_time == fitted["worker_connect_time"]
    ray_config = ray_platform.read_config(Reader("t", "platform.ray", {}))
    assert ray_config.worker_start_time == platform_defaults("ray")["worker_start_time"]
    # A scenario's own value still wins.
    explicit = wq_platform.read_config(Reader("t", "p", {"dispatch_time": "2ms"}))
    assert explicit.dispatch_time == 0.002


def test_profile_without_platforms_gives_no_defaults(tmp_path: Path) -> None:
    doc = json.loads(PROFILE.read_text())
    doc.pop("platforms", None)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    assert platform_defaults("ray", path) == {}
    assert platform_defaults("ray", tmp_path / "missing.json") == {}


def test_oversubscribed_configurations_are_reported_but_not_fitted() -> None:
    # The live "rfc" run has three slots on a two-CPU host: a slower live makespan there
    # (host contention the model does not represent) must not drag the fitted value.
    fixed = {"dispatch_time": 1e-4, "retrieval_time": 5e-4}
    goals = synthetic("workqueue", dict(fixed, worker_connect_time=0.2), reps=8)
    flagged = [Target(g.label, g.tasks, g.n, g.tolerance, g.nodes, g.cores,
                      g.makespan_s * (3.0 if g.nodes * g.cores > 2 else 1.0),
                      g.nodes * g.cores > 2) for g in goals]
    assert [g.oversubscribed for g in flagged] == [True, False, True]
    result = fit("workqueue", flagged, PROFILE, fixed, {"worker_connect_time": 0.05},
                 replications=8)
    assert result.values["worker_connect_time"] == pytest.approx(0.2, rel=0.05)
    rows = {str(p["config"]): p for p in result.per_config}
    assert rows["rfc"]["oversubscribed"] and not rows["rfc"]["fitted"]
    assert float(rows["rfc"]["relative_error"]) < -0.5  # reported, not hidden
    assert rows["large-n"]["fitted"]


def _config(label: str, n: int, slots: int, **medians: float) -> dict[str, object]:
    row: dict[str, object] = {"label": label, "tasks": 10, "n": n, "tolerance": 1e-3,
                              "nodes": slots, "cores": 1}
    for key, value in medians.items():
        row[key] = {"count": 10, "median": value, "mean": value}
    return row


def test_launch_is_the_measured_overhead_less_the_teardown(tmp_path: Path) -> None:
    doc = json.loads(PROFILE.read_text())
    doc["task"]["teardown"] = {"per_value": {"value": 1e-9, "unit": "s/value", "source": "t"}}
    prof = tmp_path / "p.json"
    prof.write_text(json.dumps(doc))
    measured = {"configs": [
        _config("a", 1_000_000, 1, execute_minus_task_s=0.004, dispatch_s=1e-4),
        _config("b", 3_000_000, 2, execute_minus_task_s=0.006, dispatch_s=3e-4),
        _config("c", 2_000_000, 2, execute_minus_task_s=0.005, dispatch_s=2e-4),
        # Oversubscribed (3 slots on 2 CPUs): left out of every median.
        _config("d", 100_000, 3, execute_minus_task_s=0.5, dispatch_s=0.5)]}
    got = measured_phases("workqueue", measured, prof, host_cpus=2)
    assert got["task_launch_time"] == pytest.approx(0.003)  # 4-1, 6-3 and 5-2 ms
    assert got["dispatch_time"] == pytest.approx(2e-4)


def test_live_host_speed_and_background_come_from_the_task_own_times() -> None:
    from schedsim.calibration.profile import load_profile

    prof = load_profile(PROFILE)
    model = [prof.mean_time(n, 1e-3) for n in (1_000_000, 3_000_000, 2_000_000, 100_000)]
    measured = {"configs": [
        # Lone tasks run at 0.9 and 0.8 of the profile's speed: the speed is their median.
        _config("a", 1_000_000, 1, task_total_s=model[0] / 0.9),
        _config("b", 3_000_000, 1, task_total_s=model[1] / 0.8),
        # Two tasks on two CPUs run 2 / (2 - 0.3) times slower again: 0.3 CPU of background.
        _config("c", 2_000_000, 2, task_total_s=model[2] / 0.85 * 2 / 1.7),
        _config("d", 100_000, 4, task_total_s=model[3] * 10)]}  # oversubscribed: unused
    speed = task_speed(measured, PROFILE)
    assert speed == pytest.approx(0.85)
    assert background_cpus(measured, PROFILE, 2, speed) == pytest.approx(0.3)
    assert task_speed({"configs": []}, PROFILE) is None
    assert background_cpus({"configs": []}, PROFILE, 2, 1.0) is None
