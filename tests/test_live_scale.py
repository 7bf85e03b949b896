"""Emulated-scale live runs: the waiting task lets hundreds of slots run on this host.

The limits (memory, file handles, process ids) are checked as arithmetic; the live runs start
200 Work Queue workers and 32 Ray slots on four raylets, kill nodes mid-run, and check that
every attempt is recorded, that each task waited the time the simulator drew for it and
brought its output back, and that nothing the run started is left. The live runs take about a
minute each on two cores (marker ``scale``; they are part of the default suite).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from schedsim.errors import InputError
from schedsim.live import LiveResult, check_live_scenario, run_live
from schedsim.live.limits import MIB, RAY, WORKQUEUE, wait_limit
from schedsim.live.processes import session_members
from schedsim.live.run import ignored_keys, task_durations
from schedsim.loading import parse_scenario
from schedsim.scenario import Scenario
from schedsim.simulation import Simulation

from .conftest import REPO

TIMEOUT_S = 240.0
CLOCKS_S = 0.005  # the platforms' timestamps against the task's own clock (as test_live)
OVERSLEEP_S = 2.0  # how late a loaded host may wake a waiting task (0.53 s seen at load 8)


def wait_scenario(pools: list[dict[str, Any]], *, tasks: int, mean: str, output: str = "0 B",
                  churn: list[dict[str, Any]] | None = None, task: str = "wait",
                  seed: int = 5) -> Scenario:
    data: dict[str, Any] = {
        "name": "scale-test", "seed": seed,
        "workload": {"tasks": tasks, "task": task, "output_size": output,
                     "duration": {"dist": "lognormal", "mean": mean, "cv": 0.3}},
        "cluster": {"pools": pools}}
    if churn:
        data["churn"] = churn
    return parse_scenario(data, "scale.yaml", REPO)


# --------------------------------------------------------------------------- limits

def test_wait_limit_is_the_tightest_of_memory_files_and_process_ids() -> None:
    gib = 1024.0**3
    plenty = {"available": 1000 * gib, "nofile": 1 << 20, "threads": 1 << 22}
    by_memory = wait_limit("workqueue", 1, **{**plenty, "available": 1 * gib})
    per_slot = WORKQUEUE.slot_bytes + WORKQUEUE.node_bytes
    assert by_memory.slots == int(0.8 * gib // per_slot)
    assert by_memory.why.startswith("memory: 80% of 1.0 GiB available")
    by_files = wait_limit("workqueue", 10, **{**plenty, "nofile": 1064})
    assert by_files.slots == 1000 and by_files.why.startswith("file handles: RLIMIT_NOFILE 1064")
    per_slot_ids = RAY.slot_threads + RAY.node_threads / 8
    by_ids = wait_limit("ray", 8, **{**plenty, "threads": 1000 + int(per_slot_ids * 40)})
    assert by_ids.slots == 40 and by_ids.why.startswith("process ids:")
    # A Ray node's own processes are shared by its slots: bigger nodes fit more slots.
    small = wait_limit("ray", 1, **{**plenty, "available": 64 * gib})
    big = wait_limit("ray", 16, **{**plenty, "available": 64 * gib})
    assert big.slots > small.slots
    assert small.slots == int(0.8 * 64 * gib // (RAY.slot_bytes + RAY.node_bytes))
    assert RAY.slot_bytes > 10 * MIB > WORKQUEUE.slot_bytes


def test_waiting_task_takes_far_more_slots_than_the_zfp_task() -> None:
    pools = [{"name": "h", "count": 20, "cores": 10}]
    task = check_live_scenario(wait_scenario(pools, tasks=10, mean="1s", output="1 KB"),
                               "workqueue")
    assert task.kind == "wait" and task.output_size == 1000
    # The zfp task stays at 2 slots per CPU.
    zfp = parse_scenario({"name": "z", "workload": {"tasks": 1, "duration": {
        "dist": "profile", "n": 1000}}, "cluster": {"pools": pools}}, "z.yaml", REPO)
    with pytest.raises(InputError, match="per CPU of this host: the zfp task is CPU-bound"):
        check_live_scenario(zfp, "workqueue")


@pytest.mark.parametrize("platform", ["workqueue", "ray"])
def test_beyond_the_host_limit_is_refused_with_one_line(platform: str) -> None:
    huge = wait_scenario([{"name": "h", "count": 100_000, "cores": 100}], tasks=1, mean="1s")
    with pytest.raises(InputError) as err:
        check_live_scenario(huge, platform)
    text = str(err.value)
    assert "\n" not in text and "scale.yaml: cluster.pools: expected at most" in text
    assert f"live {platform} run of the wait task here" in text and "got 10000000" in text
    assert any(word in text for word in ("memory:", "file handles:", "process ids:"))


def test_waiting_task_accepts_any_distribution_and_keeps_its_output() -> None:
    s = wait_scenario([{"name": "h", "count": 1}], tasks=3, mean="2s", output="5 MB")
    assert ignored_keys(s) == []
    durations = task_durations(s, 0)
    assert len(durations) == 3 and durations != task_durations(s, 1)
    # The simulator's own draws: the same stream, in task order.
    sim = Simulation(s, 0, keep_records=True).run()
    assert {rec.task: rec.end - rec.start for rec in sim.log} == pytest.approx(
        dict(enumerate(durations)))


# --------------------------------------------------------------------------- live runs

def assert_nothing_left(result: LiveResult, marker: str) -> None:
    deadline = time.monotonic() + 5
    while session_members(set(result.sessions)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert session_members(set(result.sessions)) == []
    assert processes_naming(marker) == []


def processes_naming(marker: str) -> list[int]:
    """Live processes whose command line, working folder or environment names ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            env = Path(f"/proc/{entry}/environ").read_bytes()
            cwd = os.readlink(f"/proc/{entry}/cwd")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and (marker.encode() in cmd or marker.encode() in env
                             or cwd.startswith(marker)):
            found.append(int(entry))
    return found


def check_attempts(result: LiveResult, s: Scenario, output: int) -> None:
    """Every task done once, each done attempt placed and as long as its drawn time."""
    m = result.metrics
    tasks = s.workload.tasks
    assert result.failure is None and m["tasks_completed"] == tasks and m["tasks_failed"] == 0
    assert m["task_attempts"] == len(result.attempts)
    done = [a for a in result.attempts if a.outcome == "done"]
    assert {a.task for a in done} == set(range(tasks))
    # A task done twice is Ray's lineage re-execution: its result (over 100 KiB, in the
    # object store) was lost with the killed node before the driver fetched it.
    lost = {row["id"] for row in result.nodes if row["released_s"] is not None}
    twice = Counter(a.task for a in done)
    for task in (t for t, n in twice.items() if n > 1):
        assert result.platform == "ray" and any(
            a.node in lost for a in done if a.task == task), task
    assert {a.outcome for a in result.attempts} <= {"done", "preempted"}
    durations = task_durations(s, result.replication)
    for a in done:
        assert a.node >= 0 and a.slot >= 0
        total = a.detail["task_total_s"]
        assert durations[a.task] - CLOCKS_S <= total <= durations[a.task] + OVERSLEEP_S
        assert total <= a.end_s - a.start_s + CLOCKS_S
        assert a.detail["bytes_out"] == output
    for a in result.attempts:
        assert 0 <= a.start_s <= a.end_s <= m["makespan_s"] + 0.05


@pytest.mark.scale
def test_workqueue_200_workers_with_kills(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # every work folder, so every process's
    pools = [{"name": "stable", "count": 16, "cores": 10},
             {"name": "spot", "count": 4, "cores": 10}]
    churn = [{"pool": "spot", "lifetime": "3s", "replace": True, "replace_delay": "1s"}]
    s = wait_scenario(pools, tasks=600, mean="1s", output="20 KB", churn=churn)
    result = run_live(s, "workqueue", 0, TIMEOUT_S)
    check_attempts(result, s, 20_000)
    details = result.details
    # 200 worker processes ran at once, and the replacements' on top.
    assert details["workers_found"] >= 200
    summary = details["manager_summary"]
    assert summary["tasks_dispatched"] == len(result.attempts)  # every dispatch is an attempt
    assert summary["manager_bytes_received"] >= 600 * 20_000  # the outputs came back
    for a in result.attempts:
        if a.outcome == "done":
            assert a.detail["bytes_received"] >= 20_000
    # Each spot node dies 3 s after it is ready; its attempts die with it, and the manager,
    # busy with 200 workers, finds out some time later (it may even dispatch to a dead one).
    m = result.metrics
    assert m["preemptions"] >= 4
    spot = {row["id"]: row for row in result.nodes if row["pool"] == "spot"}
    preempted = [a for a in result.attempts if a.outcome == "preempted"]
    assert preempted
    for a in preempted:
        assert a.node in spot and spot[a.node]["released_s"] is not None
        assert a.end_s >= spot[a.node]["released_s"] - CLOCKS_S
    assert_nothing_left(result, str(tmp_path))


@pytest.fixture(scope="module")
def ray_installed() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.fail("ray is not installed: pip install -e .[live]")


@pytest.mark.scale
@pytest.mark.usefixtures("ray_installed")
def test_ray_32_slots_on_four_raylets_with_a_raylet_killed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    pools = [{"name": "stable", "count": 3, "cores": 8},
             {"name": "spot", "count": 1, "cores": 8}]
    churn = [{"pool": "spot", "lifetime": "8s", "replace": False}]
    s = wait_scenario(pools, tasks=128, mean="1s", output="200 KB", churn=churn)
    result = run_live(s, "ray", 0, TIMEOUT_S)
    check_attempts(result, s, 200_000)
    raylets = result.details["raylets"]
    assert [r["node"] for r in raylets] == [0, 1, 2, 3]
    assert len({r["ray_node_id"] for r in raylets}) == 4 and all(r["ray_node_id"] for r in raylets)
    # The Ray nodes joined before time 0; the spot one was killed, raylet and all, at 8 s.
    assert all(r["up_s"] <= 0 for r in raylets)
    lost = raylets[3]["lost_s"]
    assert lost == pytest.approx(8.0, abs=0.5) and result.metrics["preemptions"] == 1
    for a in result.attempts:
        if a.node == 3:
            assert a.start_s <= lost and a.end_s <= lost + 0.05
            if a.outcome == "preempted":
                assert a.end_s == pytest.approx(lost, abs=0.05)
    # Each task's result reached the driver once, through the object store; a done attempt
    # whose result was lost with the killed raylet (no bytes received) ran on that node.
    fetched = Counter(a.task for a in result.attempts
                      if a.outcome == "done" and "bytes_received" in a.detail)
    assert fetched == Counter(range(128))
    for a in result.attempts:
        if a.outcome == "done":
            if "bytes_received" in a.detail:
                assert a.detail["bytes_received"] == 200_000
            else:
                assert a.node == 3
    assert_nothing_left(result, result.details["ray_dir"])
