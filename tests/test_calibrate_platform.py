"""``schedsim calibrate --platform NAME``: one platform calibrated into an existing profile,
the task model and every other platform's measurements and fitted sections kept byte for
byte; its section records the host and time it was measured. The live runs are faked (a
synthetic measured section and JSONL records), the probe too: the fit itself runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from schedsim.calibration import host as host_module
from schedsim.calibration.measure import stats_of
from schedsim.calibration.platform_fit import live_host
from schedsim.calibration.profile import DEFAULT_PROFILE, load_profile
from schedsim.cli import main

PROBE = {"n": 1_000_000, "tolerance": 1e-3, "repeats": 15, "median_s": 0.1, "min_s": 0.09,
         "load_1min": 0.5, "measured_utc": "2026-12-02T19:00:00+00:00", "source": "fake"}


def _config(label: str, tasks: int, n: int, nodes: int, makespan: float) -> dict[str, Any]:
    own = load_profile(DEFAULT_PROFILE).mean_time(n, 1e-3) * 2.9  # a slower host
    return {"label": label, "tasks": tasks, "n": n, "tolerance": 1e-3, "nodes": nodes,
            "cores": 1, "replications": 2, "makespan_s": stats_of([makespan, makespan * 1.02]),
            "failed_replications": 0, "slot_gap_s": stats_of([3e-4, 4e-4]),
            "task_total_s": stats_of([own, own]), "return_s": stats_of([1e-3, 2e-3]),
            "result_latency_s": stats_of([8e-4, 1.6e-3]),
            "coordinator_result_s": stats_of([2e-4, 4e-4]),
            "launch_s": stats_of([0.006, 0.007])}


@pytest.fixture
def fake_live(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """live_measurements made to write two records per platform and return a synthetic
    ``measured`` section on a 4-CPU host; the probe and the tools check made instant.
    Returns the platforms each call measured."""
    import schedsim.live.run as live_run
    from schedsim.calibration import calibrate as cal

    calls: list[list[str]] = []

    def fake(profile: Path, configs: Any, raw_path: Path, *, platforms: Any, **_: Any
             ) -> dict[str, Any]:
        platforms = list(platforms)
        calls.append(platforms)
        with raw_path.open("w") as fh:
            for p in platforms:
                fh.write(json.dumps({"kind": "replication", "platform": p, "config": "x"}) + "\n")
                fh.write(json.dumps({"kind": "attempt", "platform": p, "config": "x"}) + "\n")
        out: dict[str, Any] = {p: {"configs": [_config("one", 6, 200_000, 1, 0.9),
                                               _config("two", 8, 1_000_000, 2, 1.4)]}
                               for p in platforms}
        out["host_cpus"] = 4
        return out

    monkeypatch.setattr(cal, "live_measurements", fake)
    monkeypatch.setattr(live_run, "require_tools", lambda platforms: None)
    monkeypatch.setattr(host_module, "run_probe", lambda repeats=15: dict(PROBE))
    return calls


def copy_of_shipped(folder: Path) -> Path:
    for suffix in (".json", ".live.jsonl", ".task_sweep.jsonl"):
        shutil.copy(DEFAULT_PROFILE.with_name(f"default{suffix}"), folder / f"p{suffix}")
    path = folder / "p.json"
    doc = json.loads(path.read_text())
    doc["raw"] = {"task_sweep": "p.task_sweep.jsonl", "live": "p.live.jsonl"}
    # The shipped profile as it was before zmq was calibrated into it.
    doc["platforms"].pop("zmq", None)
    doc["measured"].pop("zmq", None)
    host = doc["platforms"]["live_host"]["parameters"]
    for key in [k for k in host if k.startswith("zmq_")]:
        del host[key]
    path.write_text(json.dumps(doc, indent=2) + "\n")
    live = folder / "p.live.jsonl"
    live.write_text("".join(line for line in live.read_text().splitlines(keepends=True)
                            if json.loads(line).get("platform") != "zmq"))
    return path


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2)


def test_one_platform_is_calibrated_and_the_others_kept_byte_for_byte(
        tmp_path: Path, fake_live: list[list[str]]) -> None:
    path = copy_of_shipped(tmp_path)
    text_before = path.read_text()
    before = json.loads(text_before)
    live_before = (tmp_path / "p.live.jsonl").read_text()
    assert "zmq" not in before["platforms"] and "zmq" not in before["measured"]
    assert main(["calibrate", "--platform", "zmq", "--quick", "--out", str(path)]) == 0
    assert fake_live == [["zmq"]]
    after = json.loads(path.read_text())
    # Byte for byte: the file less what zmq added is the file as it was.
    rest = json.loads(path.read_text())
    del rest["measured"]["zmq"], rest["platforms"]["zmq"]
    for key in [k for k in rest["platforms"]["live_host"]["parameters"] if k.startswith("zmq_")]:
        del rest["platforms"]["live_host"]["parameters"][key]
    assert dumps(rest) + "\n" == text_before
    for key in ("task", "host", "versions", "name", "created_utc", "mode", "raw"):
        assert dumps(after[key]) == dumps(before[key]), key
    for key in ("workqueue", "ray", "host_cpus", "rfc_comparison"):
        assert dumps(after["measured"][key]) == dumps(before["measured"][key]), key
    for key in ("loopback", "workqueue", "ray"):
        assert dumps(after["platforms"][key]) == dumps(before["platforms"][key]), key
    host_before = before["platforms"]["live_host"]["parameters"]
    host_after = after["platforms"]["live_host"]["parameters"]
    assert {k: v for k, v in host_after.items() if not k.startswith("zmq_")} == host_before
    # The zmq section: its parameters, and where and when they were measured.
    zmq = after["platforms"]["zmq"]
    assert {"dispatch_time", "result_time", "result_latency", "task_launch_time",
            "worker_start_time"} <= set(zmq["parameters"])
    assert zmq["calibrated"]["host"]["probe"] == PROBE
    assert zmq["calibrated"]["host"]["cpu_model"] == host_module.this_host(None)["cpu_model"]
    assert zmq["calibrated"]["utc"].endswith("+00:00") and zmq["calibrated"]["mode"] == "quick"
    assert after["measured"]["zmq"]["host_cpus"] == 4
    # Its host's CPUs under its own name: the shared entry stays the other platforms' host's.
    assert host_after["zmq_host_cpus"]["value"] == 4.0
    assert host_after["zmq_task_speed"]["value"] == pytest.approx(1 / 2.9)
    assert live_host(path, 200_000, 1e-3, platform="zmq")["host"]["cpus"] == 4.0
    assert live_host(path, 200_000, 1e-3, platform="ray")["host"]["cpus"] == 2.0
    # The raw live runs: the others' lines as they were, zmq's appended.
    live_after = (tmp_path / "p.live.jsonl").read_text()
    assert live_after.startswith(live_before)
    assert [json.loads(x)["platform"] for x in live_after[len(live_before):].splitlines()] \
        == ["zmq", "zmq"]
    assert not list(tmp_path.glob("*.tmp"))
    # Again: zmq's records and section replaced, not added to.
    assert main(["calibrate", "--platform", "zmq", "--quick", "--out", str(path)]) == 0
    assert (tmp_path / "p.live.jsonl").read_text() == live_after
    # A refit of zmq alone keeps where it was measured and the others' sections.
    measured_on = json.loads(path.read_text())["platforms"]["zmq"]["calibrated"]
    assert main(["calibrate", "--refit", "--platform", "zmq", "--out", str(path)]) == 0
    refitted = json.loads(path.read_text())
    assert refitted["platforms"]["zmq"]["calibrated"] == measured_on
    assert "refitted_utc" in refitted["platforms"]["zmq"] and "refitted_utc" not in refitted
    for key in ("loopback", "workqueue", "ray"):
        assert dumps(refitted["platforms"][key]) == dumps(before["platforms"][key]), key
    assert dumps(refitted["task"]) == dumps(before["task"])  # no teardown refit


def test_workqueue_alone_refits_the_loopback_and_the_rfc_ratio(
        tmp_path: Path, fake_live: list[list[str]]) -> None:
    path = copy_of_shipped(tmp_path)
    before = json.loads(path.read_text())
    assert main(["calibrate", "--platform", "workqueue", "--out", str(path)]) == 0
    after = json.loads(path.read_text())
    assert dumps(after["platforms"]["ray"]) == dumps(before["platforms"]["ray"])
    assert dumps(after["measured"]["ray"]) == dumps(before["measured"]["ray"])
    assert "calibrated" in after["platforms"]["workqueue"]
    # No retrieval_s in the fake runs: no loopback line, so none is kept from the old runs.
    assert "loopback" not in after["platforms"]
    assert "rfc_comparison" not in after["measured"]  # no rfc config in the fake runs


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_bad_platform_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["calibrate", "--platform", "nope", "--out", str(tmp_path / "p.json")])
    assert exc.value.code == 2
    line = one_line(capsys)
    assert "--platform" in line and "invalid choice: 'nope'" in line and "zmq" in line, line


@pytest.mark.parametrize(("breaks", "words"), [
    (lambda d: d["task"].__setitem__("models", []),
     "task.models: expected at least one fitted task model"),
    (lambda d: d.pop("task"), "task: expected this key (it is required)"),
    (None, "expected an existing calibration profile"),
], ids=["no-models", "no-task", "missing"])
def test_a_profile_without_a_task_model_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_live: list[list[str]],
        breaks: Any, words: str) -> None:
    path = tmp_path / "p.json"
    if breaks is not None:
        doc = json.loads(DEFAULT_PROFILE.read_text())
        breaks(doc)
        path.write_text(json.dumps(doc))
    assert main(["calibrate", "--platform", "zmq", "--out", str(path)]) == 2
    line = one_line(capsys)
    assert line.startswith(f"schedsim: {path}") and words in line, line
    assert fake_live == []  # refused before any live run


def test_platform_without_live_runs_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_live: list[list[str]]) -> None:
    path = copy_of_shipped(tmp_path)
    assert main(["calibrate", "--platform", "zmq", "--no-live", "--out", str(path)]) == 2
    assert "--platform: expected live runs to make (not --no-live)" in one_line(capsys)
    # A refit of a platform the profile has no live runs of.
    assert main(["calibrate", "--refit", "--platform", "zmq", "--out", str(path)]) == 2
    assert "--platform: expected a platform with live runs in the profile" in one_line(capsys)
    assert fake_live == []


def test_a_malformed_own_host_cpus_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_live: list[list[str]]) -> None:
    path = copy_of_shipped(tmp_path)
    doc = json.loads(path.read_text())
    doc["measured"]["ray"]["host_cpus"] = "four"
    path.write_text(json.dumps(doc))
    for argv in (["--platform", "zmq"], ["--refit", "--platform", "ray"]):
        assert main(["calibrate", *argv, "--out", str(path)]) == 2
        assert "measured.ray.host_cpus: expected an integer" in one_line(capsys)
    assert fake_live == []


def test_a_failed_live_run_leaves_the_profile_and_its_runs_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_live: list[list[str]],
        capsys: pytest.CaptureFixture[str]) -> None:
    from schedsim.calibration import calibrate as cal
    from schedsim.live.run import LiveRunError

    path = copy_of_shipped(tmp_path)
    files = {f.name: f.read_bytes() for f in tmp_path.iterdir()}

    def hung(profile: Path, configs: Any, raw_path: Path, **_: Any) -> dict[str, Any]:
        raw_path.write_text('{"kind": "replication", "platform": "zmq"}\n')
        raise LiveRunError("zmq hung")

    monkeypatch.setattr(cal, "live_measurements", hung)
    assert main(["calibrate", "--platform", "zmq", "--out", str(path)]) == 1
    # The progress bar shares stderr here (no terminal): the error is its last line.
    assert capsys.readouterr().err.strip().splitlines()[-1] == "schedsim: calibrate: zmq hung"
    assert {f.name: f.read_bytes() for f in tmp_path.iterdir()} == files
