"""The live platform zmq: a ZeroMQ coordinator and pulling workers run the native task here.

A small bag completes once per task with sane records; a node killed mid-run (SIGKILL, no
word to the coordinator) is found by its silence and its tasks run again elsewhere; a task that
runs out of retries fails; bad requests get one line; Ctrl-C leaves nothing. Needs pyzmq (the
``live`` extra) and the native build (scripts/install_native.sh).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from schedsim.errors import InputError
from schedsim.live import LiveResult, check_live_scenario, run_live
from schedsim.live.processes import session_members
from schedsim.live.run import task_durations
from schedsim.loading import parse_scenario
from schedsim.metrics import METRICS
from schedsim.scenario import Scenario

from .conftest import REPO, StartLive, processes_under
from .test_calibration import synthetic_profile

zmq = pytest.importorskip("zmq")

TIMEOUT_S = 60.0
CLOCKS_S = 0.005  # the worker's timestamps against the task's own clock (as test_live)
OVERSLEEP_S = 2.0  # how late a loaded host may wake a waiting task (as test_live_scale)


def wait_scenario(pools: list[dict[str, Any]], *, tasks: int, duration: dict[str, Any],
                  churn: list[dict[str, Any]] | None = None) -> Scenario:
    data: dict[str, Any] = {
        "name": "zmq-test", "seed": 11,
        "workload": {"tasks": tasks, "task": "wait", "output_size": "2 KB",
                     "duration": duration},
        "cluster": {"pools": pools}}
    if churn:
        data["churn"] = churn
    return parse_scenario(data, "zmq.yaml", REPO)


def assert_nothing_left(result: LiveResult, prefix: str) -> None:
    assert result.sessions
    deadline = time.monotonic() + 5
    while (session_members(set(result.sessions)) or processes_under(prefix)) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert session_members(set(result.sessions)) == []
    assert processes_under(prefix) == []


def check_records(result: LiveResult, s: Scenario, output_bytes: int) -> None:
    """Every task done exactly once, each attempt where and when it could have been."""
    tasks = s.workload.tasks
    m = result.metrics
    assert set(m) == set(METRICS)
    assert result.failure is None and m["tasks_completed"] == tasks and m["job_failed"] == 0
    assert m["task_attempts"] == len(result.attempts)
    done = [a for a in result.attempts if a.outcome == "done"]
    assert sorted(a.task for a in done) == list(range(tasks))
    cores = {row["id"]: row["cores"] for row in result.nodes}
    tries: dict[int, list[int]] = {}
    for a in sorted(result.attempts, key=lambda a: a.start_s):
        assert a.node in cores and 0 <= a.slot < cores[a.node]
        assert 0 <= a.start_s <= a.end_s <= m["makespan_s"] + 0.05
        tries.setdefault(a.task, []).append(a.attempt)
    assert all(t == list(range(1, len(t) + 1)) for t in tries.values())
    # No slot runs two attempts at once.
    by_slot: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for a in result.attempts:
        by_slot.setdefault((a.node, a.slot), []).append((a.start_s, a.end_s))
    for spans in by_slot.values():
        spans.sort()
        assert all(b[0] >= a[1] - 1e-6 for a, b in zip(spans, spans[1:], strict=False))
    durations = task_durations(s, 0)
    for a in done:
        d = a.detail
        assert durations[a.task] - CLOCKS_S <= d["task_total_s"] <= (durations[a.task]
                                                                     + OVERSLEEP_S)
        assert d["task_total_s"] <= d["execute_s"] + CLOCKS_S
        assert d["execute_s"] <= a.end_s - a.start_s + CLOCKS_S
        assert d["dispatch_s"] >= 0 and d["return_s"] >= 0 and d["overhead_s"] >= 0
        assert d["bytes_out"] == d["bytes_received"] == output_bytes
    assert 0 < m["compute_utilization"] <= m["held_utilization"] <= 1.0


# --------------------------------------------------------------------------- runs

def test_small_bag_on_three_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    s = wait_scenario([{"name": "h", "count": 3, "cores": 2}], tasks=30,
                      duration={"dist": "lognormal", "mean": "30ms", "cv": 0.3})
    keep = tmp_path / "keep"
    result = run_live(s, "zmq", 0, TIMEOUT_S, keep_dir=keep)
    check_records(result, s, 2000)
    assert all(a.outcome == "done" for a in result.attempts)
    assert {a.node for a in result.attempts} <= {0, 1, 2}
    summary = result.details["coordinator_summary"]
    assert summary["done"] == 30 and summary["workers_joined"] == 3
    assert summary["workers_lost"] == 0
    # The journal is the coordinator's record: one dispatch and one result per attempt.
    journal = [json.loads(line) for line in
               next(keep.glob("zmq-r0-*/journal.jsonl")).read_text().splitlines()]
    events = [r["event"] for r in journal]
    assert events.count("dispatch") == events.count("result") == 30
    assert events[-1] == "summary"
    assert [r["epoch"] for r in journal] == sorted(r["epoch"] for r in journal)
    assert_nothing_left(result, str(tmp_path))


def test_the_scenarios_zmq_parameters_reach_the_coordinator(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    s = wait_scenario([{"name": "h", "count": 1}], tasks=2, duration="10ms")
    raw = dict(s.raw, platform={"type": "zmq", "zmq": {
        "heartbeat_interval": "0.25s", "heartbeat_liveness": 4, "max_retries": 1}})
    s = parse_scenario(raw, "zmq.yaml", REPO)
    result = run_live(s, "zmq", 0, TIMEOUT_S)
    want = {"heartbeat_interval_s": 0.25, "heartbeat_liveness": 4, "max_retries": 1,
            "heartbeat_timeout_s": 1.0}
    assert result.details["params"] == want
    assert result.details["coordinator_summary"]["params"] == want
    assert_nothing_left(result, str(tmp_path))


def test_killed_worker_is_found_by_heartbeat_and_its_tasks_rerun(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    # The spot node is SIGKILLed 2 s after it is ready, while its two slots run tasks of
    # about 0.6 s (drawn, so that the slots drift apart and the kill cannot fall between two
    # tasks of both; its worker joins 0.3 to 1 s after the node is ready).
    pools = [{"name": "stable", "count": 1, "cores": 2}, {"name": "spot", "count": 1, "cores": 2}]
    churn = [{"pool": "spot", "lifetime": "2s", "replace": False}]
    s = wait_scenario(pools, tasks=20, duration={"dist": "lognormal", "mean": "0.6s", "cv": 0.3},
                      churn=churn)
    result = run_live(s, "zmq", 0, TIMEOUT_S)
    check_records(result, s, 2000)
    m = result.metrics
    assert m["preemptions"] == 1 and m["wasted_core_s"] > 0
    spot = next(row for row in result.nodes if row["pool"] == "spot")
    assert spot["released_s"] == pytest.approx(spot["ready_s"] + 2, abs=0.05)
    preempted = [a for a in result.attempts if a.outcome == "preempted"]
    assert preempted and {a.node for a in preempted} == {spot["id"]}
    params = result.details["params"]
    interval, timeout = params["heartbeat_interval_s"], params["heartbeat_timeout_s"]
    for a in preempted:
        # Found by silence: after the timeout less one interval (the last heartbeat may
        # predate the kill by that much), within the timeout and one interval of checks.
        assert timeout - interval <= a.detail["detect_s"] <= timeout + interval + 0.5
        # The attempt ended with its node (one dispatched to the dead worker before it was
        # found ends where it started); its task was queued again only once found.
        assert a.end_s == pytest.approx(max(spot["released_s"], a.start_s), abs=0.05)
        rerun = [b for b in result.attempts if b.task == a.task and b.attempt > a.attempt]
        assert rerun and rerun[-1].outcome == "done" and rerun[-1].node != spot["id"]
        # detect_s counts from the kill: an attempt dispatched to the dead worker after the
        # kill ends later than the kill, so the give-up is kill + detect_s, not end + detect_s.
        assert rerun[0].start_s >= spot["released_s"] + a.detail["detect_s"] - 0.05
    # Nothing ran on the spot node after it was killed.
    assert all(a.outcome == "preempted" and a.end_s == a.start_s for a in result.attempts
               if a.node == spot["id"] and a.start_s >= spot["released_s"])
    losses = result.details["worker_losses"]
    assert [loss["node"] for loss in losses] == [spot["id"]]
    assert_nothing_left(result, str(tmp_path))


def test_zfp_task_runs_with_each_tasks_seed(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    profile = tmp_path / "prof.json"
    synthetic_profile(profile)
    s = parse_scenario({
        "name": "zfp", "seed": 5,
        "workload": {"tasks": 4, "duration": {"dist": "profile", "n": 200_000,
                                              "tolerance": 1e-3, "profile": str(profile)}},
        "cluster": {"pools": [{"name": "h", "count": 2}]}}, "zfp.yaml", REPO)
    keep = tmp_path / "keep"
    result = run_live(s, "zmq", 0, TIMEOUT_S, keep_dir=keep)
    assert result.metrics["tasks_completed"] == 4
    outputs = {p.name: p.read_bytes() for p in keep.glob("zmq-r0-*/out/*.out")}
    assert sorted(outputs) == [f"{i}.out" for i in range(4)]
    # Task i compresses the data of seed 1 + i: four different streams, each as reported.
    assert len(set(outputs.values())) == 4
    for a in result.attempts:
        assert len(outputs[f"{a.task}.out"]) == a.detail["bytes_out"] == a.detail[
            "bytes_received"]
    assert_nothing_left(result, str(tmp_path))


# --------------------------------------------------------------------------- the coordinator

def test_coordinator_drops_strangers_fails_a_task_out_of_retries_takes_a_worker_back(
        tmp_path: Path) -> None:
    from schedsim.live.zmq import protocol as p
    from schedsim.live.zmq.coordinator import Coordinator

    config = {"tasks": [["--seconds", "0"]], "out_dir": None, "journal": "",
              "params": {"heartbeat_interval_s": 0.05, "heartbeat_liveness": 2,
                         "max_retries": 1}}
    journal_path = tmp_path / "journal.jsonl"
    with journal_path.open("a") as journal:
        coord = Coordinator(config, journal, "secret")
        serving = threading.Thread(target=coord.serve)
        serving.start()
        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.IDENTITY, p.identity(7))
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(coord.endpoint)
        seen: list[str] = []

        def take(kind: str) -> dict[str, Any]:
            while True:
                assert sock.poll(5000), f"no {kind} from the coordinator"
                msg = p.decode(sock.recv())
                seen.append(str(msg["type"]))
                if msg["type"] == kind:
                    return msg

        try:
            # Without the run's token, or not understood: dropped, unanswered.
            sock.send(p.encode(p.HELLO, node=7, slots=1, token="guess"))
            sock.send(p.encode(p.HELLO, slots="one", token="secret"))
            assert not sock.poll(300)
            for attempt in (1, 2):  # take the task, then fall silent until given up
                sock.send(p.encode(p.HELLO, node=7, slots=1, token="secret"))
                sock.send(p.encode(p.READY, slot=0, token="secret"))
                task = take(p.TASK)
                assert task["task"] == 0 and task["attempt"] == attempt
                assert task["args"] == ["--seconds", "0"]
                time.sleep(0.25)
                if attempt == 1:
                    # Too late: it must register again.
                    sock.send(p.encode(p.HEARTBEAT, token="secret"))
                    take(p.RECONNECT)
            serving.join(timeout=5)
            assert not serving.is_alive()
        finally:
            sock.close(0)
            ctx.term()
            coord.close()
    records = [json.loads(line) for line in journal_path.read_text().splitlines()]
    preempted = [r for r in records if r["event"] == "preempted"]
    assert [(r["attempt"], r["requeued"]) for r in preempted] == [(1, True), (2, False)]
    assert records[-1]["event"] == "summary"
    assert records[-1]["done"] == 0 and records[-1]["failed"] == 1
    assert records[-1]["workers_joined"] == 2 and records[-1]["workers_lost"] == 2
    assert records[-1]["refused"] == 2


# --------------------------------------------------------------------------- refusals, Ctrl-C

def test_more_slots_than_the_host_holds_is_one_line() -> None:
    huge = wait_scenario([{"name": "h", "count": 100_000, "cores": 100}], tasks=1,
                         duration={"dist": "constant", "mean": "1s"})
    with pytest.raises(InputError) as err:
        check_live_scenario(huge, "zmq")
    text = str(err.value)
    assert "cluster.pools" in text and "live zmq run of the wait task here" in text
    assert "got 10000000" in text and "\n" not in text


def cli_scenario(tmp_path: Path, tasks: int, mean: str, count: int = 2) -> Path:
    scen = tmp_path / "s.yaml"
    scen.write_text(yaml.safe_dump({
        "name": "s", "workload": {"tasks": tasks, "task": "wait",
                                  "duration": {"dist": "constant", "mean": mean}},
        "cluster": {"pools": [{"name": "h", "count": count}]}}))
    return scen


def test_cli_refuses_a_host_too_small_in_one_line(tmp_path: Path) -> None:
    scen = cli_scenario(tmp_path, 2, "10ms")
    proc = subprocess.run([sys.executable, "-m", "schedsim", "live", str(scen), "--platform",
                           "zmq", "--set", "cluster.pools.0.count=100000000"],
                          capture_output=True, text=True, cwd=REPO, timeout=TIMEOUT_S)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "cluster.pools: expected at most" in proc.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_or_killed_cli_leaves_nothing(tmp_path: Path, sig: int,
                                                  live_cli_running: StartLive) -> None:
    """Ctrl-C: the run kills what it started; SIGKILL: parent-death signals do."""
    proc, tmp = live_cli_running(cli_scenario(tmp_path, 40, "5s"), "zmq", "wait_task")
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=30)
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        assert err.strip().splitlines()[-1] == "schedsim: interrupted"
    deadline = time.monotonic() + 2
    while processes_under(tmp) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_under(tmp) == []
