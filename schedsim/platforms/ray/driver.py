"""The driver: it owns every task, submits them, holds and consumes their results.

It is a :class:`~schedsim.model.server.SerialServer`: it submits tasks one ``.remote()`` at a
time (``submit_time`` each), at most ``max_pending`` outstanding when backpressure is on, and
processes each result (``result_time``), in batches (``batched``: what ``ray.wait`` returns)
or one by one in submission order (``get_in_loop``). A run of submissions after which the
driver has nothing else to do is staged: its tasks join the queue at its end with no timer.
Its memory is pending tasks x ``pending_task_bytes`` plus inline results not yet consumed;
beyond ``driver_memory`` the job fails (OOM). A task out of retries is reported to it.
"""

from __future__ import annotations

from schedsim.metrics import DONE, Outcome
from schedsim.model.server import Job
from schedsim.model.workload import Task
from schedsim.platforms.ray.raylet import Attempt
from schedsim.platforms.ray.state import RayState

SUBMIT_BATCH = 64  # .remote() calls the driver makes per simulated step


def _nothing(_arg: object) -> None:
    pass


class Driver(RayState):
    """The driver's part of :class:`~schedsim.platforms.ray.platform.RayPlatform`."""

    @property
    def driver_memory(self) -> float:
        return (self.submitted - self.resolved) * self.config.pending_task_bytes + \
            self.inline_held

    def _check_memory(self) -> None:
        used = self.driver_memory
        if used > self.peak_driver_memory:
            self.peak_driver_memory = used
            if used > self.config.driver_memory:
                limit = self.config.driver_memory / 2**30
                self.ctx.fail_job(f"Ray driver out of memory at {self.env.now:g} s: "
                                  f"{self.submitted - self.resolved} pending tasks, "
                                  f"{used / 2**30:.1f} GiB > {limit:.1f} GiB", "driver_oom")

    def _pull(self) -> Job | None:
        """The driver's next step: consume ready results, else submit, else wait on a get.

        Ready results are consumed as one batch (what ray.wait returns), and submissions go
        out in runs of up to SUBMIT_BATCH ``.remote()`` calls: one timer per batch instead of
        one per task, with the same driver time per task.
        """
        self._submit_staged_if_due()
        if not self.head_up:
            return None
        cfg = self.config
        if self._results:
            batch, self._results = self._results, []
            return cfg.result_time * len(batch), self._cb_consume_all, batch
        wl = self._workload
        room = wl.ready if cfg.max_pending is None else \
            min(wl.ready, cfg.max_pending - (self.submitted - self.resolved))
        if room > 0:
            n = min(room, SUBMIT_BATCH)
            tasks: list[Task] = [wl.take() for _ in range(n)]  # type: ignore[misc]  # ready
            service = cfg.submit_time * n
            if n == room and self._can_stage and service > 0 and \
                    (self._waiting or not self._free) and \
                    (self._batched or self._next_get not in self._ready_results):
                # The driver has nothing else to do after this run unless woken, and no
                # free slot waits for its tasks: they are staged for the run's end, and the
                # driver is busy until then, with no timer.
                self._staged = tasks
                self._staged_end = self.env.now + service
                return service, None, None
            return service, self._cb_submit_all, tasks
        if not self._batched and self._next_get in self._ready_results:
            attempt = self._ready_results.pop(self._next_get)
            self._next_get += 1
            while self._next_get in self._ready_results and \
                    self._ready_results[self._next_get] is None:
                self._ready_results.pop(self._next_get)  # failed: ray.get raised, move on
                self._next_get += 1
            if attempt is None:
                return 0.0, _nothing, None
            service = cfg.result_time
            if self._large:
                service += self._fetch_alone_time()
            return service, self._cb_consumed, attempt
        return None

    def _submit_all(self, tasks: list[Task]) -> None:
        self._submitted(tasks)
        self._lease()

    def _submitted(self, tasks: list[Task]) -> None:
        """A run of submissions ended: its tasks are pending and wait for a lease."""
        self.submitted += len(tasks)
        self._waiting.extend(tasks)
        self._check_memory()

    def _submit_staged_if_due(self) -> None:
        """If the staged run of submissions has ended, its tasks join the queue now, as at
        its end (nothing could see them in between; the caller leases if it may)."""
        if self._staged is not None and self.env.now >= self._staged_end:
            tasks, self._staged = self._staged, None
            self._submitted(tasks)

    def _staged_timer_at_end(self) -> None:
        """A free slot waits for the staged tasks: lease them at the end of their run."""
        if not self._staged_timer:
            self._staged_timer = True
            self.env.at(self._staged_end, self._cb_staged_due)

    def _staged_due(self, _arg: object) -> None:
        self._staged_timer = False
        self._lease()

    def _consume_all(self, batch: list[Attempt]) -> None:
        for attempt in batch:
            self._consumed(attempt)

    def _consumed(self, attempt: Attempt) -> None:
        """The driver holds the result: the task is complete."""
        slot = attempt.slot
        if not self._large:
            self.inline_held -= self._out
        elif not self._batched:
            slot.rnode.attempts.discard(attempt)  # a batched fetch took it out already
        self.resolved += 1
        # The attempt held its slot until it finished running; the wait for the driver is
        # not slot time.
        self._log(attempt.task.id, slot.node_id, slot.index, attempt.start, attempt.done_at,
                  DONE)
        self._completed()

    def _retry(self, task: Task, counted: bool) -> None:
        self._submit_staged_if_due()  # queued before this retry, and counted in memory
        if counted and not self._retries.spend(task.id):
            self.resolved += 1
            self.ctx.log.add(task.id, -1, -1, self.env.now, self.env.now, Outcome.FAILED)
            if self.config.driver == "get_in_loop":
                self._ready_results[task.id] = None
            self.ctx.task_failed()
            self.driver.wake()
            return
        self._waiting.append(task)
