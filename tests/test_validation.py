"""Validation: the error arithmetic on fixed inputs, and the pipeline end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schedsim.cli import main
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
