"""A live run's makespan is the simulator's: time 0 to the end of the last task, where a task
that fails out of retries ends when it fails (schedsim/metrics.py). Each live platform reads
its platform's records the same way; fed a completion and a later failure, the run ends with
the failure, not with the last completion (which made zmq's kill configuration read 1.5 s live
against 7 s simulated). No processes are started: the records are the platforms' own formats.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schedsim.live.base import LiveContext, LivePlatform, LiveTask
from schedsim.live.processes import Sessions
from schedsim.live.run import LIVE_PLATFORMS
from schedsim.loading import parse_scenario
from schedsim.scenario import WAIT_TASK

T0 = 1_000_000.0  # the run's time 0, as an epoch
DONE_S, FAILED_S = 1.0, 4.0


def live(platform: str, tmp_path: Path) -> LivePlatform:
    data = {"name": "makespan", "workload": {"tasks": 2, "task": "wait",
                                             "duration": {"dist": "constant", "mean": "1s"}},
            "cluster": {"pools": [{"name": "host", "count": 1}]}}
    ctx = LiveContext(scenario=parse_scenario(data, "makespan.yaml"), replication=0,
                      task=LiveTask(WAIT_TASK), work_dir=tmp_path, sessions=Sessions(),
                      timeout_s=60.0, task_binary=Path("wait_task"), t0_epoch=T0)
    return LIVE_PLATFORMS[platform](WAIT_TASK)(ctx)


def records(platform: str) -> list[dict[str, object]]:
    """Task 0 done at DONE_S, task 1 failed for good at FAILED_S, in the platform's words."""
    if platform == "workqueue":
        return [{"event": "task_done", "task_index": i, "ok": ok,
                 "time_when_done_us": (T0 + t) * 1e6}
                for i, ok, t in ((0, True, DONE_S), (1, False, FAILED_S))]
    if platform == "ray":
        return [{"event": "task_done", "task_index": i, "ok": ok, "received_epoch": T0 + t}
                for i, ok, t in ((0, True, DONE_S), (1, False, FAILED_S))]
    return [{"event": "result", "task": 0, "ok": True, "epoch": T0 + DONE_S},
            {"event": "preempted", "task": 1, "requeued": False, "epoch": T0 + FAILED_S}]


@pytest.mark.parametrize("platform", ["workqueue", "ray", "zmq"])
def test_a_failure_after_the_last_completion_ends_the_run(platform: str,
                                                          tmp_path: Path) -> None:
    p = live(platform, tmp_path)
    lines = [json.dumps(r) for r in records(platform)]
    if platform == "zmq":
        (tmp_path / "journal.jsonl").write_text("\n".join(lines) + "\n")
        p._read()  # type: ignore[attr-defined]
    else:
        p._handle(lines)  # type: ignore[attr-defined]
    assert (p.completed, p.failed) == (1, 1)
    assert p.last_end_s == pytest.approx(FAILED_S)
    assert p.finished or platform == "zmq"  # zmq's run ends with its coordinator's summary
