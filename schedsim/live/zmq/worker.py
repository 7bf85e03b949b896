"""A ZeroMQ worker: one node's DEALER socket that pulls tasks for its slots and runs them.

Run as ``python -m schedsim.live.zmq.worker --endpoint E --node N --slots C --task-binary B
--dir D`` (started by :mod:`schedsim.live.zmq.runner`, one per node). It says hello, asks for
one task per free slot, runs each task (``compress_task`` or ``wait_task`` with the arguments
the coordinator sent, plus ``--out``) as a child process and sends back a result with the
task's JSON line and its output file. A child's exit is seen through a pidfd in the same poll
as the socket, so a result leaves as soon as its task ends.

It heartbeats the coordinator and leaves (killing its tasks) when the coordinator has been
silent for the heartbeat timeout or says ``stop``; told ``reconnect`` (it had been given up),
it kills its tasks and says hello again. Its tasks get SIGKILL if it dies
(``PR_SET_PDEATHSIG``), so killing a worker never leaves a task behind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from schedsim.interrupt import with_death_signal
from schedsim.live.zmq import protocol as p

POLL_FALLBACK_MS = 5.0  # without pidfds, how often running tasks are looked at
HAVE_PIDFD = hasattr(os, "pidfd_open")  # Linux 5.3 and later


@dataclass
class _Running:
    task: int
    attempt: int
    proc: subprocess.Popen[bytes]
    out: Path
    start_epoch: float
    pidfd: int  # -1 without pidfd_open


class Worker:
    def __init__(self, args: argparse.Namespace) -> None:
        self.node: int = args.node
        self.slots: int = args.slots
        self.binary: str = args.task_binary
        self.dir = Path(args.dir)
        self.params = p.Params(args.interval, args.liveness)
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.IDENTITY, p.identity(self.node))
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(args.endpoint)
        self.poller = zmq.Poller()
        self.poller.register(self.sock, zmq.POLLIN)
        self.running: dict[int, _Running] = {}  # slot -> its task
        self.by_fd: dict[int, int] = {}  # pidfd -> slot
        self.last_heard = time.monotonic()
        self.token = os.environ.get(p.TOKEN_ENV, "")

    def send(self, kind: str, *extra: bytes, **fields: Any) -> None:
        self.sock.send_multipart([p.encode(kind, token=self.token, **fields), *extra])

    def hello(self) -> None:
        self.send(p.HELLO, node=self.node, slots=self.slots)
        for slot in range(self.slots):
            self.send(p.READY, slot=slot)

    # ------------------------------------------------------------------ the loop

    def serve(self) -> None:
        self.hello()
        interval = self.params.heartbeat_interval_s
        next_beat = time.monotonic() + interval
        while True:
            wait_s = max(0.0, next_beat - time.monotonic())
            if self.running and not HAVE_PIDFD:
                wait_s = min(wait_s, POLL_FALLBACK_MS / 1000.0)
            events = dict(self.poller.poll(math.ceil(wait_s * 1000.0)))
            if events.pop(self.sock, 0):
                if not self.receive():
                    return
            for fd in events:
                if isinstance(fd, int) and fd in self.by_fd:
                    self.finish(self.by_fd[fd])
            if not HAVE_PIDFD:
                for slot in [s for s, r in self.running.items() if r.proc.poll() is not None]:
                    self.finish(slot)
            now = time.monotonic()
            if now - self.last_heard > self.params.heartbeat_timeout_s:
                return  # the coordinator is gone
            if now >= next_beat:
                next_beat = now + interval
                self.send(p.HEARTBEAT)

    def receive(self) -> bool:
        """Handle every waiting message; False when told to stop."""
        while True:
            try:
                frames = self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return True
            self.last_heard = time.monotonic()
            msg = p.decode(frames[0])
            kind = msg.get("type")
            if kind == p.TASK:
                self.launch(int(msg["slot"]), int(msg["task"]), int(msg["attempt"]),
                            [str(a) for a in msg["args"]])
            elif kind == p.STOP:
                return False
            elif kind == p.RECONNECT:
                self.kill_all()
                self.hello()

    def launch(self, slot: int, task: int, attempt: int, args: list[str]) -> None:
        out = self.dir / f"t{task}.{attempt}.out"
        argv, preexec = with_death_signal([self.binary, *args, "--out", str(out)])
        start = time.time()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, cwd=self.dir, preexec_fn=preexec)
        except OSError as exc:
            self.send(p.RESULT, task=task, attempt=attempt, slot=slot, ok=False,
                      start_epoch=start, end_epoch=time.time(), error=str(exc))
            return
        pidfd = -1
        if HAVE_PIDFD:
            pidfd = os.pidfd_open(proc.pid)
            self.poller.register(pidfd, zmq.POLLIN)
            self.by_fd[pidfd] = slot
        self.running[slot] = _Running(task, attempt, proc, out, start, pidfd)

    def finish(self, slot: int) -> None:
        run = self.running.pop(slot)
        stdout, stderr = run.proc.communicate()
        end = time.time()
        self._forget(run)
        fields: dict[str, Any] = {"task": run.task, "attempt": run.attempt, "slot": slot,
                                  "start_epoch": run.start_epoch, "end_epoch": end,
                                  "returncode": run.proc.returncode}
        output = b""
        ok = run.proc.returncode == 0
        if ok:
            try:
                fields["output"] = json.loads(stdout.decode().strip().splitlines()[-1])
                output = run.out.read_bytes()
            except (ValueError, IndexError, OSError) as exc:
                ok, fields["error"] = False, f"unreadable task output: {exc}"
        else:
            lines = stderr.decode(errors="replace").strip().splitlines()
            fields["error"] = lines[-1][:300] if lines else f"exit {run.proc.returncode}"
        with contextlib.suppress(OSError):
            run.out.unlink()
        self.send(p.RESULT, output, ok=ok, **fields)

    def _forget(self, run: _Running) -> None:
        if run.pidfd >= 0:
            self.poller.unregister(run.pidfd)
            del self.by_fd[run.pidfd]
            os.close(run.pidfd)

    def kill_all(self) -> None:
        for run in self.running.values():
            with contextlib.suppress(ProcessLookupError):
                run.proc.send_signal(signal.SIGKILL)
            run.proc.communicate()
            self._forget(run)
            with contextlib.suppress(OSError):
                run.out.unlink()
        self.running.clear()

    def close(self) -> None:
        self.kill_all()
        self.sock.close(0)
        self.ctx.term()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schedsim.live.zmq.worker")
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--node", type=int, required=True)
    parser.add_argument("--slots", type=int, required=True)
    parser.add_argument("--task-binary", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--interval", type=float, default=p.HEARTBEAT_INTERVAL_S)
    parser.add_argument("--liveness", type=int, default=p.HEARTBEAT_LIVENESS)
    worker = Worker(parser.parse_args(argv))
    try:
        worker.serve()
    finally:
        worker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
