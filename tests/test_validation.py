"""Validation: the error arithmetic on fixed inputs, and the pipeline end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from schedsim.cli import main
from schedsim.scenario import Scenario
from schedsim.studies import validation


def test_error_arithmetic_on_fixed_inputs() -> None:
    live = [{0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0}]
    sim = [{5: 1.1, 9: 2.2}]
    out = validation.compare([2.0, 2.2], [2.31], live, sim)
    assert out["live_makespan_s"] == pytest.approx(2.1)
    assert out["relative_error"] == pytest.approx(0.1)
    assert out["latency_mape"] == pytest.approx(0.1)  # k-th completions, ids ignored
    # ECDFs of {1, 1, 2, 2} and {1.1, 2.2} differ most (by 0.5) just after 1 and after 2.
    assert out["latency_ks"] == pytest.approx(0.5)
    assert out["live_makespan_sd"] == pytest.approx(0.1414, abs=1e-4)


def test_overall_summary() -> None:
    o = validation.overall([0.02, -0.04, 0.01, 0.03])
    assert o["median_abs_error"] == pytest.approx(0.025)
    assert o["p95_abs_error"] == pytest.approx(0.0385)
    assert o["bias"] == "simulation over-predicts" and o["pass"]
    bad = validation.overall([0.02, -0.30])
    assert not bad["pass"] and bad["bias"] == "simulation under-predicts"


def test_pipeline_end_to_end(tmp_path: Path) -> None:
    tiny = [validation.Config("tiny", 4, 200_000, 1e-3, 1)]
    live_file = tmp_path / "live.jsonl"
    report = validation.validate(tiny, repeats=1, sim_replications=3, timeout_s=120,
                                 live_out=live_file)
    platforms = {(r["config"], r["platform"]) for r in report["configs"]}
    assert platforms == {(c, p) for c in ("tiny", "rfc") for p in ("workqueue", "ray", "zmq")}
    for row in report["configs"]:
        assert row["live_makespan_s"] > 0 and row["sim_makespan_s"] > 0
        assert 0 <= row["latency_ks"] <= 1
    assert set(report["overall"]) == {"workqueue", "ray", "zmq"}
    assert report["rfc_ratio_wq_over_ray"]["rfc"] == 1.78
    validation.plot(report, tmp_path / "v.png")
    assert (tmp_path / "v.png").read_bytes()[:4] == b"\x89PNG"
    text = validation.markdown(report, "v.png", command="schedsim validate --test")
    assert "| workqueue | tiny |" in text and "RFC run" in text
    # The live runs were recorded: validating again against them makes no live run and
    # finds the same live makespans and, with the same profile and seeds, the same errors.
    again = validation.validate(tiny, repeats=1, sim_replications=3,
                                live=validation.read_live(live_file))
    assert [(r["live_makespan_s"], r["relative_error"]) for r in again["configs"]] == \
        [(r["live_makespan_s"], r["relative_error"]) for r in report["configs"]]
    # Runs recorded before a platform was added validate the platforms they have.
    older = [rec for rec in validation.read_live(live_file) if rec["platform"] != "zmq"]
    before = validation.validate(tiny, repeats=1, sim_replications=3, live=older)
    assert set(before["overall"]) == {"workqueue", "ray"}
    assert [r["relative_error"] for r in before["configs"]] == \
        [r["relative_error"] for r in report["configs"] if r["platform"] != "zmq"]


def test_a_bad_live_file_is_one_clear_line(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "live.jsonl"
    bad.write_text('{"platform": "ray"}\n')
    assert main(["validate", "--live", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "live.jsonl" in err and "line 1" in err
    assert main(["validate", "--live", str(tmp_path / "none.jsonl"),
                 "--out", str(tmp_path / "o")]) == 2
    capsys.readouterr()
    assert main(["validate", "--live", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "reading failed: Is a directory" in err


@pytest.mark.usefixtures("fake_validate")
def test_cli_writes_the_report_files(tmp_path: Path) -> None:
    assert main(["validate", "--quick", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "validation.json").read_text())["overall"]["ray"]["pass"] \
        is False
    assert "FAIL" in (tmp_path / "validation.md").read_text()
    assert (tmp_path / "validation.png").exists()


@pytest.mark.usefixtures("fake_validate")
def test_cli_prints_a_summary_not_the_page(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The terminal gets each platform's verdict and the paths, brackets and all; the page
    names the command that wrote it."""
    out = tmp_path / "[docs]"
    assert main(["validate", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "## " not in printed and "|" not in printed  # not the markdown page
    assert "ray (1 held out): median abs makespan error 10.0%" in printed
    assert f"{out}/validation.json" in printed
    page = (out / "validation.md").read_text()
    assert f"written by `schedsim validate --quick --out '{out}'`" in page
    assert "![simulated vs live makespan](validation.png)" in page


KILL = next(c for c in validation.QUICK if c.label == "kill")


def slower_profile(tmp_path: Path, factor: float) -> Path:
    """The shipped profile with every platform's lone task ``factor`` times slower."""
    from schedsim.calibration.profile import DEFAULT_PROFILE

    doc = json.loads(DEFAULT_PROFILE.read_text())
    for key, param in doc["platforms"]["live_host"]["parameters"].items():
        if key.endswith("_task_speed"):
            param["value"] /= factor
    path = tmp_path / "slow.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("platform", validation.PLATFORMS)
def test_the_kill_comes_at_a_fraction_of_the_expected_makespan(
        tmp_path: Path, platform: str) -> None:
    """Not at a fixed second: a host (or profile) whose tasks are slower gets a later kill,
    always mid-run, and the scenario kills one worker, once, at exactly that moment."""
    calm = validation.scenario_for(validation.Config("calm", KILL.tasks, KILL.n,
                                                     KILL.tolerance, KILL.workers), platform)
    makespans, _ = validation.simulate(calm, validation.KILL_REPLICATIONS)
    at = validation.kill_moment(KILL, platform)
    assert at == pytest.approx(KILL.kill_at_fraction * float(np.mean(makespans)), abs=1e-3)
    assert 0 < at < min(makespans)
    slow = validation.kill_moment(KILL, platform, slower_profile(tmp_path, 2.0))
    scaled = validation.kill_moment(KILL, platform, task_scale=2.0)
    assert slow is not None and scaled is not None
    assert slow > 1.5 * at and scaled > 1.5 * at
    for moment, kwargs in ((at, {}), (scaled, {"task_scale": 2.0})):
        assert kill_times(validation.scenario_for(KILL, platform, **kwargs)) == [moment]
    assert kill_times(validation.scenario_for(KILL, platform, kill_at_s=0.5)) == [0.5]
    _, _, hits = validation.simulate_hits(validation.scenario_for(KILL, platform), 5)
    assert hits == 5  # it lands in every simulated run


def kill_times(scenario: Scenario, notice: float = 0.001) -> list[float]:
    """When the scenario's churn kills a worker (a replaced reclaim, and nothing else); the
    simulator sees the closed connection as a 1 ms notice, a live run gets none (SIGKILL)."""
    (churn,) = scenario.churn
    assert churn.lifetime is None and churn.replace and churn.notice == notice
    return [e.time for e in churn.trace if e.event == "reclaim"]


def test_the_live_runs_record_the_kill_moment_and_the_simulator_uses_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The live run and the simulator kill at the same moment, recorded with each run; the
    report says whether the kill hit (an attempt was preempted) live."""
    import schedsim.live.run as live_run

    class Attempt:
        def __init__(self, **d: object) -> None:
            self.d = d

        def as_dict(self) -> dict[str, object]:
            return self.d

    kills: list[tuple[str, float]] = []

    def fake_run(scenario, platform, r, timeout_s):  # type: ignore[no-untyped-def]
        if scenario.churn:
            kills.extend((platform, t) for t in kill_times(scenario, notice=0.0))
        lost = [Attempt(task=0, end_s=0.2, outcome="preempted")] if r == 0 and \
            scenario.churn else []
        done = [Attempt(task=i, end_s=0.1 * (i + 1), outcome="done")
                for i in range(scenario.workload.tasks)]

        class Result:
            metrics = {"makespan_s": 0.1 * scenario.workload.tasks,
                       "preemptions": float(len(lost))}
            attempts = lost + done
        return Result()

    monkeypatch.setattr(live_run, "require_tools", lambda platforms: None)
    monkeypatch.setattr(live_run, "run_live", fake_run)
    records = validation.live_runs([KILL], repeats=2, out=tmp_path / "live.jsonl",
                                   task_scale=2.0)
    for platform in validation.PLATFORMS:
        moment = validation.kill_moment(KILL, platform, task_scale=2.0)
        runs = [rec for rec in records if rec["platform"] == platform and rec["config"] == "kill"]
        assert [rec["kill_at_s"] for rec in runs] == [moment, moment]
        assert [rec["kills"] for rec in runs] == [1, 0]
        assert kills.count((platform, moment)) == 2
    assert validation.read_live(tmp_path / "live.jsonl") == records
    # Simulated with the recorded moment, whatever this profile and scale would choose now.
    for rec in records:
        if "kill_at_s" in rec:
            rec["kill_at_s"] = 0.05
    report = validation.validate([KILL], repeats=2, sim_replications=3, live=records)
    row = next(r for r in report["configs"] if r["config"] == "kill")
    assert row["kill_at_s"] == 0.05 and row["live_kill_hits"] == 1
    assert row["sim_kill_hits"] == 3  # a kill at 0.05 s lands in every simulated run
    assert "hit 1 of 2 live runs" in validation.markdown(report, None, command="x")
    # Runs recorded before the moment was recorded killed every worker 1 s after it was
    # ready, and are simulated so.
    for rec in records:
        rec.pop("kill_at_s", None)
    old = validation.validate([KILL], repeats=2, sim_replications=3, live=records)
    row = next(r for r in old["configs"] if r["config"] == "kill")
    assert row["kill_at_s"] == 1.0 and row["kill_at_fraction"] is None
    legacy = validation.scenario_for(KILL, "ray", kill_at_s=1.0, legacy_kill=True)
    assert legacy.churn[0].lifetime.value == 1.0 and not legacy.churn[0].trace
