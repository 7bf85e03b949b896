"""Ray for real with a raylet per node: the waiting task's Ray.

The driver runs in mode ``nodes`` (:mod:`schedsim.live.ray_driver`): its ``ray.init`` is the
head, with no CPUs, so no task runs there. Every node of the scenario is a Ray node of its own
(:mod:`schedsim.live.ray_raylet`: a raylet with ``cores`` CPUs and its agents) in a session of
its own, on 127.0.0.1. Ray places the tasks; a node loss is SIGKILL to the node's session,
raylet, workers and tasks together, so Ray finds it as it finds a dead node (its owner's
connections fail; the GCS marks the node dead after its health checks) and retries its tasks
(``max_retries`` = 3). A node with a reclaim notice has its raylet sent SIGTERM at the
notice: it unregisters from the GCS (an expected termination, so the node is dead at once) and
exits, its workers with it; what is left dies with the session at the end. Everything else
(the driver's records, attempts, details) is :class:`~schedsim.live.ray.RayLive`'s.

Nodes ready at time 0 (pools without ``boot_time``) have their raylets started before time 0,
and the driver submits only once the GCS has registered them all, as ``ray.init`` is not
counted either; their start-up is reported (``raylets``), not counted. A node that becomes
ready later (after its boot time, as a replacement, by a trace launch) starts its raylet then,
and its start-up counts, as a node's joining the cluster would. Each raylet holds a block of
``cores`` host-wide slot numbers while it lives, so that an attempt's slot says where it ran.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from schedsim.distributions import Constant
from schedsim.live.base import LiveContext, LiveRunError
from schedsim.live.processes import OutputLines, command_name, running, session_members
from schedsim.live.ray import READY_TIMEOUT_S, RayLive
from schedsim.live.ray_driver import NODES, RAYLET_ENV, SLOTS_ENV
from schedsim.model.cluster import Node

MIB = 1024**2
OBJECT_STORE_MIN = 100 * MIB  # Ray's own test cluster gives each node 150 MiB; 75 MiB is its floor
OUTPUTS_IN_STORE = 4  # room for this many outputs per slot in a node's object store
RAYLET_COMM = "raylet"  # /proc comm of Ray's raylet binary
# Between a raylet's SIGTERM and its end, how often its attempts are checked for an exited
# worker (a pass reads every open attempt's file): the attempt's end is this precise.
REAP_EVERY_S = 0.02


@dataclass
class _Raylet:
    """One Ray node this run started: its session, its block of slots, its scenario node."""

    index: int  # SCHEDSIM_RAYLET: what its attempts record
    pool: str
    block: list[int]
    proc: subprocess.Popen[Any]
    lines: OutputLines
    started_epoch: float
    node: int = -1  # the scenario node it is (set when that node is ready)
    up_epoch: float | None = None  # when the GCS had registered it
    start_s: float | None = None  # its own measure of the start, up to registration
    ray_node_id: str = ""
    noticed: bool = False  # its node got its reclaim notice
    term_epoch: float | None = None  # when its raylet process got SIGTERM (found and signalled)
    lost_epoch: float | None = None

    def read(self) -> None:
        for line in self.lines.read():
            with contextlib.suppress(ValueError):
                rec = json.loads(line)
                if rec.get("event") == "up" and self.up_epoch is None:
                    self.up_epoch = time.time()
                    self.start_s = float(rec["start_s"])
                    self.ray_node_id = str(rec["node_id"])


class RayNodesLive(RayLive):
    name = "ray"
    mode = NODES
    honours_notice = True

    def __init__(self, ctx: LiveContext) -> None:
        super().__init__(ctx)
        self.raylets: list[_Raylet] = []
        self.waiting: dict[str, list[_Raylet]] = {}  # started before time 0, per pool
        self.of_node: dict[int, _Raylet] = {}
        self.gcs_address = ""
        self.next_reap = 0.0  # when poll next closes attempts of SIGTERMed raylets (monotonic)
        # A fresh token per run: every Ray process of the run, and only those, share it.
        self.token = secrets.token_hex(32)

    def driver_config(self) -> dict[str, Any]:
        return {"object_store_bytes": self._store_bytes(1)}

    def _store_bytes(self, cores: int) -> int:
        return max(OBJECT_STORE_MIN, OUTPUTS_IN_STORE * cores * self.ctx.task.output_size)

    def ray_env(self) -> dict[str, str]:
        env = super().ray_env()
        env["RAY_AUTH_MODE"] = "token"
        env["RAY_AUTH_TOKEN"] = self.token
        return env

    # ------------------------------------------------------------------ start

    def start(self, deadline: float) -> None:
        self.start_driver()
        self.wait_for("head", deadline, "the Ray head (ray.init) did not start in time")
        self.gcs_address = str(self.seen["head"]["gcs_address"])
        for pool in self.ctx.scenario.cluster.pools:
            if isinstance(pool.boot_time, Constant) and pool.boot_time.value == 0:
                self.waiting[pool.name] = [self._start_raylet(pool.name)
                                           for _ in range(pool.count)]
        self._wait_until_up(deadline)
        assert self.driver is not None and self.driver.stdin is not None
        try:
            self.driver.stdin.write(b"go\n")
            self.driver.stdin.flush()
        except OSError:
            raise LiveRunError(f"the Ray driver exited before it could submit: "
                               f"{self._stderr_tail()}") from None
        self.wait_for("ready", deadline, "the Ray driver did not submit in time")

    def _wait_until_up(self, deadline: float) -> None:
        wait_until = min(deadline, time.monotonic() + READY_TIMEOUT_S)
        while True:
            for r in self.raylets:
                r.read()
            down = [r for r in self.raylets if r.up_epoch is None]
            if not down:
                return
            for r in down:
                if r.proc.poll() is not None:
                    raise LiveRunError(f"Ray node {r.index} exited with {r.proc.returncode} "
                                       f"before it joined: {_last_line(r)}")
            if self.driver is not None and self.driver.poll() is not None:
                raise LiveRunError(f"the Ray driver exited with {self.driver.returncode} "
                                   f"while its nodes started: {self._stderr_tail()}")
            if time.monotonic() > wait_until:
                raise LiveRunError(f"{len(down)} of {len(self.raylets)} Ray nodes did not join "
                                   f"in time ({READY_TIMEOUT_S:g} s at most)")
            time.sleep(0.01)

    def _start_raylet(self, pool: str) -> _Raylet:
        ctx = self.ctx
        assert self.ray_dir is not None
        index = len(self.raylets)
        cores = ctx.scenario.cluster.pool(pool).cores
        block = self.free_blocks[pool].pop(0)
        work = ctx.work_dir / "raylets" / str(index)
        work.mkdir(parents=True)
        cfg = {"gcs_address": self.gcs_address, "num_cpus": cores,
               "object_store_bytes": self._store_bytes(cores),
               "temp_dir": str(self.ray_dir / f"n{index}")}
        (work / "raylet.json").write_text(json.dumps(cfg))
        env = self.ray_env()
        env[RAYLET_ENV] = str(index)
        env[SLOTS_ENV] = f"{block[0]},{len(block)}"
        with (work / "out.jsonl").open("w") as out, (work / "err.txt").open("w") as err:
            proc = ctx.sessions.start([sys.executable, "-m", "schedsim.live.ray_raylet",
                                       work / "raylet.json"], stdout=out, stderr=err,
                                      stdin=subprocess.PIPE, cwd=work, env=env,
                                      death_signal=None)  # it ends its session on stdin EOF
        raylet = _Raylet(index, pool, block, proc, OutputLines(work / "out.jsonl"), time.time())
        self.raylets.append(raylet)
        return raylet

    # ------------------------------------------------------------------ nodes

    def node_ready(self, node: Node) -> None:
        waiting = self.waiting.get(node.pool)
        if waiting:
            raylet = waiting.pop(0)
        elif self.free_blocks.get(node.pool):
            raylet = self._start_raylet(node.pool)
        else:
            self.unplaced.append(node.id)
            return
        raylet.node = node.id
        self.of_node[node.id] = raylet

    def node_notice(self, node: Node) -> None:
        """SIGTERM to the node's raylet: it tells the GCS it is leaving (an expected
        termination) and exits; its workers and agents follow it (docs/live.md, Kills)."""
        raylet = self.of_node.get(node.id)
        if raylet is None or raylet.noticed:
            return
        raylet.noticed = True
        self._terminate(raylet)

    def _terminate(self, raylet: _Raylet) -> None:
        """SIGTERM to the raylet process; one still starting (a notice that comes as the node
        starts) is looked for again at each poll until found or the node is gone."""
        pids = [pid for pid in session_members({raylet.proc.pid})
                if command_name(pid) == RAYLET_COMM]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        if pids:
            raylet.term_epoch = time.time()
            self.record_kill(raylet.node, "SIGTERM", len(pids))

    def node_lost(self, node: Node) -> None:
        raylet = self.of_node.pop(node.id, None)
        if raylet is None:
            return
        # Kill first: after it no attempt can start there, so every open one is closed here.
        raylet.lost_epoch = time.time()
        self.kill_session(node.id, raylet.proc)
        self._close_attempts(raylet, raylet.lost_epoch, gone_only=False)
        self.free_blocks[node.pool].append(raylet.block)

    def _close_attempts(self, raylet: _Raylet, at_epoch: float, gone_only: bool) -> None:
        """Close the open attempts of ``raylet`` as killed at ``at_epoch`` (a killed attempt
        writes no end of its own); ``gone_only``: only those whose process has exited."""
        end = {"status": "killed", "end_epoch": at_epoch}
        for start in self._open_attempts():
            if start.get("raylet") != raylet.index:
                continue
            if gone_only and running(int(start["pid"])):
                continue
            with contextlib.suppress(FileExistsError):  # it may have ended just before
                fd = os.open(self.attempts_dir / f"{start['attempt']}.end",
                             os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(json.dumps(end))

    def poll(self) -> None:
        super().poll()
        now = time.monotonic()
        reap = now >= self.next_reap
        for r in self.raylets:
            if r.up_epoch is None and r.lost_epoch is None:
                r.read()
            if not r.noticed or r.lost_epoch is not None:
                continue
            if r.term_epoch is None:
                self._terminate(r)
            elif reap:
                # Between SIGTERM and the end: an attempt ends when its worker has exited.
                self.next_reap = now + REAP_EVERY_S
                self._close_attempts(r, time.time(), gone_only=True)

    def stop(self) -> None:
        super().stop()
        for r in self.raylets:
            r.lines.close()
            if r.proc.stdin is not None:
                with contextlib.suppress(OSError):
                    r.proc.stdin.close()

    # ------------------------------------------------------------------ after the run

    def attempt_node(self, start: dict[str, Any], t: float) -> int:
        index = int(start.get("raylet", -1))
        return self.raylets[index].node if 0 <= index < len(self.raylets) else -1

    def details(self) -> dict[str, Any]:
        out = super().details()
        rel = self.ctx.rel
        out["init_s"] = self.seen.get("head", {}).get("init_s")
        out["ray_dir"] = str(self.ray_dir)
        out["raylets"] = [
            {"raylet": r.index, "node": r.node, "pool": r.pool, "cores": len(r.block),
             "started_s": rel(r.started_epoch), "start_s": r.start_s,
             "up_s": rel(r.up_epoch) if r.up_epoch is not None else None,
             "sigterm_s": rel(r.term_epoch) if r.term_epoch is not None else None,
             "lost_s": rel(r.lost_epoch) if r.lost_epoch is not None else None,
             "ray_node_id": r.ray_node_id} for r in self.raylets]
        return out


def _last_line(raylet: _Raylet) -> str:
    err = raylet.lines.path.with_name("err.txt")
    try:
        lines = [ln for ln in err.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no stderr)"
    return lines[-1][:300] if lines else "(no stderr)"
