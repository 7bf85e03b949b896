"""The ZeroMQ coordinator: one ROUTER socket that hands out a bag of tasks to pulling workers.

Run as ``python -m schedsim.live.zmq.coordinator CONFIG.json`` (written by
:mod:`schedsim.live.zmq.runner`). It binds a loopback TCP port, prints one line
``{"event": "listening", "endpoint": ...}`` and serves: each ``ready`` (a worker's free slot)
gets the next queued task, each ``result`` is written to the journal and frees the slot again.
A worker silent for the heartbeat timeout is given up: its running tasks are journalled as
preempted and go back to the front of the queue while they have retries left, else they fail.
When every task is done or failed it tells the workers to stop, journals a summary and exits.

The journal (``journal`` in the config) is append-only JSON lines, one per event (worker,
dispatch, result, preempted, summary), flushed as written: the run reads it while it grows.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import zmq

from schedsim.live.zmq import protocol as p


@dataclass
class _Worker:
    node: int
    slots: int
    generation: int  # bumped at each hello: requests of an earlier registration are stale
    last_heard: float
    running: dict[int, tuple[int, int, float]] = field(default_factory=dict)
    # slot -> (task, attempt, dispatch epoch)
    lost: bool = False


class Coordinator:
    """The bag, the workers and the journal (one thread, one poll loop)."""

    def __init__(self, config: dict[str, Any], journal: IO[str], token: str) -> None:
        self.token = token
        self.params = p.Params(**config["params"])
        self.args: list[list[str]] = config["tasks"]  # per task: its command-line arguments
        self.out_dir = Path(config["out_dir"]) if config.get("out_dir") else None
        self.journal = journal
        self.queue: deque[int] = deque(range(len(self.args)))
        self.tries = [0] * len(self.args)
        self.lost_tries = [0] * len(self.args)
        self.done = 0
        self.failed = 0
        self.requests: deque[tuple[bytes, int, int]] = deque()  # (worker, generation, slot)
        self.workers: dict[bytes, _Worker] = {}
        self.joined = 0
        self.given_up = 0
        self.refused = 0  # messages without the run's token, or not understood
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        # Loopback only: live runs never listen beyond this host.
        self.sock.bind("tcp://127.0.0.1:*")
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)

    def log(self, event: str, **fields: Any) -> None:
        self.journal.write(json.dumps({"event": event, "epoch": time.time(), **fields}) + "\n")
        self.journal.flush()

    def send(self, who: bytes, kind: str, **fields: Any) -> None:
        self.sock.send_multipart([who, p.encode(kind, **fields)])

    # ------------------------------------------------------------------ the loop

    def serve(self) -> None:
        interval = self.params.heartbeat_interval_s
        next_beat = time.monotonic() + interval
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        while self.done + self.failed < len(self.args):
            wait_ms = math.ceil(max(0.0, next_beat - time.monotonic()) * 1000.0)
            if poller.poll(wait_ms):
                # Drain what is there before dispatching: results free slots in bulk.
                while True:
                    try:
                        frames = self.sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self.handle(frames)
                self.dispatch()
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + interval
                self.check_workers(now)
                self.dispatch()
        for who, w in self.workers.items():
            if not w.lost:
                self.send(who, p.STOP)
        self.log("summary", done=self.done, failed=self.failed, workers_joined=self.joined,
                 workers_lost=self.given_up, refused=self.refused,
                 params=self.params.as_dict())

    def handle(self, frames: list[bytes]) -> None:
        who, msg = frames[0], p.decode(frames[1] if len(frames) > 1 else b"")
        if msg.get("token") != self.token:
            self.refused += 1
            return
        try:
            self.serve_message(who, msg, frames)
        except (KeyError, ValueError, TypeError):
            self.refused += 1

    def serve_message(self, who: bytes, msg: dict[str, Any], frames: list[bytes]) -> None:
        kind = msg.get("type")
        w = self.workers.get(who)
        if kind == p.HELLO:
            self.hello(who, msg)
            return
        if w is None or w.lost:
            # Given up (or never seen): it must drop what it runs and register again.
            self.send(who, p.RECONNECT)
            return
        w.last_heard = time.monotonic()
        if kind == p.READY:
            self.requests.append((who, w.generation, int(msg["slot"])))
        elif kind == p.RESULT:
            self.result(who, w, msg, frames[2] if len(frames) > 2 else b"")

    def hello(self, who: bytes, msg: dict[str, Any]) -> None:
        old = self.workers.get(who)
        if old is not None and not old.lost:
            self.lose(old, "hello again")
        generation = old.generation + 1 if old else 0
        w = _Worker(int(msg["node"]), int(msg["slots"]), generation, time.monotonic())
        self.workers[who] = w
        self.joined += 1
        self.log("worker", node=w.node, slots=w.slots, generation=generation)
        self.send(who, p.WELCOME, **self.params.as_dict())

    def dispatch(self) -> None:
        while self.queue and self.requests:
            who, generation, slot = self.requests.popleft()
            w = self.workers.get(who)
            if w is None or w.lost or w.generation != generation or slot in w.running:
                continue
            task = self.queue.popleft()
            self.tries[task] += 1
            now = time.time()
            w.running[slot] = (task, self.tries[task], now)
            self.send(who, p.TASK, task=task, attempt=self.tries[task], slot=slot,
                      args=self.args[task])
            self.log("dispatch", task=task, attempt=self.tries[task], node=w.node, slot=slot)

    def result(self, who: bytes, w: _Worker, msg: dict[str, Any], output: bytes) -> None:
        received = time.time()  # its journal line's epoch, less this: the coordinator's time
        slot = int(msg["slot"])
        task, attempt, dispatched = w.running.get(slot, (-1, -1, 0.0))
        if task != int(msg["task"]) or attempt != int(msg["attempt"]):
            return  # not what this slot runs now (an attempt already given up)
        del w.running[slot]
        ok = bool(msg["ok"])
        if self.out_dir is not None and ok:
            (self.out_dir / f"{task}.out").write_bytes(output)
        if ok:
            self.done += 1
        else:
            self.failed += 1
        self.log("result", task=task, attempt=attempt, node=w.node, slot=slot, ok=ok,
                 dispatch_epoch=dispatched, start_epoch=msg.get("start_epoch"),
                 end_epoch=msg.get("end_epoch"), returncode=msg.get("returncode"),
                 output=msg.get("output"), error=msg.get("error"),
                 bytes_received=len(output), received_epoch=received)
        # The result is also the slot's next request (one message less per task).
        self.requests.append((who, w.generation, slot))

    def check_workers(self, now: float) -> None:
        timeout = self.params.heartbeat_timeout_s
        for who, w in self.workers.items():
            if w.lost:
                continue
            silent = now - w.last_heard
            if silent > timeout:
                self.lose(w, f"silent for {silent:.3f} s")
            else:
                self.send(who, p.HEARTBEAT)

    def lose(self, w: _Worker, why: str) -> None:
        """Give a worker up: its tasks go back to the front of the queue, or fail."""
        w.lost = True
        self.given_up += 1
        self.log("lost", node=w.node, why=why, tasks=sorted(t for t, _a, _d in
                                                             w.running.values()))
        for slot, (task, attempt, dispatched) in sorted(w.running.items(), reverse=True):
            self.lost_tries[task] += 1
            requeued = self.lost_tries[task] <= self.params.max_retries
            if requeued:
                self.queue.appendleft(task)
            else:
                self.failed += 1
            self.log("preempted", task=task, attempt=attempt, node=w.node, slot=slot,
                     dispatch_epoch=dispatched, requeued=requeued)
        w.running.clear()

    def close(self) -> None:
        self.sock.close(0)
        self.ctx.term()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m schedsim.live.zmq.coordinator CONFIG.json\n")
        return 2
    config = json.loads(Path(args[0]).read_text())
    with open(config["journal"], "a", encoding="utf-8") as journal:
        coord = Coordinator(config, journal, os.environ.get(p.TOKEN_ENV, ""))
        try:
            print(json.dumps({"event": "listening", "endpoint": coord.endpoint}), flush=True)
            coord.serve()
            # The stops are queued; give them a moment to leave (LINGER is 0).
            time.sleep(0.05)
        finally:
            coord.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
