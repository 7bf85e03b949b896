"""The bag of tasks, generated lazily.

All N tasks are submitted at time 0, but none is materialised up front: fresh tasks come from a
counter, and their durations from blocks of draws in task-id order, so task ``i`` has the same
duration whatever the platform. A task that loses its attempt comes back through a FIFO deque of
:class:`Task` objects, served before fresh tasks. Memory grows with the number of
tasks in flight or waiting for a retry, never with N.
"""

from __future__ import annotations

from collections import deque

from schedsim.distributions import Draws


class Task:
    """One task of the bag: its id (its place in the bag) and its duration on a node of
    speed 1. Made once, when the task is first taken; its retries reuse it."""

    __slots__ = ("id", "duration")

    def __init__(self, id: int, duration: float) -> None:  # noqa: A002 - the domain's word
        self.id = id
        self.duration = duration  # s

    def __repr__(self) -> str:
        return f"Task({self.id}, {self.duration!r})"


class Workload:
    """Ready tasks: a counter of fresh ones plus a deque of requeued ones."""

    __slots__ = ("total", "input_size", "output_size", "_draws", "_next_id", "_retry",
                 "completed", "failed")

    def __init__(self, total: int, draws: Draws, input_size: float = 0.0,
                 output_size: float = 0.0) -> None:
        self.total = total
        self.input_size = input_size
        self.output_size = output_size
        self._draws = draws
        self._next_id = 0
        self._retry: deque[Task] = deque()
        self.completed = 0
        self.failed = 0

    def take(self) -> Task | None:
        """The next ready task, or None when none is ready now."""
        if self._retry:
            return self._retry.popleft()
        if self._next_id < self.total:
            tid = self._next_id
            self._next_id += 1
            return Task(tid, self._draws.next())
        return None

    def requeue(self, task: Task) -> None:
        self._retry.append(task)

    @property
    def ready(self) -> int:
        """How many tasks could be dispatched right now."""
        return len(self._retry) + self.total - self._next_id

    @property
    def longest(self) -> float:
        """The longest task duration drawn so far (s)."""
        return self._draws.longest

    @property
    def finished(self) -> bool:
        return self.completed + self.failed >= self.total

    @property
    def unfinished(self) -> int:
        return self.total - self.completed - self.failed
