"""How many task slots a live run may ask for on this host.

The zfp task is CPU-bound, so a live run running it gets at most
:data:`ZFP_SLOTS_PER_CPU` slots per CPU. The waiting task uses no CPU while it waits, so its
limit is what the host can hold: its memory (``MemAvailable``, less a margin, at the memory
each worker and each node was measured to take here, docs/live.md) and the file handles of
the one process that holds a connection per worker (``RLIMIT_NOFILE``: the Work Queue manager
keeps a socket per worker; Ray's GCS and driver keep a few per worker and per node). The
figures per worker are proportional-set sizes (shared pages counted once), measured with the
waiting task running; they are constants, not measured again at each run.
"""

from __future__ import annotations

import math
import os
import resource
from dataclasses import dataclass

ZFP_SLOTS_PER_CPU = 2
MEMORY_SHARE = 0.8  # of MemAvailable: the rest is left to the host and the run's own processes
FD_RESERVE = 64  # file handles the manager or driver needs besides its connections
MIB = 1024.0**2


@dataclass(frozen=True)
class Footprint:
    """Memory and file handles one worker slot, and one node, take on this host."""

    slot_bytes: float  # one slot's worker process and its running task (PSS)
    node_bytes: float  # processes a node has besides its slots (PSS)
    slot_fds: int  # file handles the busiest platform process holds per slot
    node_fds: int  # ... and per node


# work_queue_worker + sh + wait_task per slot; the node's sh. The manager: one socket per worker.
WORKQUEUE = Footprint(slot_bytes=4.0 * MIB, node_bytes=0.5 * MIB, slot_fds=1, node_fds=0)
# A Ray worker process per slot; a node is its launcher, raylet and two agents. GCS and driver
# keep connections to every worker and raylet.
RAY = Footprint(slot_bytes=70.0 * MIB, node_bytes=230.0 * MIB, slot_fds=4, node_fds=16)


@dataclass(frozen=True)
class SlotLimit:
    """The most slots a live run may have at once here, and why (one phrase)."""

    slots: int
    why: str


def mem_available() -> float:
    """Bytes the kernel says can be allocated without swapping (``MemAvailable``)."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    return 0.0


def open_files_limit() -> int:
    """This process's soft RLIMIT_NOFILE, which the platform's processes inherit."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def zfp_limit() -> SlotLimit:
    cpus = os.cpu_count() or 1
    return SlotLimit(ZFP_SLOTS_PER_CPU * cpus,
                     f"{ZFP_SLOTS_PER_CPU} per CPU of this host: the zfp task is CPU-bound")


def wait_limit(platform: str, cores_per_node: int, *, available: float | None = None,
               nofile: int | None = None) -> SlotLimit:
    """The waiting task's limit for ``platform`` with nodes of ``cores_per_node`` slots."""
    fp = RAY if platform == "ray" else WORKQUEUE
    available = mem_available() if available is None else available
    nofile = open_files_limit() if nofile is None else nofile
    cores = max(1, cores_per_node)
    per_slot = fp.slot_bytes + fp.node_bytes / cores
    by_memory = math.floor(MEMORY_SHARE * available / per_slot)
    fds_per_slot = fp.slot_fds + fp.node_fds / cores
    by_files = math.floor(max(0, nofile - FD_RESERVE) / fds_per_slot)
    memory = (f"memory: {MEMORY_SHARE:.0%} of {available / 1024**3:.1f} GiB available at "
              f"{per_slot / MIB:.1f} MiB per slot")
    files = f"file handles: RLIMIT_NOFILE {nofile} at {fds_per_slot:g} per slot"
    why = f"{memory}; {files}" if by_memory <= by_files else f"{files}; {memory}"
    return SlotLimit(max(0, min(by_memory, by_files)), why)
