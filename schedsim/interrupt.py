"""How schedsim stops: Ctrl-C gives one line and status 130, and child processes die with it.

The first Ctrl-C raises :class:`KeyboardInterrupt` in the main thread, so commands stop cleanly
(a sweep keeps every row already written, a pool kills its workers, a live run kills what it
started). A second Ctrl-C, or one that arrives while schedsim is already on its way out, exits
at once with the same line: stopping never waits on anything. :func:`install` is called before
any heavy module is imported, so even Ctrl-C during start-up gives the line, not a traceback.

Processes schedsim starts end when it does, even when it is killed with SIGKILL: on Linux they
ask the kernel for a signal when their parent dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere a
worker checks its parent's pid once a second. The death signal is tied to the *thread* that
forked, so children are started from the main thread.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

STATUS = 130  # 128 + SIGINT, as a shell reports a process ended by Ctrl-C
LINE = "schedsim: interrupted"
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

_state = {"interrupted": False, "leaving": False, "said": False}


def announce() -> int:
    """Write the one line (once, however often it is called) and return the exit status."""
    if not _state["said"]:
        _state["said"] = True
        _write(LINE + "\n")
    return STATUS


def _write(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed or a broken pipe: the status still says it
        pass


def _on_sigint(_signum: int, _frame: FrameType | None) -> None:
    if _state["interrupted"] or _state["leaving"]:
        announce()
        # No flush of stdout: a full pipe could block it. Children have a death signal or see
        # their pipes close.
        os._exit(STATUS)
    _state["interrupted"] = True
    raise KeyboardInterrupt


def install() -> None:
    """Ctrl-C from now on: the first raises KeyboardInterrupt, a second exits at once."""
    signal.signal(signal.SIGINT, _on_sigint)
    # Registered first, so it runs last: Python puts back the default action (death by
    # SIGINT, no line, status -2) only after every exit handler, unless SIGINT is ignored.
    atexit.register(signal.signal, signal.SIGINT, signal.SIG_IGN)


def leaving() -> None:
    """The command is over: a Ctrl-C now (at interpreter shutdown) exits at once, quietly."""
    _state["leaving"] = True


# --------------------------------------------------------------------------- parent death


def _prctl() -> Callable[..., int] | None:
    """libc's prctl on Linux, else None."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    except (OSError, AttributeError):
        return None


def die_with_parent(parent: int, sig: int = signal.SIGKILL) -> None:
    """Called in a child: end it with ``sig`` when ``parent`` (its parent's pid) dies."""
    prctl = _prctl()
    if prctl is not None and prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0:
        if os.getppid() != parent:  # it died before the request: nobody will signal
            os._exit(1)
        return
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                     name="schedsim-parent-watch").start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def with_death_signal(argv: Sequence[str], sig: int = signal.SIGKILL,
                      ) -> tuple[list[str], Callable[[], None] | None]:
    """``argv`` and a ``preexec_fn`` for :class:`subprocess.Popen` that give the child a death
    signal: ``setpriv --pdeathsig`` (util-linux) in front of ``argv`` where it exists, since
    any ``preexec_fn`` makes Popen fork the whole interpreter (about 60 ms here, instead of
    2 ms, which would delay a live run's nodes); else a ``preexec_fn`` that asks for it. The
    argv unchanged and no ``preexec_fn`` where the kernel has no such signal."""
    prctl = _prctl()
    if prctl is None:
        return list(argv), None
    setpriv = shutil.which("setpriv")
    if setpriv:
        name = signal.Signals(sig).name.removeprefix("SIG")
        return [setpriv, "--pdeathsig", name, "--", *argv], None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return list(argv), preexec
