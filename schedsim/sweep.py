"""Parameter sweeps: the cross product of a grid, every point with its replications.

A grid is ``KEY=V1,V2,...`` per axis (each value parsed as YAML, as ``--set`` does). Every
(point, replication) pair is one job: the scenario with that point's overrides, run as
replication r, which is deterministic, so serial, process-pool and Ray runs give identical
numbers. Each finished job appends one row to ``results.csv`` at once (flushed and synced):
one column per grid axis holding that point's value, counts as integers (:class:`Layout`).
Rerunning the same command reads the file, drops a torn last line, and runs only the missing
jobs, so an interrupted sweep (Ctrl-C, a killed process, a lost Ray node) loses nothing and
duplicates nothing. ``sweep.json`` records what the rows depend on (the file format, the
scenario's and its files' content, the grid, overrides, replications, the version): a resume
after a change is refused, naming it. Every row read back is checked, and one folder takes one
sweep at a time. :func:`point_summaries` gives each point's mean and 95% CI of every metric.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import itertools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schedsim.errors import InputError, describe
from schedsim.metrics import METRICS
from schedsim.outputs import read_bytes, read_text, write_text
from schedsim.pool import run as run_jobs
from schedsim.safe_load import load_yaml
from schedsim.scenario import Scenario, load_scenario, split_values
from schedsim.version import __version__

# Metrics counted in whole units, written as integers (the others as Python float reprs).
COUNT_UNITS = ("tasks", "attempts", "nodes", "0/1")
COUNTS = frozenset(name for name, info in METRICS.items() if info.unit in COUNT_UNITS)


@dataclass(frozen=True)
class Layout:
    """The columns of a results file. A sweep's has one column per grid axis, holding the
    point's value as given to ``--grid`` (its ``--set`` overrides are in ``sweep.json``); the
    RFC study's, whose jobs are any list of overrides, keeps each job's as one JSON list."""

    axes: tuple[str, ...] = ()  # none: an ``overrides`` column
    base: tuple[str, ...] = ()  # overrides every job has before its axes' (a sweep's --set)

    @property
    def columns(self) -> list[str]:
        middle = list(self.axes) if self.axes else ["overrides"]
        return ["point", "replication", *middle, "failure", *METRICS]

    def cells(self, row: dict[str, Any]) -> dict[str, Any]:
        """A row of :func:`run_job` in this layout."""
        if not self.axes:
            return row
        overrides = json.loads(row["overrides"])[len(self.base):]
        out = {k: v for k, v in row.items() if k != "overrides"}
        out.update({key: o.partition("=")[2] for key, o in zip(self.axes, overrides,
                                                                strict=True)})
        return out

    def overrides(self, cells: dict[str, str]) -> tuple[str, ...] | None:
        """A row's overrides, or None when its ``overrides`` cell is not a JSON list of
        strings."""
        if self.axes:
            return self.base + tuple(f"{key}={cells[key]}" for key in self.axes)
        try:
            overrides = json.loads(cells["overrides"])
        except ValueError:
            return None
        if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
            return None
        return tuple(overrides)


RUNS = Layout()  # the RFC study's runs: overrides as one JSON list
COLUMNS = RUNS.columns


@dataclass(frozen=True)
class Job:
    point: int
    replication: int
    overrides: tuple[str, ...]


def parse_grid(items: list[str]) -> list[tuple[str, list[str]]]:
    """``KEY=V1,V2`` axes; values are kept as text and parsed as YAML by the override."""
    axes: list[tuple[str, list[str]]] = []
    for item in items:
        source = f"--grid {item}"
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise InputError(source, "", "KEY=V1,V2,... with a dotted key path",
                             has_value=False)
        options = [v.strip() for v in split_values(values)]
        if not options or any(v == "" for v in options):
            raise InputError(source, key, "a comma-separated list of values", values)
        for v in options:
            try:
                load_yaml(v, source)
            except InputError as exc:
                raise InputError(source, key, f"YAML values ({exc.expected})", v) from None
        if any(key == k for k, _ in axes):
            raise InputError(source, key, "each key in at most one --grid", has_value=False)
        axes.append((key, options))
    if not axes:
        raise InputError("--grid", "", "at least one --grid KEY=V1,V2,...", has_value=False)
    return axes


def point_overrides(axes: list[tuple[str, list[str]]],
                    base: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every point of the grid as its overrides, in point order."""
    points = itertools.product(*[[f"{k}={v}" for v in values] for k, values in axes])
    return [base + tuple(point) for point in points]


def load_points(scenario_path: str, axes: list[tuple[str, list[str]]],
                base: tuple[str, ...] = ()) -> list[Scenario]:
    """Every point of the grid as a scenario; a point the scenario refuses is an error of
    ``--grid`` (the scenario with ``base`` alone is valid), not of the scenario file."""
    points = []
    for overrides in point_overrides(axes, base):
        try:
            points.append(load_scenario(scenario_path, list(overrides)))
        except InputError as exc:
            detail = exc.line.removeprefix(f"{exc.source}: ")
            raise InputError("--grid", "", f"values the scenario accepts; with "
                             f"{', '.join(overrides[len(base):])}: {detail}",
                             has_value=False) from None
    return points


def plan(axes: list[tuple[str, list[str]]], replications: int,
         base: tuple[str, ...] = ()) -> list[Job]:
    return [Job(i, r, overrides) for i, overrides in enumerate(point_overrides(axes, base))
            for r in range(replications)]


MANIFEST = "sweep.json"
RESULTS = "results.csv"
LOCK = "sweep.lock"
PARQUET = "results.parquet"
KIND = "schedsim sweep"
# The results file's layout: 2 has a column per grid axis and integer counts (1, without
# the key: every point's overrides in one JSON column, counts as floats).
FORMAT = 2
# What a resume must find unchanged, in the order a refusal names them.
RECORDED = ("format", "version", "scenario_sha256", "files", "grid", "overrides",
            "replications")


def _sha256(path: Path) -> str:
    return hashlib.sha256(read_bytes(path, "a file the scenario uses")).hexdigest()


def referenced_files(scenario: Scenario) -> dict[str, Path]:
    """Files whose content a run of ``scenario`` reads besides the scenario file, by the name
    a manifest gives them: churn traces as the scenario writes them, and the calibration
    profile (durations ``dist: profile``, platform overheads)."""
    from schedsim.calibration.profile import default_profile_path

    base = Path(scenario.source).resolve().parent
    files = {"calibration profile": default_profile_path()}
    for entry in scenario.raw.get("churn") or []:
        if isinstance(entry, dict) and isinstance(entry.get("trace"), str):
            trace = Path(entry["trace"])
            files[entry["trace"]] = trace if trace.is_absolute() else base / trace
    return files


def manifest(scenario_path: str, points: list[Scenario], axes: list[tuple[str, list[str]]],
             overrides: tuple[str, ...], replications: int) -> dict[str, Any]:
    """What ``sweep.json`` records: enough to tell a resume of the same sweep from a
    different one (the scenario and the files it reads by content, not by path)."""
    files = {name: path for p in points for name, path in referenced_files(p).items()}
    data = {"kind": KIND, "format": FORMAT, "version": __version__,
            "scenario": str(Path(scenario_path).resolve()),
            "scenario_sha256": _sha256(Path(scenario_path)),
            "files": {name: _sha256(files[name]) for name in sorted(files)},
            "grid": axes, "overrides": list(overrides), "replications": replications}
    return dict(json.loads(json.dumps(data)))  # as it reads back (lists, not tuples)


def read_manifest(path: Path) -> dict[str, Any]:
    text = read_text(path, "a sweep manifest written by schedsim sweep")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise InputError(str(path), "", "a sweep manifest (JSON) written by schedsim sweep; "
                         "--restart starts the sweep over", has_value=False)
    return data


def check_resume(path: Path, recorded: dict[str, Any], now: dict[str, Any]) -> None:
    """Refuse to resume a sweep whose inputs changed, naming the first change."""
    again = "; --restart starts the sweep over, or use another --out"
    if recorded.get("kind") != KIND:
        raise InputError(str(path), "kind", "a manifest that records the scenario's content, "
                         "got one written before schedsim recorded it" + again,
                         has_value=False)
    for key in RECORDED:
        then, new = recorded.get(key), now[key]
        if then == new:
            continue
        if key == "format":
            raise InputError(str(path), "format", f"results in this version's format ({new}: "
                             "a column per grid axis), got a sweep written in format "
                             f"{then or 1}" + again, has_value=False)
        if key == "scenario_sha256":
            raise InputError(str(path), "scenario", "the content the sweep started with "
                             f"(sha256 {str(then)[:12]}), got a changed scenario (sha256 "
                             f"{new[:12]})" + again, has_value=False)
        if key == "files" and isinstance(then, dict):
            name = next(f for f in sorted(set(then) | set(new)) if then.get(f) != new.get(f))
            raise InputError(str(path), name, "the content the sweep started with "
                             f"(sha256 {str(then.get(name, 'none'))[:12]}), got sha256 "
                             f"{str(new.get(name, 'none'))[:12]}" + again, has_value=False)
        raise InputError(str(path), key, f"{describe(then)} as when the sweep started, got "
                         f"{describe(new)}" + again, has_value=False)


def write_manifest(path: Path, data: dict[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def check_rows(path: Path, rows: list[ResultRow], jobs: list[Job]) -> None:
    """Every row belongs to one of ``jobs``: the same point with the same overrides."""
    by_point = {j.point: j for j in jobs}
    replications = 1 + max((j.replication for j in jobs), default=-1)
    for row in rows:
        job = by_point.get(row.point)
        if job is None or row.overrides != job.overrides:
            expected = (f"point {row.point} of this sweep with overrides {list(job.overrides)}"
                        if job else f"a point of this sweep (0 to {len(by_point) - 1})")
            raise InputError(str(path), f"line {row.line}", f"{expected}, got "
                             f"{describe(list(row.overrides))}; use another --out",
                             has_value=False)
        if row.replication >= replications:
            raise InputError(str(path), f"line {row.line} replication", "a replication of "
                             "this sweep", row.replication)


def run_job(scenario_path: str, job: Job) -> dict[str, Any]:
    """One replication of one point: the row to append."""
    from schedsim.simulation import Simulation

    scenario = load_scenario(scenario_path, list(job.overrides))
    result = Simulation(scenario, job.replication, keep_records=False).run()
    row: dict[str, Any] = {"point": job.point, "replication": job.replication,
                           "overrides": json.dumps(list(job.overrides)),
                           "failure": result.failure or ""}
    row.update({name: number_cell(name, float(result.metrics[name])) for name in METRICS})
    return row


def number_cell(metric: str, value: float) -> str:
    """A metric as written: a count as an integer, anything else as its exact float repr."""
    if metric in COUNTS and value.is_integer():
        return str(int(value))
    return repr(value)


@dataclass(frozen=True)
class ResultRow:
    """One checked row of a results file: its job and its cells as written."""

    line: int
    point: int
    replication: int
    overrides: tuple[str, ...]
    cells: dict[str, str]


def done_jobs(path: Path) -> set[tuple[int, int]]:
    """(point, replication) pairs already in the results file, a sweep's or a study's (its
    header says which); a torn last line is cut off."""
    return {(r.point, r.replication)
            for r in read_results(path, by="point", warn=True, layout=layout_of(path))}


def layout_of(path: Path) -> Layout:
    """The layout a results file's header names (without a sweep's ``--set`` overrides)."""
    header = _cells(read_text(path, "a results file").partition("\n")[0]) \
        if path.exists() else []
    if "overrides" in header or "failure" not in header:
        return RUNS
    return Layout(tuple(header[2:header.index("failure")]))


def done_rows(path: Path) -> dict[tuple[tuple[str, ...], int], dict[str, str]]:
    """The rows already in the results file by (overrides, replication): a study that
    numbers its jobs afresh each time finds its runs by what they are, not by their index."""
    return {(r.overrides, r.replication): r.cells
            for r in read_results(path, by="overrides", warn=True)}


def read_results(path: Path, *, by: str = "point", warn: bool = False,
                 layout: Layout = RUNS) -> list[ResultRow]:
    """Every row of a results file, checked; a torn last line (a kill mid-write) is cut off.

    Rows of the same job (``by`` point or overrides, and replication) that are identical
    (two sweeps at once before folders were locked) count once, with a warning when ``warn``;
    different rows of one job are refused: the file mixes two versions of a sweep.
    """
    rows = _good_rows(path, layout.columns)
    seen: dict[tuple[object, int], ResultRow] = {}
    out: list[ResultRow] = []
    for i, cells in enumerate(rows, start=2):
        row = _check_row(path, i, cells, layout)
        key = (row.point if by == "point" else row.overrides, row.replication)
        first = seen.get(key)
        if first is None:
            seen[key] = row
            out.append(row)
        elif first.cells != row.cells:
            raise InputError(str(path), f"line {i}", "one row per job, got the job of line "
                             f"{first.line} again with other results (two versions of a sweep "
                             "or study mixed; use another --out)", has_value=False)
    if warn and len(out) < len(rows):
        print(f"schedsim: {path}: {len(rows) - len(out)} duplicate row(s) ignored (the same "
              "job written twice)", file=sys.stderr)
    return out


def _check_row(path: Path, line: int, cells: dict[str, str], layout: Layout) -> ResultRow:
    """One row's types: non-negative integer point and replication, overrides as a JSON
    list of strings (in the RFC study's layout), a number in every metric column."""
    def bad(column: str, expected: str) -> InputError:
        return InputError(str(path), f"line {line} {column}", expected, cells.get(column))

    numbers = {}
    for column in ("point", "replication"):
        text = cells[column]
        if not (text.isascii() and text.isdigit()) or len(text) > 18:
            raise bad(column, "an integer >= 0")
        numbers[column] = int(text)
    overrides = layout.overrides(cells)
    if overrides is None:
        raise bad("overrides", "a JSON list of KEY=VALUE strings")
    for name in METRICS:
        try:
            float(cells[name])
        except ValueError:
            raise bad(name, "a number") from None
    return ResultRow(line, numbers["point"], numbers["replication"], overrides, cells)


def _cells(line: str) -> list[str]:
    try:
        return next(csv.reader([line]), [])
    except csv.Error:  # a NUL byte, a stray quote: not a row this tool wrote
        return []


def _good_rows(path: Path, columns: list[str]) -> list[dict[str, str]]:
    """The complete rows of a results file; a torn last line (a kill mid-write) is cut off."""
    if not path.exists():
        return []
    text = read_text(path, "a results file written by schedsim sweep or rfc")
    lines = text.split("\n")
    lines = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    if lines and lines[0].endswith("\n") and _cells(lines[0]) != columns:
        raise InputError(str(path), "line 1", "the header of a results file written by "
                         "schedsim sweep or rfc (another kind of file lives here; use another "
                         "--out)", has_value=False)
    good: list[str] = []
    for i, line in enumerate(lines):
        complete = line.endswith("\n") and len(_cells(line)) == len(columns)
        if not complete:
            if i != len(lines) - 1:
                raise InputError(str(path), f"line {i + 1}", f"a results row of {len(columns)}"
                                 " cells written by schedsim sweep or rfc", has_value=False)
            break
        good.append(line)
    if len(good) != len(lines):
        # Cut in place: a rewrite interrupted in turn would lose the good rows.
        os.truncate(path, len("".join(good).encode("utf-8")))
    if not good:
        return []
    return list(csv.DictReader(io.StringIO("".join(good))))


class ResultsFile:
    """Appends rows of :func:`run_job` as they finish, in ``layout``: one write, flush and
    fsync per row."""

    def __init__(self, path: Path, layout: Layout = RUNS) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists() or path.stat().st_size == 0
        self.layout = layout
        self._fh = path.open("a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._fh, fieldnames=layout.columns)
        if fresh:
            self._writer.writeheader()
            self._sync()

    def _sync(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def append(self, row: dict[str, Any]) -> None:
        self._writer.writerow(self.layout.cells(row))
        self._sync()

    def close(self) -> None:
        self._fh.close()


def execute(scenario_path: str, jobs: list[Job], *, workers: int = 1,
            ray_address: str | None = None, use_ray: bool = False,
            on_row: Callable[[dict[str, Any]], None]) -> None:
    """Run ``jobs`` serially, in a process pool, or on Ray; ``on_row`` gets each result.

    Ctrl-C stops a pool at once (:mod:`schedsim.pool`): rows already given to ``on_row`` stay.
    """
    if use_ray:
        _execute_ray(scenario_path, jobs, ray_address, on_row)
    else:
        run_jobs(functools.partial(run_job, scenario_path), jobs, workers=workers,
                 on_result=lambda _i, row: on_row(row))


def _execute_ray(scenario_path: str, jobs: list[Job], address: str | None,
                 on_row: Callable[[dict[str, Any]], None]) -> None:
    from schedsim.ray_cluster import connect

    started = connect(address)  # one line, within about 30 s, if Ray cannot be used
    import ray

    try:
        remote = ray.remote(max_retries=3)(run_job)
        pending = [remote.remote(scenario_path, job) for job in jobs]
        while pending:  # fetch ready results in batches (no ray.get in a loop)
            ready, pending = ray.wait(pending, num_returns=min(len(pending), 16), timeout=1.0)
            for row in ray.get(ready):
                on_row(row)
    finally:
        if started:
            ray.shutdown()



def job_failed(cells: dict[str, str]) -> bool:
    """A job whose run failed as a whole or left tasks unfinished (the bag not completed)."""
    return bool(cells["failure"]) or float(cells["bag_completed"]) == 0


def point_summaries(rows: list[ResultRow], layout: Layout) -> list[dict[str, Any]]:
    """Each point, in order: its grid values, replications, failed jobs and every metric's
    mean and 95% CI over its replications."""
    from schedsim.metrics import summarize_metric

    points: dict[int, list[ResultRow]] = {}
    for row in rows:
        points.setdefault(row.point, []).append(row)
    out = []
    for point in sorted(points):
        mine = points[point]
        metrics = {}
        for name in METRICS:
            s = summarize_metric(name, [float(r.cells[name]) for r in mine])
            metrics[name] = {"mean": s["mean"], "ci95": s["ci95"]}
        out.append({"point": point, "grid": {key: mine[0].cells[key] for key in layout.axes},
                    "replications": len(mine),
                    "jobs_failed": sum(job_failed(r.cells) for r in mine), "metrics": metrics})
    return out


def write_parquet(rows: list[ResultRow], layout: Layout, path: Path) -> None:
    """The rows as Parquet (atomically): grid values as text, counts as integers."""
    from schedsim import parquet
    from schedsim.outputs import replacing

    def cells(column: str) -> list[str]:
        return [r.cells[column] for r in rows]

    columns: list[tuple[str, str, list[Any]]] = [
        ("point", parquet.INT, [r.point for r in rows]),
        ("replication", parquet.INT, [r.replication for r in rows])]
    columns += [(key, parquet.TEXT, cells(key)) for key in layout.axes]
    columns.append(("failure", parquet.TEXT, cells("failure")))
    for name in METRICS:
        if name in COUNTS:  # int(float()): format 1 wrote counts as floats (200000.0)
            columns.append((name, parquet.INT, [int(float(c)) for c in cells(name)]))
        else:
            columns.append((name, parquet.FLOAT, [float(c) for c in cells(name)]))
    with replacing(path) as tmp:
        parquet.write_table(tmp, columns)
