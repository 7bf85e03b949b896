"""Work Queue for real: ``wq_manager`` and local ``work_queue_worker`` processes.

The manager (``build/native/wq_manager``, see docs/native.md) submits every task at once and
reports each one with Work Queue's own timing fields. A node of the scenario is one session
holding ``cores`` workers of one core each: Work Queue 9.9 gives a task that declares no
resources (and ``wq_manager`` declares none) a whole worker, so one worker with ``--cores c``
would run one task at a time. Killing the node's session kills its workers and their tasks
together, which the manager notices within milliseconds, as when a VM disappears. A node
with a reclaim notice first has its workers sent SIGTERM at the notice: each closes its
connection itself and kills its tasks; whatever is left dies with the session at the end.

Attempts come from the manager's transactions log (``TASK id RUNNING worker`` up to
``DONE``, or back to ``WAITING`` when the worker was lost). A log line names a worker by the
address of its connection, which is mapped back to the node that started it by reading the
worker process's sockets in ``/proc``. The manager retries lost tasks without limit
(``--max-retries 0``, Work Queue's default).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import shlex
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schedsim.live.base import NATIVE_DIR, LiveAttempt, LiveContext, LivePlatform, LiveRunError
from schedsim.live.processes import (
    OutputLines,
    command_name,
    parent_pid,
    session_members,
    tcp_local_ports,
)
from schedsim.model.cluster import Node
from schedsim.scenario import WAIT_TASK

WORKER_COMM = "work_queue_work"  # /proc comm is cut at 15 characters
# Declared, not enforced. Left to measure them, each worker reports the file system's free
# space, which the other workers' outputs shrink; with hundreds of workers the manager then
# saw tasks it had just dispatched come back unrun (RUNNING, then WAITING, no disconnection).
WORKER_MEMORY_MB = 1024
WORKER_DISK_MB = 1024
# A pass over /proc costs milliseconds with hundreds of processes, so it is spaced out in
# proportion to the workers, up to MAP_EVERY_S at MAP_FULL_WORKERS; with few workers it runs at
# every poll, since a single-shot worker may connect, run its tasks and leave within 50 ms.
MAP_EVERY_S = 0.05
MAP_FULL_WORKERS = 100


@dataclass
class _NodeProcs:
    node: Node
    sid: int
    workers: dict[int, int] = field(default_factory=dict)  # worker pid -> slot
    ports: dict[int, int] = field(default_factory=dict)  # local port -> slot
    gone: bool = False
    terminated: set[int] | None = None  # workers sent SIGTERM, once the notice has come


class WorkQueueLive(LivePlatform):
    name = "workqueue"
    honours_notice = True

    def __init__(self, ctx: LiveContext) -> None:
        super().__init__(ctx)
        self.manager_exe = NATIVE_DIR / "wq_manager"
        self.worker_exe = shutil.which("work_queue_worker") or ""
        self.port = 0
        self.password = ctx.work_dir / "password"
        self.tx_log = ctx.work_dir / "transactions.log"
        self.stdout_path = ctx.work_dir / "manager.jsonl"
        self.stderr_path = ctx.work_dir / "manager.err"
        self.manager: Any = None
        self.lines = OutputLines(self.stdout_path)
        self.tasks: dict[int, dict[str, Any]] = {}  # task index -> task_done record
        self.summary: dict[str, Any] | None = None
        self.nodes: dict[int, _NodeProcs] = {}
        self.addr_slot: dict[str, tuple[int, int]] = {}  # "127.0.0.1:port" -> (node, slot)
        self.next_map = 0.0  # when poll next looks for workers to map (time.monotonic)

    # ------------------------------------------------------------------ start

    def start(self, deadline: float) -> None:
        if not os.access(self.manager_exe, os.X_OK):
            raise LiveRunError(f"{self.manager_exe} is not built; run scripts/install_native.sh")
        if not self.worker_exe:
            raise LiveRunError("work_queue_worker is not on PATH; install coop-computing-tools "
                               "(scripts/install_native.sh)")
        ctx = self.ctx
        self.password.write_text(secrets.token_hex(16) + "\n")
        self.password.chmod(0o600)
        task = ctx.task
        argv: list[str | Path] = [self.manager_exe, "--tasks", str(ctx.scenario.workload.tasks)]
        if task.kind == WAIT_TASK:
            times = ctx.work_dir / "wait_times.txt"
            times.write_text("".join(f"{d!r}\n" for d in task.durations))
            argv += ["--wait-times", times, "--output-bytes", str(task.output_size)]
        else:
            argv += ["--n", str(task.n), "--tolerance", repr(task.tolerance),
                     "--seed-base", str(task.seed_base)]
        argv += ["--task-binary", ctx.task_binary, "--out-dir", ctx.work_dir / "out",
                 "--port", "0", "--password", self.password,
                 "--timeout", str(max(1, math.ceil(ctx.timeout_s))),
                 "--transactions-log", self.tx_log]
        with self.stdout_path.open("w") as out, self.stderr_path.open("w") as err:
            self.manager = ctx.sessions.start(argv, stdout=out, stderr=err, cwd=ctx.work_dir)
        wait_until = min(deadline, time.monotonic() + 30.0)
        while True:
            lines = self.lines.read()
            if lines:
                first = json.loads(lines[0])
                if first.get("event") != "listening":
                    raise LiveRunError(f"wq_manager: unexpected first line {lines[0][:80]!r}")
                self.port = int(first["port"])
                self._handle(lines[1:])
                return
            if self.manager.poll() is not None:
                raise LiveRunError(f"wq_manager exited with {self.manager.returncode} before "
                                   f"listening: {self._stderr_tail()}")
            if time.monotonic() > wait_until:
                raise LiveRunError("wq_manager did not print its listening line in time")
            time.sleep(0.002)

    def _stderr_tail(self) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no stderr)"
        return text[-1] if text else "(no stderr)"

    # ------------------------------------------------------------------ nodes

    def node_ready(self, node: Node) -> None:
        ctx = self.ctx
        node_dir = ctx.work_dir / "nodes" / str(node.id)
        commands = []
        for slot in range(node.cores):
            wdir = node_dir / f"w{slot}"
            wdir.mkdir(parents=True)
            argv = [self.worker_exe, "--single-shot", "--parent-death", "--cores", "1",
                    "--memory", str(WORKER_MEMORY_MB), "--disk", str(WORKER_DISK_MB),
                    "--password", str(self.password),
                    "--timeout", str(max(1, math.ceil(ctx.timeout_s))),
                    "--workdir", str(wdir), "127.0.0.1", str(self.port)]
            log = node_dir / f"w{slot}.log"
            commands.append(f"{shlex.join(argv)} >{shlex.quote(str(log))} 2>&1 &")
        # One shell per node: the node is its session, workers and their tasks included. If
        # this process dies, the shell gets SIGTERM and kills its session (pkill -s 0; else
        # its process group, which misses the tasks).
        script = "trap 'pkill -KILL -s 0 || kill -KILL 0' TERM; " + " ".join(commands) + " wait"
        proc = ctx.sessions.start(["/bin/sh", "-c", script], death_signal=signal.SIGTERM)
        self.nodes[node.id] = _NodeProcs(node, proc.pid)

    def node_notice(self, node: Node) -> None:
        """SIGTERM to the node's workers: each tells the manager it is vacating, closes its
        connection, kills its tasks and exits (docs/live.md, Kills)."""
        procs = self.nodes.get(node.id)
        if procs is None or procs.gone or procs.terminated is not None:
            return
        procs.terminated = set()
        self.record_kill(node.id, "SIGTERM", self._terminate(procs))

    def _terminate(self, procs: _NodeProcs) -> int:
        """SIGTERM to the node's workers not signalled yet; how many got it. A notice that
        comes as the node starts may find some workers not started yet: poll tries again."""
        assert procs.terminated is not None
        self._map_ports([procs])  # before they leave: their addresses name the attempts
        workers = [pid for pid in session_members({procs.sid})
                   if pid not in procs.terminated and parent_pid(pid) == procs.sid
                   and command_name(pid).startswith(WORKER_COMM)]
        for pid in workers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        procs.terminated.update(workers)
        return len(workers)

    def node_lost(self, node: Node) -> None:
        procs = self.nodes.get(node.id)
        if procs is None:
            return
        self._map_ports([procs])
        procs.gone = True
        for p in self.ctx.sessions.procs:
            if p.pid == procs.sid:
                self.kill_session(node.id, p)
                break

    def _map_ports(self, nodes: list[_NodeProcs]) -> None:
        """Find each worker of ``nodes`` and the local port of its manager connection.

        One pass over /proc and one read of the TCP table for all of them: with hundreds of
        workers, a pass per node and a table read per worker would take the watcher's time.
        """
        pending = [p for p in nodes if not p.gone and len(p.ports) < p.node.cores]
        by_sid = {p.sid: p for p in pending if len(p.workers) < p.node.cores}
        if by_sid:
            for pid in sorted(session_members(set(by_sid))):
                # Workers are the children of the node's shell; a worker's own children
                # carry its name only briefly (between fork and exec).
                procs = by_sid.get(parent_pid(pid) or -1)
                if (procs is not None and pid not in procs.workers
                        and len(procs.workers) < procs.node.cores
                        and command_name(pid).startswith(WORKER_COMM)):
                    procs.workers[pid] = len(procs.workers)
        unmapped = {pid: (procs, slot) for procs in pending
                    for pid, slot in procs.workers.items() if slot not in procs.ports.values()}
        for pid, port in tcp_local_ports(list(unmapped), self.port).items():
            procs, slot = unmapped[pid]
            procs.ports[port] = slot
            self.addr_slot[f"127.0.0.1:{port}"] = (procs.node.id, slot)

    # ------------------------------------------------------------------ polling

    def poll(self) -> None:
        now = time.monotonic()
        if now >= self.next_map:
            workers = sum(p.node.cores for p in self.nodes.values())
            self.next_map = now + MAP_EVERY_S * min(1.0, workers / MAP_FULL_WORKERS)
            self._map_ports(list(self.nodes.values()))
            for procs in self.nodes.values():
                if (not procs.gone and procs.terminated is not None
                        and len(procs.terminated) < procs.node.cores):
                    late = self._terminate(procs)
                    if late:
                        self.record_kill(procs.node.id, "SIGTERM", late)
        self._handle(self.lines.read())
        if self.summary is None and self.manager is not None and self.manager.poll() is not None:
            self._handle(self.lines.read())
            if self.summary is None:
                raise LiveRunError(f"wq_manager exited with {self.manager.returncode} without "
                                   f"a summary: {self._stderr_tail()}")

    def _handle(self, lines: list[str]) -> None:
        for line in lines:
            rec = json.loads(line)
            event = rec.get("event")
            if event == "task_done":
                index = int(rec["task_index"])
                self.tasks[index] = rec
                self.task_ended(bool(rec["ok"]), self.ctx.rel(rec["time_when_done_us"] / 1e6))
            elif event == "summary":
                self.summary = rec
                if rec.get("stopped") == "timeout":
                    raise LiveRunError("wq_manager timed out (its --timeout is the run's "
                                       "timeout)")

    @property
    def finished(self) -> bool:
        return self.summary is not None or super().finished

    def stop(self) -> None:
        self.lines.close()

    # ------------------------------------------------------------------ after the run

    def attempts(self, end_s: float) -> list[LiveAttempt]:
        """Attempts from the transactions log, completed by the manager's task records."""
        ctx = self.ctx
        taskid_index = {int(r["taskid"]): i for i, r in self.tasks.items()}
        out: list[LiveAttempt] = []
        running: dict[int, tuple[float, str]] = {}  # taskid -> (start, worker address)
        tries: dict[int, int] = {}
        try:
            lines = self.tx_log.read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        for line in lines:
            if line.startswith("#"):
                continue
            cols = line.split()
            if len(cols) < 4 or cols[2] != "TASK":
                continue
            t = ctx.rel(int(cols[0]) / 1e6)
            taskid, state = int(cols[3]), cols[4]
            # wq_manager submits task index i as the (i+1)-th task: taskid i+1.
            index = taskid_index.get(taskid, taskid - 1)
            if state == "RUNNING":
                running[taskid] = (t, cols[5])
                tries[taskid] = tries.get(taskid, 0) + 1
            elif state in ("WAITING", "DONE") and taskid in running:
                start, addr = running.pop(taskid)
                node, slot = self.addr_slot.get(addr, (-1, -1))
                if state == "WAITING":
                    out.append(LiveAttempt(index, tries[taskid], node, slot, start, t,
                                           "preempted"))
                    continue
                rec = self.tasks.get(index)
                ok = bool(rec and rec["ok"])
                detail = _task_detail(rec) if rec else {}
                if rec:
                    start = ctx.rel(rec["time_when_commit_start_us"] / 1e6)
                    t = ctx.rel(rec["time_when_done_us"] / 1e6)
                out.append(LiveAttempt(index, tries[taskid], node, slot, start, t,
                                       "done" if ok else "failed", detail))
        for taskid, (start, addr) in running.items():
            node, slot = self.addr_slot.get(addr, (-1, -1))
            index = taskid_index.get(taskid, taskid - 1)
            out.append(LiveAttempt(index, tries[taskid], node, slot, start,
                                   max(start, end_s), "aborted"))
        return out

    def details(self) -> dict[str, Any]:
        summary = dict(self.summary or {})
        summary.pop("event", None)
        return {"manager_summary": summary,
                "workers_found": sum(len(p.workers) for p in self.nodes.values()),
                "workers_mapped": len(self.addr_slot),
                "worker_connections_s": self._connections(),
                "tasks": [self.tasks[i] for i in sorted(self.tasks)]}

    def _connections(self) -> list[float]:
        """When each worker connection reached the manager (transactions log), s since time 0."""
        out = []
        with contextlib.suppress(OSError):
            for line in self.tx_log.read_text(errors="replace").splitlines():
                cols = line.split()
                if len(cols) >= 6 and cols[2] == "WORKER" and cols[-1] == "CONNECTION":
                    out.append(self.ctx.rel(int(cols[0]) / 1e6))
        return sorted(out)


def _task_detail(rec: dict[str, Any]) -> dict[str, float]:
    """Per-task phases measured by Work Queue itself (seconds)."""
    us = 1e-6
    out = {
        "dispatch_s": (rec["time_when_commit_end_us"] - rec["time_when_commit_start_us"]) * us,
        "execute_s": rec["time_workers_execute_last_us"] * us,
        "retrieval_s": (rec["time_when_done_us"] - rec["time_when_retrieval_us"]) * us,
        "commit_to_done_s": (rec["time_when_done_us"] - rec["time_when_commit_start_us"]) * us,
        "bytes_sent": float(rec["bytes_sent"]),
        "bytes_received": float(rec["bytes_received"]),
    }
    task_out = rec.get("task_output")
    if isinstance(task_out, dict):
        out["task_total_s"] = float(task_out["total_s"])
        out["bytes_out"] = float(task_out["bytes_out"])
        out["overhead_s"] = out["commit_to_done_s"] - out["task_total_s"]
    return out
