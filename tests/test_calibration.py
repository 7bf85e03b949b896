"""Calibration: the fit recovers known parameters, profiles load strictly, the ``profile``
distribution draws from the fitted model, and a tiny calibration writes a usable profile."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from rich.console import Console

from schedsim.calibration.calibrate import calibrate, fit_sweep
from schedsim.calibration.fit import fit_size, fit_time, synthetic_times
from schedsim.calibration.measure import SweepPlan, read_jsonl, task_sweep
from schedsim.calibration.profile import DEFAULT_PROFILE, FORMAT, load_profile
from schedsim.distributions import ProfileDuration
from schedsim.errors import InputError
from schedsim.loading import load_scenario

N_GRID = [int(x) for x in np.geomspace(1e4, 1e7, 10)]


@pytest.mark.parametrize(("a_s", "b_s", "cv", "seed"), [
    (1.5e-3, 3.6e-8, 0.08, 1),  # compress_task-like: small fixed cost, 36 ns a value
    (5.0e-3, 1.0e-8, 0.20, 2),  # a larger fixed cost, noisy
    (1.0e-3, 2.0e-7, 0.03, 3),  # dominated by the per-value cost, quiet
])
def test_fit_recovers_known_parameters_within_5_percent(a_s: float, b_s: float, cv: float,
                                                        seed: int) -> None:
    # 3000 points: the standard errors are then at most 1.3%, so 5% is about 4 of them.
    n, t = synthetic_times(np.random.default_rng(seed), N_GRID, 300, a_s, b_s, cv)
    fit = fit_time(n, t)
    assert fit.a_s == pytest.approx(a_s, rel=0.05)
    assert fit.b_s == pytest.approx(b_s, rel=0.05)
    assert fit.cv == pytest.approx(cv, rel=0.05)
    assert fit.points == n.size
    # The reported uncertainty is honest: the truth lies within 4 standard errors.
    assert abs(fit.a_s - a_s) < 4 * fit.a_stderr
    assert abs(fit.b_s - b_s) < 4 * fit.b_stderr


def test_fit_size_recovers_a_line() -> None:
    rng = np.random.default_rng(4)
    n = np.repeat(N_GRID, 3).astype(float)
    size = 1.8689 * n + 12 + rng.normal(0, 2, n.size)
    fit = fit_size(n, size)
    assert fit.c_bytes == pytest.approx(1.8689, rel=1e-4)
    assert fit.d_bytes == pytest.approx(12, abs=2)
    assert fit.r2 > 0.999999


def test_fit_refuses_degenerate_input() -> None:
    with pytest.raises(ValueError):
        fit_time([1e5, 1e5, 1e5], [0.01, 0.011, 0.012])
    with pytest.raises(ValueError):
        fit_time([1e5, 2e5, 3e5], [0.01, -1.0, 0.03])


# --------------------------------------------------------------------------- profiles

def synthetic_profile(path: Path, tolerances: tuple[float, ...] = (1e-3,)) -> dict[str, Any]:
    """A profile fitted (by the real code) to synthetic sweep records."""
    rng = np.random.default_rng(7)
    records = []
    for k, tol in enumerate(tolerances):
        n, t = synthetic_times(rng, N_GRID, 20, 2e-3 * (k + 1), 3.5e-8 * (k + 1), 0.1)
        for ni, ti in zip(n, t, strict=True):
            records.append({"n": int(ni), "tolerance": tol, "total_s": ti,
                            "process_wall_s": ti + 0.004,
                            "bytes_out": (1.8 + k) * ni + 12})
    doc = {"format": FORMAT, "format_version": 1, "name": path.stem,
           "task": {"source": "native", "sweep": {"n": N_GRID},
                    "models": fit_sweep(records, "native")}}
    path.write_text(json.dumps(doc))
    return doc


def write_scenario(path: Path, duration: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({
        "name": "p", "workload": {"tasks": 10, "duration": duration},
        "cluster": {"pools": [{"name": "h", "count": 2}]}}))
    return path


def test_profile_distribution_loads_from_a_scenario(tmp_path: Path) -> None:
    doc = synthetic_profile(tmp_path / "prof.json")
    model = doc["task"]["models"][0]
    a, b = model["time"]["a"]["value"], model["time"]["b"]["value"]
    c, d = model["output"]["c"]["value"], model["output"]["d"]["value"]
    pa, pb = model["process_time"]["a"]["value"], model["process_time"]["b"]["value"]
    # The profile path is relative to the scenario file; YAML reads 1e-3 as a string.
    scen = write_scenario(tmp_path / "s.yaml", {"dist": "profile", "n": 200000,
                                                "tolerance": "1e-3", "profile": "prof.json"})
    dist = load_scenario(scen).workload.duration
    # By default a task is the program's own time: the platforms add their launch cost.
    assert isinstance(dist, ProfileDuration) and dist.time == "task"
    scen = write_scenario(tmp_path / "s.yaml", {"dist": "profile", "n": 200000,
                                                "time": "process", "tolerance": "1e-3",
                                                "profile": "prof.json"})
    process = load_scenario(scen).workload.duration
    assert isinstance(process, ProfileDuration)
    assert process.mean == pytest.approx(pa + pb * 200000, rel=1e-12)
    assert process.mean > a + b * 200000
    assert isinstance(dist, ProfileDuration)
    assert dist.n == 200000 and dist.tolerance == 1e-3
    assert dist.mean == pytest.approx(a + b * 200000, rel=1e-12)
    assert dist.output_bytes == pytest.approx(c * 200000 + d, rel=1e-12)
    assert load_profile(tmp_path / "prof.json").output_bytes(200000, 1e-3) == dist.output_bytes
    x = dist.sample(np.random.default_rng(1), 200_000)
    assert x.min() > 0
    assert x.mean() == pytest.approx(dist.mean, rel=0.005)
    assert x.std() / x.mean() == pytest.approx(model["time"]["cv"]["value"], rel=0.02)
    assert dist.describe() == {"dist": "profile", "n": 200000, "tolerance": 1e-3,
                               "profile": str((tmp_path / "prof.json").resolve())}
    assert process.describe()["time"] == "process"


def test_profile_interpolates_between_tolerances_and_refuses_outside(tmp_path: Path) -> None:
    synthetic_profile(tmp_path / "prof.json", (1e-4, 1e-2))
    prof = load_profile(tmp_path / "prof.json")
    lo, hi = prof.model(1e-4), prof.model(1e-2)
    mid = prof.model(1e-3)  # halfway in log10(tolerance)
    assert mid.b_s == pytest.approx((lo.b_s + hi.b_s) / 2)
    assert mid.c_bytes == pytest.approx((lo.c_bytes + hi.c_bytes) / 2)
    scen = write_scenario(tmp_path / "s.yaml", {"dist": "profile", "n": 1000,
                                                "tolerance": 0.5, "profile": "prof.json"})
    with pytest.raises(InputError) as err:
        load_scenario(scen)
    assert "workload.duration.tolerance" in str(err.value)
    assert "0.0001 to 0.01" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(("content", "expected"), [
    (None, "an existing file"),
    ("{not json", "valid JSON"),
    ('{"format": "other"}', "format"),
    (json.dumps({"format": FORMAT, "format_version": 1, "name": "x",
                 "task": {"source": "native", "sweep": {"n": [1]}, "models": []}}),
     "at least one fitted task model"),
])
def test_bad_profiles_give_one_line(tmp_path: Path, content: str | None, expected: str) -> None:
    if content is not None:
        (tmp_path / "prof.json").write_text(content)
    scen = write_scenario(tmp_path / "s.yaml", {"dist": "profile", "n": 1000,
                                                "profile": "prof.json"})
    with pytest.raises(InputError) as err:
        load_scenario(scen)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_bad_profile_keys_give_one_line(tmp_path: Path) -> None:
    synthetic_profile(tmp_path / "prof.json")
    for duration, key in [({"dist": "profile", "n": 0}, "n"),
                          ({"dist": "profile", "n": 10, "tolerance": -1}, "tolerance"),
                          ({"dist": "profile", "n": 10, "colour": 1}, "colour")]:
        scen = write_scenario(tmp_path / "s.yaml", {**duration, "profile": "prof.json"})
        with pytest.raises(InputError) as err:
            load_scenario(scen)
        assert f"workload.duration.{key}" in str(err.value)


def test_shipped_default_profile_is_used_when_none_is_named(tmp_path: Path) -> None:
    assert DEFAULT_PROFILE.is_file(), "schedsim/profiles/default.json must be shipped"
    prof = load_profile(DEFAULT_PROFILE)
    scen = write_scenario(tmp_path / "s.yaml", {"dist": "profile", "n": 200000,
                                                "tolerance": 1e-3})
    dist = load_scenario(scen).workload.duration
    assert isinstance(dist, ProfileDuration) and dist.default
    assert dist.profile == str(DEFAULT_PROFILE.resolve())
    assert dist.mean == pytest.approx(prof.mean_time(200000, 1e-3) + prof.teardown_s(200000))
    assert dist.describe() == {"dist": "profile", "n": 200000, "tolerance": 1e-3}
    # The raw measurements the profile names are shipped beside it.
    for name in prof.data["raw"].values():
        assert (DEFAULT_PROFILE.parent / name).is_file()


# --------------------------------------------------------------------------- measuring

def test_tiny_calibration_writes_a_loadable_profile(tmp_path: Path) -> None:
    out = tmp_path / "tiny.json"
    plan = SweepPlan((20_000, 50_000, 100_000), (1e-3, 1e-2), 3)
    doc = calibrate(out, quick=True, console=Console(file=io.StringIO()), live=False, sweep=plan)
    assert doc["task"]["source"] == "native"
    assert json.loads(out.read_text())["task"]["sweep"]["points"] == plan.runs
    raw = read_jsonl(tmp_path / "tiny.task_sweep.jsonl")
    assert len(raw) == plan.runs and {r["n"] for r in raw} == set(plan.n_values)
    assert all(r["process_wall_s"] >= r["total_s"] > 0 for r in raw)
    prof = load_profile(out)
    assert prof.tolerance_range == (1e-3, 1e-2)
    assert 0 < prof.output_bytes(100_000, 1e-3) < 4 * 100_000
    assert prof.output_bytes(100_000, 1e-2) < prof.output_bytes(100_000, 1e-3)
    for key in ("host", "versions", "created_utc"):
        assert doc[key]
    # The host's probe, run after the sweep, is what validate and live compare with.
    probe = doc["host"]["probe"]
    assert probe["n"] == 1_000_000 and probe["repeats"] == 15 and probe["median_s"] > 0


def test_zfpy_fallback_sweep(tmp_path: Path) -> None:
    pytest.importorskip("zfpy")
    plan = SweepPlan((20_000, 40_000), (1e-3,), 2)
    source, records = task_sweep(plan, tmp_path / "raw.jsonl", prefer_native=False)
    assert source == "zfpy"
    assert all(r["source"] == "zfpy" and 0 < r["bytes_out"] < r["bytes_in"] for r in records)


def test_teardown_is_the_slope_of_process_overhead_against_n() -> None:
    from schedsim.calibration.calibrate import fit_teardown

    rng = np.random.default_rng(3)
    records = [{"n": n, "total_s": 1e-8 * n, "process_wall_s": 1e-8 * n + 0.003 + 6e-10 * n
                + rng.normal(0, 1e-5)} for n in (100_000, 1_000_000, 5_000_000) * 10]
    fitted = fit_teardown(records)
    assert fitted is not None
    assert fitted["per_value"]["value"] == pytest.approx(6e-10, rel=0.02)
    assert fitted["fixed"]["value"] == pytest.approx(0.003, rel=0.02)
    assert fit_teardown(records[:1]) is None  # one n: no slope


def test_task_time_includes_the_teardown_process_time_does_not(tmp_path: Path) -> None:
    doc = synthetic_profile(tmp_path / "prof.json")
    doc["task"]["teardown"] = {"per_value": {"value": 1e-9, "unit": "s/value", "source": "t"}}
    (tmp_path / "prof.json").write_text(json.dumps(doc))
    model = doc["task"]["models"][0]
    a, b = model["time"]["a"]["value"], model["time"]["b"]["value"]
    pa, pb = model["process_time"]["a"]["value"], model["process_time"]["b"]["value"]
    for time, mean in (("task", a + (b + 1e-9) * 200000), ("process", pa + pb * 200000)):
        scen = write_scenario(tmp_path / "s.yaml", {"dist": "profile", "n": 200000,
                                                    "time": time, "profile": "prof.json"})
        dist = load_scenario(scen).workload.duration
        assert dist.mean == pytest.approx(mean, rel=1e-12), time
