"""``schedsim calibrate`` end to end: relative and absolute ``--out`` with ``--refit`` and with
the platform fit after live runs, and every malformed profile as one line, never a traceback."""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from schedsim.calibration.calibrate import calibrate
from schedsim.calibration.measure import LiveConfig, SweepPlan
from schedsim.calibration.profile import DEFAULT_PROFILE, load_profile
from schedsim.cli import main

from .conftest import REPO

SHIPPED = DEFAULT_PROFILE
SWEEP = DEFAULT_PROFILE.with_name("default.task_sweep.jsonl")


def tiny_profile(folder: Path, name: str = "tiny") -> Path:
    """The shipped profile with one live configuration per platform (a refit in seconds)
    and its task sweep beside it."""
    doc = json.loads(SHIPPED.read_text())
    for platform in ("workqueue", "ray"):
        configs = doc["measured"][platform]["configs"]
        doc["measured"][platform]["configs"] = [c for c in configs
                                                if c["label"] == "short-one-slot"]
    doc.pop("platforms")
    doc["raw"] = {"task_sweep": f"{name}.task_sweep.jsonl"}
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SWEEP, folder / f"{name}.task_sweep.jsonl")
    path = folder / f"{name}.json"
    path.write_text(json.dumps(doc))
    return path


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "schedsim", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=600)


def test_refit_with_a_relative_or_an_absolute_out_gives_the_same_profile(
        tmp_path: Path) -> None:
    tiny_profile(tmp_path / "rel" / "calibration" / "profiles")
    absolute = tiny_profile(tmp_path / "abs")
    proc = cli("calibrate", "--refit", "--out", "calibration/profiles/tiny.json",
               cwd=tmp_path / "rel")
    assert proc.returncode == 0, proc.stderr
    assert "profile: calibration/profiles/tiny.json (platform overheads refitted)" in proc.stdout
    proc = cli("calibrate", "--refit", "--out", str(absolute), cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    rel = json.loads((tmp_path / "rel" / "calibration" / "profiles" / "tiny.json").read_text())
    ab = json.loads(absolute.read_text())
    assert set(rel["platforms"]) >= {"workqueue", "ray", "live_host"}
    assert rel["platforms"] == ab["platforms"] and rel["task"] == ab["task"]
    assert rel["task"]["teardown"]["per_value"]["value"] > 0  # the sweep beside it was read


def test_calibrate_with_a_relative_out_runs_the_platform_fit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from schedsim.live.run import NATIVE_DIR

    if not all(os.access(NATIVE_DIR / exe, os.X_OK) for exe in ("compress_task", "wq_manager")):
        pytest.skip("native programs not built (scripts/install_native.sh)")
    monkeypatch.chdir(tmp_path)  # as the README's calibrate --out calibration/profiles/...
    out = Path("calibration/profiles/mine.json")
    doc = calibrate(out, quick=True, console=Console(file=io.StringIO()),
                    sweep=SweepPlan((20_000, 100_000), (1e-3,), 2),
                    live_configs=[LiveConfig("tiny", 4, 100_000, 1, 1, 1)],
                    platforms=("workqueue",), timeout_s=120)
    assert doc["measured"]["workqueue"]["configs"][0]["makespan_s"]["count"] == 1
    assert "worker_connect_time" in doc["platforms"]["workqueue"]["parameters"]
    assert load_profile(out).data["platforms"] == doc["platforms"]
    assert (tmp_path / "calibration" / "profiles" / "mine.live.jsonl").is_file()


# ------------------------------------------------------------------ malformed profiles


def _cfg(d: dict[str, Any]) -> dict[str, Any]:
    return d["measured"]["workqueue"]["configs"][0]  # type: ignore[no-any-return]


# (how the shipped profile is broken, the key path the one line names)
SHAPES: list[tuple[Callable[[dict[str, Any]], object], str]] = [
    (lambda d: d.__setitem__("measured", "x"), "measured: expected a mapping"),
    (lambda d: d["measured"].__setitem__("workqueue", [1]),
     "measured.workqueue: expected a mapping"),
    (lambda d: d["measured"]["workqueue"].__setitem__("configs", "x"),
     "measured.workqueue.configs: expected a list of mappings"),
    (lambda d: d["measured"]["ray"].__setitem__("configs", ["bad"]),
     "measured.ray.configs[0]: expected a mapping"),
    (lambda d: _cfg(d).pop("n"), "configs[0].n: expected an integer >= 1 (this key is requ"),
    (lambda d: _cfg(d).__setitem__("nodes", "two"), "configs[0].nodes: expected an integer"),
    (lambda d: _cfg(d).__setitem__("makespan_s", "x"), "configs[0].makespan_s: expected a map"),
    (lambda d: _cfg(d).__setitem__("makespan_s", {"count": 3}),
     "configs[0].makespan_s.mean: expected a finite number"),
    (lambda d: _cfg(d)["retrieval_s"].__setitem__("median", None),
     "configs[0].retrieval_s.median: expected a finite number"),
    (lambda d: _cfg(d).__setitem__("slot_gap_s", [1]), "configs[0].slot_gap_s: expected a map"),
    (lambda d: _cfg(d).__setitem__("tolerance", 1.0),
     "configs[0].tolerance: expected a tolerance measured by the profile"),
    (lambda d: d["measured"].__setitem__("host_cpus", 0), "measured.host_cpus: expected an int"),
    (lambda d: d["measured"].__setitem__("rfc_comparison", {}),
     "measured.rfc_comparison.ratio_workqueue_over_ray: expected a finite number"),
    (lambda d: d.__setitem__("raw", "x"), "raw: expected a mapping"),
    (lambda d: d["raw"].__setitem__("task_sweep", 5), "raw.task_sweep: expected a non-empty"),
    (lambda d: d.__setitem__("measured", {}), "measured: expected live runs to fit"),
    (lambda d: d.__setitem__("platforms", "x"), "platforms: expected a mapping"),
    (lambda d: d["platforms"]["ray"]["parameters"].__setitem__("lease_latency",
                                                              {"value": "fast"}),
     "platforms.ray.parameters.lease_latency.value: expected a number or null"),
    (lambda d: d["task"].__setitem__("models", "x"), "task.models: expected a list"),
]


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(("breaks", "words"), SHAPES, ids=[w for _, w in SHAPES])
def test_refit_of_a_malformed_profile_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        breaks: Callable[[dict[str, Any]], object], words: str) -> None:
    doc = copy.deepcopy(json.loads(SHIPPED.read_text()))
    breaks(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    assert main(["calibrate", "--refit", "--out", str(path)]) == 2
    line = one_line(capsys)
    assert line.startswith(f"schedsim: {path}: ") and words in line, line


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


FILES: list[tuple[Callable[[Path], Path], str]] = [
    (lambda p: (p.write_text("not json"), p)[1], "line 1: expected valid JSON"),
    (lambda p: (p.write_bytes(bytes(range(128, 256))), p)[1],
     "expected a calibration profile in UTF-8 text"),
    (lambda p: (p.write_text("[" * 100_000), p)[1], "nesting below Python's recursion limit"),
    (lambda p: (p.write_text("[1, 2]"), p)[1], "(top level): expected a mapping of keys"),
    (lambda p: (p.mkdir(), p)[1], "expected a calibration profile file (this is a folder"),
    (_fifo, "expected a calibration profile file (this is a folder or a special file)"),
    (lambda p: p, "expected an existing calibration profile"),
]


@pytest.mark.parametrize(("make", "words"), FILES, ids=["text", "binary", "deep", "list",
                                                        "folder", "fifo", "missing"])
def test_a_profile_that_is_no_profile_is_one_line_everywhere(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        make: Callable[[Path], Path], words: str) -> None:
    path = make(tmp_path / "p.json")
    live = REPO / "docs" / "validation-live.jsonl"
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: s\nplatform: {type: ideal}\ncluster: {pools: [{name: p, count: 1}]}\n"
        "workload: {tasks: 2, duration: {dist: profile, n: 100000, profile: p.json}}\n")
    runs = [["validate", "--profile", str(path), "--live", str(live),
             "--out", str(tmp_path / "o")],
            ["check", str(scenario)]]
    if not path.is_dir():  # a folder named .json is refused as --out first (below)
        runs.append(["calibrate", "--refit", "--out", str(path)])
    for argv in runs:
        assert main(argv) == 2, argv
        line = one_line(capsys)
        # A scenario names a profile that is not a file as its own key's error.
        assert "p.json" in line and (words in line or argv[0] == "check" and (
            "workload.duration.profile: expected an existing file" in line)), (argv, line)
    assert not (tmp_path / "o" / "validation.json").exists()


def test_out_that_is_a_folder_is_refused_before_measuring(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "p.json").mkdir()
    for extra in ([], ["--refit"], ["--no-live"]):
        assert main(["calibrate", "--out", str(tmp_path / "p.json"), *extra]) == 2
        assert "--out: expected a .json file name (not a folder)" in one_line(capsys)


@pytest.mark.parametrize("line", ['{"n": "x", "total_s": 1}', "[1]", "not json",
                                  '{"n": 1, "total_s": 2, "process_wall_s": "x"}'],
                         ids=["n", "list", "text", "wall"])
def test_a_malformed_task_sweep_beside_the_profile_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str) -> None:
    path = tiny_profile(tmp_path)
    sweep = tmp_path / "tiny.task_sweep.jsonl"
    sweep.write_text(sweep.read_text().splitlines()[0] + "\n" + line + "\n")
    assert main(["calibrate", "--refit", "--out", str(path)]) == 2
    err = one_line(capsys)
    assert f"{sweep}: line 2: expected a JSON object with numbers n, total_s" in err


@pytest.mark.parametrize("timeout", ["nan", "inf", "0", "-1"])
def test_calibrate_timeout_must_be_finite_and_positive(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], timeout: str) -> None:
    assert main(["calibrate", "--out", str(tmp_path / "p.json"), "--timeout", timeout]) == 2
    assert "--timeout: expected a finite number of seconds > 0" in one_line(capsys)
    assert not (tmp_path / "p.json").exists()
