"""The RFC at scale: does Work Queue's robustness on volatile pools, or Ray's speed, decide?

The RFC recommends Work Queue for a C++ bag of tasks on volatile pools although Ray won its
12-task local run. This study asks where that holds, on points chosen so that each claim can
show: short tasks that load the manager or driver, campaign-length jobs (hours) that meet
churn, outputs sent back through the manager or driver or to shared storage, churn with
abrupt losses, notices shorter than tasks and zone-wide reclaims, each with and without drain
glue, Ray's ``max_retries`` at its default and unlimited, the manager or head on demand or on
spot. Both platforms run the same scenario, seeds and churn.

Every run is a job of the studies' job runner (:mod:`schedsim.studies.jobs`): a base scenario
plus ``--set`` overrides, one replication each, appended to a results file as it finishes, so the
grid resumes after a kill and runs serially, in a process pool or on a Ray cluster with
identical rows. The uncertain parameters (guesses, or measured with a few workers only) are
then moved to the ends of their ranges together, once in Work Queue's favour and once in
Ray's; a verdict that holds at both corners is robust. Where one does not, the parameters of
the flipping corner are moved one at a time at one point of that region to name those that
flip it.

A slice (:func:`slice_grid`: some scales, task kinds, sinks, churn levels or head markets)
runs the same jobs as the study has for those points, so its rows equal the study's; it
writes its own report, and never into a folder holding an unsliced study's report
(:func:`check_slice_folder`). ``runs_from`` reads another folder's runs, made by the same
model, instead of running them again.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from schedsim.calibration.profile import default_profile_path, load_profile
from schedsim.errors import InputError
from schedsim.loading import parse_scenario
from schedsim.metrics import METRICS, summarize_metric
from schedsim.outputs import check_folder, folder_lock, read_bytes, read_text, write_text
from schedsim.studies.jobs import Job, ResultRow, by_overrides, done_rows, run_pending
from schedsim.studies.rows import (
    MEANS,
    AttributionRow,
    Means,
    NotRun,
    StepWinners,
    StudyRow,
)
from schedsim.verdict import NO_MARGIN, TIE, Margin, winner

HORIZON_S = 12 * 3600.0  # a campaign not done in 12 h is out of scope: its rest counts failed
LINK = "10 Gbps"  # the manager's or head's link, and each worker's
SUMMARY_BYTES = 2000  # what a task returns when its data goes to shared storage
# A difference that matters (docs/rfc-at-scale.md): 5% of throughput or cost, 1% of tasks.
THROUGHPUT_MARGIN = Margin(relative=0.05)
COST_MARGIN = Margin(relative=0.05)
FAILED_SHARE = 0.01


@dataclass(frozen=True)
class TaskKind:
    """A kind of task: its time, how many a node gets, and the output it makes."""

    name: str
    duration: dict[str, Any]
    per_node: int
    n_output: int  # the zfp array size whose compressed output the task returns

    def output_bytes(self) -> float:
        return round(load_profile(default_profile_path()).output_bytes(self.n_output, 1e-3))


TASKS: dict[str, TaskKind] = {
    # The real zfp task at n = 2e7 (0.7 s): the manager or driver is loaded.
    "short": TaskKind("short", {"dist": "profile", "n": 20_000_000, "tolerance": 1e-3}, 20,
                      20_000_000),
    # At n = 1e9 (about 34 s): the RFC's size class, a job of about 11 minutes.
    "medium": TaskKind("medium", {"dist": "profile", "n": 1_000_000_000, "tolerance": 1e-3}, 20,
                       1_000_000_000),
    # A chain of about 18 compressions at n = 1e9 that returns the last one's output: a job
    # of about 2 hours, long enough for churn to matter.
    "long": TaskKind("long", {"dist": "lognormal", "mean": "10min", "cv": 0.3}, 10,
                     1_000_000_000),
}
SINKS = ("manager", "storage")
_LOSS = {"replace_delay": "60s"}
CHURN: dict[str, list[dict[str, Any]]] = {
    "none": [],
    # Hardware failures or reclaims without warning: lifetimes of a few task lengths.
    "abrupt": [{"pool": "spot", "notice": "0s", **_LOSS,
                "lifetime": {"dist": "exponential", "mean": "30min"}}],
    # AWS's 2-minute notice, shorter than a long task; nodes last an hour on average.
    "notice": [{"pool": "spot", "notice": "120s", **_LOSS,
                "lifetime": {"dist": "exponential", "mean": "1h"}}],
    # Correlated: a zone-wide reclaim takes a quarter of the pool about every hour.
    "zone": [{"pool": "spot", "notice": "120s", **_LOSS,
              "zone_reclaims": {"mean_interval": "1h", "fraction": 0.25}}],
}
CHURN_BY_TASK = {"short": ("none",), "medium": ("none", "abrupt", "notice"),
                 "long": ("none", "abrupt", "notice", "zone")}
GLUE = ("shutdown", "drain")  # what the deployment does at a notice (churn[].on_notice)
HEADS = ("on_demand", "spot")
PLATFORMS = ("workqueue", "ray")


@dataclass(frozen=True)
class Param:
    """An uncertain parameter: its override keys, nominal value, plausible range, and which
    end favours Work Queue."""

    name: str
    keys: tuple[str, ...]
    nominal: float
    low: float
    high: float
    wq_likes: str  # "low" or "high"
    why: str

    def value(self, end: str) -> float:
        return {"nominal": self.nominal, "low": self.low, "high": self.high}[end]


def _nominal(platform: str, name: str) -> float:
    """What a run uses today for one platform option (profile, else the code's default)."""
    data = _base(tasks=1)
    data["platform"]["type"] = platform
    config = parse_scenario(data, "<rfc nominal>").platform.configs[platform]
    return float(getattr(config, name))


def uncertain_params() -> list[Param]:
    """The parameters a verdict may hang on (docs/models.md gives each source and range)."""
    d, r = _nominal("workqueue", "dispatch_time"), _nominal("workqueue", "retrieval_time")
    scan = _nominal("workqueue", "scan_time_per_worker")
    submit, result = _nominal("ray", "submit_time"), _nominal("ray", "result_time")
    intake = _nominal("ray", "driver_intake")
    return [
        Param("wq dispatch_time", ("platform.workqueue.dispatch_time",), d, d / 2, 4 * d, "low",
              "fitted with at most 3 workers on loopback"),
        Param("wq retrieval_time", ("platform.workqueue.retrieval_time",), r, r / 2, 4 * r,
              "low", "fitted with at most 3 workers on loopback"),
        Param("wq scan_time_per_worker", ("platform.workqueue.scan_time_per_worker",), scan,
              1e-7, 2e-6, "low", "a guess (docs/models.md)"),
        Param("ray submit_time", ("platform.ray.submit_time",), submit, submit / 2, 4 * submit,
              "high", "Ray's microbenchmark, not measured at scale"),
        Param("ray result_time", ("platform.ray.result_time",), result, result / 2, 4 * result,
              "high", "assumed"),
        Param("ray driver_intake", ("platform.ray.driver_intake",), intake, 1e9, 5e9, "low",
              "a guess from ray issue #42632"),
        Param("link latency", ("network.manager.latency", "network.worker.latency"), 1e-4,
              2.5e-5, 5e-4, "low", "a guess: one-way per link, same datacenter"),
    ]


def corner(params: list[Param], favour: str) -> dict[str, float]:
    """Every uncertain parameter at the end that favours ``favour`` (workqueue or ray)."""
    out = {}
    for p in params:
        end = p.wq_likes if favour == "workqueue" else ("high" if p.wq_likes == "low" else "low")
        out[p.name] = p.value(end)
    return out


@dataclass(frozen=True)
class Grid:
    nodes: tuple[int, ...]
    tasks: tuple[str, ...] = tuple(TASKS)
    sinks: tuple[str, ...] = SINKS
    churn: tuple[str, ...] = tuple(CHURN)
    heads: tuple[str, ...] = HEADS
    replications: int = 3
    only: tuple[tuple[Any, ...], ...] = field(default=())  # if set: just these points
    # The previous report's points (nodes, n) to rerun step by step (attribution_jobs).
    attribution: tuple[tuple[int, int], ...] = ()
    sliced: tuple[str, ...] = ()  # the axes a slice restricted (slice_grid); () for a study
    # A slice by nodes also runs its regions' smaller scales, not reported: the whole study
    # picks a region's sensitivity point as its smallest flipping one (sensitivity_runs).
    context_nodes: tuple[int, ...] = ()


@dataclass(frozen=True)
class Point:
    nodes: int
    task: str
    sink: str
    churn: str
    glue: str  # "-" without notices
    head: str

    @property
    def region(self) -> tuple[str, str, str, str, str]:
        return (self.task, self.sink, self.churn, self.glue, self.head)

    @property
    def tasks(self) -> int:
        return TASKS[self.task].per_node * self.nodes

    def label(self) -> str:
        glue = f"/{self.glue}" if self.glue != "-" else ""
        return f"{self.nodes} {self.task} {self.sink} {self.churn}{glue} head:{self.head}"


QUICK = Grid(nodes=(20, 2000), churn=("none", "abrupt"), heads=("on_demand",),
             replications=3,
             only=((20, "long", "storage", "abrupt"), (2000, "short", "storage", "none"),
                   (20, "medium", "manager", "none")))
FULL = Grid(nodes=(100, 1000, 10_000),
            attribution=tuple(itertools.product((10, 100, 1000, 10_000),
                                                (200_000, 20_000_000, 1_000_000_000))))


def grid_points(grid: Grid, every: bool = False) -> list[Point]:
    """Every point of the grid, in report order (short jobs see no churn: they are over
    before a node is likely to go; a head on spot matters only with churn)."""
    points: list[Point] = []
    for task, sink, churn, head, nodes in itertools.product(
            grid.tasks, grid.sinks, grid.churn, grid.heads, grid.nodes):
        if churn not in CHURN_BY_TASK[task] or (head == "spot" and churn == "none"):
            continue
        if grid.only and (nodes, task, sink, churn) not in grid.only:
            continue
        glues = GLUE if any(c.get("notice", "0s") != "0s" for c in CHURN[churn]) else ("-",)
        for g in glues:
            point = Point(nodes, task, sink, churn, g, head)
            if every or feasible(point):
                points.append(point)
    return points


# The axes a slice may restrict (Grid fields) and their command-line flags.
SLICE_FLAGS = {"nodes": "--nodes", "tasks": "--task", "sinks": "--sink", "churn": "--churn",
               "heads": "--head"}


def slice_grid(grid: Grid, **axes: list[Any]) -> Grid:
    """``grid`` restricted to the values given for some of :data:`SLICE_FLAGS`; a value the
    grid does not have is one line naming its flag. The previous report's points stay only
    where the slice keeps their region (no churn, head on demand, outputs to the manager),
    at the slice's scales."""
    changes: dict[str, Any] = {}
    for name, values in axes.items():
        if not values:
            continue
        flag, have = SLICE_FLAGS[name], getattr(grid, name)
        bad = [v for v in values if v not in have]
        if bad:
            raise InputError(flag, "", "one of " + ", ".join(map(str, have)), bad[0])
        changes[name] = tuple(v for v in have if v in values)  # the grid's order
    if not changes:
        return grid
    sliced = dataclasses.replace(grid, **changes, sliced=tuple(changes))
    if "nodes" in changes:
        sliced = dataclasses.replace(sliced, context_nodes=tuple(
            n for n in grid.nodes if n not in sliced.nodes and n < max(sliced.nodes)))
    keeps = "none" in sliced.churn and "on_demand" in sliced.heads and "manager" in sliced.sinks
    return dataclasses.replace(sliced, attribution=tuple(
        a for a in grid.attribution if keeps and a[0] in sliced.nodes))


def link_floor_s(point: Point) -> float:
    """The least time the head's link needs to carry every output (full duplex)."""
    from schedsim.units import parse_rate

    return point.tasks * output_bytes(point) / parse_rate(LINK)


def feasible(point: Point) -> bool:
    """False where no platform could finish within the horizon even at the link's full
    rate: such a point is reported from its bound, not run (it would only measure how much
    of a hopeless job fits in the horizon)."""
    return link_floor_s(point) <= HORIZON_S


def infeasible_points(grid: Grid) -> list[Point]:
    """The grid's points left out by :func:`feasible`."""
    return [p for p in grid_points(grid, every=True) if not feasible(p)]


# ------------------------------------------------------------------ scenarios and runs

def _base(tasks: int) -> dict[str, Any]:
    return {
        "name": "rfc", "seed": 2026, "replications": 1,
        "platform": {"type": "workqueue", "workqueue": {}, "ray": {"max_pending": 100_000}},
        "workload": {"tasks": tasks, "duration": TASKS["short"].duration,
                     "executable_size": "35 KB"},
        "cluster": {"manager": {"price_per_hour": 0.34},
                    "pools": [{"name": "spot", "count": 1, "market": "spot",
                               "price_per_hour": 0.0125,
                               "boot_time": {"dist": "lognormal", "mean": "60s", "cv": 0.3}}]},
        "network": {"manager": {"bandwidth": LINK, "latency": "0.1ms"},
                    "worker": {"bandwidth": LINK, "latency": "0.1ms"}},
        "horizon": f"{HORIZON_S:g}s",
    }


def base_scenario_text() -> str:
    """The scenario every run starts from; the overrides make each point."""
    return "# Written by schedsim rfc: the base of every run; each adds --set overrides.\n" + \
        yaml.safe_dump(_base(tasks=1), sort_keys=False)


def _flow(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "))  # JSON is YAML: one-line values


def output_bytes(point: Point) -> float:
    return TASKS[point.task].output_bytes() if point.sink == "manager" else SUMMARY_BYTES


def point_overrides(point: Point) -> list[str]:
    kind = TASKS[point.task]
    churn = [dict(c, on_notice=point.glue) if point.glue != "-" else dict(c)
             for c in CHURN[point.churn]]
    out = [f"cluster.pools.spot.count={point.nodes}",
           f"workload.tasks={point.tasks}",
           f"workload.duration={_flow(kind.duration)}",
           f"workload.output_size={output_bytes(point)}",
           f"churn={_flow(churn)}"]
    if point.head == "spot":
        out += ["platform.workqueue.manager={pool: spot}", "platform.ray.head={pool: spot}"]
    return out


@dataclass(frozen=True)
class Variant:
    """One platform run of a point: which platform, its retry setting, and the values of
    the uncertain parameters (nominal, a corner, or one parameter moved)."""

    platform: str  # workqueue | ray | ray_unlimited
    setting: str  # nominal | corner:workqueue | corner:ray | <param>=<end>

    def overrides(self, params: list[Param]) -> list[str]:
        kind = "ray" if self.platform.startswith("ray") else "workqueue"
        out = [f"platform.type={kind}"]
        if self.platform == "ray_unlimited":
            out.append("platform.ray.max_retries=-1")
        values: dict[str, float] = {}
        if self.setting.startswith("corner:"):
            values = corner(params, self.setting.split(":", 1)[1])
        elif self.setting != "nominal":
            name, end = self.setting.rsplit("=", 1)
            p = next(p for p in params if p.name == name)
            values = {name: p.value(end)}
        for p in params:
            if p.name in values:
                out += [f"{k}={values[p.name]!r}" for k in p.keys]
        return out


def variants(point: Point) -> list[Variant]:
    """The runs a point needs before its sensitivity: nominal and both corners."""
    out = [Variant(p, "nominal") for p in PLATFORMS]
    if point.churn != "none":
        out.append(Variant("ray_unlimited", "nominal"))
    out += [Variant(p, f"corner:{c}") for c in PLATFORMS for p in PLATFORMS]
    return out


def jobs_for(grid: Grid, runs: list[tuple[Point, Variant]], params: list[Param]) -> list[Job]:
    jobs: list[Job] = []
    for point, variant in runs:
        ov = tuple(point_overrides(point) + variant.overrides(params))
        # Every setting has the nominal runs' replications: CIs of different widths would
        # turn a verdict into a tie by the replication count alone.
        jobs += [Job(len(jobs), r, ov) for r in range(grid.replications)]
    return jobs


def run_study(grid: Grid, out: Path, *, workers: int = 1, ray_address: str | None = None,
              use_ray: bool = False, on_job: Callable[[int, int], None] = lambda _d, _t: None,
              runs_from: Path | None = None) -> dict[str, Any]:
    """Run (or resume) every job the grid needs and return the analysed study.

    Phase 1 runs every point at nominal values and at both corners; phase 2 moves one
    parameter at a time at one point of each region whose verdict a corner flipped. Jobs
    whose rows ``runs_from`` holds (another study's folder) are copied, not run.
    """
    check_folder(out, "rfc")
    cache = read_cache(runs_from) if runs_from is not None else {}
    with folder_lock(out, "rfc-runs.lock", "rfc study"):
        if grid.sliced:
            check_slice_folder(out)
        return _study(grid, out, workers, ray_address, use_ray, on_job, cache)


REPORT_JSON = "rfc.json"


def check_slice_folder(out: Path) -> None:
    """A slice writes its own report: it is refused where it would replace an unsliced
    study's (the runs alone it could share: a job's row is the same in both)."""
    path = out / REPORT_JSON
    if not path.is_file():
        return
    try:
        sliced = json.loads(read_text(path, "a study's report")).get("grid", {}).get("sliced")
    except (json.JSONDecodeError, AttributeError):
        sliced = None
    if not sliced:
        raise InputError(f"--out {out}", "", f"a folder without a whole study's report (its "
                         f"{REPORT_JSON} is one, which a slice would replace); give the slice "
                         "another --out, and --runs-from this folder to reuse its runs",
                         has_value=False)


Cache = dict[tuple[tuple[str, ...], int], ResultRow]
Runs = dict[tuple[str, ...], list[ResultRow]]  # a run's replications, by its overrides


def read_cache(folder: Path) -> Cache:
    """The runs of another study's folder, by (overrides, replication), if the same model
    made them; else one line naming ``--runs-from``."""
    results = folder / "rfc-runs.csv"
    stamp = results.with_suffix(".fingerprint")
    if not results.is_file() or not stamp.is_file():
        raise InputError(f"--runs-from {folder}", "", "a folder holding rfc-runs.csv and "
                         "rfc-runs.fingerprint (an rfc study's --out)", has_value=False)
    if read_text(stamp, "a model fingerprint").strip() != model_fingerprint():
        raise InputError(f"--runs-from {folder}", "", "runs made by this model version (its "
                         "rfc-runs.fingerprint differs: the model changed since they ran)",
                         has_value=False)
    return done_rows(results)


def _study(grid: Grid, out: Path, workers: int, ray_address: str | None, use_ray: bool,
           on_job: Callable[[int, int], None], cache: Cache) -> dict[str, Any]:
    base = out / "rfc-base.yaml"
    text = base_scenario_text()
    if not base.is_file() or read_text(base, "the study's base scenario") != text:
        write_text(base, text)
    results = out / "rfc-runs.csv"
    _check_fingerprint(results)
    params = uncertain_params()
    points = grid_points(grid)
    # With a slice's context scales: the points whose verdicts choose the sensitivity runs.
    choosers = grid_points(dataclasses.replace(
        grid, nodes=tuple(sorted({*grid.nodes, *grid.context_nodes})))) \
        if grid.context_nodes else points
    phase1 = jobs_for(grid, [(p, v) for p in choosers for v in variants(p)], params)
    # The previous report's points do not depend on this grid's results: they run with it.
    runs = _run_jobs(phase1 + attribution_jobs(grid), base, results, workers, ray_address,
                     use_ray, on_job, cache)
    reported = set(points)
    chosen = analyse(choosers, params, runs, base)
    phase2 = [(p, v) for p, v in sensitivity_runs(chosen, params) if p in reported]
    if phase2:
        runs.update(_run_jobs(jobs_for(grid, phase2, params), base, results, workers,
                              ray_address, use_ray, on_job, cache))
        rows = analyse(points, params, runs, base)
    else:  # nothing new ran: the reported points' rows are already there
        rows = [r for r in chosen if _point(r) in reported]
    # A study's rfc.json has no "sliced" key: it reads as it did before slices existed.
    study: dict[str, Any] = {
        "grid": {k: v for k, v in grid.__dict__.items()
                 if k not in ("sliced", "context_nodes") or v},
        "params": [p.__dict__ for p in params], "rows": [r.to_json() for r in rows],
        "not_run": [NotRun(p.label(), p.nodes, p.task, p.sink, link_floor_s(p) / 3600)
                    .to_json() for p in infeasible_points(grid)]}
    if grid.attribution:
        study["attribution"] = [a.to_json() for a in attribution(grid, runs)]
    study["provenance"] = study_provenance(base)
    return study


def study_provenance(base: Path) -> dict[str, Any]:
    """What produced the study: :func:`schedsim.resolve.provenance` of the base scenario every
    run starts from, and the fingerprint of the model code its runs were made with."""
    from schedsim.loading import load_scenario
    from schedsim.resolve import provenance

    return {**provenance(load_scenario(base)), "model_fingerprint": model_fingerprint()}


def model_files() -> list[Path]:
    """The package's files that produce a run's numbers, relative to the package, in order."""
    import schedsim

    package = Path(schedsim.__file__).resolve().parent
    others = _other_platforms_modules()
    files = (p.relative_to(package) for p in sorted(package.rglob("*.py")))
    # A platform the study never runs (its folder or module under platforms/) is left out:
    # a change to it, or a new platform, leaves the recorded runs valid.
    return [f for f in files if _runs_the_model(f) and not (
        len(f.parts) > 1 and f.parts[0] == "platforms"
        and f.parts[1].removesuffix(".py") in others)]


def model_fingerprint() -> str:
    """A hash of the code and the calibration profile that produce a run's numbers."""
    import hashlib

    import schedsim

    package = Path(schedsim.__file__).resolve().parent
    h = hashlib.sha256()
    for path in model_files():
        h.update((package / path).read_bytes())
    h.update(_profile_of_the_study())
    h.update(base_scenario_text().encode())
    return h.hexdigest()[:16]


def _unused_platforms() -> set[str]:
    """Registered platforms the study never runs (the ideal one, a third platform)."""
    from schedsim.platforms import PLATFORMS as REGISTERED

    return set(REGISTERED) - set(PLATFORMS)


def _other_platforms_modules() -> set[str]:
    """The top modules under platforms/ of the platforms the study never runs (``zmq``,
    ``ideal``): their model's and their options' modules, from the registry."""
    from schedsim.platforms import PLATFORMS as REGISTERED

    return {m.split(":")[0].split(".")[0] for name in _unused_platforms()
            for m in (REGISTERED[name].model, REGISTERED[name].options) if m}


def _profile_of_the_study() -> bytes:
    """The runtime profile, less what it holds for platforms the study never runs (their
    fitted parameters and live measurements): calibrating a third platform keeps the runs."""
    import json

    data = json.loads(default_profile_path().read_bytes())
    unused = _unused_platforms()
    for key in ("platforms", "measured"):
        section = data.get(key)
        if isinstance(section, dict):
            for name in unused:
                section.pop(name, None)
    host = data.get("platforms", {}).get("live_host", {}).get("parameters")
    if isinstance(host, dict):
        for name in [k for k in host if k.split("_")[0] in unused]:
            del host[name]
    return json.dumps(data, sort_keys=True).encode()


# Code that asks, stores, shows or measures but never changes a simulated number: a change
# to it does not make the recorded runs stale (studies/, live/ and calibration/ but the
# profile reader are left out whole, below).
_NOT_MODEL = {"__init__.py", "__main__.py", "cli.py", "report.py", "pool.py", "outputs.py",
              "interrupt.py", "estimate.py", "ray_cluster.py", "verdict.py", "cli_args.py",
              "completion.py", "parquet.py", "trace.py", "api.py"}


def _runs_the_model(path: Path) -> bool:
    """Whether the package file ``path`` (relative to the package) is part of what produces a
    run's numbers."""
    top = path.parts[0]
    if top in ("live", "studies"):
        return False
    if top == "calibration":  # only the profile is read by runs; the rest measures and fits
        return path.name == "profile.py"
    return len(path.parts) > 1 or top not in _NOT_MODEL


def _check_fingerprint(results: Path) -> None:
    """Runs made by other code must not mix with these: a results file of another model is
    moved aside (kept, not reused) and the study starts afresh."""
    stamp = results.with_suffix(".fingerprint")
    now = model_fingerprint()
    if results.exists() and not results.is_file():
        read_bytes(results, "runs written by schedsim rfc")  # says why reading fails
    if results.exists() and (not stamp.exists() or
                             read_text(stamp, "a model fingerprint").strip() != now):
        stale = results.with_suffix(".csv.stale")
        results.replace(stale)
        print(f"schedsim: {results} came from another model version; moved to {stale}",
              file=sys.stderr)
    if not stamp.exists() or read_text(stamp, "a model fingerprint") != now + "\n":
        write_text(stamp, now + "\n")


def _run_jobs(jobs: list[Job], base: Path, results: Path, workers: int,
              ray_address: str | None, use_ray: bool, on_job: Callable[[int, int], None],
              cache: Cache | None = None) -> Runs:
    """Run the jobs not yet in ``results`` (copying those ``cache`` holds); every job's
    rows, by its overrides."""
    have = done_rows(results)

    def finished(row: dict[str, Any]) -> None:
        done = ResultRow.ran(row)
        have[(done.overrides, done.replication)] = done

    # Largest runs first, so the last to finish is a small one.
    run_pending(str(base), jobs, results, have, key=by_overrides, copies=cache,
                order=lambda j: -_size(j.overrides), workers=workers, ray_address=ray_address,
                use_ray=use_ray, on_row=finished, on_progress=on_job)
    by_run: Runs = {}
    for job in jobs:
        by_run.setdefault(job.overrides, []).append(have[(job.overrides, job.replication)])
    return by_run


def _size(overrides: tuple[str, ...]) -> int:
    return next(int(o.split("=", 1)[1]) for o in overrides if o.startswith("workload.tasks="))


# ------------------------------------------------------------------ analysis

def _summary(rows: list[ResultRow]) -> dict[str, Any]:
    """A run's replications as a summary :func:`schedsim.verdict.winner` compares."""
    return {"metrics": {m: summarize_metric(m, [r.metric(m) for r in rows]) for m in METRICS},
            "failures": sorted({r.failure.split(" at ")[0] for r in rows if r.failure})}


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def compare(point: Point, s: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Winners of one point (Work Queue against Ray with the same parameters)."""
    failed_margin = Margin(absolute=FAILED_SHARE * point.tasks)
    pair = {"workqueue": s["workqueue"], "ray": s["ray"]}
    out = {"throughput": winner(pair, "throughput_tasks_per_s", "higher", THROUGHPUT_MARGIN),
           "cost": winner(pair, "cost_per_1k_tasks_usd", "lower", COST_MARGIN),
           "out_of_retries": winner(pair, "tasks_out_of_retries", "lower", failed_margin)}
    if "ray_unlimited" in s:
        out["out_of_retries_unlimited"] = winner(
            {"workqueue": s["workqueue"], "ray": s["ray_unlimited"]}, "tasks_out_of_retries",
            "lower", failed_margin)
    return out


def _mean(s: dict[str, Any], metric: str) -> float:
    v = s["metrics"][metric]["mean"]
    return float(v) if v is not None else math.nan


@functools.cache
def _bound(base: Path, overrides: tuple[str, ...]) -> dict[str, Any]:
    """The analytic bound of one run, once per run."""
    from schedsim.bound import scenario_bound
    from schedsim.loading import load_scenario

    return scenario_bound(load_scenario(base, list(overrides)))


def _means(summary: dict[str, Any]) -> Means:
    return Means(*(_finite(_mean(summary, metric)) for _, metric in MEANS))


def _ratio(a: float, b: float) -> float | None:
    return _finite(a / b if b else math.nan)


def analyse(points: list[Point], params: list[Param], runs: Runs, base_path: Path
            ) -> list[StudyRow]:
    """A row per point whose nominal runs are done: both platforms' means, the winners at
    nominal values and at both corners, and those with one parameter moved found in
    ``runs``."""
    out_rows = []
    for point in points:
        base = point_overrides(point)

        def summary(variant: Variant, point_ov: list[str] = base) -> dict[str, Any] | None:
            rows = runs.get(tuple(point_ov + variant.overrides(params)))
            return _summary(rows) if rows else None

        nominal = {v.platform: summary(v) for v in variants(point) if v.setting == "nominal"}
        if any(v is None for v in nominal.values()):
            continue
        s: dict[str, dict[str, Any]] = {k: v for k, v in nominal.items() if v is not None}
        wq, ray = s["workqueue"], s["ray"]
        corners = {}
        for c in PLATFORMS:
            cs = {p: summary(Variant(p, f"corner:{c}")) for p in PLATFORMS}
            if all(cs.values()):
                corners[c] = compare(point, cs)  # type: ignore[arg-type]
        oat = {}
        for p in params:
            for end in ("low", "high"):
                ps = {pl: summary(Variant(pl, f"{p.name}={end}")) for pl in PLATFORMS}
                if all(ps.values()):
                    oat[f"{p.name}={end}"] = compare(point, ps)  # type: ignore[arg-type]
        bounds = {pl: _bound(base_path, tuple(base + Variant(pl, "nominal").overrides(params)))
                  for pl in PLATFORMS}
        row = StudyRow(
            point.nodes, point.task, point.sink, point.churn, point.glue, point.head,
            point.tasks, _means(wq), _means(ray),
            _means(s["ray_unlimited"]) if "ray_unlimited" in s else None,
            throughput_ratio=_ratio(_mean(wq, "throughput_tasks_per_s"),
                                    _mean(ray, "throughput_tasks_per_s")),
            cost_ratio=_ratio(_mean(ray, "cost_per_1k_tasks_usd"),
                              _mean(wq, "cost_per_1k_tasks_usd")),
            wq_failures=wq["failures"], ray_failures=ray["failures"],
            winners=compare(point, s), corners=corners, oat=oat,
            wq_binding=str(bounds["workqueue"]["binding"]),
            wq_bound=_finite(float(bounds["workqueue"]["throughput_tasks_per_s"])),
            ray_binding=str(bounds["ray"]["binding"]),
            ray_bound=_finite(float(bounds["ray"]["throughput_tasks_per_s"])))
        out_rows.append(dataclasses.replace(row, why=mechanism(row)))
    return out_rows


def robust(row: StudyRow, verdict: str) -> bool:
    """The verdict is the same at nominal values and at both corners."""
    return not flipping_corners(row, verdict)


def flipping_corners(row: StudyRow, verdict: str) -> list[str]:
    w = row.winners[verdict]
    return [c for c in PLATFORMS if row.corners.get(c, {}).get(verdict, w) != w]


SENSITIVE = ("throughput", "cost")


def sensitivity_runs(rows: list[StudyRow], params: list[Param]
                     ) -> list[tuple[Point, Variant]]:
    """One point per region whose throughput or cost verdict a corner flips (the smallest
    such point, for cost): every parameter of the flipping corner moved alone."""
    chosen: dict[tuple[Any, ...], tuple[Point, set[str]]] = {}
    for row in rows:
        point = _point(row)
        flips = {c for v in SENSITIVE for c in flipping_corners(row, v)}
        if flips and point.region not in chosen:
            chosen[point.region] = (point, flips)
    runs = []
    for point, flips in chosen.values():
        for c in sorted(flips):
            ends = corner(params, c)
            for p in params:
                end = "low" if ends[p.name] == p.low else "high"
                runs += [(point, Variant(pl, f"{p.name}={end}")) for pl in PLATFORMS]
    return runs


def _point(row: StudyRow) -> Point:
    return Point(row.nodes, row.task, row.sink, row.churn, row.glue, row.head)


def flipped_by(row: StudyRow, verdict: str) -> list[str]:
    """The parameters that, moved alone, change this row's verdict."""
    w = row.winners[verdict]
    return sorted({k.rsplit("=", 1)[0] for k, v in row.oat.items() if v.get(verdict, w) != w})


LIMITS = {"manager": "serial manager", "driver": "driver", "manager_link": "head's link",
          "driver_intake": "driver's intake", "worker_links": "worker links",
          "worker_slots": "worker slots", "cores": "cores"}


def mechanism(row: StudyRow) -> str:
    """What decides the point, read off the runs and bounds, not written by hand: a bound
    names a loser's limit only where the loser runs at half of it or more (a serial
    manager loses its workers' time long before it is saturated: they wait for it)."""
    reasons = []
    w = row.winners
    for name, means, bound, binding, other in (
            ("Work Queue", row.wq, row.wq_bound, row.wq_binding, "ray"),
            ("Ray", row.ray, row.ray_bound, row.ray_binding, "workqueue")):
        got = means.throughput
        if w["throughput"] == other and bound and got and got >= 0.5 * bound and \
                binding not in ("cores", "worker_slots"):
            reasons.append(f"{name} is held by its {LIMITS.get(str(binding), str(binding))} "
                           f"({got / bound:.0%} of its limit)")
    wq_w, ray_w = row.wq.wasted_core_s or 0.0, row.ray.wasted_core_s or 0.0
    if w["throughput"] != TIE and max(wq_w, ray_w) > 1.2 * min(wq_w, ray_w) + 60 and \
            not reasons:
        more, less = ("Work Queue", "Ray") if wq_w > ray_w else ("Ray", "Work Queue")
        reasons.append(f"{more} loses more work to node losses ({max(wq_w, ray_w) / 3600:.0f}"
                       f" core-h against {min(wq_w, ray_w) / 3600:.0f} for {less})")
    if w["out_of_retries"] == "workqueue":
        reasons.append("Ray runs out of retries (max_retries 3) under node losses")
    if w["out_of_retries"] == "ray":
        reasons.append("Work Queue runs out of retries")
    if row.wq.job_lost_manager and row.ray.job_lost_manager:
        reasons.append("both lose the whole job with the manager or head node")
    if row.wq.job_hit_horizon or row.ray.job_hit_horizon:
        reasons.append("the 12 h horizon is reached")
    return "; ".join(reasons)


# ------------------------------------------------------------------ what changed, and why

# The previous report (before issue 15) compared the platforms with half-duplex links, no
# per-worker scan, one-way fetches, a global pull cap, 0.5 ms per link, outputs always back
# to the manager or driver, and winners by CIs alone. Its points without churn, on demand,
# at 10 Gbps are rerun here with today's models, then with each later change added in turn,
# and with two model fixes taken back one at a time, so each change of verdict has a cause.
STEPS: tuple[tuple[str, str], ...] = (
    ("models", "today's models, the previous study's choices"),
    ("models, half duplex", "... with half-duplex links again"),
    ("models, no scan", "... with no per-worker scan in Work Queue's manager"),
    ("+ margin", "today's models; winners need a 5% margin"),
    ("+ latency 0.1 ms", "... and 0.1 ms per link instead of 0.5 ms"),
    ("+ storage", "... and outputs to shared storage (this study's other sink)"),
)


def attribution_overrides(nodes: int, n: int, step: str) -> list[str]:
    """The previous report's point (20 tasks a node, zfp at n, output back to the manager,
    no churn, head on demand, 10 Gbps) under a step of :data:`STEPS`."""
    kind = TaskKind("zfp", {"dist": "profile", "n": n, "tolerance": 1e-3}, 20, n)
    latency = "0.1ms" if step in ("+ latency 0.1 ms", "+ storage") else "0.5ms"
    out = [f"cluster.pools.spot.count={nodes}", f"workload.tasks={20 * nodes}",
           f"workload.duration={_flow(kind.duration)}",
           f"workload.output_size={SUMMARY_BYTES if step == '+ storage' else kind.output_bytes()}",
           "churn=[]", f"network.manager.latency={latency}",
           f"network.worker.latency={latency}"]
    if step == "models, half duplex":
        out += ["network.manager.duplex=half", "network.worker.duplex=half"]
    if step == "models, no scan":
        out.append("platform.workqueue.scan_time_per_worker=0")
    return out


def _step_runs(step: str) -> str:
    """The runs a step reads ('+ margin' reads those of 'models': only the rule differs)."""
    return "models" if step == "+ margin" else step


def attribution_jobs(grid: Grid) -> list[Job]:
    jobs: list[Job] = []
    for (nodes, n), (step, _), platform in itertools.product(grid.attribution, STEPS,
                                                             PLATFORMS):
        if step == "+ margin":
            continue
        ov = tuple(attribution_overrides(nodes, n, step) + [f"platform.type={platform}"])
        jobs += [Job(len(jobs), r, ov) for r in range(grid.replications)]
    return jobs


def attribution(grid: Grid, runs: Runs) -> list[AttributionRow]:
    """Per previous point: the throughput and cost winners at each step."""
    out = []
    for nodes, n in grid.attribution:
        row = AttributionRow(nodes, n)
        for step, _ in STEPS:
            s = {}
            for platform in PLATFORMS:
                ov = tuple(attribution_overrides(nodes, n, _step_runs(step)) +
                           [f"platform.type={platform}"])
                if ov not in runs:
                    break
                s[platform] = _summary(runs[ov])
            if len(s) < len(PLATFORMS):
                continue
            margin = step not in ("models", "models, half duplex", "models, no scan")
            row.steps[step] = StepWinners(
                throughput=winner(s, "throughput_tasks_per_s", "higher",
                                  THROUGHPUT_MARGIN if margin else NO_MARGIN),
                cost=winner(s, "cost_per_1k_tasks_usd", "lower",
                            COST_MARGIN if margin else NO_MARGIN),
                throughput_ratio=_finite(_mean(s["workqueue"], "throughput_tasks_per_s") /
                                         _mean(s["ray"], "throughput_tasks_per_s")))
        out.append(row)
    return out


# Read from the folder the study runs in, as ``schedsim rfc --out docs`` is run from the
# repository; ``--validation FILE`` names another.
DEFAULT_VALIDATION = Path("docs") / "validation.json"


def load_validation(path: Path | None) -> dict[str, Any] | None:
    """The overall errors of a ``schedsim validate`` report (its ``overall``: per platform,
    ``median_abs_error``, ``p95_abs_error``, ``bias``), which the report quotes; None when
    ``path`` is None and :data:`DEFAULT_VALIDATION` is not there. A file given that is
    missing or malformed is one line naming ``--validation``."""
    if path is None:
        if not DEFAULT_VALIDATION.is_file():
            return None
        path = DEFAULT_VALIDATION
    source = f"--validation {path}"
    expected = ("a report written by schedsim validate (validation.json) with overall."
                "PLATFORM.median_abs_error, p95_abs_error and bias")
    if not path.is_file():
        raise InputError(source, "", "an existing file: " + expected, has_value=False)
    try:
        data = json.loads(read_text(path, "a report written by schedsim validate"))
    except ValueError:
        data = None
    overall = data.get("overall") if isinstance(data, dict) else None
    ok = isinstance(overall, dict) and all(
        isinstance(o, dict) and isinstance(o.get("bias"), str) and all(
            isinstance(o.get(k), int | float) and not isinstance(o.get(k), bool)
            for k in ("median_abs_error", "p95_abs_error")) for o in overall.values())
    if not ok:
        raise InputError(source, "overall", expected, has_value=False)
    return {"overall": overall}


# The previous report's verdicts: fixed history, shipped with the package.
PREVIOUS_JSON = Path(str(files("schedsim.studies").joinpath("rfc-previous.json")))


def load_previous(path: Path = PREVIOUS_JSON) -> dict[str, Any] | None:
    """The previous report's verdicts at the points :data:`STEPS` reruns."""
    return json.loads(path.read_text()) if path.is_file() else None
