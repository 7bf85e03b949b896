"""Live runs on this host: Work Queue and Ray complete with timing records, churn kills and
replaces workers, nothing they start is left behind, and bad requests get one-line errors.

They need the native build (scripts/install_native.sh), work_queue_worker and the ray package
(pip install -e .[live]). Every run has a timeout, and every test checks, by session id, that
no process the run started is still alive (zombies waiting for init to reap them are dead).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from schedsim.errors import InputError
from schedsim.live import LiveResult, LiveRunError, check_live_scenario, live_summary, run_live
from schedsim.live.processes import session_members
from schedsim.loading import parse_scenario
from schedsim.metrics import METRICS, finite
from schedsim.scenario import Scenario

from .conftest import REPO, StartLive, processes_under
from .test_calibration import synthetic_profile

TIMEOUT_S = 90.0
# Tolerance between the task's own steady clock and the platforms' timestamps: Work Queue's
# time_workers_execute_last is at times up to 2 ms shorter than the task's total_s.
CLOCKS_S = 0.005


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("profile") / "prof.json"
    synthetic_profile(path)
    return path


def scenario(profile: Path, *, tasks: int, n: int, pools: list[dict[str, Any]],
             churn: list[dict[str, Any]] | None = None, **extra: Any) -> Scenario:
    data: dict[str, Any] = {
        "name": "live-test", "seed": 5,
        "workload": {"tasks": tasks, "duration": {"dist": "profile", "n": n,
                                                  "tolerance": 1e-3, "profile": str(profile)}},
        "cluster": {"pools": pools}, **extra}
    if churn:
        data["churn"] = churn
    return parse_scenario(data, "live-test.yaml", REPO)


def assert_nothing_left(sessions: list[int]) -> None:
    assert sessions, "the run should have started processes"
    deadline = time.monotonic() + 5
    while session_members(set(sessions)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert session_members(set(sessions)) == []


def check_result(result: LiveResult, tasks: int) -> None:
    assert set(result.metrics) == set(METRICS)
    m = result.metrics
    assert m["tasks_completed"] == tasks and m["tasks_failed"] == 0 and m["job_failed"] == 0
    assert result.failure is None
    assert m["makespan_s"] > 0
    assert m["throughput_tasks_per_s"] == pytest.approx(tasks / m["makespan_s"])
    assert m["task_attempts"] == len(result.attempts) >= tasks
    done = [a for a in result.attempts if a.outcome == "done"]
    assert sorted(a.task for a in done) == list(range(tasks))
    for a in result.attempts:
        assert 0 <= a.start_s <= a.end_s <= m["makespan_s"] + 0.05
    for a in done:
        assert a.node >= 0 and a.slot >= 0
        assert 0 < a.detail["task_total_s"] <= a.end_s - a.start_s + CLOCKS_S
        assert a.detail["bytes_out"] > 0
    assert 0 < m["compute_utilization"] <= m["held_utilization"] <= 1.0
    assert_nothing_left(result.sessions)


# --------------------------------------------------------------------------- refusals

def test_refuses_what_does_not_fit_with_one_line(profile: Path) -> None:
    ok = scenario(profile, tasks=2, n=1000, pools=[{"name": "h", "count": 1}])
    with pytest.raises(InputError, match="expected workqueue | ray, got 'slurm'"):
        check_live_scenario(ok, "slurm")
    big = scenario(profile, tasks=2, n=1000, pools=[{"name": "h", "count": 500, "cores": 8}])
    with pytest.raises(InputError) as err:
        run_live(big, "workqueue")
    assert "cluster.pools" in str(err.value) and "got 4000" in str(err.value)
    plain = parse_scenario({"name": "x", "workload": {"tasks": 1, "duration": "1s"},
                            "cluster": {"pools": [{"name": "h", "count": 1}]}}, "x.yaml", REPO)
    with pytest.raises(InputError) as err:
        run_live(plain, "ray")
    assert "workload.duration" in str(err.value) and "profile" in str(err.value)
    for exc in (err.value,):
        assert "\n" not in str(exc)


def live_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "schedsim", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=TIMEOUT_S, env=env)


@pytest.mark.parametrize(("args", "expected"), [
    (["--platform", "slurm"], "--platform: expected workqueue | ray"),
    (["--platform", "ray", "--set", "workload.duration=2s"], "workload.duration: expected"),
    (["--platform", "ray", "--set", "cluster.pools.0.count=999"], "cluster.pools: expected at"),
    (["--platform", "workqueue", "--timeout", "0"], "--timeout: expected"),
])
def test_cli_bad_requests_one_line(profile: Path, tmp_path: Path, args: list[str],
                                   expected: str) -> None:
    scen = tmp_path / "s.yaml"
    scen.write_text(yaml.safe_dump({
        "name": "s", "workload": {"tasks": 2, "duration": {"dist": "profile", "n": 1000,
                                                         "profile": str(profile)}},
        "cluster": {"pools": [{"name": "h", "count": 1}]}}))
    proc = live_cli("live", str(scen), *args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and expected in proc.stderr, proc.stderr


# --------------------------------------------------------------------------- Work Queue

def test_workqueue_run_on_two_workers(profile: Path) -> None:
    s = scenario(profile, tasks=6, n=200_000, pools=[{"name": "h", "count": 2,
                                                      "price_per_hour": 3.6}])
    result = run_live(s, "workqueue", 0, TIMEOUT_S)
    check_result(result, 6)
    assert {a.node for a in result.attempts} <= {0, 1}
    for a in result.attempts:
        for key in ("dispatch_s", "execute_s", "retrieval_s", "overhead_s"):
            assert a.detail[key] >= 0
        assert a.detail["execute_s"] >= a.detail["task_total_s"] - CLOCKS_S
    summary = result.details["manager_summary"]
    assert summary["done"] == 6 and summary["workers_joined"] == 2
    # Billing: two nodes at 3.6 USD/h, 60 s minimum each.
    assert result.metrics["cost_usd"] == pytest.approx(2 * 3.6 / 3600 * 60)
    assert result.metrics["preemptions"] == 0 and result.metrics["nodes_launched"] == 2


def test_workqueue_two_core_node_runs_two_tasks_at_once(profile: Path) -> None:
    s = scenario(profile, tasks=4, n=2_000_000, pools=[{"name": "h", "count": 1, "cores": 2}])
    result = run_live(s, "workqueue", 0, TIMEOUT_S)
    check_result(result, 4)
    assert {(a.node, a.slot) for a in result.attempts} == {(0, 0), (0, 1)}


CHURN = [{"pool": "spot", "lifetime": "0.3s", "replace": True, "replace_delay": "0.2s"}]
CHURN_POOLS = [{"name": "stable", "count": 1}, {"name": "spot", "count": 1}]


def test_workqueue_killed_workers_are_replaced_and_every_task_completes(profile: Path) -> None:
    # The spot node dies 0.3 s after it is ready, before any task of n = 1e7 (about 0.4 s)
    # can finish there, and comes back 0.2 s later, again and again.
    s = scenario(profile, tasks=4, n=10_000_000, pools=CHURN_POOLS, churn=CHURN)
    result = run_live(s, "workqueue", 0, TIMEOUT_S)
    check_result(result, 4)
    m = result.metrics
    # Every loss is replaced 0.2 s later, unless the job ended in between.
    assert m["preemptions"] >= 1
    assert m["preemptions"] + 1 <= m["nodes_launched"] <= m["preemptions"] + 2
    preempted = [a for a in result.attempts if a.outcome == "preempted"]
    assert preempted and m["wasted_core_s"] > 0
    spot_nodes = {row["id"] for row in result.nodes if row["pool"] == "spot"}
    assert {a.node for a in preempted} <= spot_nodes
    for row in result.nodes:
        if row["released_s"] is not None:
            assert row["released_s"] == pytest.approx(row["ready_s"] + 0.3)
    # The manager counts a loss once it sees it; one at the very end may come after its summary.
    assert 1 <= result.details["manager_summary"]["workers_lost"] <= m["preemptions"]


def test_timeout_is_a_clear_error_and_kills_everything(profile: Path) -> None:
    s = scenario(profile, tasks=20, n=10_000_000, pools=[{"name": "h", "count": 1}])
    with pytest.raises(LiveRunError) as err:
        run_live(s, "workqueue", 0, timeout_s=1.0)
    assert "timed out after 1 s" in str(err.value) and "\n" not in str(err.value)
    assert_nothing_left(err.value.sessions)


def test_horizon_ends_the_job_as_failed(profile: Path) -> None:
    s = scenario(profile, tasks=20, n=10_000_000, pools=[{"name": "h", "count": 1}],
                 horizon="0.6s")
    result = run_live(s, "workqueue", 0, TIMEOUT_S)
    m = result.metrics
    assert result.failure == "horizon of 0.6 s reached" and m["job_failed"] == 1
    assert m["makespan_s"] == pytest.approx(0.6)
    assert m["tasks_completed"] < 20 and m["tasks_failed"] == 20 - m["tasks_completed"]
    assert_nothing_left(result.sessions)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_cli_leaves_nothing(profile: Path, tmp_path: Path, sig: int,
                                        live_cli_running: StartLive) -> None:
    scen = tmp_path / "s.yaml"
    scen.write_text(yaml.safe_dump({
        "name": "s", "workload": {"tasks": 40, "duration": {"dist": "profile", "n": 10_000_000,
                                                          "profile": str(profile)}},
        "cluster": {"pools": [{"name": "h", "count": 2}]}}))
    proc, tmp = live_cli_running(scen, "workqueue", "compress_task")
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "schedsim: interrupted"
    assert processes_under(tmp) == []


def test_cli_summary_has_the_run_contract(profile: Path, tmp_path: Path) -> None:
    scen = tmp_path / "s.yaml"
    scen.write_text(yaml.safe_dump({
        "name": "rfc-like", "seed": 2, "replications": 2,
        "workload": {"tasks": 6, "duration": {"dist": "profile", "n": 200000,
                                              "profile": str(profile)}},
        "cluster": {"pools": [{"name": "h", "count": 2}]}}))
    out = tmp_path / "summary.json"
    proc = live_cli("live", str(scen), "--platform", "workqueue", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "makespan_s" in proc.stdout and "rfc-like on workqueue" in proc.stdout
    data = json.loads(out.read_text())
    assert {"scenario", "platform", "seed", "replications", "metrics", "bound", "failures",
            "failure_kinds", "events", "provenance", "live"} == set(data)
    assert data["provenance"]["task_profiles"]["workload.duration"]["file"] == profile.name
    assert data["platform"] == "workqueue" and data["replications"] == 2
    assert set(data["metrics"]) == set(METRICS)
    for m in data["metrics"].values():
        assert len(m["values"]) == 2 and len(m["ci95"]) == 2
    assert data["metrics"]["tasks_completed"]["values"] == [6, 6]
    assert data["failures"] == [None, None]


def test_cli_json_dash_writes_the_summary_to_stdout(tmp_path: Path) -> None:
    scen = tmp_path / "s.yaml"
    scen.write_text(yaml.safe_dump({
        "name": "waits", "seed": 2, "replications": 1,
        "workload": {"tasks": 4, "task": "wait", "duration": "0.1s"},
        "cluster": {"pools": [{"name": "h", "count": 2}]}}))
    proc = live_cli("live", str(scen), "--platform", "workqueue", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # the JSON alone; the table went to stderr
    assert data["metrics"]["tasks_completed"]["values"] == [4]
    assert "makespan_s" in proc.stderr and not (REPO / "-").exists()


# --------------------------------------------------------------------------- Ray

@pytest.fixture(scope="module")
def ray_installed() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.fail("ray is not installed: pip install -e .[live]")


@pytest.mark.usefixtures("ray_installed")
def test_ray_run_on_two_nodes(profile: Path) -> None:
    s = scenario(profile, tasks=6, n=200_000, pools=[{"name": "h", "count": 2}])
    result = run_live(s, "ray", 0, TIMEOUT_S)
    check_result(result, 6)
    assert {a.node for a in result.attempts} <= {0, 1}
    for a in result.attempts:
        assert a.detail["process_s"] >= a.detail["task_total_s"] - CLOCKS_S
        assert a.detail["return_s"] >= 0
    assert result.details["init_s"] > 0 and result.details["ray_version"]
    data = finite(live_summary(s, "ray", [result]))
    json.dumps(data, allow_nan=False)


@pytest.mark.usefixtures("ray_installed")
def test_ray_killed_worker_is_retried(profile: Path) -> None:
    # Ray starts its workers on demand (0.2 to 2 s here), so the spot node lives 2.5 s; 6
    # tasks of n = 3e7 (1.2 s or more each) keep both slots busy until at least 3.6 s.
    churn = [{"pool": "spot", "lifetime": "2.5s", "replace": False}]
    s = scenario(profile, tasks=6, n=30_000_000, pools=CHURN_POOLS, churn=churn)
    result = run_live(s, "ray", 0, TIMEOUT_S)
    check_result(result, 6)
    m = result.metrics
    assert m["preemptions"] == 1 and m["nodes_launched"] == 2
    preempted = [a for a in result.attempts if a.outcome == "preempted"]
    assert len(preempted) == 1 and preempted[0].node == 1
    assert preempted[0].end_s == pytest.approx(2.5, abs=0.05)
    # The retry ran on the stable node (slot 0), the only one left.
    retry = [a for a in result.attempts if a.task == preempted[0].task and a.outcome == "done"]
    assert retry and retry[0].node == 0 and retry[0].attempt == 2
