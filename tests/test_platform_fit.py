"""The platform-overhead fit recovers known values, and its result becomes the defaults."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from schedsim.calibration.platform_fit import (
    Target,
    background_cpus,
    fit,
    measured_phases,
    simulate,
    task_speed,
)
from schedsim.calibration.profile import default_profile_path, load_profile, platform_defaults
from schedsim.platforms import workqueue_options as wq_platform
from schedsim.platforms.ray import config as ray_platform
from schedsim.reader import Reader

PROFILE = default_profile_path()
CONFIGS = [("rfc", 12, 200_000, 3, 1), ("large-n", 12, 2_000_000, 2, 1),
           ("many-small", 60, 100_000, 2, 2)]


# Targets come from other seeds than the fit's (the fit draws seed 1, replications 0..7) and
# carry a live-like measurement noise, so a test shows that the fit recovers values from data
# it did not make itself; the tolerance is 3 standard errors of the fitted value (below).
TARGET_SEED, TARGET_REPS, NOISE_CV, FIT_REPS = 9_001, 8, 0.02, 8


def synthetic(platform: str, truth: dict[str, float], reps: int = TARGET_REPS,
              ) -> tuple[list[Target], list[float]]:
    """Makespans the simulator produces with known values, from seeds the fit never uses,
    times a lognormal noise of cv ``NOISE_CV``; with each target's relative standard error
    (its replications' spread over sqrt(reps), the fit's own mean's, and the noise)."""
    rng = np.random.default_rng(TARGET_SEED)
    goals, errors = [], []
    for label, tasks, n, nodes, cores in CONFIGS:
        probe = Target(label, tasks, n, 1e-3, nodes, cores, 1.0)
        runs = [simulate(platform, truth, probe, PROFILE, 1, seed=TARGET_SEED + r)
                for r in range(reps)]
        cv = float(np.std(runs, ddof=1) / np.mean(runs))
        noise = float(rng.lognormal(-NOISE_CV**2 / 2, NOISE_CV))
        goals.append(Target(label, tasks, n, 1e-3, nodes, cores, float(np.mean(runs)) * noise))
        errors.append(math.sqrt(cv**2 / reps + cv**2 / FIT_REPS + NOISE_CV**2))
    return goals, errors


def standard_errors(platform: str, truth: dict[str, float], fixed: dict[str, float],
                    goals: list[Target], errors: list[float]) -> dict[str, float]:
    """Relative standard error of each fitted value: the least-squares sandwich
    (J'J)^-1 J' S J (J'J)^-1, J the elasticities of the fit's makespans (its seeds) to each
    value at the truth (a 10% step), S the targets' relative variances."""
    names = list(truth)
    base = dict(fixed, **truth)

    def makespans(opts: dict[str, float]) -> np.ndarray:
        return np.array([simulate(platform, opts, g, PROFILE, FIT_REPS) for g in goals])

    at_truth = makespans(base)
    jac = np.column_stack([
        np.log(makespans(dict(base, **{k: truth[k] * 1.1})) / at_truth) / math.log(1.1)
        for k in names])
    inv = np.linalg.inv(jac.T @ jac)
    cov = inv @ jac.T @ np.diag(np.square(errors)) @ jac @ inv
    return {k: float(math.sqrt(cov[i, i])) for i, k in enumerate(names)}


def test_ray_overheads_are_recovered_within_three_standard_errors() -> None:
    truth = {"worker_start_time": 0.4, "lease_latency": 0.005}
    goals, errors = synthetic("ray", truth)
    result = fit("ray", goals, PROFILE, {}, {"worker_start_time": 1.0, "lease_latency": 0.001},
                 replications=FIT_REPS, max_evals=200)
    se = standard_errors("ray", truth, {}, goals, errors)
    assert se["worker_start_time"] < 0.1  # the targets pin the value (the test can fail)
    for name, value in truth.items():
        assert abs(math.log(result.values[name] / value)) <= 3 * se[name], (result.values, se)


def test_workqueue_connect_time_is_recovered_within_three_standard_errors() -> None:
    fixed = {"dispatch_time": 1e-4, "retrieval_time": 5e-4}
    truth = {"worker_connect_time": 0.2}
    goals, errors = synthetic("workqueue", dict(fixed, **truth))
    result = fit("workqueue", goals, PROFILE, fixed, {"worker_connect_time": 0.05},
                 replications=FIT_REPS)
    se = standard_errors("workqueue", truth, fixed, goals, errors)
    assert se["worker_connect_time"] < 0.25
    assert abs(math.log(result.values["worker_connect_time"] / 0.2)) <= \
        3 * se["worker_connect_time"], (result.values, se)


def test_zmq_worker_start_is_recovered_within_three_standard_errors() -> None:
    fixed = {"dispatch_time": 3e-4, "result_time": 6e-4, "task_launch_time": 0.004}
    truth = {"worker_start_time": 0.3}
    goals, errors = synthetic("zmq", dict(fixed, **truth))
    result = fit("zmq", goals, PROFILE, fixed, {"worker_start_time": 0.15},
                 replications=FIT_REPS)
    se = standard_errors("zmq", truth, fixed, goals, errors)
    assert se["worker_start_time"] < 0.25
    assert abs(math.log(result.values["worker_start_time"] / 0.3)) <= \
        3 * se["worker_start_time"], (result.values, se)


def test_zmq_overheads_are_read_off_its_records() -> None:
    measured = {"configs": [
        _config("a", 1_000_000, 1, slot_gap_s=2e-4, coordinator_result_s=1e-4,
                result_latency_s=1e-3, launch_s=0.004),
        _config("b", 3_000_000, 2, slot_gap_s=4e-4, coordinator_result_s=3e-4,
                result_latency_s=3e-3, launch_s=0.006)]}
    got = measured_phases("zmq", measured, PROFILE, host_cpus=2)
    teardown = load_profile(PROFILE).teardown_s
    assert got["dispatch_time"] == pytest.approx(3e-4)
    # The coordinator's own time is serial; the worker's reading and sending is not.
    assert got["result_time"] == pytest.approx(2e-4)
    assert got["result_latency"] == pytest.approx(2e-3)
    assert got["task_launch_time"] == pytest.approx(
        (0.004 - teardown(1_000_000) + 0.006 - teardown(3_000_000)) / 2)


def test_zmq_result_costs_grow_with_the_output_as_measured() -> None:
    """The worker's and the coordinator's result phases are lines in the output size: their
    intercepts and rates are read back; the worker's has the loopback's transfer taken out."""
    from schedsim.calibration.platform_fit import sized_phases

    prof = load_profile(PROFILE)
    bandwidth = 1e9
    configs = []
    for label, n in (("a", 200_000), ("b", 1_000_000), ("c", 3_000_000)):
        size = prof.output_bytes(n, 1e-3)
        configs.append(_config(label, n, 1,
                               result_latency_s=3e-4 + size / 5e8 + size / bandwidth,
                               coordinator_result_s=2e-4 + size / 4e9))
    got = sized_phases("zmq", {"configs": configs}, PROFILE, 2, bandwidth)
    rate, value, intercept = got["result_latency"]
    assert rate == "result_send_rate" and value == pytest.approx(5e8, rel=1e-6)
    assert intercept == pytest.approx(3e-4, rel=1e-6)
    rate, value, intercept = got["result_time"]
    assert rate == "result_write_rate" and value == pytest.approx(4e9, rel=1e-6)
    assert intercept == pytest.approx(2e-4, rel=1e-6)
    # A phase that does not grow with the output has no rate.
    flat = [_config(c["label"], c["n"], 1, result_latency_s=1e-3, coordinator_result_s=1e-4)
            for c in configs]
    assert sized_phases("zmq", {"configs": flat}, PROFILE, 2, None)["result_time"][1] is None


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
    goals, errors = synthetic("workqueue", dict(fixed, worker_connect_time=0.2))
    quiet = [i for i, g in enumerate(goals) if g.nodes * g.cores <= 2]  # what is fitted
    se = standard_errors("workqueue", {"worker_connect_time": 0.2}, fixed,
                         [goals[i] for i in quiet], [errors[i] for i in quiet])
    flagged = [Target(g.label, g.tasks, g.n, g.tolerance, g.nodes, g.cores,
                      g.makespan_s * (3.0 if g.nodes * g.cores > 2 else 1.0),
                      g.nodes * g.cores > 2) for g in goals]
    assert [g.oversubscribed for g in flagged] == [True, False, True]
    result = fit("workqueue", flagged, PROFILE, fixed, {"worker_connect_time": 0.05},
                 replications=FIT_REPS)
    assert abs(math.log(result.values["worker_connect_time"] / 0.2)) <= \
        3 * se["worker_connect_time"]
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
