"""Parameter sweeps: the cross product of a grid, every point with its replications.

A grid is ``KEY=V1,V2,...`` per axis (each value parsed as YAML, as ``--set`` does). Every
(point, replication) pair is one job: the scenario with that point's overrides, run as
replication r, which is deterministic, so serial, process-pool and Ray runs give identical
numbers. Each finished job appends one row to ``results.csv`` at once (flushed and synced);
rerunning the same command reads the file, drops a torn last line, and runs only the missing
jobs, so an interrupted sweep (Ctrl-C, a killed process, a lost Ray node) loses nothing and
duplicates nothing.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from schedsim.errors import InputError
from schedsim.metrics import METRICS
from schedsim.scenario import load_scenario

FIXED_COLUMNS = ["point", "replication", "overrides", "failure"]
COLUMNS = FIXED_COLUMNS + list(METRICS)


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
        options = [v.strip() for v in _split(values)]
        if not options or any(v == "" for v in options):
            raise InputError(source, key, "a comma-separated list of values", values)
        for v in options:
            try:
                yaml.safe_load(v)
            except yaml.YAMLError:
                raise InputError(source, key, "YAML values", v) from None
        if any(key == k for k, _ in axes):
            raise InputError(source, key, "each key in at most one --grid", has_value=False)
        axes.append((key, options))
    if not axes:
        raise InputError("--grid", "", "at least one --grid KEY=V1,V2,...", has_value=False)
    return axes


def _split(text: str) -> list[str]:
    """Split on commas outside brackets and braces, so ``{dist: constant, mean: 2s}`` stays."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def plan(axes: list[tuple[str, list[str]]], replications: int,
         base: tuple[str, ...] = ()) -> list[Job]:
    points = itertools.product(*[[f"{k}={v}" for v in values] for k, values in axes])
    return [Job(i, r, base + tuple(point)) for i, point in enumerate(points)
            for r in range(replications)]


def run_job(scenario_path: str, job: Job) -> dict[str, Any]:
    """One replication of one point: the row to append."""
    from schedsim.simulation import Simulation

    scenario = load_scenario(scenario_path, list(job.overrides))
    result = Simulation(scenario, job.replication, keep_records=False).run()
    row: dict[str, Any] = {"point": job.point, "replication": job.replication,
                           "overrides": json.dumps(list(job.overrides)),
                           "failure": result.failure or ""}
    row.update({name: repr(float(result.metrics[name])) for name in METRICS})
    return row


def done_jobs(path: Path) -> set[tuple[int, int]]:
    """(point, replication) pairs already in the results file; a torn last line is cut off."""
    return {(int(row["point"]), int(row["replication"])) for row in _good_rows(path)}


def done_rows(path: Path) -> dict[tuple[tuple[str, ...], int], dict[str, str]]:
    """The rows already in the results file by (overrides, replication): a study that
    numbers its jobs afresh each time finds its runs by what they are, not by their index."""
    return {(tuple(json.loads(row["overrides"])), int(row["replication"])): row
            for row in _good_rows(path)}


def _good_rows(path: Path) -> list[dict[str, str]]:
    """The complete rows of a results file; a torn last line (a kill mid-write) is cut off."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    good: list[str] = []
    for i, line in enumerate(lines):
        complete = line.endswith("\n") and len(next(csv.reader([line]))) == len(COLUMNS)
        if not complete:
            if i != len(lines) - 1:
                raise InputError(str(path), f"line {i + 1}", "a results row written by "
                                 "schedsim sweep", has_value=False)
            break
        good.append(line)
    if len(good) != len(lines):
        path.write_text("".join(good), encoding="utf-8")
    if not good or next(csv.reader([good[0]])) != COLUMNS:
        if good:
            raise InputError(str(path), "line 1", "the header of a schedsim sweep results file "
                             "(a different sweep lives here; use another --out)",
                             has_value=False)
        return []
    return list(csv.DictReader(io.StringIO("".join(good))))


class ResultsFile:
    """Appends rows as they finish: one write, flush and fsync per row."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists() or path.stat().st_size == 0
        self._fh = path.open("a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._fh, fieldnames=COLUMNS)
        if fresh:
            self._writer.writeheader()
            self._sync()

    def _sync(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def append(self, row: dict[str, Any]) -> None:
        self._writer.writerow(row)
        self._sync()

    def close(self) -> None:
        self._fh.close()


def execute(scenario_path: str, jobs: list[Job], *, workers: int = 1,
            ray_address: str | None = None, use_ray: bool = False,
            on_row: Callable[[dict[str, Any]], None]) -> None:
    """Run ``jobs`` serially, in a process pool, or on Ray; ``on_row`` gets each result."""
    if use_ray:
        _execute_ray(scenario_path, jobs, ray_address, on_row)
    elif workers <= 1:
        for job in jobs:
            on_row(run_job(scenario_path, job))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            pending = {pool.submit(run_job, scenario_path, job) for job in jobs}
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    on_row(future.result())


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


def read_rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)
