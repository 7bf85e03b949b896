"""The resumable job runner the studies share: jobs, their results file, and running the rest.

A job is one replication of a base scenario with ``--set`` overrides; it is deterministic, so
serial, process-pool and Ray runs give identical rows. Each finished job appends one row to a
CSV results file at once (one write, flush and fsync), in a :class:`Layout`: a sweep's has a
column per grid axis, a study's (the RFC's) keeps each job's overrides as one JSON list. Reading
the file back checks every row, drops a torn last line and refuses two versions of a job;
:func:`run_pending` then runs only the jobs not done yet. What the rows depend on is each
study's to record and check before it resumes (a sweep's ``sweep.json``, the RFC study's model
fingerprint).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schedsim.errors import InputError
from schedsim.loading import load_scenario
from schedsim.metrics import METRICS
from schedsim.outputs import read_text
from schedsim.pool import run as run_jobs

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

    line: int  # in the results file; 0 for a row just run
    point: int
    replication: int
    overrides: tuple[str, ...]
    cells: dict[str, str]

    @classmethod
    def ran(cls, row: dict[str, Any]) -> ResultRow:
        """A row of :func:`run_job` as it will read back (its cells as text)."""
        return cls(0, int(row["point"]), int(row["replication"]),
                   tuple(json.loads(row["overrides"])), {k: str(v) for k, v in row.items()})

    @property
    def failure(self) -> str:
        """Why the run failed as a whole, or empty."""
        return self.cells["failure"]

    def metric(self, name: str) -> float:
        return float(self.cells[name])


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


def done_rows(path: Path) -> dict[tuple[tuple[str, ...], int], ResultRow]:
    """The rows already in the results file by (overrides, replication): a study that
    numbers its jobs afresh each time finds its runs by what they are, not by their index."""
    return {(r.overrides, r.replication): r
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


def by_point(job: Job) -> tuple[int, int]:
    """A job's key in a sweep, whose points keep their numbers between runs."""
    return (job.point, job.replication)


def by_overrides(job: Job) -> tuple[tuple[str, ...], int]:
    """A job's key in a study that numbers its jobs afresh each time: what it runs."""
    return (job.overrides, job.replication)


def run_pending(scenario_path: str, jobs: list[Job], results: Path, done: Collection[Any],
                *, key: Callable[[Job], Any] = by_point, layout: Layout = RUNS,
                copies: Mapping[Any, ResultRow] | None = None,
                order: Callable[[Job], Any] | None = None, workers: int = 1,
                ray_address: str | None = None, use_ray: bool = False,
                on_row: Callable[[dict[str, Any]], None] = lambda _row: None,
                on_progress: Callable[[int, int], None] = lambda _d, _t: None) -> list[Job]:
    """Run the jobs whose ``key`` is not in ``done``, appending each row to ``results`` as it
    finishes; the jobs that ran.

    A job whose key ``copies`` holds gets that row (its point renumbered) instead of a run.
    ``order`` sorts the rest (largest first, say, so the last to finish is a small one).
    ``on_row`` sees every appended row, copied or run, and ``on_progress``
    (done, total) before the first and after each. Ctrl-C stops a pool at once: rows already
    appended stay, and the next call runs the rest.
    """
    todo = [j for j in jobs if key(j) not in done]
    total, count = len(jobs), len(jobs) - len(todo)
    on_progress(count, total)
    sink = ResultsFile(results, layout)
    try:
        if copies:
            copied = [j for j in todo if key(j) in copies]
            todo = [j for j in todo if key(j) not in copies]
            for job in copied:
                row = dict(copies[key(job)].cells, point=str(job.point))
                sink.append(row)
                on_row(row)
            count += len(copied)
            on_progress(count, total)

        def finished(row: dict[str, Any]) -> None:
            nonlocal count
            sink.append(row)
            on_row(row)
            count += 1
            on_progress(count, total)

        if order is not None:
            todo.sort(key=order)
        execute(scenario_path, todo, workers=workers, ray_address=ray_address, use_ray=use_ray,
                on_row=finished)
    finally:
        sink.close()
    return todo
