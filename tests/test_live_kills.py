"""Live node losses with a notice: SIGTERM to the node's platform processes at the notice,
SIGKILL to what is left at the end (docs/live.md, Kills).

Small runs of the waiting task (two nodes of two slots, tasks of 1.5 s), one per platform: the
signals are recorded, the platform sees the node leave at the SIGTERM, well before the end,
no attempt starts there after it, every task completes and nothing is left; a notice due as
the node starts reaches the workers started after it. A notice with
``on_notice: shutdown`` is no longer among the ignored keys; ``drain`` still is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schedsim.live import LiveResult, run_live
from schedsim.live.run import ignored_keys
from schedsim.loading import parse_scenario
from schedsim.scenario import Scenario

from .conftest import REPO
from .test_live_scale import assert_nothing_left, ray_installed  # noqa: F401 - a fixture

TIMEOUT_S = 120.0
SPOT = 1  # node id of the spot node (the stable pool's node is 0)


def notice_scenario(*, tasks: int, lifetime: str, notice: str, on_notice: str = "shutdown",
                    boot: str = "0s") -> Scenario:
    data: dict[str, Any] = {
        "name": "notice-test", "seed": 3,
        "workload": {"tasks": tasks, "task": "wait", "output_size": "1 KB",
                     "duration": {"dist": "constant", "mean": "1.5s"}},
        "cluster": {"pools": [{"name": "stable", "count": 1, "cores": 2},
                              {"name": "spot", "count": 1, "cores": 2, "boot_time": boot}]},
        "churn": [{"pool": "spot", "lifetime": lifetime, "notice": notice,
                   "on_notice": on_notice, "replace": False}]}
    return parse_scenario(data, "notice.yaml", REPO)



def run_noticed(platform: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                **kw: Any) -> LiveResult:
    """A live run of :func:`notice_scenario`, its temporary files under ``tmp_path``."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    return run_live(notice_scenario(**kw), platform, 0, TIMEOUT_S)

def test_a_notice_is_honoured_but_drain_is_named_ignored() -> None:
    shutdown = notice_scenario(tasks=1, lifetime="7s", notice="5s")
    assert ignored_keys(shutdown) == []
    drain = notice_scenario(tasks=1, lifetime="7s", notice="5s", on_notice="drain")
    assert ignored_keys(drain) == [
        "churn[0].on_notice: drain (no drain glue live: as shutdown, the node's processes get "
        "SIGTERM at the notice and SIGKILL at its end)"]
    # A runner with no clean stop (Ray with the zfp task, ZeroMQ) says the notice is ignored.
    assert ignored_keys(shutdown, honours_notice=False)[0].startswith("churn[0].notice (")


def check_kills(result: LiveResult, term_at: float, end_at: float) -> float:
    """The SIGTERM at the notice, then the SIGKILL at the end; returns the SIGTERM's time."""
    kills = result.details["kills"]
    assert [(k["node"], k["signal"]) for k in kills] == [(SPOT, "SIGTERM"), (SPOT, "SIGKILL")]
    term, kill = kills
    assert term["at_s"] == pytest.approx(term_at, abs=0.3) and term["processes"] >= 1
    assert kill["at_s"] == pytest.approx(end_at, abs=0.3)
    assert result.details["ignored"] == []
    m = result.metrics
    assert result.failure is None and m["tasks_completed"] == len(
        {a.task for a in result.attempts}) and m["tasks_failed"] == 0
    assert m["preemptions"] == 1
    return float(term["at_s"])


def test_workqueue_workers_get_sigterm_at_the_notice_and_leave_before_the_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_noticed("workqueue", tmp_path, monkeypatch, tasks=12, lifetime="7s", notice="5s")
    term = check_kills(result, 2.0, 7.0)
    assert result.details["kills"][0]["processes"] == 2  # the node's two workers
    # The workers shut down by themselves: nothing of the node was left for the SIGKILL.
    assert result.details["kills"][1]["processes"] == 0
    spot = [a for a in result.attempts if a.node == SPOT]
    assert all(a.start_s <= term for a in spot)
    # The manager saw both workers leave (their running tasks back to WAITING) soon after the
    # SIGTERM: at most 3 s later (work_queue_process_kill's wait), long before the end at 7 s.
    preempted = [a for a in spot if a.outcome == "preempted"]
    assert len(preempted) == 2
    assert all(term < a.end_s <= term + 3.5 for a in preempted)
    assert result.details["manager_summary"]["workers_lost"] == 2
    assert_nothing_left(result, str(tmp_path))


def test_a_notice_due_as_the_node_starts_reaches_the_workers_started_after_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The node is ready at 1 s with 2 s to live and a 5 s notice: the notice comes at once,
    # before its shell has started the workers; each gets SIGTERM once the run finds it.
    result = run_noticed("workqueue", tmp_path, monkeypatch, tasks=6, lifetime="2s",
                         notice="5s", boot="1s")
    kills = result.details["kills"]
    terms = [k for k in kills if k["signal"] == "SIGTERM"]
    assert {k["node"] for k in kills} == {SPOT} and kills[-1]["signal"] == "SIGKILL"
    assert sum(k["processes"] for k in terms) == 2
    assert all(1.0 - 0.05 <= k["at_s"] <= 1.5 for k in terms)
    assert kills[-1]["at_s"] == pytest.approx(3.0, abs=0.3)
    assert result.failure is None and result.metrics["tasks_completed"] == 6
    assert all(a.end_s <= 3.0 + 0.1 for a in result.attempts if a.node == SPOT)
    assert_nothing_left(result, str(tmp_path))


@pytest.mark.usefixtures("ray_installed")
def test_ray_raylet_gets_sigterm_at_the_notice_and_its_attempts_end_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_noticed("ray", tmp_path, monkeypatch, tasks=12, lifetime="8s", notice="4s")
    term = check_kills(result, 4.0, 8.0)
    assert result.details["kills"][0]["processes"] == 1  # the node's raylet
    raylet = result.details["raylets"][SPOT]
    assert raylet["node"] == SPOT and raylet["sigterm_s"] == pytest.approx(term, abs=0.05)
    assert raylet["lost_s"] == pytest.approx(8.0, abs=0.3)
    spot = [a for a in result.attempts if a.node == SPOT]
    # No attempt starts on the node after its raylet got SIGTERM, and the ones running end
    # with it (their workers exit with the raylet), not at the SIGKILL 4 s later.
    assert all(a.start_s <= term + 0.05 for a in spot)
    assert all(a.end_s <= term + 2.0 for a in spot)
    assert all(a.outcome in ("done", "preempted") for a in result.attempts)
    assert_nothing_left(result, result.details["ray_dir"])
    assert_nothing_left(result, str(tmp_path))
