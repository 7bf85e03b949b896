"""How many task slots a live run may ask for on this host.

The zfp task is CPU-bound, so a live run running it gets at most :data:`ZFP_SLOTS_PER_CPU`
slots per CPU. The waiting task uses no CPU while it waits, so its limit is what the host can
hold, the smallest of three:

- memory: ``MemAvailable`` (less a margin) at the memory each slot and each node takes;
- file handles: ``RLIMIT_NOFILE`` of the busiest platform process, which every process of the
  run inherits (the Work Queue manager keeps a socket per worker; Ray's GCS a few per worker
  and per node);
- process ids: ``kernel.pid_max``, ``kernel.threads-max`` and ``RLIMIT_NPROC`` count threads,
  less the threads the host already runs.

What a slot and a node take was measured here with the waiting task running
(``bench/live_scale.py``: proportional set sizes, so shared pages count once, plus kernel
structures; docs/live.md has the figures); the constants below are those figures rounded up,
not measured again at each run.
"""

from __future__ import annotations

import math
import os
import resource
from dataclasses import dataclass
from pathlib import Path

ZFP_SLOTS_PER_CPU = 2
MEMORY_SHARE = 0.8  # of MemAvailable: the rest is left to the host and the run's own processes
FD_RESERVE = 64  # file handles the manager or GCS needs besides its connections
THREAD_RESERVE = 1000  # threads left to the rest of the host
MIB = 1024.0**2


@dataclass(frozen=True)
class Footprint:
    """What one worker slot, and one node besides its slots, take on this host."""

    slot_bytes: float  # memory of a slot's worker process(es) and running task
    node_bytes: float
    slot_fds: float  # file handles the busiest platform process holds per slot
    node_fds: float
    slot_threads: float  # threads (each takes a process id)
    node_threads: float


# A slot: work_queue_worker, the sh it runs the task with, wait_task (0.6 MiB of PSS together,
# measured) and their kernel structures. A node: its sh. The manager: one socket per worker.
WORKQUEUE = Footprint(slot_bytes=1.5 * MIB, node_bytes=0.5 * MIB, slot_fds=1, node_fds=0,
                      slot_threads=3, node_threads=1)
# A slot: Ray worker processes of about 50 MiB of PSS and 23 threads each, which Ray starts up
# to about two per CPU at times, and wait_task. A node: its launcher, raylet and two agents
# (180 MiB, 90 threads). The GCS held 106 file handles for 4 nodes and 32 slots.
RAY = Footprint(slot_bytes=100.0 * MIB, node_bytes=180.0 * MIB, slot_fds=3, node_fds=12,
                slot_threads=50, node_threads=100)
# A slot: wait_task (0.2 MiB of PSS) and its pipes and pidfd in the worker (3 handles). A node:
# its Python worker (11 MiB, 3 threads) and its connection at the coordinator.
ZMQ = Footprint(slot_bytes=1.0 * MIB, node_bytes=16.0 * MIB, slot_fds=3, node_fds=2,
                slot_threads=1, node_threads=3)
FOOTPRINTS = {"workqueue": WORKQUEUE, "ray": RAY, "zmq": ZMQ}


@dataclass(frozen=True)
class SlotLimit:
    """The most slots a live run may have at once here, and why (one phrase)."""

    slots: int
    why: str


def mem_available() -> float:
    """Bytes the kernel says can be allocated without swapping (``MemAvailable``)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def open_files_limit() -> int:
    """This process's soft RLIMIT_NOFILE, which the platform's processes inherit."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def threads_left() -> int:
    """Process ids this user may still take: the kernel's and the user's caps, less what runs."""
    caps = []
    for name in ("pid_max", "threads-max"):
        try:
            caps.append(int(Path(f"/proc/sys/kernel/{name}").read_text()))
        except (OSError, ValueError):
            pass
    soft, _hard = resource.getrlimit(resource.RLIMIT_NPROC)
    if soft != resource.RLIM_INFINITY:
        caps.append(soft)
    try:
        running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[1])
    except (OSError, ValueError, IndexError):
        running = 0
    return max(0, min(caps, default=1 << 22) - running)


def zfp_limit() -> SlotLimit:
    cpus = os.cpu_count() or 1
    return SlotLimit(ZFP_SLOTS_PER_CPU * cpus,
                     f"{ZFP_SLOTS_PER_CPU} per CPU of this host: the zfp task is CPU-bound")


def wait_limit(platform: str, cores_per_node: int, *, available: float | None = None,
               nofile: int | None = None, threads: int | None = None) -> SlotLimit:
    """The waiting task's limit on ``platform`` with nodes of ``cores_per_node`` slots."""
    fp = FOOTPRINTS.get(platform, WORKQUEUE)
    available = mem_available() if available is None else available
    nofile = open_files_limit() if nofile is None else nofile
    threads = threads_left() if threads is None else threads
    cores = max(1, cores_per_node)
    per_slot = fp.slot_bytes + fp.node_bytes / cores
    fds = fp.slot_fds + fp.node_fds / cores
    tids = fp.slot_threads + fp.node_threads / cores
    limits = [
        (math.floor(MEMORY_SHARE * available / per_slot),
         f"memory: {MEMORY_SHARE:.0%} of {available / 1024**3:.1f} GiB available at "
         f"{per_slot / MIB:.1f} MiB per slot"),
        (math.floor(max(0, nofile - FD_RESERVE) / fds),
         f"file handles: RLIMIT_NOFILE {nofile} at {fds:g} per slot"),
        (math.floor(max(0, threads - THREAD_RESERVE) / tids),
         f"process ids: {threads} left at {tids:g} per slot"),
    ]
    slots, why = min(limits)
    return SlotLimit(max(0, slots), why)
