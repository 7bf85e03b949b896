"""Ray for real: a local Ray cluster on 127.0.0.1 running the same compress_task binary.

This is the zfp task's Ray: one raylet, nodes emulated by blocks of slots (below). The waiting
task gets a raylet per node instead (:mod:`schedsim.live.ray_nodes`, which builds on this).

The driver (:mod:`schedsim.live.ray_driver`) runs in a session of its own; it calls
``ray.init`` with one CPU per slot of the scenario, on the loopback address only
(``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` makes Ray keep 127.0.0.1 instead of the host's
address), with usage statistics off, and shuts Ray down at the end. Time 0 is when the driver
has its cluster and submits the tasks, so ``ray.init`` (about 2 to 5 s here) is reported as
``init_s`` but not counted in the makespan.

Nodes. One raylet serves the whole host, so a scenario's node is a block of ``cores`` slots
(see the driver's docstring): a node that is not ready (booting, lost, not replaced yet) has
its slots marked down, and tasks wait for a slot that is up. When a node is lost, its slots
are marked down and the process group of every Ray worker running an attempt there is killed
(the worker and its compress_task). Ray sees a crashed worker and retries the task (at most
``max_retries`` = 3 times, Ray's default); it does not see a node die, so its node-failure
detection (GCS health checks, tens of seconds) is not exercised. See docs/live.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from schedsim.live.base import (
    RAY_PREFIX,
    RAY_TMP,
    LiveAttempt,
    LiveContext,
    LivePlatform,
    LiveRunError,
)
from schedsim.live.processes import OutputLines, parent_pid, process_group, session_members
from schedsim.live.ray_driver import SLOTS
from schedsim.model.cluster import Node
from schedsim.native import PACKAGE_HOME

READY_TIMEOUT_S = 120.0  # ray.init on a loaded 2-core host can take tens of seconds
RAY_MAX_RETRIES = 3  # Ray's default for tasks; the driver does not change it


class RayLive(LivePlatform):
    name = "ray"
    mode = SLOTS  # the driver's mode (see ray_driver)

    def __init__(self, ctx: LiveContext) -> None:
        super().__init__(ctx)
        work = ctx.work_dir
        self.slots_dir = work / "slots"
        self.attempts_dir = work / "attempts"
        self.stdout_path = work / "driver.jsonl"
        self.stderr_path = work / "driver.err"
        self.lines = OutputLines(self.stdout_path)
        self.driver: subprocess.Popen[Any] | None = None
        self.slots = ctx.scenario.cluster.initial_cores
        # Slots are handed out in blocks of `cores`, per pool, to the nodes that are ready.
        self.free_blocks: dict[str, list[list[int]]] = {}
        first = 0
        for pool in ctx.scenario.cluster.pools:
            blocks = []
            for _ in range(pool.count):
                blocks.append(list(range(first, first + pool.cores)))
                first += pool.cores
            self.free_blocks[pool.name] = blocks
        self.node_slots: dict[int, list[int]] = {}
        # (slot, node, from, to): which node held a slot when; `to` None while it holds it.
        self.tenure: list[list[Any]] = []
        self.killed: dict[str, float] = {}  # attempt id -> kill time (s since time 0)
        self.unplaced: list[int] = []  # nodes that found no free slot block
        self.ready: dict[str, Any] = {}
        self.summary: dict[str, Any] | None = None
        self.results: dict[int, dict[str, Any]] = {}
        self.ray_dir: Path | None = None
        self.seen: dict[str, dict[str, Any]] = {}  # the driver's last line of each event

    # ------------------------------------------------------------------ start

    def start(self, deadline: float) -> None:
        self.start_driver()
        self.wait_for("ready", deadline, "ray.init did not finish in time")

    def start_driver(self) -> None:
        """Start the driver process (its ray.init follows in the background)."""
        try:
            import ray  # noqa: F401 - only checks that the driver will find it
        except ImportError:
            raise LiveRunError("ray is not installed; python3 -m pip install ray "
                               "(or pip install -e .[live])") from None
        ctx = self.ctx
        self.slots_dir.mkdir()
        self.attempts_dir.mkdir()
        (ctx.work_dir / "out").mkdir()
        for k in range(self.slots):
            (self.slots_dir / f"{k}.lock").touch()
            if self.mode == SLOTS:  # emulated nodes: every slot is down until its node is up
                (self.slots_dir / f"{k}.down").touch()
        # Short: Ray's socket paths under it must fit in 107 bytes.
        ray_dir = RAY_TMP / f"{RAY_PREFIX}{os.getpid()}-{time.time_ns() % 10**9}"
        self.ray_dir = ray_dir
        task = ctx.task
        cfg = {"mode": self.mode, "task": task.kind, "tasks": ctx.scenario.workload.tasks,
               "n": task.n, "tolerance": task.tolerance, "seed_base": task.seed_base,
               "durations": list(task.durations), "output_size": task.output_size,
               "binary": str(ctx.task_binary), "out_dir": str(ctx.work_dir / "out"),
               "slots_dir": str(self.slots_dir), "attempts_dir": str(self.attempts_dir),
               "slots": self.slots, "ray_dir": str(ray_dir), **self.driver_config()}
        cfg_path = ctx.work_dir / "driver.json"
        cfg_path.write_text(json.dumps(cfg))
        env = self.ray_env()
        with self.stdout_path.open("w") as out, self.stderr_path.open("w") as err:
            # No death signal: when this process dies the driver sees its stdin close and kills
            # its session (Ray's processes and the tasks), which a signal to it alone would not.
            self.driver = ctx.sessions.start(
                [sys.executable, "-m", "schedsim.live.ray_driver", cfg_path], stdout=out,
                stderr=err, stdin=subprocess.PIPE, cwd=ctx.work_dir, env=env, death_signal=None)

    def driver_config(self) -> dict[str, Any]:
        """More keys for the driver's configuration (the subclass's)."""
        return {}

    def ray_env(self) -> dict[str, str]:
        """The environment of the driver (and of every Ray process it starts)."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(PACKAGE_HOME)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # keep Ray on 127.0.0.1
        return env

    def wait_for(self, event: str, deadline: float, late: str) -> None:
        """Read the driver's lines until it prints ``event`` (bounded by READY_TIMEOUT_S)."""
        assert self.driver is not None
        wait_until = min(deadline, time.monotonic() + READY_TIMEOUT_S)
        while event not in self.seen:
            self._handle(self.lines.read())
            if event in self.seen:
                break
            if self.driver.poll() is not None:
                raise LiveRunError(f"the Ray driver exited with {self.driver.returncode} "
                                   f"before it was ready: {self._stderr_tail()}")
            if time.monotonic() > wait_until:
                raise LiveRunError(f"{late} ({READY_TIMEOUT_S:g} s at most)")
            time.sleep(0.005)

    def _stderr_tail(self) -> str:
        try:
            lines = [ln for ln in self.stderr_path.read_text(errors="replace").splitlines()
                     if ln.strip() and "WARNING" not in ln]
        except OSError:
            return "(no stderr)"
        return lines[-1][:300] if lines else "(no stderr)"

    # ------------------------------------------------------------------ nodes

    def node_ready(self, node: Node) -> None:
        blocks = self.free_blocks.get(node.pool, [])
        if not blocks:
            self.unplaced.append(node.id)
            return
        block = blocks.pop(0)
        self.node_slots[node.id] = block
        now = self.ctx.now()
        for k in block:
            self.tenure.append([k, node.id, now, None])
            with contextlib.suppress(FileNotFoundError):
                (self.slots_dir / f"{k}.down").unlink()

    def node_lost(self, node: Node) -> None:
        block = self.node_slots.pop(node.id, None)
        if block is None:
            return
        # Mark down first, then look for attempts: see the driver's _claim_slot.
        for k in block:
            (self.slots_dir / f"{k}.down").touch()
        now = self.ctx.now()
        for row in self.tenure:
            if row[0] in block and row[3] is None:
                row[3] = now
        killed = [start for start in self._open_attempts() if start["slot"] in block]
        for start in killed:
            self._kill_attempt(start)
        self.record_kill(node.id, "SIGKILL", len(killed))
        self.free_blocks[node.pool].append(block)

    def _open_attempts(self) -> list[dict[str, Any]]:
        out = []
        for path in self.attempts_dir.glob("*.start"):
            if path.with_suffix(".end").exists():
                continue
            with contextlib.suppress(OSError, ValueError):
                out.append(json.loads(path.read_text()))
        return out

    def _kill_attempt(self, start: dict[str, Any]) -> None:
        pid, pgid = int(start["pid"]), int(start["pgid"])
        driver_pid = self.driver.pid if self.driver else -1
        now = self.ctx.now()
        self.killed[start["attempt"]] = now
        # Close the attempt here: a killed attempt never writes its own end file.
        end = {"status": "killed", "end_epoch": self.ctx.t0_epoch + now}
        with contextlib.suppress(FileExistsError):  # it may have just finished by itself
            fd = os.open(self.attempts_dir / f"{start['attempt']}.end",
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(end))
        # Ray starts each worker in a process group of its own; never signal the driver's.
        if pgid == pid and pgid != driver_pid and process_group(pid) == pgid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            return
        victims = [p for p in session_members({driver_pid}) if parent_pid(p) == pid] + [pid]
        for p in victims:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p, signal.SIGKILL)

    # ------------------------------------------------------------------ polling

    def poll(self) -> None:
        self._handle(self.lines.read())
        if self.summary is None and self.driver is not None and self.driver.poll() is not None:
            self._handle(self.lines.read())
            if self.summary is None:
                raise LiveRunError(f"the Ray driver exited with {self.driver.returncode} "
                                   f"without a summary: {self._stderr_tail()}")

    def _handle(self, lines: list[str]) -> None:
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # something Ray printed on stdout
            event = rec.get("event")
            self.seen[str(event)] = rec
            if event == "ready":
                self.ready = rec
            elif event == "task_done":
                index = int(rec["task_index"])
                self.results[index] = rec
                self.task_ended(bool(rec["ok"]), self.ctx.rel(float(rec["received_epoch"])))
            elif event == "summary":
                self.summary = rec

    def stop(self) -> None:
        """Let the driver shut Ray down by itself (bounded), then close its stdin."""
        driver = self.driver
        if driver is not None:
            if self.summary is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    driver.wait(timeout=20)
            if driver.stdin is not None:
                with contextlib.suppress(OSError):
                    driver.stdin.close()
        self.lines.close()

    def cleanup(self) -> None:
        if self.ray_dir is not None:
            shutil.rmtree(self.ray_dir, ignore_errors=True)

    # ------------------------------------------------------------------ after the run

    def attempt_node(self, start: dict[str, Any], t: float) -> int:
        """The node an attempt ran on, from its start record (``t``: its start time)."""
        return self._node_of(int(start["slot"]), t)

    def _node_of(self, slot: int, t: float) -> int:
        for k, node, start, end in self.tenure:
            if k == slot and start <= t + 1e-6 and (end is None or t <= end + 1e-6):
                return int(node)
        return -1

    def attempts(self, end_s: float) -> list[LiveAttempt]:
        ctx = self.ctx
        rows = []
        for path in self.attempts_dir.glob("*.start"):
            try:
                start = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            end: dict[str, Any] | None = None
            end_path = path.with_suffix(".end")
            if end_path.exists():
                with contextlib.suppress(OSError, ValueError):
                    end = json.loads(end_path.read_text())
            if end is not None and end.get("status") == "abandoned":
                continue
            rows.append((start, end))
        rows.sort(key=lambda r: float(r[0]["claim_epoch"]))
        tries: dict[int, int] = {}
        out = []
        for start, end in rows:
            task = int(start["task"])
            tries[task] = tries.get(task, 0) + 1
            t_start = ctx.rel(float(start["claim_epoch"]))
            node = self.attempt_node(start, t_start)
            detail: dict[str, float] = {}
            if end is not None and end.get("status") == "killed":
                t_end, outcome = ctx.rel(float(end["end_epoch"])), "preempted"
            elif end is not None:
                t_end = ctx.rel(float(end["end_epoch"]))
                outcome = "done" if end["status"] == "ok" else "failed"
                detail["process_s"] = float(end["process_s"])
                detail["wait_for_slot_s"] = float(start["claim_epoch"]) - float(
                    end["entry_epoch"])
                output = end.get("output")
                if isinstance(output, dict):
                    detail["task_total_s"] = float(output["total_s"])
                    detail["bytes_out"] = float(output["bytes_out"])
                    detail["process_overhead_s"] = detail["process_s"] - detail["task_total_s"]
                result = self.results.get(task)
                if outcome == "done" and result and result.get("attempt") == start["attempt"]:
                    detail["return_s"] = float(result["received_epoch"]) - float(
                        end["end_epoch"])
                    detail["bytes_received"] = float(result.get("bytes_received", 0))
            else:
                t_end, outcome = max(t_start, end_s), "aborted"
            out.append(LiveAttempt(task, tries[task], node, int(start["slot"]), t_start, t_end,
                                   outcome, detail))
        return out

    def details(self) -> dict[str, Any]:
        ready = dict(self.ready)
        ready.pop("event", None)
        summary = dict(self.summary or {})
        summary.pop("event", None)
        return {"ray_version": ready.get("ray_version"), "init_s": ready.get("init_s"),
                "max_retries": RAY_MAX_RETRIES, "driver_summary": summary,
                "nodes_without_slots": self.unplaced,
                "tasks": [self.results[i] for i in sorted(self.results)]}
