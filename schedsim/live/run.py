"""One live replication: a scenario run for real on this host, measured like a simulated one.

The run reuses the simulator's own node lifecycle. A real-time SimPy environment
(:class:`~schedsim.model.engine.RealtimeEngine`, one simulated second per wall-clock second)
drives the same :class:`~schedsim.model.cluster.Cluster`
and :class:`~schedsim.model.churn.Churn` as ``schedsim run``, with the same named random
streams (``boot/<pool>``, ``lifetime/<pool>``, ...), so replication ``r`` of a scenario loses
its nodes at the same moments live as in the simulator. The difference is what a node is: a
live platform (:mod:`schedsim.live.workqueue`, :mod:`schedsim.live.ray`,
:mod:`schedsim.live.zmq`; by name in :data:`LIVE_PLATFORMS`) starts real processes
when a node becomes ready and kills them when the node is gone: with a reclaim notice, SIGTERM
to the node's processes at the notice (``end - notice``) and SIGKILL to what is left at the
end; with none, SIGKILL at the end (an abrupt loss). Time 0 is the moment the
platform has its tasks submitted (the manager listening, the Ray driver connected); the
platform's own start-up (``ray.init``) is measured but not counted.

A watcher polls the platform every few milliseconds and ends the run when every task has
finished or failed, when the scenario's horizon passes, or when no node is left and none will
come (a stalled job). A run that does none of these within ``timeout_s`` raises
:class:`LiveRunError`. Whatever happens, every process the run started is killed
(:class:`~schedsim.live.processes.Sessions`) before :func:`run_live` returns or raises.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import simpy

from schedsim.distributions import Draws, ProfileDuration
from schedsim.errors import InputError
from schedsim.live.base import (
    NATIVE_DIR,
    RAY_PREFIX,
    RAY_TMP,
    WORK_PREFIX,
    LiveAttempt,
    LiveContext,
    LivePlatform,
    LiveRunError,
    LiveTask,
)
from schedsim.live.limits import SlotLimit, wait_limit, zfp_limit
from schedsim.live.processes import Sessions, sigterm_as_interrupt
from schedsim.live.ray import RayLive
from schedsim.live.ray_nodes import RayNodesLive
from schedsim.live.workqueue import WorkQueueLive
from schedsim.live.zmq.runner import ZmqLive
from schedsim.metrics import AttemptLog, Outcome
from schedsim.model.churn import Churn
from schedsim.model.cluster import Cluster, Node
from schedsim.model.engine import RealtimeEngine
from schedsim.rng import Streams
from schedsim.scenario import DRAIN, WAIT_TASK, ZFP_TASK, Scenario

POLL_S = 0.005  # how often the watcher looks at the platform's output
# The live platforms: name -> the class that runs a task kind (workload.task) there.
LIVE_PLATFORMS: dict[str, Callable[[str], type[LivePlatform]]] = {
    "workqueue": lambda kind: WorkQueueLive,
    # The waiting task gets a raylet per node; zfp keeps one raylet with emulated nodes.
    "ray": lambda kind: RayNodesLive if kind == WAIT_TASK else RayLive,
    "zmq": lambda kind: ZmqLive,
}
TASK_BINARIES = {ZFP_TASK: "compress_task", WAIT_TASK: "wait_task"}


@dataclass
class LiveResult:
    """What one live replication measured."""

    scenario: str
    platform: str
    replication: int
    metrics: dict[str, float]
    failure: str | None
    failure_kind: str | None  # horizon | stalled when the job failed (metrics.FAILURE_KINDS)
    attempts: list[LiveAttempt]
    details: dict[str, Any]  # platform measurements (dispatch span, ray.init time, ...)
    nodes: list[dict[str, Any]]  # id, pool, launched_s, ready_s, released_s
    sessions: list[int]  # ids of the sessions the run started (all ended now)
    t0_epoch: float  # wall-clock time (Unix epoch, s) of time 0

    def attempt_log(self) -> AttemptLog:
        """The attempts as the simulator's per-attempt log (for CSV and trace outputs)."""
        log = AttemptLog()
        for a in sorted(self.attempts, key=lambda a: (a.start_s, a.task)):
            log.add(a.task, a.node, a.slot, a.start_s, a.end_s, Outcome[a.outcome.upper()])
        return log


# --------------------------------------------------------------------------- checks


def host_slot_limit(scenario: Scenario, platform: str) -> SlotLimit:
    """The most slots ``scenario`` may have at once on ``platform`` here (docs/live.md)."""
    if scenario.workload.task == ZFP_TASK:
        return zfp_limit()
    cores = min((p.cores for p in scenario.cluster.pools), default=1)
    return wait_limit(platform, cores)


def check_live_scenario(scenario: Scenario, platform: str) -> LiveTask:
    """Refuse (one InputError line) what cannot be run for real on this host."""
    if platform not in LIVE_PLATFORMS:
        raise InputError("--platform", "", " | ".join(LIVE_PLATFORMS), platform)
    wl = scenario.workload
    dist = wl.duration
    if wl.task == ZFP_TASK and not isinstance(dist, ProfileDuration):
        raise InputError(scenario.source, "workload.duration",
                         "{dist: profile, n: N, tolerance: T} for a live run of the zfp task "
                         "(it runs the real task, so it needs its n and tolerance; "
                         "workload.task: wait takes any distribution)",
                         dist.describe().get("dist"))
    slots = scenario.cluster.initial_cores
    limit = host_slot_limit(scenario, platform)
    if slots > limit.slots:
        raise InputError(scenario.source, "cluster.pools",
                         f"at most {limit.slots} slots (pool count x cores) for a live "
                         f"{platform} run of the {wl.task} task here ({limit.why})", slots)
    for i, churn in enumerate(scenario.churn):
        launches = sum(1 for e in churn.trace if e.event == "launch")
        extra = launches * scenario.cluster.pool(churn.pool).cores
        if extra and slots + extra > limit.slots:
            raise InputError(scenario.source, f"churn[{i}].trace",
                             f"launch events that keep the run within {limit.slots} slots",
                             slots + extra)
    if wl.task == WAIT_TASK:
        return LiveTask(kind=WAIT_TASK, output_size=round(wl.output_size))
    assert isinstance(dist, ProfileDuration)
    return LiveTask(kind=ZFP_TASK, n=dist.n, tolerance=dist.tolerance)


def task_durations(scenario: Scenario, replication: int) -> tuple[float, ...]:
    """Task i's duration in replication ``replication``: the simulator's own draw."""
    draws = Draws(scenario.workload.duration, Streams(scenario.seed, replication).get("durations"))
    return tuple(draws.next() for _ in range(scenario.workload.tasks))


def find_task_binary(kind: str) -> Path:
    exe = NATIVE_DIR / TASK_BINARIES[kind]
    if not os.access(exe, os.X_OK):
        raise LiveRunError(f"{exe} is not built; run scripts/install_native.sh")
    return exe


def require_tools(platforms: tuple[str, ...] = tuple(LIVE_PLATFORMS)) -> None:
    """What live runs on ``platforms`` need, checked before any starts (a study of many runs
    fails at once, not after its first platform's runs): LiveRunError naming what is missing."""
    find_task_binary(ZFP_TASK)  # validation and calibration run the zfp task
    if "workqueue" in platforms:
        if not os.access(NATIVE_DIR / "wq_manager", os.X_OK):
            raise LiveRunError(f"{NATIVE_DIR / 'wq_manager'} is not built; run "
                               "scripts/install_native.sh")
        if not shutil.which("work_queue_worker"):
            raise LiveRunError("work_queue_worker is not on PATH; install coop-computing-tools "
                               "(scripts/install_native.sh)")
    if "ray" in platforms and not _importable("ray"):
        raise LiveRunError("ray is not installed; python3 -m pip install ray "
                           "(or pip install -e .[live])")
    if "zmq" in platforms and not _importable("zmq"):
        raise LiveRunError("pyzmq is not installed; python3 -m pip install pyzmq "
                           "(or pip install -e .[live])")


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def ignored_keys(scenario: Scenario, honours_notice: bool = True) -> list[str]:
    """Scenario keys a live run cannot honour (it says so in its summary); ``honours_notice``:
    the platform's runner sends SIGTERM at a notice (LivePlatform.honours_notice)."""
    out = []
    if scenario.network is not None:
        out.append("network (the loopback interface is the network)")
    wl = scenario.workload
    if wl.task == WAIT_TASK:
        if wl.input_size:
            out.append("workload.input_size (the waiting task reads no input)")
    elif wl.input_size or wl.output_size:
        out.append("workload.input_size/output_size (the real task's files move)")
    for i, c in enumerate(scenario.churn):
        if c.notice <= 0:
            continue
        if not honours_notice:
            out.append(f"churn[{i}].notice (this runner has no clean stop: nodes are killed "
                       "with SIGKILL at the end of the notice)")
        elif c.on_notice == DRAIN:
            out.append(f"churn[{i}].on_notice: drain (no drain glue live: as shutdown, the "
                       "node's processes get SIGTERM at the notice and SIGKILL at its end)")
    return out


def remove_stale_folders() -> list[Path]:
    """Remove the temporary folders of live runs that died without cleaning up (SIGKILL):
    this user's folders whose run (the pid in their name) is no longer alive. Returns them."""
    places = {(Path(tempfile.gettempdir()), WORK_PREFIX), (RAY_TMP, RAY_PREFIX)}
    removed = []
    for where, prefix in sorted(places):
        try:
            entries = list(where.glob(prefix + "*"))
        except OSError:
            continue
        for path in entries:
            owner = path.name[len(prefix):].partition("-")[0]
            if not owner.isdigit() or _alive(int(owner)):
                continue
            try:
                info = path.lstat()
            except OSError:
                continue
            if info.st_uid == os.getuid() and stat.S_ISDIR(info.st_mode):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


# --------------------------------------------------------------------------- the run


def run_live(scenario: Scenario, platform: str, replication: int = 0,
             timeout_s: float = 600.0, keep_dir: Path | None = None) -> LiveResult:
    """Run one replication of ``scenario`` for real on ``platform`` (a key of LIVE_PLATFORMS).

    ``keep_dir``: keep the run's working files (logs, outputs, raw platform output) there;
    by default they go to a temporary folder that is removed afterwards.
    """
    task = check_live_scenario(scenario, platform)
    if not 0 < timeout_s < math.inf:
        raise InputError("--timeout", "", "a finite number of seconds > 0", timeout_s)
    exe = find_task_binary(task.kind)
    if task.kind == WAIT_TASK:
        task = dataclasses.replace(task, durations=task_durations(scenario, replication))
    if keep_dir is not None:
        keep_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"{platform}-r{replication}-", dir=keep_dir))
    else:
        remove_stale_folders()
        work = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-"))
    sessions = Sessions()
    ctx = LiveContext(scenario=scenario, replication=replication, task=task, work_dir=work,
                      sessions=sessions, timeout_s=timeout_s, task_binary=exe)
    live = LIVE_PLATFORMS[platform](task.kind)(ctx)
    deadline = time.monotonic() + timeout_s
    try:
        return _run_and_clean(ctx, live, platform, deadline)
    except LiveRunError as exc:
        exc.sessions = list(sessions.started)
        raise
    finally:
        if keep_dir is None:
            shutil.rmtree(work, ignore_errors=True)


def _run_and_clean(ctx: LiveContext, live: LivePlatform, platform: str,
                   deadline: float) -> LiveResult:
    sessions = ctx.sessions
    with sigterm_as_interrupt():
        try:
            return _run(ctx, live, platform, deadline)
        finally:
            try:
                live.stop()
            finally:
                try:
                    sessions.close()
                except RuntimeError as exc:
                    raise LiveRunError(str(exc)) from None
                finally:
                    live.cleanup()


def _run(ctx: LiveContext, live: LivePlatform, platform: str, deadline: float) -> LiveResult:
    scenario = ctx.scenario
    live.start(deadline)
    env = RealtimeEngine()
    ctx.env = env
    streams = Streams(scenario.seed, ctx.replication)
    cluster = Cluster(env, scenario.cluster, streams)
    churn = Churn(env, cluster, scenario.churn, streams)
    cluster.on_ready.append(live.node_ready)
    # As in schedsim.simulation: the churn model hears of a ready node after the platform.
    cluster.on_ready.append(churn.node_ready)
    cluster.on_gone.append(live.node_lost)
    if live.honours_notice:
        cluster.on_notice.append(live.node_notice)
    nodes: list[Node] = []
    cluster.on_ready.append(nodes.append)
    ctx.t0_epoch = time.time()
    env.sync()
    cluster.start()
    churn.start()
    done = env.event()
    state: dict[str, Any] = {"failure": None, "kind": None, "end": None}
    env.process(_watch(ctx, env, cluster, live, deadline, done, state))
    env.run(until=done)
    if state["failure"] is None:
        end = live.last_end_s
    else:
        end = float(state["end"])
    end = max(end, 1e-9)
    attempts = live.attempts(end)
    metrics = _measure(scenario, live, cluster, churn, attempts, end, state["failure"],
                       state["kind"])
    node_rows = [{"id": n.id, "pool": n.pool, "cores": n.cores, "launched_s": n.launched_at,
                  "ready_s": n.ready_at, "released_s": n.released_at} for n in nodes]
    details = live.details()
    details["ignored"] = ignored_keys(scenario, live.honours_notice)
    details["kills"] = live.kills
    return LiveResult(scenario=scenario.name, platform=platform, replication=ctx.replication,
                      metrics=metrics, failure=state["failure"],
                      failure_kind=state["kind"], attempts=attempts,
                      details=details, nodes=node_rows, sessions=list(ctx.sessions.started),
                      t0_epoch=ctx.t0_epoch)


def _watch(ctx: LiveContext, env: simpy.Environment, cluster: Cluster, live: LivePlatform,
           deadline: float, done: simpy.Event, state: dict[str, Any],
           ) -> Generator[simpy.Event, Any, None]:
    scenario = ctx.scenario
    while True:
        live.poll()
        if live.finished:
            break
        now = ctx.now()
        if scenario.horizon is not None and now >= scenario.horizon:
            state["failure"] = f"horizon of {scenario.horizon:g} s reached"
            state["kind"] = "horizon"
            state["end"] = scenario.horizon
            break
        if not cluster.live_nodes() and env.peek() == math.inf:
            unfinished = scenario.workload.tasks - live.completed - live.failed
            state["failure"] = (f"stalled at {now:g} s: no node left to run {unfinished} "
                                "unfinished tasks")
            state["kind"] = "stalled"
            state["end"] = now
            break
        if time.monotonic() > deadline:
            raise LiveRunError(
                f"live {live.name} run of '{scenario.name}' (replication {ctx.replication}) "
                f"timed out after {ctx.timeout_s:g} s with {live.completed} of "
                f"{scenario.workload.tasks} tasks done; every process it started was killed")
        # From the wall clock, not from the poll's own simulated time: polls slower than POLL_S
        # (a loaded host) would otherwise fall further behind each time, and the node
        # losses queued behind them with them.
        yield env.timeout(max(0.0, ctx.now() - env.now) + POLL_S)
    done.succeed()


def _measure(scenario: Scenario, live: LivePlatform, cluster: Cluster, churn: Churn,
             attempts: list[LiveAttempt], end: float, failure: str | None,
             kind: str | None) -> dict[str, float]:
    """The simulator's metrics (schedsim.metrics.METRICS), from what the run measured."""
    completed = live.completed
    failed = scenario.workload.tasks - completed
    held = math.fsum(max(0.0, min(a.end_s, end) - max(a.start_s, 0.0)) for a in attempts)
    computed = math.fsum(_run_time(a, end) for a in attempts)
    wasted = math.fsum(max(0.0, a.end_s - a.start_s) for a in attempts if a.outcome != "done")
    cost = cluster.cost(end)
    ready_core_s = cluster.ready_core_seconds(end)
    return {
        "makespan_s": end,
        "throughput_tasks_per_s": completed / end if end > 0 else 0.0,
        "tasks_completed": float(completed),
        "tasks_failed": float(failed),
        "task_attempts": float(len(attempts)),
        "preemptions": float(churn.preemptions),
        "nodes_launched": float(cluster.nodes_launched),
        "wasted_core_s": wasted,
        "cost_usd": cost,
        "cost_per_1k_tasks_usd": 1000.0 * cost / completed if completed else float("nan"),
        "compute_utilization": computed / ready_core_s if ready_core_s > 0 else 0.0,
        "held_utilization": held / ready_core_s if ready_core_s > 0 else 0.0,
        "job_failed": 1.0 if failure else 0.0,
        # A live run has no retry limit of its own and no horizon: what failed, failed.
        "tasks_out_of_retries": float(failed) if not failure else 0.0,
        "bag_completed": 1.0 if completed == scenario.workload.tasks else 0.0,
        "job_lost_manager": 0.0,
        "job_hit_horizon": 1.0 if kind == "horizon" else 0.0,
    }


def _run_time(a: LiveAttempt, end: float) -> float:
    """Seconds the attempt's process ran, as the platform measured it (Work Queue's execute
    time, the Ray task's process time); an attempt cut short has no such measure: its span."""
    measured = a.detail.get("execute_s", a.detail.get("process_s"))
    if measured is not None:
        return max(0.0, float(measured))
    return max(0.0, min(a.end_s, end) - max(a.start_s, 0.0))
