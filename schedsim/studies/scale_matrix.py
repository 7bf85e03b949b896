"""The scale matrix: waiting-task runs where the manager or the driver, not the tasks, binds.

A point of the matrix is one platform, a number of worker slots (Work Queue: nodes of up to 10
one-core workers; Ray: raylets of up to 8 slots), a task time (lognormal, cv 0.3), an output
size the platform brings back to the manager or driver, and optionally the loss of a share of
the nodes mid-run: abruptly (their sessions killed with SIGKILL, as ``schedsim live`` loses a
node with no notice) or, with ``notice_s``, by SIGTERM that long before the end.
Each point becomes one scenario (``workload.task: wait``), the same for the live run and the
simulator, so that replication ``r`` draws the same task times and kill moments in both.

Points are split in two: ``fit`` points, on which the scale parameters of the platform models
are fitted (:mod:`schedsim.calibration.scale_fit`), and ``held_out`` points, with other worker
counts, task times, output sizes and kill shares, on which they are validated
(``schedsim validate --scale``). Every live attempt is recorded as one JSON line (the point,
the repeat, the CPUs other work kept busy just before it and the host's load average
before and after, the makespan, Work Queue's worker
connections or Ray's raylet start-up, and each attempt compactly), so that a model can be
checked against the same runs later without running them again. A point's role is read from
:data:`MATRIX`, not from the record (a role changed after runs were made applies to them).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from schedsim.errors import InputError
from schedsim.loading import parse_scenario
from schedsim.outputs import append_json_line, read_text
from schedsim.scenario import Scenario

WQ_PER_NODE = 10  # one-core workers per emulated Work Queue node (one shell session)
RAY_PER_NODE = 8  # slots per raylet
TASK_CV = 0.3
SEED = 16
BUSY_WINDOW_S = 2.0  # the window over which the host's other work is measured before a run
FIT, HELD_OUT = "fit", "held_out"


@dataclass(frozen=True)
class ScalePoint:
    """One configuration of the scale matrix."""

    label: str
    platform: str  # "workqueue" | "ray"
    workers: int  # worker slots in all
    task_s: float  # mean task time (lognormal, cv TASK_CV)
    tasks: int
    output_b: int = 0  # bytes each task writes, brought back to the manager or driver
    kill: float = 0.0  # share of the slots (whole nodes) lost mid-run
    kill_at_s: float = 0.0  # when, after the node is ready
    role: str = FIT
    # A SIGTERM kill notice_s before the node's end (its reclaim notice); 0: an abrupt SIGKILL.
    notice_s: float = 0.0

    @property
    def per_node(self) -> int:
        size = WQ_PER_NODE if self.platform == "workqueue" else RAY_PER_NODE
        return min(size, self.workers)

    @property
    def nodes(self) -> int:
        return math.ceil(self.workers / self.per_node)

    @property
    def killed_nodes(self) -> int:
        return round(self.kill * self.nodes) if self.kill > 0 else 0


def _wq(label: str, workers: int, task_s: float, tasks: int, output_b: int = 0,
        kill: float = 0.0, kill_at_s: float = 0.0, role: str = FIT,
        notice_s: float = 0.0) -> ScalePoint:
    return ScalePoint(label, "workqueue", workers, task_s, tasks, output_b, kill, kill_at_s, role,
                      notice_s)


def _ray(label: str, workers: int, task_s: float, tasks: int, output_b: int = 0,
         kill: float = 0.0, kill_at_s: float = 0.0, role: str = FIT,
         notice_s: float = 0.0) -> ScalePoint:
    return ScalePoint(label, "ray", workers, task_s, tasks, output_b, kill, kill_at_s, role,
                      notice_s)


KB, MB = 1000, 1000_000
# Chosen to bracket the mechanisms: one slot (no manager limit), short tasks (the manager's or
# driver's per-task cost binds), many slots (Work Queue's connect backlog, Ray's worker
# starts), large outputs (staging through the manager or the driver's store), kills. Each
# lasts about 10 s or more in the ideal; the held-out points differ in every dimension.
MATRIX: tuple[ScalePoint, ...] = (
    _wq("wq-1-1s", 1, 1.0, 12),
    _wq("wq-20-10ms", 20, 0.01, 3000),
    _wq("wq-50-200ms-1MB", 50, 0.2, 2500, 1 * MB),
    _wq("wq-100-1s", 100, 1.0, 1000, 10 * KB),
    _wq("wq-200-2s", 200, 2.0, 1000, 10 * KB),
    _wq("wq-100-1s-kill20", 100, 1.0, 1000, 10 * KB, kill=0.2, kill_at_s=4.0),
    _ray("ray-1-1s", 1, 1.0, 12),
    _ray("ray-16-10ms", 16, 0.01, 2000),
    _ray("ray-16-1s-1MB", 16, 1.0, 160, 1 * MB),
    _ray("ray-32-2s", 32, 2.0, 160, 10 * KB),
    _ray("ray-32-1s-kill25", 32, 1.0, 320, 10 * KB, kill=0.25, kill_at_s=5.0),
    _ray("ray-64-1s", 64, 1.0, 640),
    # held out
    _wq("wq-60-500ms-100KB", 60, 0.5, 1200, 100 * KB, role=HELD_OUT),
    _wq("wq-150-1s", 150, 1.0, 1500, 1 * KB, role=HELD_OUT),
    _wq("wq-50-2s-10MB", 50, 2.0, 250, 10 * MB, role=HELD_OUT),
    _wq("wq-120-500ms-kill30", 120, 0.5, 2400, 10 * KB, kill=0.3, kill_at_s=3.0,
        role=HELD_OUT),
    _ray("ray-24-500ms-100KB", 24, 0.5, 480, 100 * KB, role=HELD_OUT),
    _ray("ray-40-1s", 40, 1.0, 400, role=HELD_OUT),
    _ray("ray-8-100ms", 8, 0.1, 800, role=HELD_OUT),
    _ray("ray-24-2s-10MB-kill", 24, 2.0, 120, 10 * MB, kill=0.34, kill_at_s=6.0,
         role=HELD_OUT),
    _wq("wq-250-2s", 250, 2.0, 1500, 10 * KB, role=HELD_OUT),
    _ray("ray-56-2s-100KB", 56, 2.0, 336, 100 * KB, role=HELD_OUT),
    # SIGTERM 1 s before the node's end, SIGKILL at it: clean kills, live and simulated.
    _wq("wq-80-1s-term25", 80, 1.0, 1200, 10 * KB, kill=0.25, kill_at_s=5.0, notice_s=1.0,
        role=HELD_OUT),
    _ray("ray-72-1s-term33", 72, 1.0, 720, 10 * KB, kill=0.33, kill_at_s=15.0, notice_s=1.0,
         role=HELD_OUT),
)


def points(role: str | None = None, platform: str | None = None) -> list[ScalePoint]:
    return [p for p in MATRIX if (role is None or p.role == role)
            and (platform is None or p.platform == platform)]


def point_by_label(label: str) -> ScalePoint:
    for p in MATRIX:
        if p.label == label:
            return p
    raise KeyError(label)


def scenario_for(point: ScalePoint, platform_options: dict[str, Any] | None = None,
                 replications: int = 1, host: dict[str, Any] | None = None) -> Scenario:
    """The waiting-task scenario of a point: for the live run, or with ``host`` (the
    shared host, ``cluster.host``) for the simulator.

    Task times and kill moments are the same in both. A live Work Queue node is one session
    of one-core workers, each its own connection: the simulator gets one-core nodes, as many,
    so that each connects, and is scanned, on its own. A live node loss kills the node's
    session: Work Queue's workers die with their sockets, which the manager sees at once, as
    it sees a worker that closes its connection at a reclaim notice; the simulator gets a
    1 ms notice for it (as ``schedsim validate``), the live run none (a notice live is a
    SIGTERM, which would let the workers vacate). A Ray raylet killed is found by the GCS
    health checks, a loss with no notice; the killed raylet's port refuses the checks at
    once, so no check waits for its timeout (``health_check_timeout: 0``). A point with
    ``notice_s`` > 0 gets that notice on both platforms and in both: live, SIGTERM to the
    node's workers or raylet at the notice, SIGKILL at the end (docs/live.md, Kills)."""
    per_node, scale = point.per_node, 1
    if host is not None and point.platform == "workqueue":
        per_node, scale = 1, point.per_node
    stable = (point.nodes - point.killed_nodes) * scale
    pools: list[dict[str, Any]] = []
    if stable:
        pools.append({"name": "stable", "count": stable, "cores": per_node})
    data: dict[str, Any] = {
        "name": f"scale-{point.label}", "seed": SEED, "replications": replications,
        "horizon": "600s",
        "workload": {"tasks": point.tasks, "task": "wait", "output_size": point.output_b,
                     "duration": {"dist": "lognormal", "mean": point.task_s, "cv": TASK_CV}},
        "cluster": {"pools": pools},
    }
    if point.killed_nodes:
        pools.append({"name": "spot", "count": point.killed_nodes * scale, "cores": per_node})
        churn: dict[str, Any] = {"pool": "spot", "lifetime": f"{point.kill_at_s}s",
                                 "replace": False}
        if point.notice_s > 0:
            churn["notice"] = f"{point.notice_s!r}s"
        elif point.platform == "workqueue" and host is not None:
            churn["notice"] = "1ms"
        data["churn"] = [churn]
    options = dict(platform_options or {})
    if point.platform == "workqueue":
        # A task takes one of a node's one-core workers (live: one worker process per core).
        options.setdefault("task_cores", 1)
    else:
        options.setdefault("autoscaler", False)  # a live run has no autoscaler
        options.setdefault("health_check_timeout", 0.0)
    data["platform"] = {"type": point.platform, point.platform: options}
    if host is not None:
        data["cluster"]["host"] = host
    return parse_scenario(data, f"<scale {point.label}>")


# ------------------------------------------------------------------------------ live runs


def _compact_attempts(result: Any) -> list[list[Any]]:
    """[task, node, start_s, end_s, outcome letter, task_total_s] per attempt (ms precision)."""
    out = []
    for a in sorted(result.attempts, key=lambda a: (a.start_s, a.task)):
        total = a.detail.get("task_total_s")
        out.append([a.task, a.node, round(a.start_s, 4), round(a.end_s, 4), a.outcome[0],
                    round(total, 4) if total is not None else None])
    return out


def _platform_facts(point: ScalePoint, details: dict[str, Any]) -> dict[str, Any]:
    if point.platform == "workqueue":
        summary = details.get("manager_summary", {})
        return {"workers_found": details.get("workers_found"),
                "connections_s": [round(t, 3) for t in details.get("worker_connections_s", [])],
                "manager_summary": {k: v for k, v in summary.items()
                                    if isinstance(v, (int, float))}}
    return {"init_s": details.get("init_s"),
            "raylets": [{k: r.get(k) for k in ("raylet", "start_s", "up_s", "lost_s")}
                        for r in details.get("raylets", [])]}


def _cpu_times() -> tuple[float, float]:
    """(busy, all) jiffies of every CPU since boot, from /proc/stat (Linux)."""
    fields = [float(v) for v in read_text(Path("/proc/stat"), "/proc/stat").split("\n", 1)[0]
              .split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_cpus(seconds: float = BUSY_WINDOW_S) -> float:
    """How many of the host's CPUs other work kept busy over the last ``seconds``: the
    background a run about to start shares the host with (measured, unlike the 1-minute
    load average, which still counts the processes of the run before for a minute)."""
    busy0, all0 = _cpu_times()
    time.sleep(seconds)
    busy1, all1 = _cpu_times()
    return (os.cpu_count() or 1) * (busy1 - busy0) / max(all1 - all0, 1.0)


def live_record(point: ScalePoint, repeat: int, timeout_s: float) -> dict[str, Any]:
    """One live run of a point, as a JSON-ready record (a failed run is recorded too)."""
    from schedsim.live.run import LiveRunError, run_live

    busy_before = round(busy_cpus(), 3)
    load_before = os.getloadavg()
    started = time.time()
    rec: dict[str, Any] = {"point": asdict(point), "label": point.label,
                           "platform": point.platform, "repeat": repeat,
                           "busy_cpus_before": busy_before,
                           "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                        time.gmtime(started))}
    try:
        result = run_live(scenario_for(point), point.platform, repeat, timeout_s=timeout_s)
    except LiveRunError as exc:
        rec.update(error=str(exc), wall_s=time.time() - started,
                   loadavg_before=load_before, loadavg_after=os.getloadavg())
        return rec
    rec.update(makespan_s=result.metrics["makespan_s"], failure=result.failure,
               tasks_completed=result.metrics["tasks_completed"],
               preemptions=result.metrics["preemptions"],
               kills=result.details.get("kills", []),
               t0_after_s=round(result.t0_epoch - started, 3),
               wall_s=round(time.time() - started, 3),
               loadavg_before=load_before, loadavg_after=os.getloadavg(),
               facts=_platform_facts(point, result.details),
               attempts=_compact_attempts(result))
    return rec


def run_matrix(selected: Sequence[ScalePoint], *, repeats: int, out: Path,
               timeout_s: float = 300.0, first_repeat: int = 0,
               on_step: Callable[[str], None] = lambda _s: None) -> list[dict[str, Any]]:
    """Run every point live ``repeats`` times, appending each record to ``out`` as it ends.

    Repeats are interleaved (every point once, then every point again), so that the spread
    of a point's repeats includes the drift of the host's load over the hour. They are
    numbered from ``first_repeat``: a later session adds repeats to recorded ones, repeat r
    drawing the task times of replication r, live and simulated."""
    records = []
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", encoding="utf-8") as fh:
        for repeat in range(first_repeat, first_repeat + repeats):
            for point in selected:
                rec = live_record(point, repeat, timeout_s)
                append_json_line(fh, rec, compact=True)
                records.append(rec)
                on_step(f"{point.label} r{repeat}: {rec.get('makespan_s', rec.get('error'))}")
    return records


def read_records(path: Path) -> list[dict[str, Any]]:
    """Records written by :func:`run_matrix`; one clear line when the file is not one."""
    records = []
    text = read_text(path, "a file of scale-matrix runs written by schedsim validate --scale")
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or not {"label", "platform", "repeat"} <= rec.keys():
                raise ValueError
        except ValueError:
            raise InputError(str(path), f"line {i}", "a scale-matrix run (label, platform, "
                             "repeat, makespan_s) as written by schedsim validate --scale",
                             line[:60]) from None
        records.append(rec)
    return records


def good_runs(records: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Runs that finished every task (failed runs stay in the file, counted apart)."""
    for rec in records:
        if "makespan_s" in rec and not rec.get("failure"):
            yield rec


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m schedsim.studies.scale_matrix OUT [--repeats R] [--first-repeat K]
    [--only LABEL ...]``"""
    import argparse

    ap = argparse.ArgumentParser(description="Run the scale matrix live.")
    ap.add_argument("out", type=Path)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--first-repeat", type=int, default=0)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args(argv)
    chosen = [p for p in MATRIX if not args.only or p.label in args.only]
    run_matrix(chosen, repeats=args.repeats, out=args.out, timeout_s=args.timeout,
               first_repeat=args.first_repeat, on_step=lambda s: print(s, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
