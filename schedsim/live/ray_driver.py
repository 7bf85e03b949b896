"""The Ray side of a live run: a driver process with its own local Ray cluster.

Run as ``python -m schedsim.live.ray_driver CONFIG.json`` by :mod:`schedsim.live.ray`, in a
session of its own, so that ``ray.init`` and every process Ray starts (GCS, raylet, workers)
share that session and die with it. As in the RFC's proof of concept, a remote function
(``num_cpus=1``, Ray's default retries) runs the same ``compress_task`` binary through
``subprocess``; the driver submits every task at once, then collects results as they come
(``ray.wait``), printing one JSON line per task on stdout.

Node capacity. One raylet holds ``slots`` CPUs. A task first claims a free *slot* (an
``flock`` on ``slots/<k>.lock``) among those whose node is up (no ``slots/<k>.down``
marker), waiting while none is free, and only then runs the binary. The parent marks a lost
node's slots down and kills the Ray workers running there, so lost or booting nodes really take
their cores away, and Ray retries the killed tasks as worker crashes. Each attempt writes a
``.start`` and an ``.end`` file (JSON) under ``attempts/``, which the parent reads for
per-attempt records and for whom to kill.

If the parent goes away (this process's stdin reaches end of file), the driver kills its own
session and exits.
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


def _die_with_parent() -> None:
    try:
        while sys.stdin.buffer.read(1024):
            pass
    except OSError:
        pass
    _kill_own_session()


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _claim_slot(slots_dir: Path, slots: int, task: int, attempt: str,
                attempts_dir: Path) -> tuple[int, int, float]:
    """Wait for a free slot of a live node; returns (fd holding its lock, slot, claim time)."""
    while True:
        for k in range(slots):
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
                         "pgid": os.getpgid(0), "claim_epoch": claimed})
            if (slots_dir / f"{k}.down").exists():
                _write_json(attempts_dir / f"{attempt}.end",
                            {"status": ABANDONED, "end_epoch": time.time()})
                os.close(fd)
                continue
            return fd, k, claimed
        time.sleep(0.002)


def run_task(cfg: dict[str, Any], index: int) -> dict[str, Any]:
    """One attempt of task ``index``: claim a slot, run compress_task, report."""
    entry = time.time()
    attempt = uuid.uuid4().hex
    attempts_dir = Path(cfg["attempts_dir"])
    fd, slot, claimed = _claim_slot(Path(cfg["slots_dir"]), int(cfg["slots"]), index, attempt,
                                    attempts_dir)
    try:
        out_file = Path(cfg["out_dir"]) / f"task_{index}.zfp"
        argv = [cfg["binary"], "--n", str(cfg["n"]), "--tolerance", repr(cfg["tolerance"]),
                "--seed", str(cfg["seed_base"] + index), "--out", str(out_file)]
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        process_s = time.perf_counter() - t0
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
        raise RuntimeError(f"compress_task exited with {proc.returncode}: {first}")
    return {"slot": slot, "attempt": attempt, "claim_epoch": claimed, "end_epoch": end,
            "process_s": process_s, "output": output}


def main(argv: list[str]) -> int:
    cfg = json.loads(Path(argv[0]).read_text())
    threading.Thread(target=_die_with_parent, daemon=True).start()
    import ray

    started = time.monotonic()
    ray.init(address="local", num_cpus=int(cfg["slots"]), include_dashboard=False,
             ignore_reinit_error=False, log_to_driver=False, _temp_dir=cfg["ray_dir"])
    init_s = time.monotonic() - started
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
            index = refs[ref]
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
            emit({"event": "task_done", "task_index": index, "ok": True,
                  "received_epoch": received, **result})
    emit({"event": "summary", "tasks": len(refs), "done": done, "failed": failed,
          "submitted_epoch": submitted, "end_epoch": time.time()})
    shutdown = time.monotonic()
    ray.shutdown()
    emit({"event": "shutdown", "shutdown_s": time.monotonic() - shutdown})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
