"""ZeroMQ for real: the live platform ``zmq`` (:class:`ZmqLive`).

The coordinator (:mod:`schedsim.live.zmq.coordinator`) is a session of its own holding the
whole bag; time 0 is when it listens. A node of the scenario is one worker process
(:mod:`schedsim.live.zmq.worker`) with ``cores`` slots in a session of its own, started when
the node is ready; a node loss is SIGKILL to that session, worker and tasks together. Nothing
tells the coordinator: it finds out when the worker's heartbeats stop, after the heartbeat
timeout, and requeues the worker's tasks, as it would for a machine that vanished.

Attempts come from the coordinator's journal: ``dispatch`` opens one (its start), ``result``
closes it (done or failed, with the worker's timing of the task's process), ``preempted``
closes it when the worker was given up (its end is the node's kill, when the run killed it;
``detect_s`` says how long after the kill the coordinator gave the worker up).
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from schedsim.live.base import LiveAttempt, LiveContext, LivePlatform, LiveRunError
from schedsim.live.processes import OutputLines
from schedsim.live.zmq.protocol import TOKEN_ENV, Params
from schedsim.model.cluster import Node
from schedsim.native import PACKAGE_HOME
from schedsim.platforms.zmq.config import ZmqConfig
from schedsim.scenario import WAIT_TASK

LISTEN_TIMEOUT_S = 30.0  # the coordinator's start, up to its listening line


def params_of(config: ZmqConfig | None) -> Params:
    """The live coordinator's and workers' parameters from the scenario's ``platform.zmq``
    (the same values the simulator runs with; the live code's own defaults without one)."""
    if config is None:
        return Params()
    return Params(heartbeat_interval_s=config.heartbeat_interval,
                  heartbeat_liveness=config.heartbeat_liveness, max_retries=config.max_retries)


class ZmqLive(LivePlatform):
    name = "zmq"

    def __init__(self, ctx: LiveContext, params: Params | None = None) -> None:
        super().__init__(ctx)
        self.params = params or params_of(ctx.scenario.platform.configs.get("zmq"))
        self.journal_path = ctx.work_dir / "journal.jsonl"
        self.stdout_path = ctx.work_dir / "coordinator.out"
        self.stderr_path = ctx.work_dir / "coordinator.err"
        self.journal = OutputLines(self.journal_path)
        self.coordinator: Any = None
        self.endpoint = ""
        self.records: list[dict[str, Any]] = []  # the journal, as read so far
        self.summary: dict[str, Any] | None = None
        self.workers: dict[int, Any] = {}  # node id -> its worker's Popen
        self.killed: dict[int, float] = {}  # node id -> epoch of its kill
        # A fresh secret per run, in the environment (not on command lines) of its processes.
        self.env = dict(os.environ, **{TOKEN_ENV: secrets.token_hex(16)})
        # Its processes import this very copy of the package (as Ray's workers do).
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(PACKAGE_HOME)] + ([self.env["PYTHONPATH"]] if self.env.get("PYTHONPATH") else []))

    # ------------------------------------------------------------------ start

    def start(self, deadline: float) -> None:
        if importlib.util.find_spec("zmq") is None:
            raise LiveRunError("pyzmq is not installed; python3 -m pip install pyzmq "
                               "(or pip install -e .[live])")
        ctx = self.ctx
        (ctx.work_dir / "out").mkdir()
        config = {"tasks": self._task_args(), "params": {
                      "heartbeat_interval_s": self.params.heartbeat_interval_s,
                      "heartbeat_liveness": self.params.heartbeat_liveness,
                      "max_retries": self.params.max_retries},
                  "journal": str(self.journal_path), "out_dir": str(ctx.work_dir / "out")}
        path = ctx.work_dir / "coordinator.json"
        path.write_text(json.dumps(config))
        with self.stdout_path.open("w") as out, self.stderr_path.open("w") as err:
            self.coordinator = ctx.sessions.start(
                [sys.executable, "-m", "schedsim.live.zmq.coordinator", path],
                stdout=out, stderr=err, cwd=ctx.work_dir, env=self.env)
        lines = OutputLines(self.stdout_path)
        wait_until = min(deadline, time.monotonic() + LISTEN_TIMEOUT_S)
        try:
            while not (got := lines.read()):
                if self.coordinator.poll() is not None:
                    raise LiveRunError(f"the zmq coordinator exited with "
                                       f"{self.coordinator.returncode} before listening: "
                                       f"{self._stderr_tail()}")
                if time.monotonic() > wait_until:
                    raise LiveRunError("the zmq coordinator did not listen in time")
                time.sleep(0.005)
        finally:
            lines.close()
        first = json.loads(got[0])
        if first.get("event") != "listening":
            raise LiveRunError(f"zmq coordinator: unexpected first line {got[0][:80]!r}")
        self.endpoint = str(first["endpoint"])

    def _task_args(self) -> list[list[str]]:
        """Each task's arguments to the task binary (the worker adds ``--out``)."""
        task = self.ctx.task
        if task.kind == WAIT_TASK:
            return [["--seconds", repr(d), "--bytes", str(task.output_size)]
                    for d in task.durations]
        return [["--n", str(task.n), "--tolerance", repr(task.tolerance),
                 "--seed", str(task.seed_base + i)]
                for i in range(self.ctx.scenario.workload.tasks)]

    def _stderr_tail(self) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no stderr)"
        return text[-1][:300] if text else "(no stderr)"

    # ------------------------------------------------------------------ nodes

    def node_ready(self, node: Node) -> None:
        ctx = self.ctx
        work = ctx.work_dir / "nodes" / str(node.id)
        work.mkdir(parents=True)
        argv: list[str | Path] = [
            sys.executable, "-m", "schedsim.live.zmq.worker", "--endpoint", self.endpoint,
            "--node", str(node.id), "--slots", str(node.cores),
            "--task-binary", ctx.task_binary, "--dir", work,
            "--interval", repr(self.params.heartbeat_interval_s),
            "--liveness", str(self.params.heartbeat_liveness)]
        with (work / "worker.err").open("w") as err:
            self.workers[node.id] = ctx.sessions.start(argv, stdout=err, stderr=err, cwd=work,
                                                       env=self.env)

    def node_lost(self, node: Node) -> None:
        proc = self.workers.pop(node.id, None)
        if proc is None:
            return
        self.killed[node.id] = time.time()
        self.kill_session(node.id, proc)

    # ------------------------------------------------------------------ polling

    def poll(self) -> None:
        self._read()
        if self.summary is None and self.coordinator.poll() is not None:
            self._read()
            if self.summary is None:
                raise LiveRunError(f"the zmq coordinator exited with "
                                   f"{self.coordinator.returncode} without a summary: "
                                   f"{self._stderr_tail()}")

    def _read(self) -> None:
        for line in self.journal.read():
            rec = json.loads(line)
            self.records.append(rec)
            event = rec["event"]
            if event == "result":
                self.task_ended(bool(rec["ok"]), self.ctx.rel(rec["epoch"]))
            elif event == "preempted" and not rec["requeued"]:
                self.task_ended(False, self.ctx.rel(rec["epoch"]))  # out of retries
            elif event == "summary":
                self.summary = rec

    @property
    def finished(self) -> bool:
        # The summary follows the last result at once; waiting for it keeps it in the details.
        return self.summary is not None

    def stop(self) -> None:
        self.journal.close()

    # ------------------------------------------------------------------ after the run

    def attempts(self, end_s: float) -> list[LiveAttempt]:
        rel = self.ctx.rel
        out: list[LiveAttempt] = []
        open_: dict[tuple[int, int], dict[str, Any]] = {}  # (task, attempt) -> dispatch
        for rec in self.records:
            event = rec["event"]
            key = (int(rec.get("task", -1)), int(rec.get("attempt", -1)))
            if event == "dispatch":
                open_[key] = rec
                continue
            if event not in ("result", "preempted") or key not in open_:
                continue
            start = open_.pop(key)
            t0, t1 = rel(start["epoch"]), rel(rec["epoch"])
            detail: dict[str, float] = {}
            if event == "preempted":
                outcome = "preempted"
                killed = self.killed.get(int(rec["node"]))
                if killed is not None:
                    # It ended with its node; the coordinator heard of it detect_s later.
                    detail["detect_s"] = rec["epoch"] - killed
                    t1 = min(t1, max(t0, rel(killed)))
            else:
                outcome = "done" if rec["ok"] else "failed"
                detail = _result_detail(rec)
            out.append(LiveAttempt(key[0], key[1], int(rec["node"]), int(rec["slot"]), t0, t1,
                                   outcome, detail))
        for (task, attempt), rec in open_.items():
            t0 = rel(rec["epoch"])
            out.append(LiveAttempt(task, attempt, int(rec["node"]), int(rec["slot"]), t0,
                                   max(t0, end_s), "aborted"))
        return out

    def details(self) -> dict[str, Any]:
        rel = self.ctx.rel
        summary = dict(self.summary or {})
        for key in ("event", "epoch"):
            summary.pop(key, None)
        joined = [rec for rec in self.records if rec["event"] == "worker"]
        lost = [rec for rec in self.records if rec["event"] == "lost"]
        return {"params": self.params.as_dict(), "endpoint": self.endpoint,
                "coordinator_summary": summary,
                "worker_joins_s": [rel(r["epoch"]) for r in joined],
                "worker_losses": [
                    {"node": r["node"], "detected_s": rel(r["epoch"]), "why": r["why"],
                     "killed_s": (rel(self.killed[r["node"]]) if r["node"] in self.killed
                                  else None)} for r in lost],
                "tasks": [r for r in self.records if r["event"] == "result"]}


def _result_detail(rec: dict[str, Any]) -> dict[str, float]:
    """Phases of one finished attempt (seconds; every clock is this host's)."""
    out: dict[str, float] = {"bytes_received": float(rec.get("bytes_received", 0))}
    start, end = rec.get("start_epoch"), rec.get("end_epoch")
    if start is None or end is None:
        return out
    out["dispatch_s"] = float(start) - float(rec["dispatch_epoch"])  # message and fork
    out["execute_s"] = float(end) - float(start)  # the task's process, as the worker saw it
    out["return_s"] = float(rec["epoch"]) - float(end)  # result and output to the journal
    received = rec.get("received_epoch")
    if received is not None:
        # The worker's part (read the output, send it) and the coordinator's (write, journal).
        out["result_latency_s"] = float(received) - float(end)
        out["coordinator_result_s"] = float(rec["epoch"]) - float(received)
    task_out = rec.get("output")
    if isinstance(task_out, dict):
        out["task_total_s"] = float(task_out["total_s"])
        out["bytes_out"] = float(task_out["bytes_out"])
        out["overhead_s"] = float(rec["epoch"]) - float(rec["dispatch_epoch"]) - out[
            "task_total_s"]
        # The dispatch to the task's exit, less the program's own time: the message and the
        # fork (calibration reads the model's task_launch_time off it).
        out["launch_s"] = float(end) - float(rec["dispatch_epoch"]) - out["task_total_s"]
    return out
