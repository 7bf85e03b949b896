"""Before a run: the memory and time it will take, from its counts alone.

A replication's memory grows with the nodes alive at once and their cores (each node, its
links and its platform state; each slot), with Ray's pending tasks, and with one record per
attempt when ``--out`` keeps them; the bag itself is generated lazily and costs nothing per
task. Its time is its events (per task, per platform; per node lost) times the time an event
takes, which grows slowly with the nodes (more memory touched per event). The constants below
were measured by ``bench/estimate_constants.py`` (numbers and method in docs/performance.md,
"Estimates"); the estimate is meant to be right within a factor of two, enough to refuse what
cannot fit and to warn about what runs for long.

:func:`guard` refuses, as one :class:`~schedsim.errors.InputError` line with the estimate, a
command whose peak memory exceeds this machine's available memory (``MemAvailable`` in
/proc/meminfo), and writes one warning line to stderr when it will run longer than
:data:`WARN_AFTER_S`.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from schedsim.errors import InputError

if TYPE_CHECKING:
    from schedsim.scenario import Scenario
    from schedsim.studies.plan import Range

# Memory, bytes (bench/estimate_constants.py; with a network, which adds links per node).
NODE_BYTES = {"ideal": 392.0, "workqueue": 1343.0, "ray": 1534.0}  # per node alive
SLOT_BYTES = {"ideal": 1206.0, "workqueue": 58.0, "ray": 1410.0}  # per core
RECORD_BYTES = 37.0  # per attempt kept for --out (metrics.AttemptLog)
PENDING_TASK_BYTES = 129.0  # Ray: per task submitted and waiting for a lease
JOB_BYTES = 153.0  # sweep: per (point, replication) in the job list
PROCESS_BYTES = 107e6  # a process before its model: Python, numpy, scipy, simpy

# Time (bench/estimate_constants.py, 1M tasks on REFERENCE_NODES nodes, a busy 2-core host).
EVENTS_PER_TASK = {"ideal": (1.04, 2.04), "workqueue": (3.07, 3.09),
                   "ray": (3.05, 3.1)}  # without, with a network
EVENTS_PER_NODE = {"ideal": 1.7, "workqueue": 3.3, "ray": 0.9}  # boot, ready, lifetime
EVENTS_PER_LOSS = 3.8  # per node lost, beyond its own: the attempts it took down, rerun
SECONDS_PER_EVENT = {"ideal": 3.9e-6, "workqueue": 3.6e-6, "ray": 5.6e-6}
REFERENCE_NODES = 10_000
SLOWDOWN_PER_DECADE = 1.24  # the time per event, per 10x more nodes than REFERENCE_NODES

WARN_AFTER_S = 300.0  # a run estimated longer than this gets a warning line


@dataclass(frozen=True)
class Replication:
    """One replication of one scenario: its peak memory (its model only) and wall time."""

    memory: float  # bytes
    records: float  # bytes of attempt records it hands back (kept after it ends)
    seconds: float
    key: str  # the scenario key whose count takes the most memory
    nodes: int
    tasks: int


@dataclass(frozen=True)
class Estimate:
    """A whole command: its peak memory (every process together) and its wall time."""

    memory: float
    seconds: float
    what: str  # what is run, for the message
    key: str = ""  # the key to blame when it does not fit

    def text(self) -> str:
        return f"about {size(self.memory)} of memory and {duration(self.seconds)} ({self.what})"


def replication(scenario: Scenario, keep_records: bool = False) -> Replication:
    """The memory and time of one replication of ``scenario``."""
    from schedsim.bound import scenario_bound

    kind = scenario.platform.type
    pools = scenario.cluster.pools
    nodes = sum(p.count for p in pools) + sum(
        1 for c in scenario.churn for e in c.trace if e.event == "launch")
    cores = sum(p.count * p.cores for p in pools)
    node_memory = nodes * NODE_BYTES.get(kind, max(NODE_BYTES.values())) + \
        cores * SLOT_BYTES.get(kind, max(SLOT_BYTES.values()))
    tasks = scenario.workload.tasks
    bound = scenario_bound(scenario)
    makespan = float(bound["makespan_lower_bound_s"])  # type: ignore[arg-type]
    if scenario.horizon is not None and scenario.horizon < makespan:
        # Only what fits in the horizon runs.
        tasks = min(tasks, math.ceil(tasks * scenario.horizon / makespan))
        makespan = scenario.horizon
    losses = _losses(scenario, makespan)
    pending = _pending(scenario, tasks) * PENDING_TASK_BYTES
    per_node_cores = cores / max(1, sum(p.count for p in pools))
    records = (tasks + losses * per_node_cores) * RECORD_BYTES if keep_records else 0.0
    terms = {"cluster.pools": node_memory, "workload.tasks": pending + records}
    net = 1 if scenario.network is not None else 0
    events = tasks * EVENTS_PER_TASK.get(kind, (3.2, 3.2))[net] + \
        (nodes + losses) * EVENTS_PER_NODE.get(kind, 3.3) + losses * EVENTS_PER_LOSS
    per_event = SECONDS_PER_EVENT.get(kind, max(SECONDS_PER_EVENT.values())) * \
        SLOWDOWN_PER_DECADE ** max(0.0, math.log10(max(nodes, 1) / REFERENCE_NODES))
    return Replication(memory=node_memory + pending, records=records,
                       seconds=events * per_event, key=max(terms, key=lambda k: terms[k]),
                       nodes=nodes, tasks=scenario.workload.tasks)


def _losses(scenario: Scenario, makespan: float) -> float:
    """Nodes lost to churn within ``makespan``: each node of a pool with churn lives its mean
    lifetime (capped by max_lifetime), zone reclaims take their share, traces their events."""
    if not math.isfinite(makespan):
        return 0.0
    lost = 0.0
    for c in scenario.churn:
        count = scenario.cluster.pool(c.pool).count
        life = c.lifetime.mean if c.lifetime is not None else math.inf
        if c.max_lifetime is not None:
            life = min(life, c.max_lifetime)
        if life > 0 and math.isfinite(life):
            lost += count * makespan / life
        if c.zone_reclaims is not None:
            lost += count * c.zone_reclaims.fraction * makespan / c.zone_reclaims.mean_interval
        lost += sum(1 for e in c.trace if e.event == "reclaim")
    return lost


def _pending(scenario: Scenario, tasks: int) -> float:
    """Ray's driver submits up to max_pending tasks (all of them without backpressure) until
    its modelled memory runs out (the job then fails as driver_oom)."""
    if scenario.platform.type != "ray":
        return 0.0
    cfg = scenario.platform.config
    limit = tasks if cfg.max_pending is None else min(tasks, cfg.max_pending)
    if cfg.pending_task_bytes > 0:
        limit = min(limit, cfg.driver_memory / cfg.pending_task_bytes + 1)
    return float(limit)


def combine(runs: Iterable[tuple[Replication, int]], jobs: int, what: str,
            extra_memory: float = 0.0) -> Estimate:
    """Replications (each with how many times it runs) on ``jobs`` processes: every process
    holds one model at a time, and the results hold every replication's records. The memory
    is the peak of every process together, as ``ps`` would add up their resident sizes."""
    runs = list(runs)
    count = sum(n for _, n in runs)
    processes = max(1, min(jobs, count))
    model = max((r.memory for r, _ in runs), default=0.0)
    # This process, and with a pool its workers, each with one model at a time.
    workers = processes if processes > 1 else 0
    memory = (1 + workers) * PROCESS_BYTES + processes * model + \
        sum(r.records * n for r, n in runs) + extra_memory
    parallel = max(1, min(processes, os.cpu_count() or 1))
    seconds = sum(r.seconds * n for r, n in runs) / parallel
    big = max((r for r, _ in runs), key=lambda r: r.memory + r.records, default=None)
    return Estimate(memory, seconds, what, big.key if big is not None else "")


def for_run(scenario: Scenario, *, jobs: int = 1, keep_records: bool = False) -> Estimate:
    """``schedsim run`` (and ``check``: serial, no records)."""
    rep = replication(scenario, keep_records)
    return combine([(rep, scenario.replications)], jobs, _what(rep, scenario.replications))


def for_compare(scenario: Scenario, platforms: list[str], *, jobs: int = 1) -> Estimate:
    """``schedsim compare``: the replications once per platform."""
    reps = [replication(scenario.with_platform(p)) for p in platforms]
    runs = scenario.replications * len(platforms)
    return combine([(r, scenario.replications) for r in reps], jobs, _what(reps[0], runs))


def for_sweep(points: list[Scenario], replications: int, jobs: int = 1) -> Estimate:
    """``schedsim sweep``: each point's replications, and the list of its jobs."""
    reps = [replication(p) for p in points]
    count = len(points) * replications
    what = f"{count:,} runs of {len(points):,} points, up to " \
           f"{max(r.tasks for r in reps):,} tasks on {max(r.nodes for r in reps):,} nodes"
    guess = combine([(r, replications) for r in reps], jobs, what, count * JOB_BYTES)
    if count * JOB_BYTES > max(r.memory for r in reps) * max(1, min(jobs, count)):
        guess = Estimate(guess.memory, guess.seconds, guess.what, "replications")
    return guess


def for_plan(path: str | Path, base: list[str],
             vary: tuple[Range | None, list[tuple[str, list[str]]]], *, jobs: int = 1,
             max_replications: int = 0) -> Estimate:
    """``schedsim plan``: every choice of the grid at the range's top count (the most memory;
    bisection simulates about log2 of the range's width more counts below it), and the points
    the answer hinges on (the smallest count, the one below and the cheapest; without a range
    the point) grown to ``max_replications``."""
    import itertools

    from schedsim.loading import load_scenario

    rng, grid = vary
    top = [f"{rng.key}={rng.high}"] if rng is not None else []
    evaluations = 1 if rng is None else 2 + math.ceil(math.log2(rng.high - rng.low + 1))
    hinges = 1 if rng is None else 3
    runs = []
    for combo in itertools.product(*[[f"{k}={v}" for v in values] for k, values in grid]):
        scenario = load_scenario(path, [*base, *combo, *top])
        added = hinges * max(0, max_replications - scenario.replications)
        runs.append((replication(scenario), scenario.replications * evaluations + added))
    count = sum(n for _, n in runs)
    return combine(runs, jobs, f"up to {count:,} runs of up to "
                   f"{max(r.tasks for r, _ in runs):,} tasks on "
                   f"{max(r.nodes for r, _ in runs):,} nodes")


def _what(rep: Replication, runs: int) -> str:
    return f"{runs:,} run{'s' if runs != 1 else ''} of {rep.tasks:,} tasks on " \
           f"{rep.nodes:,} nodes"


def available_memory(meminfo: Path = Path("/proc/meminfo")) -> float | None:
    """Bytes this machine can still give (MemAvailable); None where it cannot say."""
    try:
        for line in meminfo.read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024.0
    except (OSError, ValueError, IndexError):
        return None
    return None


def guard(estimate: Estimate, source: str, *, available: float | None = None,
          stream: TextIO | None = None) -> None:
    """Refuse what cannot fit in memory (InputError); warn on stderr about a long run."""
    room = available_memory() if available is None else available
    # This process is running already: only the rest must still find room.
    if room is not None and estimate.memory - PROCESS_BYTES > room:
        raise InputError(source, estimate.key, f"a run that fits in the {size(room)} of "
                         f"memory available; the estimate is {estimate.text()}",
                         has_value=False)
    if estimate.seconds > WARN_AFTER_S:
        out = stream if stream is not None else sys.stderr
        out.write(f"schedsim: warning: {source}: this will take {estimate.text()}; "
                  "Ctrl-C stops it\n")
        out.flush()


def size(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{max(n, 0.0) / 1e3:.3g} kB"


def duration(s: float) -> str:
    for unit, scale in (("years", 365 * 86400.0), ("days", 86400.0), ("h", 3600.0),
                        ("min", 60.0)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s:.2g} s"
