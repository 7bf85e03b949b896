"""Sweeps: grid parsing, identical numbers serial/pool/Ray, and resume after a kill."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from schedsim import __version__
from schedsim.cli import main
from schedsim.errors import InputError
from schedsim.outputs import folder_lock
from schedsim.studies.jobs import Layout, ResultsFile, done_jobs, execute
from schedsim.studies.sweep import parse_grid, plan

from .conftest import REPO

SCENARIO = str(REPO / "scenarios" / "contract-example.yaml")
GRID = ["cluster.pools.spot.count=20,40", "workload.duration={dist: constant, mean: 1s},2s"]


def rows_by_job(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open() as fh:
        return {(r["point"], r["replication"]): r for r in csv.DictReader(fh)}


def sweep_cli(*args: str, scenario: str | Path = SCENARIO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "schedsim", "sweep", str(scenario), *args],
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
    layout = Layout(("workload.tasks",))
    writer = ResultsFile(path, layout)
    jobs = plan(parse_grid(["workload.tasks=50,60"]), 1)
    execute(SCENARIO, jobs, on_row=writer.append)
    writer.close()
    whole = path.read_text()
    path.write_text(whole + "1,0,\"6")  # a row cut off mid-write
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


def wait_for(path: Path, seconds: float = 120) -> str:
    """The content of ``path`` once it has some."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def test_two_sweeps_on_one_folder_the_second_is_refused(tmp_path: Path) -> None:
    # Long enough that it is still running when the second asks (it is killed below).
    args = ["--grid", "workload.tasks=400000,400001", "--replications", "4", "--jobs", "2",
            "--out", str(tmp_path)]
    first = subprocess.Popen([sys.executable, "-m", "schedsim", "sweep", SCENARIO, *args],
                             cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        assert wait_for(tmp_path / "sweep.lock") == str(first.pid)
        second = sweep_cli(*args)
        assert second.returncode == 2 and len(second.stderr.strip().splitlines()) == 1
        assert f"no other sweep is using (process {first.pid} holds sweep.lock" in \
            second.stderr
        assert first.poll() is None  # the refusal was not the first finishing
        first.send_signal(signal.SIGKILL)  # its pool's workers may live on: not the lock
        first.wait(timeout=30)
        with folder_lock(tmp_path, "sweep.lock", "sweep"):
            pass
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)


def trace_scenario(folder: Path, reclaim_at: str) -> Path:
    (folder / "trace.csv").write_text(f"time,pool,event\n{reclaim_at},spot,reclaim\n")
    data = yaml.safe_load(Path(SCENARIO).read_text())
    data["churn"] = [{"pool": "spot", "trace": "trace.csv", "replace": False}]
    path = folder / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_resume_after_editing_the_scenario_is_refused_naming_the_change(tmp_path: Path
                                                                        ) -> None:
    scenario = trace_scenario(tmp_path, "5s")
    out = tmp_path / "out"
    args = [str(scenario), "--grid", "workload.tasks=50,60", "--replications", "2",
            "--out", str(out)]
    assert main(["sweep", *args]) == 0
    rows = (out / "results.csv").read_text()
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["scenario_sha256"] == hashlib.sha256(scenario.read_bytes()).hexdigest()
    assert manifest["files"]["trace.csv"] == hashlib.sha256(
        (tmp_path / "trace.csv").read_bytes()).hexdigest()
    assert manifest["version"] == __version__ and manifest["replications"] == 2

    scenario.write_text(scenario.read_text().replace("seed: 7", "seed: 8"))
    proc = sweep_cli(*args[1:], scenario=scenario)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "sweep.json: scenario: expected the content the sweep started with (sha256 " \
        f"{manifest['scenario_sha256'][:12]}), got a changed scenario" in proc.stderr
    assert "--restart" in proc.stderr
    assert (out / "results.csv").read_text() == rows  # nothing ran, nothing mixed

    scenario.write_text(scenario.read_text().replace("seed: 8", "seed: 7"))
    (tmp_path / "trace.csv").write_text("time,pool,event\n6s,spot,reclaim\n")
    proc = sweep_cli(*args[1:], scenario=scenario)
    assert proc.returncode == 2 and "sweep.json: trace.csv: expected the content" in proc.stderr

    scenario.write_text(scenario.read_text().replace("seed: 7", "seed: 8"))
    fresh = tmp_path / "fresh"
    assert main(["sweep", *args[:-1], str(fresh)]) == 0
    assert main(["sweep", *args, "--restart"]) == 0
    assert (out / "results.csv").read_text() == (fresh / "results.csv").read_text() != rows


@pytest.mark.parametrize("key,value,words", [
    ("version", "0.0.1", "version: expected '0.0.1' as when the sweep started, got"),
    ("grid", [["workload.tasks", ["50", "70"]]], "grid: expected"),
    ("replications", 3, "replications: expected 3 as when the sweep started, got 1"),
    ("kind", None, "kind: expected a manifest that records the scenario's content"),
])
def test_resume_after_any_recorded_change_is_refused(tmp_path: Path, key: str, value: object,
                                                     words: str,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    args = ["sweep", SCENARIO, "--grid", "workload.tasks=50,60", "--replications", "1",
            "--out", str(tmp_path)]
    assert main(args) == 0
    manifest = json.loads((tmp_path / "sweep.json").read_text())
    if value is None:
        manifest.pop(key)
    else:
        manifest[key] = value
    (tmp_path / "sweep.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1, err


def test_duplicate_rows_count_once_and_different_ones_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sweep", SCENARIO, "--grid", "workload.tasks=50,60", "--replications", "2",
            "--out", str(tmp_path)]
    assert main(args) == 0
    results = tmp_path / "results.csv"
    header, *rows = results.read_text().splitlines(keepends=True)
    alone = capsys.readouterr().out
    results.write_text(header + "".join(rows + rows[:3]))  # two sweeps at once, before locks
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "3 duplicate row(s) ignored" in captured.err
    table = [line for line in captured.out.splitlines() if "│" in line]
    assert table and table == [line for line in alone.splitlines() if "│" in line]  # same CIs
    assert "4 job(s) were already done, 0 ran" in captured.out
    cells = rows[0].split(",")
    cells[header.split(",").index("makespan_s")] = "123.0"
    results.write_text(header + "".join(rows) + ",".join(cells))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "line 6: expected one row per job, got the job of line 2 again with other " \
        "results" in err


def bad_cell(column: str, value: str) -> Callable[[list[str]], list[str]]:
    def change(cells: list[str]) -> list[str]:
        cells[Layout(("workload.tasks",)).columns.index(column)] = value
        return cells
    return change


@pytest.mark.parametrize("change,words", [
    (bad_cell("point", "x"), "line 3 point: expected an integer >= 0, got 'x'"),
    (bad_cell("replication", "1.5"), "line 3 replication: expected an integer >= 0"),
    (bad_cell("makespan_s", "abc"), "line 3 makespan_s: expected a number, got 'abc'"),
    (lambda cells: cells[:-2], "line 3: expected a results row of 21 cells"),
    (bad_cell("point", "7"), "line 3: expected a point of this sweep (0 to 1), got"),
    (bad_cell("workload.tasks", "99"), "line 3: expected point 0 of this sweep with overrides "
     "['workload.tasks=50'], got ['workload.tasks=99']"),
])
def test_a_bad_results_row_is_one_line(tmp_path: Path, change: Callable[[list[str]], list[str]],
                                       words: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sweep", SCENARIO, "--grid", "workload.tasks=50,60", "--replications", "2",
            "--out", str(tmp_path)]
    assert main(args) == 0
    results = tmp_path / "results.csv"
    with results.open(newline="") as fh:
        table = list(csv.reader(fh))
    table[2] = change(table[2])
    with results.open("w", newline="") as fh:
        csv.writer(fh).writerows(table)
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"schedsim: {results}: {words}" in err and len(err.strip().splitlines()) == 1, err


def test_a_manifest_that_is_not_json_is_one_line(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sweep", SCENARIO, "--grid", "workload.tasks=50", "--replications", "1",
            "--out", str(tmp_path)]
    assert main(args) == 0
    (tmp_path / "sweep.json").write_text("{not json")
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "sweep.json: expected a sweep manifest (JSON)" in err
    assert len(err.strip().splitlines()) == 1
    assert main([*args, "--restart"]) == 0
