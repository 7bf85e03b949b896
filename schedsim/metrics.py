"""Per-attempt records, run metrics and their confidence intervals.

During a run every task attempt appends one immutable record (task, node, slot, start, end,
outcome) to an :class:`AttemptLog`, stored column-wise in typed arrays (about 40 bytes an
attempt) so a million attempts fit in tens of megabytes; the log also keeps the running sums the
metrics need. After the run, :data:`METRICS` names every metric in one place with its unit and
meaning (formulas in docs/metrics.md), and :func:`summarize` turns one value per replication
into a mean with a 95% confidence interval that stays within the metric's range: Student-t for
a signed quantity, a score interval on the same t pivot for a non-negative quantity or a
fraction, an exact binomial one for a 0/1 outcome (docs/metrics.md). A :class:`NodeLog` keeps
when each worker node was launched, became ready, got its reclaim notice and went (for traces
and plots).
"""

from __future__ import annotations

import functools
import math
from array import array
from collections.abc import Iterator
from enum import IntEnum
from typing import Any, NamedTuple


class Outcome(IntEnum):
    DONE = 0  # the task finished on this attempt
    PREEMPTED = 1  # the node was lost under it; the task went back to the queue
    FAILED = 2  # the attempt was lost and the task is out of retries
    ABORTED = 3  # the job failed (head node lost, driver OOM) while it ran
    CANCELLED = 4  # stopped by the platform (Work Queue fast abort) and requeued


DONE = Outcome.DONE  # a module constant: looking a member up on an enum class is slow (3.11)


class AttemptRecord(NamedTuple):
    task: int
    node: int
    slot: int
    start: float
    end: float
    outcome: Outcome


class AttemptLog:
    """Every attempt of one replication, column-wise, plus running sums."""

    def __init__(self, keep_records: bool = True) -> None:
        self.keep_records = keep_records
        self._task = array("q")
        self._node = array("q")
        self._slot = array("i")
        self._start = array("d")
        self._end = array("d")
        self._outcome = array("b")
        self.attempts = 0
        self.held_core_s = 0.0  # core-s attempts held their slots (the spans below)
        self.wasted_core_s = 0.0
        # Core-s tasks' processes ran (one core each): added by the platforms, since only
        # they know when a run began within an attempt's span.
        self.compute_core_s = 0.0

    def add(self, task: int, node: int, slot: int, start: float, end: float,
            outcome: Outcome, cores: int = 1) -> None:
        self.attempts += 1
        core_s = (end - start) * cores
        self.held_core_s += core_s
        if outcome:  # not Outcome.DONE (0)
            self.wasted_core_s += core_s
        if self.keep_records:
            self._task.append(task)
            self._node.append(node)
            self._slot.append(slot)
            self._start.append(start)
            self._end.append(end)
            self._outcome.append(int(outcome))

    def __len__(self) -> int:
        return len(self._task)

    def __iter__(self) -> Iterator[AttemptRecord]:
        for i in range(len(self._task)):
            yield AttemptRecord(self._task[i], self._node[i], self._slot[i], self._start[i],
                                self._end[i], Outcome(self._outcome[i]))


class NodeEvent(IntEnum):
    LAUNCHED = 0  # requested: it boots
    READY = 1  # booted: it may take work
    NOTICE = 2  # got its reclaim notice
    PREEMPTED = 3  # reclaimed by churn, whether it had booted or not
    GONE = 4  # released after it was ready, for any reason (churn, a factory's idle exit)


class NodeRecord(NamedTuple):
    time: float
    node: int
    event: NodeEvent


class NodeLog:
    """The lifecycle events of one replication's pool nodes, and what each node is."""

    def __init__(self) -> None:
        self.events: list[NodeRecord] = []
        self.labels: dict[int, str] = {}  # node id -> its pool (and role, if not a worker)

    def add(self, time: float, node: int, event: NodeEvent) -> None:
        self.events.append(NodeRecord(time, node, event))

    def times(self, *events: NodeEvent) -> list[float]:
        """When any of ``events`` happened, in order."""
        return [r.time for r in self.events if r.event in events]


# Why a job as a whole failed (RunResult.failure_kind); None when it did not.
FAILURE_KINDS = ("manager_lost", "horizon", "stalled", "driver_oom", "no_progress")


# The values a metric can take, which choose its confidence interval (summarize).
REAL = "real"  # any sign
NONNEGATIVE = "nonnegative"  # >= 0
FRACTION = "fraction"  # within [0, 1]
BINARY = "binary"  # 0 or 1 in each replication
SUPPORTS = (REAL, NONNEGATIVE, FRACTION, BINARY)


class MetricInfo(NamedTuple):
    unit: str
    better: str  # "lower" | "higher" | "" (neither)
    help: str
    support: str = NONNEGATIVE  # one of SUPPORTS


METRICS: dict[str, MetricInfo] = {
    "makespan_s": MetricInfo("s", "lower", "time 0 to the end of the last task, or job failure"),
    "throughput_tasks_per_s": MetricInfo("tasks/s", "higher", "tasks_completed / makespan_s"),
    "tasks_completed": MetricInfo("tasks", "higher", "tasks that finished"),
    "tasks_failed": MetricInfo("tasks", "lower", "tasks that did not finish (retries "
                                                  "exhausted, job failed or stalled)"),
    "tasks_out_of_retries": MetricInfo("tasks", "lower", "tasks that failed because they ran "
                                                         "out of retries (the job went on)"),
    "bag_completed": MetricInfo("0/1", "higher", "1 when every task of the bag completed",
                                BINARY),
    "task_attempts": MetricInfo("attempts", "", "attempts started, retries included"),
    "preemptions": MetricInfo("nodes", "", "worker nodes reclaimed by churn"),
    "nodes_launched": MetricInfo("nodes", "", "worker nodes launched, replacements included"),
    "wasted_core_s": MetricInfo("core-s", "lower", "core-seconds of attempts that did not "
                                                   "finish"),
    "cost_usd": MetricInfo("USD", "lower", "every node billed per second, launch to release, "
                                           "60 s minimum"),
    "cost_per_1k_tasks_usd": MetricInfo("USD", "lower", "1000 * cost_usd / tasks_completed"),
    "compute_utilization": MetricInfo("fraction", "higher", "core-s tasks ran (one core "
                                      "each) / ready core-s of worker nodes", FRACTION),
    "held_utilization": MetricInfo("fraction", "", "core-s held by attempts (staging and "
                                   "waits for the manager included) / ready core-s of worker "
                                   "nodes", FRACTION),
    "job_failed": MetricInfo("0/1", "lower", "1 when the job as a whole failed or stalled",
                             BINARY),
    "job_lost_manager": MetricInfo("0/1", "lower", "1 when the job failed because the manager "
                                                   "or head node (the driver's) was lost",
                                   BINARY),
    "job_hit_horizon": MetricInfo("0/1", "lower", "1 when the job reached the horizon "
                                                  "unfinished", BINARY),
}


def summarize(values: list[float], support: str = REAL) -> dict[str, object]:
    """Mean and two-sided 95% interval over replications, within the ``support``'s range.

    REAL: Student-t, mean +/- t se. NONNEGATIVE and FRACTION: the same t pivot as a score
    interval, its standard error taken to vary with the mean as a count's (a proportion's)
    does, so it never leaves [0, inf) ([0, 1]) and is wider on the side away from the bound.
    BINARY: Clopper-Pearson's exact interval for k of n. With one replication a t-based
    interval collapses to the mean (no spread to estimate). docs/metrics.md has the formulas
    and their coverage; values outside the support get the Student-t interval.
    """
    n = len(values)
    mean = math.fsum(values) / n
    if support == BINARY and all(v in (0.0, 1.0) for v in values):
        low, high = _clopper_pearson(round(mean * n), n)
    elif n < 2 or not math.isfinite(mean):
        low = high = mean
    else:
        var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
        se = math.sqrt(var / n)
        low, high = _interval(mean, se, _t975(n - 1), support, min(values), max(values))
    return {"mean": mean, "ci95": [low, high], "values": list(values)}


def summarize_metric(name: str, values: list[float]) -> dict[str, object]:
    """:func:`summarize` with the support :data:`METRICS` gives ``name``."""
    return summarize(values, METRICS[name].support)


@functools.cache
def _t975(df: int) -> float:
    from scipy import stats  # about 0.7 s to import: only summaries need it

    return float(stats.t.ppf(0.975, df))


def _interval(m: float, se: float, t: float, support: str, lo: float, hi: float
              ) -> tuple[float, float]:
    """The 95% interval of a mean ``m`` with standard error ``se`` (see summarize)."""
    if se == 0.0:
        return m, m
    if support == NONNEGATIVE and lo >= 0.0:
        # |m - mu| = t se sqrt(mu / m), solved for mu: both roots >= 0 (their product is m^2).
        a = t * t * se * se / m  # m > 0: the values differ and none is negative
        half = math.sqrt(m * a + a * a / 4.0)
        return max(0.0, m + a / 2.0 - half), m + a / 2.0 + half
    if support == FRACTION and lo >= 0.0 and hi <= 1.0:
        # |m - mu| = t se sqrt(mu (1 - mu) / (m (1 - m))): Wilson's form, within [0, 1].
        k = t * t * se * se / (m * (1.0 - m))  # 0 < m < 1: the values differ within [0, 1]
        centre = (2.0 * m + k) / (2.0 * (1.0 + k))
        half = math.sqrt(k * (k + 4.0 * m * (1.0 - m))) / (2.0 * (1.0 + k))
        return max(0.0, centre - half), min(1.0, centre + half)
    return m - t * se, m + t * se


def _clopper_pearson(k: int, n: int) -> tuple[float, float]:
    """The exact 95% interval of a binomial proportion, k successes in n trials."""
    from scipy import stats

    low = float(stats.beta.ppf(0.025, k, n - k + 1)) if k > 0 else 0.0
    high = float(stats.beta.ppf(0.975, k + 1, n - k)) if k < n else 1.0
    return low, high


def finite(value: Any) -> Any:
    """Replace NaN and infinities (not valid JSON) with None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value
