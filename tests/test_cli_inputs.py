"""Flags and files of validate, live, compare and plan: each bad one is one line and a
nonzero exit, before anything runs, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from schedsim.cli import main

from .conftest import REPO

LIVE = REPO / "docs" / "validation-live.jsonl"
CONTRACT = str(REPO / "scenarios" / "contract-example.yaml")


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Stand-ins for the native programs and work_queue_worker, so that only what a test
    takes away is missing."""
    import schedsim.live.run as run

    native = tmp_path / "native"
    native.mkdir()
    for name in ("compress_task", "wq_manager"):
        (native / name).write_text("#!/bin/sh\nexit 1\n")
        (native / name).chmod(0o755)
    monkeypatch.setattr(run, "NATIVE_DIR", native)
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: "/bin/true"
                        if name == "work_queue_worker" else real_which(name, *a, **k))
    return native


def test_validate_without_ray_is_one_line_before_any_live_run(
        tmp_path: Path, tools: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # import ray fails
    out = tmp_path / "o"
    out.mkdir()
    (out / "validation-live.jsonl").write_text("kept\n")
    assert main(["validate", "--quick", "--out", str(out)]) == 1
    line = one_line(capsys)
    assert line == ("schedsim: validate: ray is not installed; python3 -m pip install ray "
                    "(or pip install -e .[live])")
    assert (out / "validation-live.jsonl").read_text() == "kept\n"  # no run was started


@pytest.mark.parametrize("missing", ["compress_task", "wq_manager"])
def test_validate_without_the_native_programs_is_one_line(
        tmp_path: Path, tools: Path, capsys: pytest.CaptureFixture[str],
        missing: str) -> None:
    (tools / missing).unlink()
    assert main(["validate", "--quick", "--out", str(tmp_path / "o")]) == 1
    assert f"schedsim: validate: {tools / missing} is not built; run " \
           "scripts/install_native.sh" == one_line(capsys)


@pytest.mark.parametrize("timeout", ["nan", "inf", "0", "-5"])
def test_validate_timeout_must_be_finite_and_positive(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], timeout: str) -> None:
    assert main(["validate", "--quick", "--timeout", timeout, "--out", str(tmp_path)]) == 2
    assert "--timeout: expected a finite number of seconds > 0" in one_line(capsys)


def test_live_timeout_must_be_finite(capsys: pytest.CaptureFixture[str]) -> None:
    scenario = str(REPO / "scenarios" / "rfc-local.yaml")
    assert main(["live", scenario, "--platform", "workqueue", "--timeout", "inf"]) == 2
    assert "--timeout: expected a finite number of seconds > 0, got inf" in one_line(capsys)


def _attempt(**change: object) -> str:
    rec = {"platform": "ray", "config": "rfc", "repeat": 0, "makespan_s": 1.5,
           "attempts": [{"task": 0, "end_s": 1.0, "outcome": "done", "task_total_s": 0.5}]}
    rec["attempts"][0].update(change)  # type: ignore[index]
    return json.dumps(rec)


@pytest.mark.parametrize("content", [
    bytes(range(128, 256)),  # not UTF-8
    b"[" * 100_000,  # nested past Python's recursion limit
    b'{"platform": "ray", "config": "rfc", "makespan_s": "long", "attempts": []}',
    b'{"platform": "ray", "config": "rfc", "makespan_s": 1, "attempts": "none"}',
    _attempt(task="first").encode(),
    _attempt(end_s=None).encode(),
    _attempt(task_total_s="x").encode(),
    b'["platform", "config", "makespan_s", "attempts"]',
], ids=["binary", "deep", "makespan", "attempts", "task", "end", "total", "list"])
def test_validate_live_file_that_is_not_live_runs_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes) -> None:
    bad = tmp_path / "live.jsonl"
    bad.write_bytes(content + b"\n")
    assert main(["validate", "--live", str(bad), "--out", str(tmp_path / "o")]) == 2
    line = one_line(capsys)
    assert line.startswith(f"schedsim: {bad}: ") and "expected a " in line
    assert "file of live runs" in line or "line 1: expected a live run" in line


def test_a_good_attempt_record_is_still_read(tmp_path: Path) -> None:
    from schedsim.studies.validation import read_live

    good = tmp_path / "live.jsonl"
    good.write_text(_attempt() + "\n" + _attempt(task_total_s=None) + "\n")
    assert len(read_live(good)) == 2
    assert len(read_live(LIVE)) > 0  # the shipped record of live runs


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_validate_live_that_is_not_a_file_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    path = tmp_path / "live.jsonl"
    if kind == "folder":
        path.mkdir()
    else:
        os.mkfifo(path)  # reading it would block for ever
    assert main(["validate", "--live", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "expected a file of live runs written by schedsim validate" in one_line(capsys)


def test_compare_jobs_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    for jobs in ("0", "-3"):
        with pytest.raises(SystemExit) as exit_:  # refused by the parser, as run's is
            main(["compare", CONTRACT, "--platform", "ideal", "--platform", "ray",
                  "--jobs", jobs, "--replications", "1"])
        assert exit_.value.code == 2
        assert "--jobs: expected an integer from 1" in one_line(capsys)


@pytest.mark.parametrize("budget", ["-5", "nan", "inf"])
def test_plan_budget_must_be_a_finite_amount(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], budget: str) -> None:
    assert main(["plan", CONTRACT, "--deadline", "1h", "--budget", budget,
                 "--vary", "cluster.pools.spot.count=10..40", "--out", str(tmp_path)]) == 2
    assert "--budget: expected a finite number of USD >= 0" in one_line(capsys)
    assert not (tmp_path / "plan.json").exists()
