"""The command line end to end: run, check, outputs, determinism, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from schedsim.cli import main
from schedsim.loading import load_scenario
from schedsim.metrics import METRICS
from schedsim.runner import run_scenario

from .conftest import CONTRACT, REPO

CONTRACT_FILE = REPO / "scenarios" / "contract-example.yaml"
REQUIRED = ["makespan_s", "throughput_tasks_per_s", "tasks_completed", "tasks_failed",
            "task_attempts", "preemptions", "wasted_core_s", "cost_usd",
            "cost_per_1k_tasks_usd", "compute_utilization", "held_utilization"]


def schedsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "schedsim", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=300)


def test_contract_file_runs_and_json_has_every_key(tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    proc = schedsim("run", str(CONTRACT_FILE), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "makespan_s" in proc.stdout and "binding: cores" in proc.stdout
    data = json.loads(out.read_text())
    assert {"scenario", "platform", "seed", "replications", "metrics", "bound"} <= set(data)
    assert data["scenario"] == "contract-example" and data["platform"] == "ideal"
    assert data["seed"] == 7 and data["replications"] == 3
    for name in REQUIRED:
        m = data["metrics"][name]
        assert set(m) == {"mean", "ci95", "values"} and len(m["values"]) == 3
        assert m["ci95"][0] <= m["mean"] <= m["ci95"][1]
    assert data["bound"]["binding"] == "cores"
    assert data["bound"]["throughput_tasks_per_s"] == pytest.approx(50.0)
    assert data["metrics"]["throughput_tasks_per_s"]["mean"] <= 50.0


def test_same_seed_same_json_different_seed_different(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    assert main(["run", str(CONTRACT_FILE), "--json", str(a)]) == 0
    assert main(["run", str(CONTRACT_FILE), "--json", str(b)]) == 0
    assert main(["run", str(CONTRACT_FILE), "--json", str(c), "--seed", "8"]) == 0
    assert a.read_text() == b.read_text()
    assert json.loads(a.read_text())["metrics"] != json.loads(c.read_text())["metrics"]


def test_serial_and_parallel_replications_are_identical() -> None:
    s = load_scenario(CONTRACT_FILE, ["replications=4"])
    assert run_scenario(s, jobs=1).data == run_scenario(s, jobs=2).data


def test_out_dir_keeps_everything(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["run", str(CONTRACT_FILE), "--out", str(out), "--replications", "2",
                 "--set", "workload.tasks=300"]) == 0
    resolved = yaml.safe_load((out / "scenario.resolved.yaml").read_text())
    assert resolved["workload"]["tasks"] == 300 and resolved["replications"] == 2
    rows = (out / "attempts.csv").read_text().splitlines()
    assert rows[0] == "replication,task,node,slot,start_s,end_s,outcome"
    assert sum(1 for r in rows[1:] if r.endswith(",done")) == 600
    trace = json.loads((out / "trace.json").read_text())
    assert len([e for e in trace["traceEvents"] if e["cat"] == "done"]) == 300
    assert (out / "completions.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((out / "summary.json").read_text())
    assert set(METRICS) <= set(summary["metrics"])


def test_check_validates_without_running(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(CONTRACT_FILE)]) == 0
    assert "ok:" in capsys.readouterr().out


@pytest.mark.parametrize("mutate,words", [
    ({"cluster": {"pools": [{"name": "spot", "count": "many"}]}},
     "cluster.pools[0].count: expected an integer >= 0"),
    ({"platform": {"type": "condor"}}, "platform.type: expected one of ideal"),
    ({"workload": {"tasks": 5, "duration": {"dist": "weibull", "mean": "1s"}}},
     "workload.duration.shape: expected"),
])
def test_bad_file_one_line_no_traceback(tmp_path: Path, mutate: dict, words: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(dict(CONTRACT, **mutate)))
    for command in ("run", "check"):
        proc = schedsim(command, str(path))
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0] and str(path) in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr


def test_bad_override_and_bad_flag_one_line() -> None:
    proc = schedsim("run", str(CONTRACT_FILE), "--set", "cluster.pools.gpu.count=2")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "--set cluster.pools.gpu.count=2" in proc.stderr
    proc = schedsim("run", str(CONTRACT_FILE), "--replications", "two")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    proc = schedsim("run", "missing.yaml")
    assert proc.returncode == 2 and "missing.yaml: expected an existing scenario file" in \
        proc.stderr


def test_stalled_job_reports_failure() -> None:
    s = load_scenario(CONTRACT_FILE, ["churn.0.replace=false", "churn.0.lifetime=10s",
                                      "replications=1"])
    summary = run_scenario(s)
    assert summary.data["metrics"]["job_failed"]["mean"] == 1
    assert summary.data["failures"][0].startswith("stalled")


def test_compare_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "cmp.json"
    proc = schedsim("compare", str(CONTRACT_FILE), "--platform", "workqueue", "--platform",
                    "ray", "--replications", "2", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "ray/workqueue" in proc.stdout and "better" in proc.stdout
    data = json.loads(out.read_text())
    assert set(data) == {"workqueue", "ray"}
    for name, summary in data.items():
        assert summary["platform"] == name and summary["seed"] == 7
        assert set(REQUIRED) <= set(summary["metrics"])


def test_platform_options_are_strict(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(dict(CONTRACT, platform={
        "type": "ideal", "ray": {"max_retry": 3}})))
    proc = schedsim("check", str(path))
    assert proc.returncode == 2
    assert "platform.ray.max_retry: expected a known key" in proc.stderr
    path.write_text(yaml.safe_dump(dict(CONTRACT, platform={
        "type": "ray", "ray": {"driver": "async"}})))
    proc = schedsim("check", str(path))
    assert "platform.ray.driver: expected one of batched | get_in_loop" in proc.stderr


def test_unwritable_output_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = schedsim("run", str(CONTRACT_FILE), "--json", str(blocker / "sub" / "s.json"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "cannot write" in proc.stderr
