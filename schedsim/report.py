"""What a run shows a person: a rich table, and the files kept with ``--out``.

``--out DIR`` keeps the resolved scenario (overrides applied), the JSON summary, one CSV row
per task attempt, a plot of completed tasks over time, and, for runs of up to
:data:`TRACE_LIMIT` attempts, a Chrome/Perfetto trace with one track per worker slot (open it
at ui.perfetto.dev or chrome://tracing). They are written together or not at all
(:mod:`schedsim.outputs`).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from schedsim.metrics import METRICS, Outcome
from schedsim.outputs import StagedFiles, write_text
from schedsim.runner import Summary
from schedsim.verdict import winner

TRACE_LIMIT = 10_000


def progress_bar(transient: bool = True) -> Progress:
    """The progress bar every long command shows on stderr."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=Console(stderr=True), transient=transient)


def fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e6 or magnitude < 1e-3:
        return f"{value:.3e}"
    if magnitude >= 100:
        return f"{value:,.1f}"
    return f"{value:.4g}"


def interval(low: float | None, high: float | None) -> str:
    """``[low, high]`` for a rich table (escaped: ``[n/a, n/a]`` would read as markup)."""
    return escape(f"[{fmt(low)}, {fmt(high)}]")


def summary_table(data: dict[str, Any]) -> Table:
    table = Table(title=f"{data['scenario']} on {data['platform']}: "
                        f"{data['replications']} replication(s), seed {data['seed']}")
    table.add_column("metric")
    table.add_column("unit")
    table.add_column("mean", justify="right")
    table.add_column("95% CI", justify="right")
    for name, info in METRICS.items():
        m = data["metrics"][name]
        low, high = m["ci95"]
        table.add_row(name, info.unit, fmt(m["mean"]), interval(low, high))
    bound = data["bound"]
    table.add_section()
    table.add_row("bound: throughput", "tasks/s", fmt(bound["throughput_tasks_per_s"]),
                  f"binding: {bound['binding']}")
    table.add_row("bound: makespan >=", "s", fmt(bound["makespan_lower_bound_s"]), "")
    return table


def compare_table(data: dict[str, dict[str, Any]]) -> Table:
    """Each metric side by side with its CI, the ratio to the first platform, the winner."""
    names = list(data)
    first = data[names[0]]
    table = Table(title=f"{first['scenario']}: " + " vs ".join(names) +
                  f", {first['replications']} replication(s), seed {first['seed']}")
    table.add_column("metric")
    for name in names:
        # The interval of a bounded metric is not symmetric (docs/metrics.md): both ends.
        table.add_column(f"{name} (mean [95% CI])", justify="right")
    for name in names[1:]:
        table.add_column(f"{name}/{names[0]}", justify="right")
    table.add_column("better")
    for metric, info in METRICS.items():
        cells = []
        for name in names:
            m = data[name]["metrics"][metric]
            low, high = m["ci95"]
            cells.append(f"{fmt(m['mean'])} {interval(low, high)}")
        base = first["metrics"][metric]["mean"]
        for name in names[1:]:
            other = data[name]["metrics"][metric]["mean"]
            cells.append(fmt(other / base) if base and other is not None else "n/a")
        cells.append(better(data, metric, info.better))
        table.add_row(metric, *cells)
    table.add_section()
    table.add_row("bound (tasks/s)", *[
        f"{fmt(data[n]['bound']['throughput_tasks_per_s'])} ({data[n]['bound']['binding']})"
        for n in names], *[""] * (len(names) - 1), "")
    return table


def better(data: dict[str, dict[str, Any]], metric: str, direction: str) -> str:
    """The platform whose CI lies wholly on the better side of every other's, or '-'."""
    return winner(data, metric, direction) if direction else ""


def print_summary(data: dict[str, Any], console: Console) -> None:
    console.print(summary_table(data))
    failures = [f for f in data.get("failures", []) if f]
    for reason in sorted(set(failures)):
        console.print(f"[yellow]job failed in {failures.count(reason)} replication(s): "
                      f"{reason}[/yellow]")


def json_text(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


STDOUT = Path("-")  # --json -: the JSON on stdout, everything else on stderr


def emit_json(data: dict[str, Any], path: Path, console: Console) -> None:
    """``--json FILE``, or the JSON alone on stdout for ``--json -``."""
    if path == STDOUT:
        sys.stdout.write(json_text(data))
        sys.stdout.flush()
        return
    write_json(data, path)
    console.print(f"summary: {path}")


def write_json(data: dict[str, Any], path: Path) -> None:
    """``data`` as JSON, written atomically (a temporary name renamed over ``path``)."""
    write_text(path, json_text(data))


RUN_FILES = ("scenario.resolved.yaml", "summary.json", "attempts.csv", "trace.json",
             "completions.png")


def write_outputs(summary: Summary, out: Path) -> list[Path]:
    """The files of :data:`RUN_FILES` this run has, renamed into ``out`` together once all
    are written; the others (a trace an earlier, smaller run left) are removed."""
    resolved = dict(summary.scenario.raw)
    resolved["seed"] = summary.scenario.seed
    resolved["replications"] = summary.scenario.replications
    with StagedFiles(out, RUN_FILES) as files:
        files.write_text("scenario.resolved.yaml", yaml.safe_dump(resolved, sort_keys=False))
        files.write_text("summary.json", json_text(summary.data))
        with files.path("attempts.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["replication", "task", "node", "slot", "start_s", "end_s",
                             "outcome"])
            for rep, result in enumerate(summary.results):
                for rec in result.log:
                    writer.writerow([rep, rec.task, rec.node, rec.slot, f"{rec.start:.6f}",
                                     f"{rec.end:.6f}", rec.outcome.name.lower()])
        first = summary.results[0].log
        if 0 < len(first) <= TRACE_LIMIT:
            write_trace(summary, files.path("trace.json"))
        plot_completions(summary, files.path("completions.png"))
    return files.written


def write_trace(summary: Summary, path: Path) -> None:
    """Chrome trace-event format: one process per node, one thread per slot (replication 0)."""
    events: list[dict[str, Any]] = []
    for rec in summary.results[0].log:
        events.append({"name": f"task {rec.task}", "cat": rec.outcome.name.lower(), "ph": "X",
                       "ts": rec.start * 1e6, "dur": (rec.end - rec.start) * 1e6,
                       "pid": rec.node, "tid": rec.slot,
                       "args": {"outcome": rec.outcome.name.lower()}})
    path.write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ms"}),
                    encoding="utf-8")


def plot_completions(summary: Summary, path: Path) -> None:
    """Completed tasks over simulated time, one line per replication."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for rep, result in enumerate(summary.results):
        ends = sorted(rec.end for rec in result.log if rec.outcome == Outcome.DONE)
        if ends:
            ax.step(ends, range(1, len(ends) + 1), where="post", label=f"replication {rep}",
                    linewidth=1)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("tasks completed")
    ax.set_title(f"{summary.scenario.name} on {summary.scenario.platform.type}")
    if len(summary.results) <= 10:
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
