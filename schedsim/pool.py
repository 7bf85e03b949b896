"""A process pool that stops at once: jobs run in worker processes, results come back in order
of completion, and an error or Ctrl-C ends every worker without waiting for the work queued.

The queue stays in this process: a worker holds one job at a time and gets the next only when
it returns a result, so stopping has nothing to cancel in the workers and kills them (SIGKILL)
instead of waiting for their jobs. Results already delivered to ``on_result`` (a sweep's
appended rows) are kept. Workers are started with the ``spawn`` method (a fork would copy the
progress bar's thread and its locks), ignore Ctrl-C (their parent decides) and die with their
parent even when it is killed (:func:`schedsim.interrupt.die_with_parent`).

A job may call :func:`report` to send progress within a job to ``on_progress`` in the parent;
with one worker the jobs run in this process and ``report`` calls it directly. Which process
ran a job never changes its result: jobs carry their own seeds.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from schedsim.errors import WorkerLost
from schedsim.interrupt import die_with_parent

T = TypeVar("T")
R = TypeVar("R")
STOP_GRACE_S = 5.0  # how long idle workers get to leave before they are killed
_sink: Callable[[Any], None] | None = None  # where report() sends, while a job runs


def report(payload: Any) -> None:
    """From inside a job: hand ``payload`` to the ``on_progress`` of the caller of run()."""
    if _sink is not None:
        _sink(payload)


def run(fn: Callable[[T], R], items: Sequence[T], *, workers: int,
        on_result: Callable[[int, R], None],
        on_progress: Callable[[int, Any], None] | None = None) -> None:
    """``fn(items[i])`` for every i, ``on_result(i, result)`` as each finishes.

    ``workers`` <= 1 (or a single item) runs in this process; more start a pool of at most
    one worker per item. ``fn`` must be picklable (a module-level function or a partial).
    """
    if workers <= 1 or len(items) <= 1:
        run_serial(fn, items, on_result, on_progress)
        return
    with ProcessPool(min(workers, len(items))) as pool:
        pool.run(fn, items, on_result, on_progress)


def run_serial(fn: Callable[[T], R], items: Sequence[T], on_result: Callable[[int, R], None],
               on_progress: Callable[[int, Any], None] | None = None) -> None:
    global _sink
    for i, item in enumerate(items):
        _sink = _progress_to(on_progress, i)
        try:
            result = fn(item)
        finally:
            _sink = None
        on_result(i, result)


def _progress_to(on_progress: Callable[[int, Any], None] | None,
                 index: int) -> Callable[[Any], None] | None:
    if on_progress is None:
        return None
    return lambda payload: on_progress(index, payload)


class _Worker:
    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.job: int | None = None  # index of the job it runs


class ProcessPool:
    """``workers`` processes, reusable for several :meth:`run` calls; a context manager that
    lets idle workers leave on a normal exit and kills them all on an exception."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("a pool needs at least one worker")
        self._size = workers
        self._workers: list[_Worker] = []

    def __enter__(self) -> ProcessPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.close()
        else:
            self.kill()

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        # Blocked across the start, so that a Ctrl-C reaches a new worker only once it ignores
        # it; the parent gets it when its mask is restored.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            while len(self._workers) < self._size:
                mine, theirs = ctx.Pipe()
                process = ctx.Process(target=_serve, args=(theirs, os.getpid()), daemon=True,
                                      name=f"schedsim-worker-{len(self._workers)}")
                self._workers.append(_Worker(process, mine))  # first: kill() must find it
                process.start()
                theirs.close()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    def run(self, fn: Callable[[T], R], items: Sequence[T],
            on_result: Callable[[int, R], None],
            on_progress: Callable[[int, Any], None] | None = None) -> None:
        """As :func:`run`, in this pool's workers. Any exception leaves the pool killed."""
        try:
            self._run(fn, items, on_result, on_progress)
        except BaseException:
            self.kill()
            raise

    def _run(self, fn: Callable[[T], R], items: Sequence[T],
             on_result: Callable[[int, R], None],
             on_progress: Callable[[int, Any], None] | None) -> None:
        self._start()
        queued = deque(enumerate(items))
        idle = list(self._workers)
        busy: dict[Connection, _Worker] = {}
        while queued or busy:
            while queued and idle:
                worker = idle.pop()
                index, item = queued.popleft()
                worker.conn.send((index, fn, item))
                worker.job = index
                busy[worker.conn] = worker
            ready = wait(list(busy) + [w.process.sentinel for w in busy.values()])
            for conn in [r for r in ready if isinstance(r, Connection)]:
                worker = busy[conn]
                try:
                    kind, index, value = conn.recv()
                except EOFError:
                    raise _lost(worker) from None
                if kind == "progress":
                    if on_progress is not None:
                        on_progress(index, value)
                    continue
                del busy[conn]
                worker.job = None
                idle.append(worker)
                if kind == "error":
                    raise value
                on_result(index, value)
            for worker in list(busy.values()):
                if not worker.process.is_alive() and not worker.conn.poll():
                    raise _lost(worker)

    def close(self) -> None:
        """Let the workers leave (they are idle between runs), then kill any that stays."""
        for worker in self._workers:
            try:
                worker.conn.send(None)
            except OSError:
                pass
        for worker in self._workers:
            worker.process.join(STOP_GRACE_S)
        self.kill()

    def kill(self) -> None:
        """SIGKILL every worker first (nothing else can run in between), then reap them."""
        workers, self._workers = self._workers, []
        for worker in workers:
            if worker.process.pid is not None and worker.process.exitcode is None:
                try:
                    os.kill(worker.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for worker in workers:
            if worker.process.pid is not None:
                worker.process.join()
            worker.conn.close()


def _lost(worker: _Worker) -> WorkerLost:
    worker.process.join(1.0)
    code = worker.process.exitcode
    how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
    return WorkerLost(f"a worker process died ({how}) while it ran job {worker.job}")


def _serve(conn: Connection, parent: int) -> None:
    """A worker's loop: a job in, its result (or exception) out, until told to stop."""
    global _sink
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    die_with_parent(parent)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if message is None:
            return
        index, fn, item = message
        _sink = lambda payload, i=index: conn.send(("progress", i, payload))  # noqa: E731
        try:
            reply: tuple[str, int, Any] = ("done", index, fn(item))
        except Exception as exc:
            reply = ("error", index, _portable(exc))
        finally:
            _sink = None
        try:
            conn.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            conn.send(("error", index, _portable(exc)))


def _portable(exc: Exception) -> Exception:
    """The exception itself when it survives pickling, else a RuntimeError naming it; the
    worker's traceback goes along as a note."""
    note = "in a worker process:\n" + "".join(traceback.format_exception(exc)).rstrip()
    try:
        copy = pickle.loads(pickle.dumps(exc))
    except Exception:
        copy = RuntimeError(f"{type(exc).__name__}: {exc}")
    if isinstance(copy, Exception):
        copy.add_note(note)
        return copy
    return RuntimeError(f"{type(exc).__name__}: {exc}")
