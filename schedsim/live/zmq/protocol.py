"""What the ZeroMQ coordinator and its workers say to each other, and when.

Each message is one JSON frame (the coordinator's ROUTER prefixes the worker's identity); a
result carries the task's output file as a second frame. Worker to coordinator: ``hello``
(node, slots), ``ready`` (a free slot asks for a task), ``result`` (which also asks for the
slot's next task), ``heartbeat``. Coordinator to worker: ``welcome``, ``task`` (the task's
arguments; the worker adds ``--out``), ``heartbeat``, ``reconnect`` (it had been given up:
drop what runs and say hello again), ``stop``.

Every message from a worker carries the run's ``token`` (a fresh secret per run, handed to
the coordinator and the workers through the environment, :data:`TOKEN_ENV`): the port listens
on 127.0.0.1, but any local user could connect to it, and a message without the token is
dropped.

Liveness follows the ZeroMQ Guide's Paranoid Pirate pattern (chapter 4): both sides send a
heartbeat every :data:`HEARTBEAT_INTERVAL_S` and give the peer up after
:data:`HEARTBEAT_LIVENESS` intervals without any message from it. A SIGKILLed worker is thus
noticed by silence alone, about ``interval x liveness`` after it died.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

# ZeroMQ Guide ch. 4, Paranoid Pirate: HEARTBEAT_INTERVAL 1000 ms, HEARTBEAT_LIVENESS 3
# ("3-5 is reasonable").
HEARTBEAT_INTERVAL_S = 1.0
HEARTBEAT_LIVENESS = 3
# Guess: Ray's default max_retries (3); Work Queue retries lost tasks without limit.
MAX_RETRIES = 3

TOKEN_ENV = "SCHEDSIM_ZMQ_TOKEN"

HELLO, READY, RESULT, HEARTBEAT = "hello", "ready", "result", "heartbeat"
WELCOME, TASK, RECONNECT, STOP = "welcome", "task", "reconnect", "stop"


@dataclass(frozen=True)
class Params:
    """The coordinator's and workers' timing and retry parameters (docs/live.md)."""

    heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S
    heartbeat_liveness: int = HEARTBEAT_LIVENESS
    max_retries: int = MAX_RETRIES  # lost attempts a task may have beyond its first

    @property
    def heartbeat_timeout_s(self) -> float:
        """Silence after which a peer is given up."""
        return self.heartbeat_interval_s * self.heartbeat_liveness

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "heartbeat_timeout_s": self.heartbeat_timeout_s}


def identity(node: int) -> bytes:
    """A worker's ZeroMQ identity: its scenario node (a replacement node has a new id)."""
    return f"node-{node}".encode()


def encode(kind: str, **fields: Any) -> bytes:
    return json.dumps({"type": kind, **fields}, separators=(",", ":")).encode()


def decode(frame: bytes) -> dict[str, Any]:
    """A message as a dict; a frame that is no JSON object becomes ``{"type": "invalid"}``."""
    try:
        msg = json.loads(frame)
    except ValueError:
        return {"type": "invalid"}
    return msg if isinstance(msg, dict) else {"type": "invalid"}
