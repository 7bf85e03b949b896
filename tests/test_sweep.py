"""Sweeps: grid parsing, identical numbers serial/pool/Ray, and resume after a kill."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from schedsim.errors import InputError
from schedsim.sweep import ResultsFile, done_jobs, execute, parse_grid, plan

from .conftest import REPO

SCENARIO = str(REPO / "scenarios" / "contract-example.yaml")
GRID = ["cluster.pools.spot.count=20,40", "workload.duration={dist: constant, mean: 1s},2s"]


def rows_by_job(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open() as fh:
        return {(r["point"], r["replication"]): r for r in csv.DictReader(fh)}


def sweep_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "schedsim", "sweep", SCENARIO, *args],
                          capture_output=True, text=True, cwd=REPO, timeout=300)


def test_grid_parsing_keeps_yaml_mappings_whole() -> None:
    axes = parse_grid(GRID)
    assert axes[1][1] == ["{dist: constant, mean: 1s}", "2s"]
    jobs = plan(axes, 3)
    assert len(jobs) == 2 * 2 * 3 and jobs[-1].point == 3 and jobs[-1].replication == 2


@pytest.mark.parametrize("item,words", [
    ("nokey", "KEY=V1,V2"), ("a.b=", "a comma-separated list"), ("a..b=1,2", "dotted key"),
    ("a=1,,2", "a comma-separated list"), ("a=[1,2", "YAML values"),
])
def test_grid_errors_are_one_line(item: str, words: str) -> None:
    with pytest.raises(InputError) as info:
        parse_grid([item])
    assert words in str(info.value) and "\n" not in str(info.value)


def test_bad_grid_value_is_caught_before_running(tmp_path: Path) -> None:
    proc = sweep_cli("--grid", "cluster.pools.spot.count=10,-1", "--out", str(tmp_path))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "cluster.pools[0].count: expected an integer >= 0" in proc.stderr
    proc = sweep_cli("--grid", "a=1", "--grid", "a=2", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2 and "at most one --grid" in proc.stderr


def test_serial_pool_and_ray_give_identical_rows(tmp_path: Path) -> None:
    jobs = plan(parse_grid(GRID), 2, ("workload.tasks=300",))
    out: dict[str, dict[tuple[int, int], dict[str, object]]] = {}
    for mode, kwargs in (("serial", {}), ("pool", {"workers": 2}), ("ray", {"use_ray": True})):
        rows: dict[tuple[int, int], dict[str, object]] = {}
        execute(SCENARIO, jobs, on_row=lambda r, rows=rows: rows.__setitem__(
            (int(r["point"]), int(r["replication"])), r), **kwargs)  # type: ignore[arg-type]
        out[mode] = rows
    assert len(out["serial"]) == 8
    assert out["serial"] == out["pool"] == out["ray"]


def test_torn_last_line_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    writer = ResultsFile(path)
    jobs = plan(parse_grid(["workload.tasks=50,60"]), 1)
    execute(SCENARIO, jobs, on_row=writer.append)
    writer.close()
    whole = path.read_text()
    path.write_text(whole + "1,0,\"[\"")  # a row cut off mid-write
    assert done_jobs(path) == {(0, 0), (1, 0)}
    assert path.read_text() == whole


def test_resume_after_kill_matches_an_uninterrupted_sweep(tmp_path: Path) -> None:
    args = ["--grid", "cluster.pools.spot.count=10,20,30,40", "--grid",
            "churn.0.notice=0s,30s", "--replications", "3", "--set", "workload.tasks=20000"]
    whole = tmp_path / "whole"
    assert sweep_cli(*args, "--out", str(whole)).returncode == 0
    cut = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, "-m", "schedsim", "sweep", SCENARIO, *args,
                             "--out", str(cut)], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    results = cut / "results.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if results.exists() and len(results.read_text().splitlines()) >= 4:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    partial = len(done_jobs(results))
    assert 0 < partial < 24
    resumed = sweep_cli(*args, "--out", str(cut))
    assert resumed.returncode == 0, resumed.stderr
    assert f"{partial} job(s) were already done" in resumed.stdout
    assert rows_by_job(results) == rows_by_job(whole / "results.csv")
    assert len(results.read_text().splitlines()) == 1 + 24  # nothing lost or duplicated


def test_a_different_sweep_in_the_same_folder_is_refused(tmp_path: Path) -> None:
    assert sweep_cli("--grid", "workload.tasks=10,20", "--out", str(tmp_path)).returncode == 0
    proc = sweep_cli("--grid", "workload.tasks=10,30", "--out", str(tmp_path))
    assert proc.returncode == 2 and "use another --out" in proc.stderr
