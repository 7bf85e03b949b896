"""The live run's watcher keeps the run's clock: a platform whose poll takes longer than the
poll interval (a loaded host) must not push the node losses queued behind it later and later.
A platform that only sleeps in its poll hears of a node loss due at 1 s within a few polls
of 1 s (it heard of it 0.4 s late when each poll was timed from the last one's simulated time).
"""

from __future__ import annotations

import time
from pathlib import Path

from schedsim.live.base import LiveAttempt, LiveContext, LivePlatform, LiveTask
from schedsim.live.processes import Sessions
from schedsim.live.run import POLL_S, _run
from schedsim.loading import parse_scenario
from schedsim.model.cluster import Node
from schedsim.scenario import WAIT_TASK

SLOW_POLL_S = 1.4 * POLL_S
LOSS_AT_S = 1.0


class SlowPoll(LivePlatform):
    """Starts nothing; each poll takes SLOW_POLL_S; done once its node is lost."""

    name = "slow"

    def __init__(self, ctx: LiveContext) -> None:
        super().__init__(ctx)
        self.lost_at: float | None = None

    def start(self, deadline: float) -> None:
        pass

    def node_ready(self, node: Node) -> None:
        pass

    def node_lost(self, node: Node) -> None:
        self.lost_at = self.ctx.now()
        self.completed = self.ctx.scenario.workload.tasks

    def poll(self) -> None:
        time.sleep(SLOW_POLL_S)

    def attempts(self, end_s: float) -> list[LiveAttempt]:
        return []


def test_a_slow_poll_does_not_delay_a_node_loss(tmp_path: Path) -> None:
    data = {"name": "watch", "workload": {"tasks": 1, "task": "wait",
                                          "duration": {"dist": "constant", "mean": "5s"}},
            "cluster": {"pools": [{"name": "spot", "count": 1}]},
            "churn": [{"pool": "spot", "lifetime": f"{LOSS_AT_S}s", "replace": False}]}
    ctx = LiveContext(scenario=parse_scenario(data, "watch.yaml"), replication=0,
                      task=LiveTask(WAIT_TASK), work_dir=tmp_path, sessions=Sessions(),
                      timeout_s=30.0, task_binary=Path("wait_task"))
    live = SlowPoll(ctx)
    _run(ctx, live, "slow", time.monotonic() + 30.0)
    assert live.lost_at is not None
    # One poll may be under way when the loss is due, and the host may be busy: 0.1 s.
    assert LOSS_AT_S <= live.lost_at <= LOSS_AT_S + 0.1
