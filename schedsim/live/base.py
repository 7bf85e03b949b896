"""What every live platform shares: the context it is handed, its interface, its records.

:mod:`schedsim.live.run` drives a replication and picks the platform
(:mod:`schedsim.live.workqueue`, :mod:`schedsim.live.ray`, :mod:`schedsim.live.ray_nodes`);
the platforms build on this module only, so they never import the run that drives them.
Here: the :class:`LivePlatform` interface and the :class:`LiveContext` it receives, the task a
run executes (:class:`LiveTask`), one attempt as measured (:class:`LiveAttempt`), the error of
a run that could not be carried out (:class:`LiveRunError`) and where a run finds the native
programs and keeps its temporary folders.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import simpy

from schedsim.live.processes import Sessions
from schedsim.model.cluster import Node
from schedsim.native import NATIVE_DIR as NATIVE_DIR  # the live runners find it here
from schedsim.scenario import Scenario

# Temporary folders of a run are named PREFIX<pid of the run>-...; Ray's goes under /tmp,
# where the paths of its sockets stay short (see schedsim.live.ray).
WORK_PREFIX = "schedsim-live-"
RAY_PREFIX = "schedsim-ray-"
RAY_TMP = Path("/tmp")


class LiveRunError(Exception):
    """A live run could not be carried out (missing tool, hung or crashed platform).

    Its message is one line; every process of the run has been killed when it is raised,
    and ``sessions`` lists the sessions it had started (for checks that none is left).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.sessions: list[int] = []


@dataclass(frozen=True)
class LiveAttempt:
    """One attempt of one task, in seconds since time 0 of the run."""

    task: int
    attempt: int  # 1 for the first try
    node: int  # cluster node id; -1 if unknown
    slot: int  # worker slot within the node (Work Queue) or host-wide (Ray); -1 if unknown
    start_s: float
    end_s: float
    outcome: str  # "done" | "preempted" | "failed" | "aborted"
    detail: dict[str, float] = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"task": self.task, "attempt": self.attempt, "node": self.node,
                "slot": self.slot, "start_s": self.start_s, "end_s": self.end_s,
                "outcome": self.outcome, **self.detail}


@dataclass(frozen=True)
class LiveTask:
    """The real task each task of the workload runs: zfp (``dist: profile``) or the wait."""

    kind: str  # ZFP_TASK | WAIT_TASK (workload.task)
    n: int = 0  # zfp: values per task
    tolerance: float = 0.0  # zfp: accuracy
    seed_base: int = 1  # zfp: task i compresses the data of seed seed_base + i
    output_size: int = 0  # wait: bytes each task writes, which the platform brings back
    durations: tuple[float, ...] = ()  # wait: task i waits durations[i] s (per replication)


@dataclass
class LiveContext:
    """What a live platform needs to know and may use."""

    scenario: Scenario
    replication: int
    task: LiveTask
    work_dir: Path
    sessions: Sessions
    timeout_s: float
    task_binary: Path  # compress_task or wait_task
    t0_epoch: float = 0.0  # set at time 0
    env: simpy.Environment | None = None

    def now(self) -> float:
        """Seconds since time 0 (wall clock)."""
        return time.time() - self.t0_epoch

    def rel(self, epoch_s: float) -> float:
        return epoch_s - self.t0_epoch


class LivePlatform(ABC):
    """A real scheduling platform run on this host, node by node."""

    name: ClassVar[str]
    # True if a node's reclaim notice sends its processes SIGTERM (node_notice); else the
    # notice is ignored and the node is killed (SIGKILL) at its end only.
    honours_notice: ClassVar[bool] = False

    def __init__(self, ctx: LiveContext) -> None:
        self.ctx = ctx
        self.completed = 0
        self.failed = 0
        # Every signal sent to end a node: node, signal name, when (s since time 0), processes.
        self.kills: list[dict[str, Any]] = []
        # When the last task ended for good (done, or failed out of retries), s since time 0:
        # the run's makespan, as the simulator's (time 0 to the end of the last task).
        self.last_end_s = 0.0

    @abstractmethod
    def start(self, deadline: float) -> None:
        """Start the platform and submit the tasks; return once they are submitted."""

    @abstractmethod
    def node_ready(self, node: Node) -> None:
        """A node finished booting: start its worker processes."""

    @abstractmethod
    def node_lost(self, node: Node) -> None:
        """A node is gone: kill its processes and whatever runs there."""

    def node_notice(self, node: Node) -> None:  # noqa: B027 - optional hook
        """A node got its reclaim notice (``end - notice``): a platform that honours notices
        sends the node's own processes SIGTERM, so that they shut down as they would on a
        cloud's clean shutdown; what is left gets SIGKILL at the end (node_lost)."""

    def record_kill(self, node_id: int, sig: str, processes: int,
                    at_s: float | None = None) -> None:
        """One signal sent to end a node; ``at_s`` when it was sent (default now)."""
        self.kills.append({"node": node_id, "signal": sig,
                           "at_s": self.ctx.now() if at_s is None else at_s,
                           "processes": processes})

    def kill_session(self, node_id: int, proc: Any) -> None:
        """SIGKILL a node's session and record it at the moment it was sent (the kill then
        waits for the leader, seconds on a loaded host)."""
        at_s = self.ctx.now()
        self.record_kill(node_id, "SIGKILL", self.ctx.sessions.kill(proc), at_s)

    @abstractmethod
    def poll(self) -> None:
        """Read what the platform reported since the last poll; raise LiveRunError if it died."""

    def task_ended(self, ok: bool, at_s: float) -> None:
        """A task ended for good at ``at_s`` (s since time 0): done, or failed."""
        if ok:
            self.completed += 1
        else:
            self.failed += 1
        self.last_end_s = max(self.last_end_s, at_s)

    @property
    def finished(self) -> bool:
        return self.completed + self.failed >= self.ctx.scenario.workload.tasks

    @abstractmethod
    def attempts(self, end_s: float) -> list[LiveAttempt]:
        """Every attempt, after the run (``end_s``: when the run ended)."""

    def details(self) -> dict[str, Any]:
        return {}

    def stop(self) -> None:  # noqa: B027 - optional hook
        """The run is over: let the platform's processes leave before they are killed."""

    def cleanup(self) -> None:  # noqa: B027 - optional hook
        """Every process is gone: remove what the platform left outside the work folder."""
