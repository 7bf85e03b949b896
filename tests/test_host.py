"""The host a profile was measured on: old profiles still load, another host is one line,
``validate`` refuses, rescales or goes on as asked, and the rescale arithmetic."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from schedsim.calibration import host
from schedsim.calibration.profile import DEFAULT_PROFILE, load_profile
from schedsim.cli import main
from schedsim.errors import InputError
from schedsim.studies import validation

from .conftest import fake_report

SHIPPED = json.loads(DEFAULT_PROFILE.read_text())


def profile_file(tmp_path: Path, change: Any = None) -> Path:
    doc = copy.deepcopy(SHIPPED)
    if change is not None:
        change(doc)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    return path


def here(median_s: float | None, cpu: str = "AMD EPYC", cpus: int = 2) -> dict[str, Any]:
    probe = None if median_s is None else {"median_s": median_s, "load_1min": 0.5}
    return {"cpu_model": cpu, "cpus": cpus, "probe": probe}


def test_a_profile_without_a_host_record_loads_and_compares_through_its_sweep(
        tmp_path: Path) -> None:
    old = load_profile(profile_file(tmp_path, lambda d: d.pop("host")))
    probe_s, where = host.reference_probe(old)
    sweep = next(r["median_s"] for m in SHIPPED["task"]["models"] if m["tolerance"] == 1e-3
                 for r in m["time"]["per_n"] if r["n"] == host.PROBE_N)
    assert (probe_s, where) == (sweep, "sweep")
    check = host.compare_hosts(old, here(sweep * 1.1))
    assert check.same_host and check.ratio == pytest.approx(1.1)


def test_without_a_probe_or_its_sweep_point_the_model_mean_is_the_reference(
        tmp_path: Path) -> None:
    def strip(d: dict[str, Any]) -> None:
        d["host"].pop("probe", None)
        for m in d["task"]["models"]:
            m["time"].pop("per_n")

    prof = load_profile(profile_file(tmp_path, strip))
    probe_s, where = host.reference_probe(prof)
    assert where == "model" and probe_s == prof.mean_time(host.PROBE_N, host.PROBE_TOLERANCE)


def test_the_recorded_probe_wins_and_a_bad_one_is_one_line(tmp_path: Path) -> None:
    prof = load_profile(profile_file(tmp_path, lambda d: d["host"].__setitem__(
        "probe", {"n": host.PROBE_N, "tolerance": host.PROBE_TOLERANCE, "median_s": 0.05})))
    assert host.reference_probe(prof) == (0.05, "probe")
    bad = load_profile(profile_file(tmp_path, lambda d: d["host"].__setitem__(
        "probe", {"median_s": "fast"})))
    with pytest.raises(InputError, match=r"host\.probe\.median_s: expected a probe time"):
        host.reference_probe(bad)


@pytest.mark.parametrize(("mine", "words"), [
    (here(0.0347 * 2.9), "the task takes 2.90x its time there"),
    (here(0.0347 / 1.3), "the task takes 0.77x its time there"),
    (here(0.0347, cpus=8), "cores 2 there, 8 here"),
    (here(None, cpu="Intel Xeon"), "CPU AMD EPYC there, Intel Xeon here"),
])
def test_another_host_is_one_line(tmp_path: Path, mine: dict[str, Any], words: str) -> None:
    prof = load_profile(profile_file(tmp_path, lambda d: d["host"].__setitem__(
        "probe", {"n": host.PROBE_N, "tolerance": host.PROBE_TOLERANCE, "median_s": 0.0347})))
    check = host.compare_hosts(prof, mine)
    assert not check.same_host
    line = check.line()
    assert "\n" not in line and line.startswith("profile p.json was measured on another host")
    assert words in line


def test_within_the_tolerance_is_the_same_host(tmp_path: Path) -> None:
    prof = load_profile(profile_file(tmp_path))
    ref, _ = host.reference_probe(prof)
    assert ref is not None
    for factor in (1 / 1.19, 1.19):
        assert host.compare_hosts(prof, here(ref * factor)).same_host
    assert not host.compare_hosts(prof, here(ref * 1.21)).same_host


def test_rescale_arithmetic(tmp_path: Path) -> None:
    assert host.rescaled_speed(0.8, 2.0) == pytest.approx(0.4)
    with pytest.raises(ValueError):
        host.rescaled_speed(1.0, 0.0)
    prof = load_profile(profile_file(tmp_path))
    ref, _ = host.reference_probe(prof)
    assert ref is not None
    check = host.compare_hosts(prof, here(ref * 2.5))
    assert host.decide(check, rescale=True, any_host=False).task_scale == pytest.approx(2.5)
    assert host.decide(check, rescale=False, any_host=True).task_scale == 1.0
    refused = host.decide(check, rescale=False, any_host=False).refuse
    assert refused is not None and "run `schedsim calibrate` first" in refused
    assert "--rescale (task times x2.50)" in refused
    # The simulated pool runs at the profile's live-host speed over the ratio: every task
    # time is the ratio times longer.
    cfg = validation.Config("c", 4, 200_000, 1e-3, 1)
    for platform in validation.PLATFORMS:
        plain = validation.scenario_for(cfg, platform)
        slow = validation.scenario_for(cfg, platform, task_scale=2.5)
        assert slow.cluster.pools[0].speed == pytest.approx(plain.cluster.pools[0].speed / 2.5)


def _fake_probe(monkeypatch: pytest.MonkeyPatch, factor: float, after: float | None = None,
                live: list[dict[str, Any]] | None = None, cpus: int | None = None,
                ) -> dict[str, Any]:
    """This host as the profile's, its probes ``factor`` (before the live runs) and
    ``after`` (after them) times the profile's, 15 runs each; the live runs ``live`` (none
    made; the live tools taken as there). What validate was given comes back."""
    import schedsim.live.run as live_run

    monkeypatch.setattr(live_run, "require_tools", lambda platforms: None)
    prof = load_profile(DEFAULT_PROFILE)
    ref, _ = host.reference_probe(prof)
    assert ref is not None
    probes = [ref * factor, ref * (factor if after is None else after)]
    seen: dict[str, Any] = {"live_runs": 0}

    def probe(repeats: int = 15) -> dict[str, Any]:
        median = probes.pop(0)
        return {"n": host.PROBE_N, "tolerance": host.PROBE_TOLERANCE, "median_s": median,
                "times_s": [median] * repeats, "load_1min": 0.1}

    def facts(p: dict[str, Any] | None) -> dict[str, Any]:
        return {"cpu_model": prof.data["host"]["cpu_model"],
                "cpus": cpus or prof.data["host"]["cpus"], "probe": p}

    def live_runs(*_a: Any, **k: Any) -> list[dict[str, Any]]:
        seen["live_runs"] += 1
        seen["live_runs_scale"] = k["task_scale"]
        return live or []

    def fake(*_a: Any, **k: Any) -> dict[str, Any]:
        seen.update(k)
        return fake_report()

    monkeypatch.setattr(host, "run_probe", probe)
    monkeypatch.setattr(host, "this_host", facts)
    monkeypatch.setattr(validation, "live_runs", live_runs)
    monkeypatch.setattr(validation, "validate", fake)
    return seen


def lone_task_runs(times: float) -> list[dict[str, Any]]:
    """Live records of every quick configuration on every platform whose one-worker runs'
    tasks took ``times`` the time calibration measured for them beside that platform."""
    from schedsim.calibration.platform_fit import live_host

    prof = load_profile(DEFAULT_PROFILE)
    records = []
    for cfg in validation.QUICK:
        for platform in validation.PLATFORMS:
            speed = live_host(DEFAULT_PROFILE, cfg.n, cfg.tolerance,
                              platform=platform).get("speed", 1.0)
            task = times * prof.mean_time(cfg.n, cfg.tolerance) / speed
            records.append({"platform": platform, "config": cfg.label, "repeat": 0,
                            "makespan_s": 1.0, "attempts": [
                                {"task": i, "end_s": 0.1 * i, "outcome": "done",
                                 "task_total_s": task * (0.9 if i % 2 else 1.1)}
                                for i in range(cfg.tasks)]})
    return records


def test_validate_on_another_cpu_refuses_in_one_line_before_any_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    seen = _fake_probe(monkeypatch, 1.0, cpus=8)
    assert main(["validate", "--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("schedsim: validate: profile default.json was "
                                              "measured on another host: cores 2 there, 8 here")
    assert seen["live_runs"] == 0 and "profile" not in seen


def test_validate_on_a_slower_host_refuses_in_one_line_after_its_live_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The speed is judged on both probes (no live task times here): the runs are made,
    kept, and validate refuses without comparing them."""
    seen = _fake_probe(monkeypatch, 3.0)
    assert main(["validate", "--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("schedsim: validate: profile default.json was "
                                              "measured on another host: the task takes 3.00x")
    assert "median of the probes before and after the live runs" in err
    assert f"the live runs are kept: {tmp_path}/validation-live.jsonl" in err
    assert seen["live_runs"] == 1 and "profile" not in seen


def test_validate_rescale_passes_the_ratio_and_records_the_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _fake_probe(monkeypatch, 3.0)
    assert main(["validate", "--quick", "--rescale", "--out", str(tmp_path)]) == 0
    assert seen["task_scale"] == pytest.approx(3.0)
    assert seen["live_runs_scale"] == pytest.approx(3.0)  # the kill moments' scale
    report = json.loads((tmp_path / "validation.json").read_text())
    assert report["host_check"]["ratio"] == pytest.approx(3.0)
    assert "Host check: another host" in (tmp_path / "validation.md").read_text()


def test_a_slow_moment_before_the_runs_is_not_another_host(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """2026-12-02: the probe read 0.80x the profile's, the same host a few minutes on. The
    probes before and after the live runs count together (median of their 30 runs): one
    probe 1.26x the profile's time and one 1.0x is the same host, and both are recorded."""
    seen = _fake_probe(monkeypatch, 1.26, after=1.0)
    assert main(["validate", "--quick", "--out", str(tmp_path)]) == 0
    assert seen["task_scale"] == 1.0
    check = json.loads((tmp_path / "validation.json").read_text())["host_check"]
    ref, _ = host.reference_probe(load_profile(DEFAULT_PROFILE))
    assert ref is not None
    assert check["same_host"] and check["ratio_from"] == "probes before and after"
    assert check["ratio"] == pytest.approx(1.13)
    assert check["here"]["probe_before_s"] == pytest.approx(ref * 1.26)
    assert check["here"]["probe_after_s"] == pytest.approx(ref * 1.0)


@pytest.mark.parametrize(("times", "code", "scale"), [(1.05, 0, 1.0), (1.5, 0, 1.5)],
                         ids=["same-speed", "slower"])
def test_the_live_tasks_own_times_are_the_speed_ratio(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, times: float, code: int,
        scale: float) -> None:
    """Probes that read 3x the profile's time, and live runs whose lone tasks took
    ``times`` what calibration measured: the live tasks decide, and rescale."""
    seen = _fake_probe(monkeypatch, 3.0, live=lone_task_runs(times))
    assert main(["validate", "--quick", "--rescale", "--out", str(tmp_path)]) == code
    assert seen["task_scale"] == pytest.approx(scale)
    check = json.loads((tmp_path / "validation.json").read_text())["host_check"]
    assert check["ratio_from"] == "live tasks" and check["ratio"] == pytest.approx(times)
    assert check["here"]["probe_ratio"] == pytest.approx(3.0)
    # One one-worker configuration on each of the three platforms (the shipped profile's
    # zmq, calibrated on a host of its own, is checked apart, on its own live tasks).
    own = check.get("platforms", {})
    assert check["here"]["live_tasks"]["pairs"] + sum(
        c["here"]["live_tasks"]["pairs"] for c in own.values()) == 3
    assert all(c["ratio_from"] == "live tasks" for c in own.values())
    assert "from the live runs' own task times" in (tmp_path / "validation.md").read_text()


def test_task_ratio_reads_lone_tasks_only() -> None:
    """Two-worker and RFC runs share the host's CPUs: they say nothing of its speed."""
    runs = lone_task_runs(1.3)
    for rec in runs:
        if rec["config"] != "one-worker":
            for a in rec["attempts"]:
                a["task_total_s"] *= 5
    ratio = validation.task_ratio(validation.QUICK, runs, validation.PLATFORMS)
    assert ratio is not None and ratio.ratio == pytest.approx(1.3) and ratio.pairs == 3
    assert validation.task_ratio(validation.QUICK, [], validation.PLATFORMS) is None


def test_validate_calibrate_calibrates_then_validates_with_that_profile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import schedsim.calibration.calibrate as calibrate_module

    calls: list[tuple[str, Any]] = []
    monkeypatch.setattr(calibrate_module, "calibrate",
                        lambda out, **k: calls.append(("calibrate", (out, k["quick"]))))
    monkeypatch.setattr(host, "run_probe",
                        lambda repeats=15: pytest.fail("checked a new profile"))

    def fake(*_a: Any, **k: Any) -> dict[str, Any]:
        calls.append(("validate", k["profile"]))
        return fake_report()

    monkeypatch.setattr(validation, "validate", fake)
    assert main(["validate", "--quick", "--calibrate", "--out", str(tmp_path)]) == 0
    profile = (tmp_path / "profile.json").resolve()
    assert calls == [("calibrate", (tmp_path / "profile.json", True)),
                     ("validate", profile)]
    assert main(["validate", "--calibrate", "--live", str(tmp_path / "x.jsonl"),
                 "--out", str(tmp_path)]) == 2


def test_live_checks_only_the_zfp_task(monkeypatch: pytest.MonkeyPatch) -> None:
    from schedsim.live.cli import host_check

    from .conftest import make

    _fake_probe(monkeypatch, 1.0)
    monkeypatch.setattr(host, "check_here", lambda p, platform=None: host.compare_hosts(
        p, host.this_host(host.run_probe()), platform))
    zfp = make({"workload": {"tasks": 4, "duration": {"dist": "profile", "n": 200000}}})
    check = host_check(zfp)
    assert check is not None and check.same_host
    wait = make({"workload": {"tasks": 4, "task": "wait",
                              "duration": {"dist": "profile", "n": 200000}}})
    assert host_check(wait) is None


@pytest.mark.parametrize(("zmq_probe", "zmq_scale"), [(3.0, 1.0), (1.5, 2.0)],
                         ids=["zmq-here", "zmq-elsewhere"])
def test_validate_checks_a_platform_calibrated_on_its_own_host_against_that_host(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        zmq_probe: float, zmq_scale: float) -> None:
    """calibrate --platform zmq on a host 3x slower than the profile's: zmq's live-host speed
    already holds that host's task speed, so validate scales zmq by its own host's probe
    (1.0 here when zmq was calibrated here) and the others by the profile's (3.0)."""
    prof = load_profile(DEFAULT_PROFILE)
    ref, _ = host.reference_probe(prof)
    assert ref is not None
    own = {"cpu_model": prof.data["host"]["cpu_model"], "cpus": prof.data["host"]["cpus"],
           "probe": {"n": host.PROBE_N, "tolerance": host.PROBE_TOLERANCE,
                     "median_s": ref * zmq_probe, "load_1min": 0.1}}

    def calibrated(d: dict[str, Any]) -> None:
        d["platforms"]["zmq"] = {"parameters": {}, "calibrated": {"host": own, "utc": "t"}}

    path = profile_file(tmp_path, calibrated)
    seen = _fake_probe(monkeypatch, 3.0)
    out = tmp_path / "o"
    assert main(["validate", "--quick", "--profile", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "profile p.json was measured on another host" in err
    assert ("zmq's section" in err) == (zmq_probe != 3.0), err
    seen = _fake_probe(monkeypatch, 3.0)
    assert main(["validate", "--quick", "--rescale", "--profile", str(path), "--out",
                 str(out)]) == 0
    assert seen["task_scale"] == pytest.approx(3.0)
    assert seen["platform_scales"] == {"zmq": pytest.approx(zmq_scale)}
    report = json.loads((out / "validation.json").read_text())
    assert report["host_check"]["platforms"]["zmq"]["ratio"] == pytest.approx(zmq_scale)
    assert host.platform_host(load_profile(path), "ray") is None
