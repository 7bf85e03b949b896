"""Parameter sweeps: the cross product of a grid, every point with its replications.

A grid is ``KEY=V1,V2,...`` per axis (each value parsed as YAML, as ``--set`` does). Every
(point, replication) pair is one job: the scenario with that point's overrides, run as
replication r, which is deterministic, so serial, process-pool and Ray runs give identical
numbers. Each finished job appends one row to ``results.csv`` at once (flushed and synced): one
column per grid axis holding that point's value, counts as integers (the job runner of
:mod:`schedsim.studies.jobs`, shared with the RFC study). Rerunning the same command reads the
file, drops a torn last line, and runs only the missing jobs, so an interrupted sweep (Ctrl-C,
a killed process, a lost Ray node) loses nothing and duplicates nothing. ``sweep.json`` records
what the rows depend on (the file format, the scenario's and its files' content, the grid,
overrides, replications, the version): a resume after a change is refused, naming it. Every row
read back is checked, and one folder takes one sweep at a time. :func:`point_summaries` gives
each point's mean and 95% CI of every metric.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

from schedsim.errors import InputError, describe
from schedsim.loading import load_scenario
from schedsim.metrics import METRICS
from schedsim.outputs import read_bytes, read_text, write_text
from schedsim.safe_load import load_yaml
from schedsim.scenario import Scenario, split_values
from schedsim.studies.jobs import COUNTS, Job, Layout, ResultRow, read_results
from schedsim.studies.rows import Estimate, PointSummary
from schedsim.version import __version__


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


def resume(out: Path, now: dict[str, Any], jobs: list[Job], layout: Layout,
           restart: bool = False) -> set[tuple[int, int]]:
    """Start or resume the sweep in ``out`` (its lock held): check the manifest against
    ``now`` (or start over if ``restart``), record it, and return the (point, replication)
    pairs already done."""
    manifest_path, results = out / MANIFEST, out / RESULTS
    if restart:
        results.unlink(missing_ok=True)
    elif manifest_path.exists():
        check_resume(manifest_path, read_manifest(manifest_path), now)
    write_manifest(manifest_path, now)
    rows = read_results(results, warn=True, layout=layout)
    check_rows(results, rows, jobs)
    return {(r.point, r.replication) for r in rows}


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




def job_failed(row: ResultRow) -> bool:
    """A job whose run failed as a whole or left tasks unfinished (the bag not completed)."""
    return bool(row.failure) or row.metric("bag_completed") == 0


def point_summaries(rows: list[ResultRow], layout: Layout) -> list[PointSummary]:
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
            s = summarize_metric(name, [r.metric(name) for r in mine])
            metrics[name] = Estimate(s["mean"], s["ci95"])  # type: ignore[arg-type]
        out.append(PointSummary(point, {key: mine[0].cells[key] for key in layout.axes},
                                len(mine), sum(job_failed(r) for r in mine), metrics))
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
