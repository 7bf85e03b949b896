"""The rows the studies analyse and report, typed: what the RFC study finds at each point and
what a sweep finds at each of its points.

Each row is built by its study's analysis and read by its report; ``to_json`` gives the
mapping the study's JSON file holds (``rfc.json``, ``sweep --json``), key for key and in the
same order as before the rows were typed, and ``from_json`` reads one back, so a report can be
rendered again from the file alone. The rows of a results file (one job's cells) are the job
runner's :class:`schedsim.studies.jobs.ResultRow`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

# A platform's means at an RFC point: the row's field and the metric it is the mean of.
MEANS: tuple[tuple[str, str], ...] = (
    ("throughput", "throughput_tasks_per_s"), ("cost_per_1k", "cost_per_1k_tasks_usd"),
    ("makespan", "makespan_s"), ("out_of_retries", "tasks_out_of_retries"),
    ("failed", "tasks_failed"), ("bag_completed", "bag_completed"),
    ("job_lost_manager", "job_lost_manager"), ("job_hit_horizon", "job_hit_horizon"),
    ("wasted_core_s", "wasted_core_s"))
# The platforms' runs at a point, by their prefix in the JSON: Work Queue, Ray at its default
# retries, Ray with unlimited retries (only where nodes are lost).
SIDES = ("wq", "ray", "rayu")
CORNERS = ("workqueue", "ray")  # rfc.PLATFORMS: the platform each corner favours


@dataclass(frozen=True)
class Means:
    """One platform's means over a point's replications at nominal values (None where
    not finite, as the JSON writes them)."""

    throughput: float | None = None  # tasks/s
    cost_per_1k: float | None = None  # USD per 1,000 tasks
    makespan: float | None = None  # s
    out_of_retries: float | None = None  # tasks
    failed: float | None = None  # tasks
    bag_completed: float | None = None  # share of replications
    job_lost_manager: float | None = None  # share of replications
    job_hit_horizon: float | None = None  # share of replications
    wasted_core_s: float | None = None  # core-s


@dataclass(frozen=True)
class StudyRow:
    """One point of the RFC study: where it is, both platforms' means, the winners at
    nominal values, at both corners and with one parameter moved, the bounds, and what
    decides it."""

    nodes: int
    task: str
    sink: str
    churn: str
    glue: str  # "-" without notices
    head: str
    tasks: int
    wq: Means
    ray: Means
    rayu: Means | None  # Ray with max_retries -1: only where nodes are lost
    throughput_ratio: float | None  # Work Queue / Ray
    cost_ratio: float | None  # Ray / Work Queue
    wq_failures: list[str]
    ray_failures: list[str]
    winners: dict[str, str]  # verdict -> workqueue | ray | verdict.TIE
    corners: dict[str, dict[str, str]]  # the winners at the corner favouring each platform
    oat: dict[str, dict[str, str]]  # "PARAM=END" -> the winners with that parameter moved
    wq_binding: str | None = None
    wq_bound: float | None = None  # tasks/s
    ray_binding: str | None = None
    ray_bound: float | None = None  # tasks/s
    why: str = ""

    @property
    def region(self) -> tuple[str, str, str, str, str]:
        return (self.task, self.sink, self.churn, self.glue, self.head)

    def side(self, prefix: str) -> Means | None:
        """The means of ``wq``, ``ray`` or ``rayu``."""
        means: Means | None = getattr(self, prefix)
        return means

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"nodes": self.nodes, "task": self.task, "sink": self.sink,
                               "churn": self.churn, "glue": self.glue, "head": self.head,
                               "tasks": self.tasks}
        for name, _metric in MEANS:
            for prefix in SIDES:
                means = self.side(prefix)
                if means is not None:
                    out[f"{prefix}_{name}"] = getattr(means, name)
        out.update({"throughput_ratio": self.throughput_ratio, "cost_ratio": self.cost_ratio,
                    "wq_failures": self.wq_failures, "ray_failures": self.ray_failures,
                    "winners": self.winners})
        out.update({f"winners_corner_{c}": w for c, w in self.corners.items()})
        out.update({"oat": self.oat, "wq_binding": self.wq_binding, "wq_bound": self.wq_bound,
                    "ray_binding": self.ray_binding, "ray_bound": self.ray_bound,
                    "why": self.why})
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StudyRow:
        """A row of ``rfc.json``; keys it lacks take their defaults (none, nothing), so a
        row written by hand with only the keys a check needs reads too."""
        def means(prefix: str) -> Means | None:
            names = [f"{prefix}_{name}" for name, _ in MEANS]
            if not any(n in data for n in names):
                return None
            return Means(*(data.get(n) for n in names))

        return cls(
            nodes=data["nodes"], task=data["task"], sink=data["sink"], churn=data["churn"],
            glue=data["glue"], head=data["head"], tasks=data["tasks"],
            wq=means("wq") or Means(), ray=means("ray") or Means(), rayu=means("rayu"),
            throughput_ratio=data.get("throughput_ratio"), cost_ratio=data.get("cost_ratio"),
            wq_failures=list(data.get("wq_failures", [])),
            ray_failures=list(data.get("ray_failures", [])),
            winners=dict(data["winners"]),
            corners={c: dict(data[f"winners_corner_{c}"]) for c in CORNERS
                     if f"winners_corner_{c}" in data},
            oat={k: dict(v) for k, v in data.get("oat", {}).items()},
            wq_binding=data.get("wq_binding"), wq_bound=data.get("wq_bound"),
            ray_binding=data.get("ray_binding"), ray_bound=data.get("ray_bound"),
            why=data.get("why", ""))


@dataclass(frozen=True)
class StepWinners:
    """The winners of one step of the RFC study's attribution at one previous point."""

    throughput: str
    cost: str
    throughput_ratio: float | None  # Work Queue / Ray


@dataclass(frozen=True)
class AttributionRow:
    """A point of the previous report (nodes, zfp n) under each step that applies."""

    nodes: int
    n: int
    steps: dict[str, StepWinners] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"nodes": self.nodes, "n": self.n,
                "steps": {k: {f.name: getattr(v, f.name) for f in fields(v)}
                          for k, v in self.steps.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AttributionRow:
        return cls(data["nodes"], data["n"],
                   {k: StepWinners(**v) for k, v in data.get("steps", {}).items()})


@dataclass(frozen=True)
class NotRun:
    """An RFC point left out: no platform could carry its outputs within the horizon."""

    point: str
    nodes: int
    task: str
    sink: str
    link_floor_h: float  # the least time the head's link needs for every output

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Estimate:
    """A metric's mean over replications and its 95% interval (None where not finite)."""

    mean: float | None
    ci95: list[float | None]

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean, "ci95": self.ci95}


@dataclass(frozen=True)
class PointSummary:
    """One point of a sweep: its grid values, how many replications ran and failed, and
    every metric's estimate."""

    point: int
    grid: dict[str, str]  # axis -> the value as given to --grid
    replications: int
    jobs_failed: int
    metrics: dict[str, Estimate]

    def to_json(self) -> dict[str, Any]:
        return {"point": self.point, "grid": self.grid, "replications": self.replications,
                "jobs_failed": self.jobs_failed,
                "metrics": {k: e.to_json() for k, e in self.metrics.items()}}
