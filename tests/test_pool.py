"""The process pool: results by index in any order, errors and lost workers raised in the
caller, progress within a job, and a pool that leaves no process behind."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from schedsim import pool
from schedsim.errors import WorkerLost
from schedsim.live.processes import parent_pid


def square(x: int) -> int:
    return x * x


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError(f"bad item {x}")
    return x


def die_on_two(x: int) -> int:
    if x == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def count_up(x: int) -> int:
    for k in range(x):
        pool.report(k)
    return x


def whose(_x: int) -> tuple[int, int]:
    return os.getpid(), os.getppid()


@pytest.mark.parametrize("workers", [1, 2])
def test_every_result_arrives_by_index(workers: int) -> None:
    got: dict[int, int] = {}
    pool.run(square, list(range(7)), workers=workers, on_result=got.__setitem__)
    assert got == {i: i * i for i in range(7)}


@pytest.mark.parametrize("workers", [1, 2])
def test_an_error_in_a_job_is_raised_here(workers: int) -> None:
    got: list[int] = []
    with pytest.raises(ValueError, match="bad item 3"):
        pool.run(fail_on_three, [1, 3, 5, 7], workers=workers,
                 on_result=lambda _i, v: got.append(v))
    assert 3 not in got


def test_a_killed_worker_is_reported_and_the_rest_are_ended() -> None:
    with pool.ProcessPool(2) as p:
        with pytest.raises(WorkerLost, match="signal 9"):
            p.run(die_on_two, [1, 2, 3, 4, 5, 6], lambda _i, _v: None)
        assert p._workers == []  # killed and reaped


@pytest.mark.parametrize("workers", [1, 2])
def test_progress_within_a_job_reaches_the_caller(workers: int) -> None:
    progress: list[tuple[int, Any]] = []
    pool.run(count_up, [3, 2], workers=workers, on_result=lambda _i, _v: None,
             on_progress=lambda i, payload: progress.append((i, payload)))
    assert sorted(progress) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]


def test_workers_are_children_of_the_caller_and_are_reused() -> None:
    seen: list[tuple[int, int]] = []
    with pool.ProcessPool(2) as p:
        p.run(whose, list(range(4)), lambda _i, v: seen.append(v))
        p.run(whose, list(range(4)), lambda _i, v: seen.append(v))
        workers = [w.process for w in p._workers]
    assert {ppid for _pid, ppid in seen} == {os.getpid()}
    assert {pid for pid, _ppid in seen} <= {w.pid for w in workers}
    assert all(w.exitcode == 0 for w in workers)  # told to leave, not killed
    assert all(parent_pid(w.pid or 0) is None for w in workers)
