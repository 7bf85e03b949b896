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


def _fake_probe(monkeypatch: pytest.MonkeyPatch, factor: float) -> None:
    """This host as the profile's, its probe ``factor`` times the profile's (and the live
    tools taken as there: no live run is made)."""
    import schedsim.live.run as live_run

    monkeypatch.setattr(live_run, "require_tools", lambda platforms: None)
    prof = load_profile(DEFAULT_PROFILE)
    ref, _ = host.reference_probe(prof)
    assert ref is not None
    facts = host.this_host({"median_s": ref * factor, "load_1min": 0.1})
    facts["cpu_model"], facts["cpus"] = prof.data["host"]["cpu_model"], prof.data["host"]["cpus"]
    monkeypatch.setattr(host, "check_here",
                        lambda p, platform=None: host.compare_hosts(p, facts, platform))


def test_validate_on_another_host_refuses_in_one_line_before_any_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _fake_probe(monkeypatch, 3.0)

    def no_run(*_a: Any, **_k: Any) -> None:
        raise AssertionError("validate ran")

    monkeypatch.setattr(validation, "validate", no_run)
    assert main(["validate", "--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("schedsim: validate: profile default.json was "
                                              "measured on another host: the task takes 3.00x")


def test_validate_rescale_passes_the_ratio_and_records_the_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_probe(monkeypatch, 3.0)
    seen: dict[str, Any] = {}

    def fake(*_a: Any, **k: Any) -> dict[str, Any]:
        seen.update(k)
        return fake_report()

    monkeypatch.setattr(validation, "validate", fake)
    assert main(["validate", "--quick", "--rescale", "--out", str(tmp_path)]) == 0
    assert seen["task_scale"] == pytest.approx(3.0)
    report = json.loads((tmp_path / "validation.json").read_text())
    assert report["host_check"]["ratio"] == pytest.approx(3.0)
    assert "Host check: another host" in (tmp_path / "validation.md").read_text()


def test_validate_calibrate_calibrates_then_validates_with_that_profile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import schedsim.calibration.calibrate as calibrate_module

    calls: list[tuple[str, Any]] = []
    monkeypatch.setattr(calibrate_module, "calibrate",
                        lambda out, **k: calls.append(("calibrate", (out, k["quick"]))))
    monkeypatch.setattr(host, "check_here",
                        lambda p, platform=None: pytest.fail("checked a new profile"))

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
    own = host.this_host({"n": host.PROBE_N, "tolerance": host.PROBE_TOLERANCE,
                          "median_s": ref * zmq_probe, "load_1min": 0.1})
    own["cpu_model"], own["cpus"] = prof.data["host"]["cpu_model"], prof.data["host"]["cpus"]

    def calibrated(d: dict[str, Any]) -> None:
        d["platforms"]["zmq"] = {"parameters": {}, "calibrated": {"host": own, "utc": "t"}}

    path = profile_file(tmp_path, calibrated)
    import schedsim.live.run as live_run

    monkeypatch.setattr(live_run, "require_tools", lambda platforms: None)
    facts = dict(own, probe={"median_s": ref * 3.0, "load_1min": 0.1})
    monkeypatch.setattr(host, "check_here",
                        lambda p, platform=None: host.compare_hosts(p, facts, platform))
    seen: dict[str, Any] = {}

    def fake(*_a: Any, **k: Any) -> dict[str, Any]:
        seen.update(k)
        return fake_report()

    monkeypatch.setattr(validation, "validate", fake)
    out = tmp_path / "o"
    assert main(["validate", "--quick", "--profile", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "profile p.json was measured on another host" in err
    assert ("zmq's section" in err) == (zmq_probe != 3.0), err
    assert main(["validate", "--quick", "--rescale", "--profile", str(path), "--out",
                 str(out)]) == 0
    assert seen["task_scale"] == pytest.approx(3.0)
    assert seen["platform_scales"] == {"zmq": pytest.approx(zmq_scale)}
    report = json.loads((out / "validation.json").read_text())
    assert report["host_check"]["platforms"]["zmq"]["ratio"] == pytest.approx(zmq_scale)
    assert host.platform_host(load_profile(path), "ray") is None
