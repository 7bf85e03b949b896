"""The Python API (docs/api.md): the same numbers as the command line, typed results, frames,
one-line errors, a cheap ``import schedsim``, and the page's examples run as they are."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import schedsim
from schedsim import api
from schedsim.cli import main
from schedsim.errors import InputError
from schedsim.metrics import METRICS
from schedsim.report import json_text
from schedsim.studies import rfc

from .conftest import CONTRACT, REPO

SCENARIO = str(REPO / "scenarios" / "contract-example.yaml")
SMALL = {"workload.tasks": 200, "cluster.pools.spot.count": 20}
SMALL_SET = ["--set", "workload.tasks=200", "--set", "cluster.pools.spot.count=20"]


def cli(*args: str) -> None:
    assert main(list(args)) == 0


def python(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


# --------------------------------------------------------------------------- the same numbers

def test_run_gives_the_json_of_run_json(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    cli("run", SCENARIO, *SMALL_SET, "--seed", "3", "--replications", "2", "--json", str(out))
    result = schedsim.run(SCENARIO, SMALL, seed=3, replications=2)
    assert json_text(result.summary) == out.read_text()  # byte for byte
    data = json.loads(out.read_text())
    for name in METRICS:
        e = result.metric(name)
        assert [e.mean, [e.low, e.high], list(e.values)] == [
            data["metrics"][name][k] for k in ("mean", "ci95", "values")]
    rows = result.replications
    assert [r.metrics["makespan_s"] for r in rows] == data["metrics"]["makespan_s"]["values"]
    assert [r.failure for r in rows] == data["failures"]
    assert result.bound["binding"] == data["bound"]["binding"]


def test_parallel_runs_and_records_change_no_number() -> None:
    serial = schedsim.run(SCENARIO, SMALL, seed=3, replications=3)
    parallel = schedsim.run(SCENARIO, SMALL, seed=3, replications=3, jobs=2, keep_records=True)
    assert parallel.summary == serial.summary
    assert [log.attempts for log in parallel.logs] == \
        [int(v) for v in serial.summary["metrics"]["task_attempts"]["values"]]
    assert serial.logs == []


def test_compare_gives_the_json_of_compare_json(tmp_path: Path) -> None:
    out = tmp_path / "compare.json"
    cli("compare", SCENARIO, *SMALL_SET, "--replications", "2", "--platform", "ideal",
        "--platform", "workqueue", "--json", str(out))
    result = schedsim.compare(SCENARIO, ["ideal", "workqueue"], SMALL, replications=2)
    assert json_text(result.summary) == out.read_text()
    assert list(result.runs) == ["ideal", "workqueue"]
    assert result.winner("preemptions") == ""  # no better side
    assert result.winner("makespan_s") in ("ideal", "workqueue", "-")


def test_sweep_gives_the_rows_of_the_sweep_command(tmp_path: Path) -> None:
    cli("sweep", SCENARIO, "--grid", "cluster.pools.spot.count=10,20", "--grid",
        "platform.type=ideal,ray", "--set", "workload.tasks=100", "--replications", "2",
        "--out", str(tmp_path / "sweep"))
    with (tmp_path / "sweep" / "results.csv").open(newline="") as fh:
        written = {(int(r["point"]), int(r["replication"])): r for r in csv.DictReader(fh)}
    result = schedsim.sweep(SCENARIO, {"cluster.pools.spot.count": [10, 20],
                                       "platform.type": ["ideal", "ray"]},
                            ["workload.tasks=100"], replications=2)
    assert [(r.point, r.replication) for r in result.rows] == sorted(written)
    for row in result.rows:
        cells = written[(row.point, row.replication)]
        assert {k: float(cells[k]) for k in METRICS} == row.metrics
        assert (row.failure or "") == cells["failure"]
    assert result.rows[0].values == {"cluster.pools.spot.count": 10, "platform.type": "ideal"}
    assert result.rows[-1].values == {"cluster.pools.spot.count": 20, "platform.type": "ray"}
    # Strings as --grid takes them give the same jobs.
    again = schedsim.sweep(SCENARIO, ["cluster.pools.spot.count=10,20",
                                      "platform.type=ideal,ray"], {"workload.tasks": 100},
                           replications=2, jobs=2)
    assert again.rows == result.rows
    values, estimates = result.summary()[0]
    assert values == {"cluster.pools.spot.count": 10, "platform.type": "ideal"}
    assert estimates["makespan_s"].values == tuple(r.metrics["makespan_s"]
                                                   for r in result.rows[:2])


PLAN_SET = ["churn=[]", "workload.duration=60s", "workload.tasks=1000",
            "cluster.pools.spot.market=on_demand", "cluster.pools.spot.boot_time=60s",
            "cluster.pools.spot.price_per_hour=0.36"]


def test_plan_gives_the_plan_json_of_the_plan_command(tmp_path: Path) -> None:
    cli("plan", SCENARIO, *[a for o in PLAN_SET for a in ("--set", o)], "--replications",
        "2", "--deadline", "11min", "--vary", "cluster.pools.spot.count=1..1000", "--out",
        str(tmp_path / "plan"))
    written = json.loads((tmp_path / "plan" / "plan.json").read_text())
    result = schedsim.plan(SCENARIO, "11min", ["cluster.pools.spot.count=1..1000"], PLAN_SET,
                           replications=2)
    assert result.data == written
    assert result.best is not None and result.best["varied"] == ["cluster.pools.spot.count=100"]
    assert result.deadline_s == 660.0
    # A range and a "LO..HI" string are the same --vary.
    other = schedsim.plan(SCENARIO, 660, {"cluster.pools.spot.count": range(1, 1001)},
                          PLAN_SET, replications=2)
    assert other.data == result.data


# --------------------------------------------------------------------------- inputs

def test_dict_overrides_are_set_overrides() -> None:
    as_dict = schedsim.load(SCENARIO, {"workload.duration": {"dist": "constant",
                                                             "mean": "2s"},
                                       "cluster.pools.spot.boot_time": "30s",
                                       "churn": [], "horizon": "2h"})
    as_set = schedsim.load(SCENARIO, ["workload.duration={dist: constant, mean: 2s}",
                                      "cluster.pools.spot.boot_time=30s", "churn=[]",
                                      "horizon=2h"])
    assert as_dict == as_set


def test_a_scenario_from_a_dict_or_a_loaded_one() -> None:
    from_dict = schedsim.load(CONTRACT, {"workload.tasks": 50}, seed=4)
    assert (from_dict.workload.tasks, from_dict.seed) == (50, 4)
    loaded = schedsim.load(SCENARIO)
    assert schedsim.load(loaded) is loaded
    changed = schedsim.load(loaded, {"workload.tasks": 50}, seed=4)
    assert changed == schedsim.load(SCENARIO, {"workload.tasks": 50}, seed=4)
    r = schedsim.run(changed, replications=1)
    assert r.summary == schedsim.run(SCENARIO, {"workload.tasks": 50}, seed=4,
                                     replications=1).summary


@pytest.mark.parametrize("call,words", [
    (lambda: schedsim.load(SCENARIO, {"workload.tasks": -5}),
     "contract-example.yaml: workload.tasks: expected an integer >= 1, got -5"),
    (lambda: schedsim.load(SCENARIO, "workload.tasks=5"), "overrides: expected a dict"),
    (lambda: schedsim.load(SCENARIO, [5]), "overrides: expected 'KEY=VALUE' strings"),
    (lambda: schedsim.load(SCENARIO, ["workload.tasks"]), "--set workload.tasks: expected KEY"),
    (lambda: schedsim.load(3), "scenario: expected a YAML file's path"),
    (lambda: schedsim.run(SCENARIO, jobs=0), "jobs: expected an integer >= 1"),
    (lambda: schedsim.compare(SCENARIO, ["ideal"]), "at least two different platforms"),
    (lambda: schedsim.compare(SCENARIO, ["ideal", "slurm"]), "one of ideal, ray, workqueue"),
    (lambda: schedsim.sweep(schedsim.load(SCENARIO), {"seed": [1]}), "a scenario file's path"),
    (lambda: schedsim.sweep(SCENARIO, {"seed": 1}), "grid: seed: expected a list of values"),
    (lambda: schedsim.sweep(SCENARIO, {"workload.tasks": [0]}), "--grid: expected values"),
    (lambda: schedsim.plan(SCENARIO, "soon", {"cluster.pools.spot.count": "1..9"}),
     "deadline: expected a duration > 0"),
    (lambda: schedsim.plan(SCENARIO, 60, {"cluster.pools.spot.count": "1..9"},
                           confidence=1.5), "confidence: expected a number in (0, 1]"),
    (lambda: schedsim.plan(SCENARIO, 60, {"cluster.pools.spot.count": 3}), "vary: cluster"),
])
def test_bad_input_is_one_line(call: Any, words: str) -> None:
    with pytest.raises(InputError) as info:
        call()
    assert words in str(info.value)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- frames

def test_frames_hold_the_results() -> None:
    pytest.importorskip("pandas")
    r = schedsim.run(SCENARIO, SMALL, seed=3, replications=2)
    frame = r.to_frame()
    assert list(frame["replication"]) == [0, 1]
    assert list(frame["makespan_s"]) == r.summary["metrics"]["makespan_s"]["values"]
    assert set(METRICS) <= set(frame.columns)
    summary = r.summary_frame().set_index("metric")
    assert summary.loc["cost_usd", "mean"] == r.metric("cost_usd").mean
    assert summary.loc["cost_usd", "unit"] == "USD"
    c = schedsim.compare(SCENARIO, ["ideal", "ray"], SMALL, replications=2)
    assert list(c.to_frame()["platform"]) == ["ideal", "ideal", "ray", "ray"]
    assert len(c.summary_frame()) == 2 * len(METRICS)


def test_frames_without_pandas_say_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    r = schedsim.run(SCENARIO, SMALL, seed=3, replications=1)
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now fails
    with pytest.raises(ModuleNotFoundError, match=re.escape("pip install 'schedsim[frames]'")):
        r.to_frame()


# --------------------------------------------------------------------------- the package

def test_import_schedsim_imports_no_simulator() -> None:
    heavy = ("scipy", "simpy", "matplotlib", "numpy", "pandas", "yaml", "rich")
    out = python("import sys, schedsim\n"
                 f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy})))\n"
                 "schedsim.run, schedsim.RunResult\n"
                 f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy})))")
    assert out.split("\n")[:2] == ["[]", "[]"]


def test_sweep_and_plan_are_the_api_functions() -> None:
    from schedsim import api
    from schedsim.studies import plan as planning
    from schedsim.studies import sweep as sweeps

    assert schedsim.plan is api.plan and schedsim.sweep is api.sweep
    assert hasattr(planning, "parse_vary") and hasattr(sweeps, "parse_grid")  # the studies


def test_the_api_is_not_part_of_the_model_fingerprint() -> None:
    assert not rfc._runs_the_model(Path("api.py"))


def test_the_documented_examples_run() -> None:
    """Every python block of docs/api.md, in order, in one namespace, from the repository's
    root (so the page cannot rot)."""
    pytest.importorskip("pandas")
    text = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 6
    namespace: dict[str, Any] = {}
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        for block in blocks:
            exec(compile(block, str(REPO / "docs" / "api.md"), "exec"), namespace)
    finally:
        os.chdir(cwd)
    assert isinstance(namespace["r"], api.RunResult)
    assert isinstance(namespace["p"], api.PlanResult)
