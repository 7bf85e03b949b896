"""What a run shows a person: a rich table, and the files kept with ``--out``.

``--out DIR`` keeps the resolved scenario (overrides applied, every default and platform
option in force written out), the JSON summary, one CSV row per task attempt (with
``--parquet`` as Parquet too), a plot of completed tasks over time with the churn under it
(and the deadline, if one is given), and Chrome/Perfetto traces of the replications asked for
(:mod:`schedsim.trace`). They are written together or not at all (:mod:`schedsim.outputs`).
Heavy modules (rich, yaml, matplotlib) are imported by the function that needs them, so
importing this module costs a command's start-up nothing.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schedsim.metrics import METRICS, NodeEvent, Outcome
from schedsim.outputs import StagedFiles, write_text

if TYPE_CHECKING:  # rich, yaml and the runner are imported when a command shows or writes
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from schedsim.runner import Summary

from schedsim.trace import TRACE_LIMIT, trace_name, write_trace


@dataclass
class Verbosity:
    """What a command shows besides its results: ``-q`` nothing (no progress bars, tables
    or notes), ``-v`` timings too. Set once by the command line before a command runs."""

    quiet: bool = False
    verbose: bool = False


VERBOSITY = Verbosity()


def progress_bar(transient: bool = True, remaining: bool = False) -> Progress:
    """The progress bar every long command shows on stderr (none with ``-q``; ``remaining``:
    with the time left, estimated from the speed so far)."""
    from rich import progress as rp
    from rich.console import Console

    columns: list[rp.ProgressColumn] = [rp.TextColumn("[bold]{task.description}"),
                                        rp.BarColumn(), rp.MofNCompleteColumn(),
                                        rp.TimeElapsedColumn()]
    if remaining:
        columns.append(rp.TimeRemainingColumn())
    return rp.Progress(*columns, console=Console(stderr=True), transient=transient,
                       disable=VERBOSITY.quiet)


def verbose(text: str) -> None:
    """One line of detail on stderr (timings), shown with ``-v`` only."""
    if VERBOSITY.verbose and not VERBOSITY.quiet:
        sys.stderr.write(f"schedsim: {text}\n")


# rich's console markup: a tag is [name] or [/name], its name starting with a letter, #, / or
# @; after an odd number of backslashes it is text. The rules of rich.markup (escape, _parse),
# written here so that escaping and plain printing (``check``) do not import rich.
_TAG = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")
_TAGS = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])")


def escape(text: str) -> str:
    """``text`` safe to print with rich: its ``[...]`` (paths, intervals, YAML lists) shown, not
    read as markup (as ``rich.markup.escape``)."""
    text = _TAG.sub(lambda m: f"{m[1]}{m[1]}\\{m[2]}", text)
    if text.endswith("\\") and not text.endswith("\\\\"):
        return text + "\\"
    return text


def plain(markup: str) -> str:
    """The text rich prints for ``markup``, without its styles: tags dropped, escapes undone."""
    out, position = [], 0
    for match in _TAGS.finditer(markup):
        full, escapes, _name = match.groups()
        start, end = match.span()
        out.append(markup[position:start].replace("\\[", "["))
        backslashes, escaped = divmod(len(escapes), 2)
        out.append("\\" * backslashes)
        if escaped:
            out.append(full[len(escapes):])
        position = end
    out.append(markup[position:].replace("\\[", "["))
    return "".join(out)


class PlainConsole:
    """What a command that prints a few lines needs of rich's Console, as plain text (no
    colour, no wrapping): ``check`` prints through it, because importing rich would take a
    sixth of its start-up (docs/performance.md, "Start-up")."""

    def __init__(self, stderr: bool = False, quiet: bool = False) -> None:
        self.stderr = stderr
        self.quiet = quiet

    def print(self, *objects: Any, sep: str = " ", end: str = "\n", **_style: Any) -> None:
        if self.quiet:
            return
        stream = sys.stderr if self.stderr else sys.stdout  # as at the call (tests swap them)
        stream.write(plain(sep.join(str(o) for o in objects)) + end)


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
    from rich.table import Table

    # Rich reads [...] as markup: a name or an interval "[n/a, n/a]" would vanish unescaped.
    table = Table(title=escape(f"{data['scenario']} on {data['platform']}: "
                               f"{data['replications']} replication(s), seed {data['seed']}"))
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
    from rich.table import Table

    names = list(data)
    first = data[names[0]]
    table = Table(title=escape(f"{first['scenario']}: " + " vs ".join(names) +
                               f", {first['replications']} replication(s), seed {first['seed']}"))
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
    from schedsim.verdict import winner

    return winner(data, metric, direction) if direction else ""


def print_summary(data: dict[str, Any], console: Console) -> None:
    console.print(summary_table(data))
    failures = [f for f in data.get("failures", []) if f]
    for reason in sorted(set(failures)):
        console.print(f"[yellow]job failed in {failures.count(reason)} replication(s): "
                      f"{escape(reason)}[/yellow]")


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
    console.print(f"summary: {escape(str(path))}")


def write_json(data: dict[str, Any], path: Path) -> None:
    """``data`` as JSON, written atomically (a temporary name renamed over ``path``)."""
    write_text(path, json_text(data))


RUN_FILES = ("scenario.resolved.yaml", "summary.json", "attempts.csv", "attempts.parquet",
             "trace.json", "completions.png")
ATTEMPT_COLUMNS = ("replication", "task", "node", "slot", "start_s", "end_s", "outcome")
_TRACE_FILE = re.compile(r"^trace-\d+\.json$")  # the traces of replications 1, 2, ...


def write_outputs(summary: Summary, out: Path, *, parquet: bool = False,
                  traces: Sequence[int] = (0,), trace_limit: int = TRACE_LIMIT,
                  deadline: float | None = None,
                  on_note: Callable[[str], None] = lambda _text: None) -> list[Path]:
    """The files of :data:`RUN_FILES` this run has, and a trace of each replication in
    ``traces`` (:func:`schedsim.trace.trace_name`), renamed into ``out`` together once all
    are written; the others (a trace an earlier run left) are removed. ``parquet``: the
    attempts as Parquet too (:mod:`schedsim.parquet`). ``on_note`` hears of each trace cut at
    ``trace_limit`` attempts."""
    import csv

    import yaml

    from schedsim.resolve import resolved_mapping

    resolved = resolved_mapping(summary.scenario)  # every key, defaults and options in force
    old = [p.name for p in out.glob("trace-*.json") if _TRACE_FILE.match(p.name)] \
        if out.is_dir() else []
    names = dict.fromkeys([*RUN_FILES, *(trace_name(r) for r in traces), *old])
    with StagedFiles(out, names) as files:
        files.write_text("scenario.resolved.yaml", yaml.safe_dump(resolved, sort_keys=False))
        files.write_text("summary.json", json_text(summary.data))
        with files.path("attempts.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(ATTEMPT_COLUMNS)
            for rep, result in enumerate(summary.results):
                for rec in result.log:
                    writer.writerow([rep, rec.task, rec.node, rec.slot, f"{rec.start:.6f}",
                                     f"{rec.end:.6f}", rec.outcome.name.lower()])
        if parquet:
            write_attempts_parquet(summary, files.path("attempts.parquet"))
        info = {"scenario": summary.scenario.name, "platform": summary.scenario.platform.type,
                "seed": summary.scenario.seed}
        for rep in traces:
            name = trace_name(rep)
            cut = write_trace(summary.results[rep], files.path(name), replication=rep,
                              limit=trace_limit, info=info)
            if cut is not None:
                on_note(cut.text(name))
        plot_completions(summary, files.path("completions.png"), deadline)
    return files.written


def write_attempts_parquet(summary: Summary, path: Path) -> None:
    """The attempts of every replication, typed: what attempts.csv holds, unrounded."""
    from schedsim import parquet

    cols: list[list[Any]] = [[] for _ in ATTEMPT_COLUMNS]
    for rep, result in enumerate(summary.results):
        for rec in result.log:
            for col, value in zip(cols, (rep, rec.task, rec.node, rec.slot, rec.start, rec.end,
                                         rec.outcome.name.lower()), strict=True):
                col.append(value)
    kinds = (parquet.INT,) * 4 + (parquet.FLOAT,) * 2 + (parquet.TEXT,)
    parquet.write_table(path, list(zip(ATTEMPT_COLUMNS, kinds, cols, strict=True)))


def duration_text(seconds: float) -> str:
    """A duration as a person says it: 2 h, 90 min, 45 s."""
    for unit, size in (("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def plot_completions(summary: Summary, path: Path, deadline: float | None = None) -> None:
    """Completed tasks over simulated time, one line per replication, the deadline as a
    vertical line; under it, each replication's reclaim notices and preemptions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    churn = [(r.nodes.times(NodeEvent.NOTICE), r.nodes.times(NodeEvent.PREEMPTED))
             if r.nodes is not None else ([], []) for r in summary.results]
    has_churn = any(n or p for n, p in churn)
    reps = len(summary.results)
    if has_churn:
        fig, (ax, strip) = plt.subplots(
            2, 1, sharex=True, figsize=(7, 4.6 + 0.08 * min(reps, 20)),
            gridspec_kw={"height_ratios": [4, 1 + 0.1 * min(reps, 20)]})
    else:
        fig, ax = plt.subplots(figsize=(7, 4))
    for rep, result in enumerate(summary.results):
        ends = sorted(rec.end for rec in result.log if rec.outcome == Outcome.DONE)
        if ends:
            ax.step(ends, range(1, len(ends) + 1), where="post", label=f"replication {rep}",
                    linewidth=1)
    if deadline is not None:
        ax.axvline(deadline, color="crimson", linestyle="--", linewidth=1.2,
                   label=f"deadline ({duration_text(deadline)})")
    ax.set_ylabel("tasks completed")
    ax.set_title(f"{summary.scenario.name} on {summary.scenario.platform.type}")
    if reps <= 10 or deadline is not None:
        ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    bottom = ax
    if has_churn:
        for k, (label, marker, colour) in enumerate((("reclaim notice", "|", "orange"),
                                                     ("preempted", "x", "black"))):
            xs = [t for times in churn for t in times[k]]
            ys = [rep for rep, times in enumerate(churn) for _ in times[k]]
            if xs:
                strip.scatter(xs, ys, marker=marker, s=40, color=colour, linewidths=0.9,
                              label=f"{label} ({len(xs):,})")
        if deadline is not None:
            strip.axvline(deadline, color="crimson", linestyle="--", linewidth=1.2)
        strip.set_ylim(-0.7, reps - 0.3)
        strip.set_yticks(range(reps) if reps <= 10 else [0, reps - 1])
        strip.set_ylabel("replication", fontsize="small")
        strip.invert_yaxis()
        strip.legend(fontsize="x-small", loc="upper right", ncol=2)
        bottom = strip
    bottom.set_xlabel("simulated time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
