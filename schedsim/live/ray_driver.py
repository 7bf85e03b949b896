"""The Ray side of a live run: a driver process with its own local Ray cluster.

Run as ``python -m schedsim.live.ray_driver CONFIG.json`` by :mod:`schedsim.live.ray`, in a
session of its own, so that ``ray.init`` and every process Ray starts (GCS, raylet, workers)
share that session and die with it. As in the RFC's proof of concept, a remote function
(``num_cpus=1``, Ray's default retries) runs the task's binary (``compress_task``, or
``wait_task`` for the waiting task) through ``subprocess``; the driver submits every task at
once, then collects results as they come (``ray.wait``), printing one JSON line per task on
stdout.

Node capacity, mode ``slots`` (the zfp task). One raylet holds ``slots`` CPUs. A task first
claims a free *slot* (an ``flock`` on ``slots/<k>.lock``) among those whose node is up (no
``slots/<k>.down`` marker), waiting while none is free, and only then runs the binary. The
parent marks a lost node's slots down and kills the Ray workers running there, so lost or
booting nodes really take their cores away, and Ray retries the killed tasks as worker crashes.

Mode ``nodes`` (the waiting task). The driver's own node is the head, with no CPUs; every
scenario node is a raylet of its own (:mod:`schedsim.live.ray_raylet`) that the parent starts
and kills. The driver prints the head's address, waits for ``go`` on stdin (the parent has
started the first nodes), then submits. A task claims a slot among its raylet's block
(``SCHEDSIM_SLOTS``), which Ray keeps free, so the slot only names where it ran; its output
comes back to the driver as the task's return value, through Ray's object store.

Each attempt writes a ``.start`` and an ``.end`` file (JSON) under ``attempts/``, which the
parent reads for per-attempt records and for whom to kill. If the parent goes away (this
process's stdin reaches end of file), the driver kills its own session and exits.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from schedsim.live.processes import session_members

ABANDONED = "abandoned"  # an attempt that found its slot marked down after claiming it
# schedsim.scenario.WAIT_TASK, not imported: every Ray worker imports this module.
WAIT_TASK = "wait"
SLOTS = "slots"  # mode: one raylet, nodes emulated by blocks of slots (the zfp task)
NODES = "nodes"  # mode: a raylet per node (the waiting task)
RAYLET_ENV = "SCHEDSIM_RAYLET"  # set by the parent for each raylet; its workers inherit it
SLOTS_ENV = "SCHEDSIM_SLOTS"  # "first,count": the raylet's block of slots


def emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def _kill_own_session() -> None:
    me = os.getpid()
    for pid in session_members({os.getsid(0)}):
        if pid != me:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    os._exit(3)


def die_with_parent(go: threading.Event | None = None) -> None:
    """Read stdin until end of file (``go`` is set by a ``go`` line), then kill our session."""
    try:
        for line in sys.stdin.buffer:
            if go is not None and line.strip() == b"go":
                go.set()
    except OSError:
        pass
    _kill_own_session()


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _claim_slot(slots_dir: Path, slots: range, task: int, attempt: str,
                attempts_dir: Path) -> tuple[int, int, float]:
    """Wait for a free slot of a live node; returns (fd holding its lock, slot, claim time)."""
    raylet = int(os.environ.get(RAYLET_ENV, "-1"))
    while True:
        for k in slots:
            if (slots_dir / f"{k}.down").exists():
                continue
            fd = os.open(slots_dir / f"{k}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            claimed = time.time()
            # Announce the attempt before checking the marker again: a parent that marked
            # the slot down after our first look then either sees this file (and kills us)
            # or we see its marker here.
            _write_json(attempts_dir / f"{attempt}.start",
                        {"task": task, "attempt": attempt, "slot": k, "pid": os.getpid(),
                         "pgid": os.getpgid(0), "claim_epoch": claimed, "raylet": raylet})
            if (slots_dir / f"{k}.down").exists():
                _write_json(attempts_dir / f"{attempt}.end",
                            {"status": ABANDONED, "end_epoch": time.time()})
                os.close(fd)
                continue
            return fd, k, claimed
        time.sleep(0.002)


def _own_slots(cfg: dict[str, Any]) -> range:
    """Mode nodes: the block of slots of the raylet running us; mode slots: every slot."""
    block = os.environ.get(SLOTS_ENV)
    if cfg["mode"] == NODES and block:
        first, count = (int(v) for v in block.split(","))
        return range(first, first + count)
    return range(int(cfg["slots"]))


def _task_argv(cfg: dict[str, Any], index: int, out_file: Path) -> list[str]:
    if cfg["task"] == WAIT_TASK:
        return [cfg["binary"], "--seconds", repr(cfg["durations"][index]),
                "--bytes", str(cfg["output_size"]), "--out", str(out_file)]
    return [cfg["binary"], "--n", str(cfg["n"]), "--tolerance", repr(cfg["tolerance"]),
            "--seed", str(cfg["seed_base"] + index), "--out", str(out_file)]


def run_task(cfg: dict[str, Any], index: int) -> dict[str, Any]:
    """One attempt of task ``index``: claim a slot, run the task's binary, report."""
    entry = time.time()
    attempt = uuid.uuid4().hex
    attempts_dir = Path(cfg["attempts_dir"])
    fd, slot, claimed = _claim_slot(Path(cfg["slots_dir"]), _own_slots(cfg), index, attempt,
                                    attempts_dir)
    data = b""
    try:
        if cfg["task"] == WAIT_TASK:
            out_file = Path(cfg["out_dir"]) / f"task_{index}.{attempt}.out"
        else:
            out_file = Path(cfg["out_dir"]) / f"task_{index}.zfp"
        argv = _task_argv(cfg, index, out_file)
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        process_s = time.perf_counter() - t0
        if cfg["task"] == WAIT_TASK and proc.returncode == 0:
            # The output goes back to the driver as the return value (the object store).
            data = out_file.read_bytes()
            out_file.unlink()
        end = time.time()
        output: Any = None
        try:
            output = json.loads(proc.stdout)
        except ValueError:
            output = proc.stdout
        status = "ok" if proc.returncode == 0 else "failed"
        record = {"status": status, "end_epoch": end, "entry_epoch": entry,
                  "process_s": process_s, "returncode": proc.returncode, "output": output}
        _write_json(attempts_dir / f"{attempt}.end", record)
    finally:
        os.close(fd)
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["(no stderr)"])[0]
        raise RuntimeError(f"{Path(cfg['binary']).name} exited with {proc.returncode}: {first}")
    return {"slot": slot, "attempt": attempt, "claim_epoch": claimed, "end_epoch": end,
            "process_s": process_s, "output": output, "data": data}


def main(argv: list[str]) -> int:
    cfg = json.loads(Path(argv[0]).read_text())
    go = threading.Event()
    threading.Thread(target=die_with_parent, args=(go,), daemon=True).start()
    import ray

    started = time.monotonic()
    nodes = cfg["mode"] == NODES
    # Mode nodes: the head runs no task; the parent's raylets bring the CPUs.
    ray.init(address="local", num_cpus=0 if nodes else int(cfg["slots"]),
             include_dashboard=False, ignore_reinit_error=False, log_to_driver=False,
             _temp_dir=cfg["ray_dir"], object_store_memory=cfg.get("object_store_bytes"))
    init_s = time.monotonic() - started
    if nodes:
        emit({"event": "head", "gcs_address": ray.get_runtime_context().gcs_address,
              "init_s": init_s})
        go.wait()
    remote = ray.remote(num_cpus=1)(run_task)
    emit({"event": "ready", "init_s": init_s, "ray_version": ray.__version__,
          "submit_epoch": time.time()})
    refs = {remote.remote(cfg, i): i for i in range(int(cfg["tasks"]))}
    submitted = time.time()
    pending = list(refs)
    done = failed = 0
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        for ref in ready:
            index = refs.pop(ref)  # dropping the reference frees the result in Ray
            received = time.time()
            try:
                result = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - a failed task is reported, not fatal
                failed += 1
                text = (str(exc).strip().splitlines() or [""])[0]
                emit({"event": "task_done", "task_index": index, "ok": False,
                      "error": f"{type(exc).__name__}: {text}"[:300],
                      "received_epoch": received})
                continue
            done += 1
            result["bytes_received"] = len(result.pop("data"))
            emit({"event": "task_done", "task_index": index, "ok": True,
                  "received_epoch": received, **result})
    emit({"event": "summary", "tasks": int(cfg["tasks"]), "done": done, "failed": failed,
          "submitted_epoch": submitted, "end_epoch": time.time()})
    shutdown = time.monotonic()
    ray.shutdown()
    emit({"event": "shutdown", "shutdown_s": time.monotonic() - shutdown})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
