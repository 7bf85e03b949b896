"""Processes a live run starts, each in a session of its own, and how they are ended.

Every program a live run launches (the Work Queue manager, one session per worker node, the
Ray driver with the Ray cluster it starts) is started with ``start_new_session=True``. A
session, unlike a process group, also holds what its members start in groups of their own:
Work Queue workers run each task in a new process group, Ray's raylet starts each worker in a
new group, and both keep the session. So a node, or a whole Ray cluster, is ended by sending
SIGKILL to every member of its session, found by scanning ``/proc`` (Linux only, as live runs
are). :class:`Sessions` remembers every session it started and ends them all on success,
failure, timeout and Ctrl-C; :meth:`Sessions.close` then checks that nothing is left.

If the run itself is killed (SIGKILL), nobody is left to end the sessions: each program it
starts directly gets a signal from the kernel when the run dies (``PR_SET_PDEATHSIG``, set by
``setpriv`` before it execs the program, see :mod:`schedsim.interrupt`), and what those
started ends with them (docs/live.md).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any

from schedsim.interrupt import with_death_signal

PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name, or None if the process is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2:].split()


def session_members(sids: set[int]) -> list[int]:
    """Pids of live (not zombie) processes whose session id is in ``sids``."""
    found = []
    for entry in os.listdir(PROC):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is None or len(fields) < 4:
            continue
        if fields[0] != "Z" and int(fields[3]) in sids:
            found.append(int(entry))
    return found


def running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and bool(fields) and fields[0] != "Z"


def process_group(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[2]) if fields else None


def command_name(pid: int) -> str:
    try:
        return (PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""


def parent_pid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def _socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    fd_dir = PROC / str(pid) / "fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return inodes
    for name in names:
        try:
            target = os.readlink(fd_dir / name)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def tcp_local_ports(pids: list[int], remote_port: int) -> dict[int, int]:
    """Local port of each process's established IPv4 TCP connection to ``remote_port``.

    Work Queue logs a worker by the address of its connection to the manager; this maps the
    worker processes we started to those addresses (the TCP table is read once for all).
    """
    if not pids:
        return {}
    try:
        lines = (PROC / "self" / "net" / "tcp").read_text().splitlines()[1:]
    except OSError:
        return {}
    by_inode: dict[int, int] = {}
    for line in lines:
        cols = line.split()
        if len(cols) >= 10 and cols[3] == "01" and int(cols[2].split(":")[1], 16) == remote_port:
            by_inode[int(cols[9])] = int(cols[1].split(":")[1], 16)
    out = {}
    for pid in pids:
        for inode in _socket_inodes(pid):
            if inode in by_inode:
                out[pid] = by_inode[inode]
                break
    return out


def kill_session(sid: int) -> int:
    """SIGKILL every member of one session (the leader too); how many there were."""
    members = session_members({sid})
    for pid in members:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return len(members)


class Sessions:
    """The sessions one live run started; ends them all, and checks that it did."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[Any]] = []
        self.started: list[int] = []  # session ids, in start order

    def start(self, argv: Sequence[str | Path], *, stdout: IO[Any] | int | None = None,
              stderr: IO[Any] | int | None = None, stdin: int | None = subprocess.DEVNULL,
              cwd: Path | None = None, env: dict[str, str] | None = None,
              death_signal: int | None = signal.SIGKILL) -> subprocess.Popen[Any]:
        """Start ``argv`` as a new session; ``death_signal`` reaches it if this process dies
        (None: the program watches for that itself)."""
        args, preexec = [str(a) for a in argv], None
        if death_signal is not None:
            args, preexec = with_death_signal(args, death_signal)
        proc = subprocess.Popen(args, start_new_session=True, stdout=stdout, stderr=stderr,
                                stdin=stdin, cwd=cwd, env=env, preexec_fn=preexec)
        self.procs.append(proc)
        self.started.append(proc.pid)  # a new session's id is its leader's pid
        return proc

    def kill(self, proc: subprocess.Popen[Any]) -> int:
        """Kill one session; how many of its processes were left to kill."""
        left = kill_session(proc.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        return left

    def left(self) -> list[int]:
        return session_members(set(self.started))

    def close(self, grace_s: float = 10.0) -> None:
        """Kill every session started, reap the leaders and wait until none has a member."""
        for proc in self.procs:
            kill_session(proc.pid)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=grace_s)
        deadline = time.monotonic() + grace_s
        while True:
            left = self.left()
            if not left:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"processes of this live run survived SIGKILL: {left}")
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)


class OutputLines:
    """New complete lines of a file that another process appends to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None
        self._partial = ""

    def read(self) -> list[str]:
        if self._fh is None:
            if not self.path.exists():
                return []
            self._fh = self.path.open("r", encoding="utf-8", errors="replace")
        text = self._partial + self._fh.read()
        lines = text.split("\n")
        self._partial = lines.pop()
        return [line for line in lines if line.strip()]

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while a live run holds processes (main thread only)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
