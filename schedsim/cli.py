"""Command line: parse, call, print. No simulation logic lives here.

``schedsim run SCENARIO`` runs the replications with a progress bar and prints a table of
every metric with its 95% CI and the analytic bound; ``--json`` and ``--out`` keep the results.
``schedsim check SCENARIO`` validates and shows the resolved model without running it. Exit
statuses (docs/cli.md): 0 done, 1 the work could not be carried out (a file that cannot be
written, a lost worker, a live platform that failed), 2 bad input (one line), 3 a simulated job
failed or left tasks unfinished, or a plan found nothing feasible, 130 interrupted.

Each command imports what it needs when it runs (the simulator, numpy, scipy, rich, matplotlib
are costly to import), so ``--help`` and ``check`` start quickly.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from schedsim import estimate, interrupt
from schedsim.cli_args import load_from_args
from schedsim.errors import InputError, clip, one_line
from schedsim.reader import MAX_REPLICATIONS, MAX_SEED
from schedsim.report import emit_json, escape, progress_bar
from schedsim.studies.proportion import DEFAULT_MAX_REPLICATIONS as DEFAULT_PLAN_REPLICATIONS
from schedsim.version import __version__

if TYPE_CHECKING:
    from rich.console import Console

    from schedsim.calibration.host import Decision


MAX_JOBS = 1024  # worker processes; more cost memory and start-up time, never speed
JOB_FAILED = 3  # exit status: a simulated job failed or left tasks unfinished
SWEEP_METRICS = ("makespan_s", "throughput_tasks_per_s", "cost_usd", "tasks_failed")


def _as_given(path: Path) -> str:
    """``path`` as a user would type it here: relative to this folder when inside it (a
    page written by a command names no machine's absolute paths)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class _Formatter(argparse.HelpFormatter):
    """Help that gives each option's default, where it has one and its help does not say."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text, default = action.help, action.default
        # A flag (no value: store_true, store_false) has no default worth saying.
        if (not text or text == argparse.SUPPRESS or "default" in text or action.nargs == 0
                or not action.option_strings or default is None or default is False
                or default == [] or default is argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        # argparse echoes the bad value whole: an argument of 100,000 characters stays short.
        sys.stderr.write(f"schedsim: {clip(one_line(message), 400)} (see schedsim --help)\n")
        raise SystemExit(2)


def _integer(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` to ``high``, else one line saying so."""
    def convert(text: str) -> int:
        value = None
        if text.strip().lstrip("+-").isdigit() and len(text.strip()) <= 20:
            value = int(text)
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"expected an integer from {low} to {high:,}, got {clip(repr(text), 60)}")
        return value
    return convert


_JOBS = _integer(1, MAX_JOBS)


class _Platforms:
    """The platform registry's names, looked up only when a ``--platform`` is checked:
    the registry imports every model."""

    @staticmethod
    def _names() -> list[str]:
        from schedsim.platforms import PLATFORMS

        return sorted(PLATFORMS)

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())


def _verbosity_flags(p: argparse.ArgumentParser, default: object) -> None:
    """``-q``/``-v``; a subcommand's default is SUPPRESS, so it keeps the main parser's."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", default=default,
                       help="no progress bars, tables or notes (errors, warnings and "
                            "--json - still print)")
    group.add_argument("-v", "--verbose", action="store_true", default=default,
                       help="more detail: estimates and timings on stderr")


def _add_scenario_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field by dotted path; VALUE is YAML (repeatable)")
    p.add_argument("--seed", type=_integer(0, MAX_SEED), help="override the scenario's seed")
    p.add_argument("--replications", type=_integer(1, MAX_REPLICATIONS),
                   help="override the number of replications")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="schedsim", description="Simulate bags of tasks on Work Queue, Ray "
                     "and ideal platforms over churning spot pools.",
                     epilog="exit status: 0 done, 1 could not be carried out, 2 bad input, "
                     "3 a simulated job failed or left tasks unfinished, 130 interrupted "
                     "(docs/cli.md)")
    parser.add_argument("--version", action="version", version=f"schedsim {__version__}")
    _verbosity_flags(parser, False)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="simulate a scenario and print its metrics")
    _add_scenario_args(run)
    run.add_argument("--json", type=Path, metavar="FILE", help="write the JSON summary here "
                     "(- for stdout; the table then goes to stderr)")
    run.add_argument("--out", type=Path, metavar="DIR", help="keep resolved scenario, summary, "
                     "per-attempt CSV, plot and trace here")
    run.add_argument("--jobs", type=_JOBS, default=1, help="replications run in parallel "
                     "(processes); results are identical to a serial run")
    run.add_argument("--trace", metavar="WHICH",
                     help="with --out: the replications to trace: 0 (default, trace.json), "
                          "a list such as 0,3 (trace-3.json), all, or none")
    run.add_argument("--trace-limit", type=_integer(1, 10**9), metavar="N",
                     help="with --out: attempts per trace (default 10,000); a longer "
                          "replication's trace is cut, and says so")
    run.add_argument("--deadline", metavar="DURATION",
                     help='with --out: draw this deadline on completions.png, e.g. "2h"')
    run.add_argument("--parquet", action="store_true", help="with --out: attempts.parquet "
                     "too (needs pyarrow: pip install 'schedsim[parquet]')")
    check = sub.add_parser("check", help="validate a scenario and show the model it resolves "
                           "to, without running it")
    _add_scenario_args(check)
    check.add_argument("--json", type=Path, metavar="FILE", help="write the resolved model "
                       "here (- for stdout; the text then goes to stderr)")
    compare = sub.add_parser("compare", help="run a scenario on several platforms, same seeds")
    _add_scenario_args(compare)
    compare.add_argument("--platform", dest="platforms", action="append", required=True,
                         choices=_Platforms(), metavar="PLATFORM",
                         help="a platform to compare, as a scenario's platform.type (repeat)")
    compare.add_argument("--json", type=Path, metavar="FILE",
                         help="write {platform: summary} here (- for stdout)")
    compare.add_argument("--jobs", type=_JOBS, default=1, help="replications run in parallel")
    sweep = sub.add_parser("sweep", help="run the cross product of a grid, resumable")
    sweep.add_argument("scenario", help="scenario YAML file")
    sweep.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                       help="one axis of the grid (repeat); values are YAML")
    sweep.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE", help="override applied to every point")
    sweep.add_argument("--replications", type=_integer(1, MAX_REPLICATIONS),
                       help="replications per point")
    sweep.add_argument("--jobs", type=_JOBS, default=1, help="worker processes (default 1)")
    sweep.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                       help="run on Ray: a local instance, or a running cluster's address")
    sweep.add_argument("--out", type=Path, metavar="DIR",
                       help="results folder (default out/sweep-NAME); rerun to resume")
    sweep.add_argument("--restart", action="store_true",
                       help="discard the folder's results and start the sweep over (after a "
                            "change to the scenario, grid or schedsim)")
    sweep.add_argument("--metrics", metavar="M1,M2,...", default=",".join(SWEEP_METRICS),
                       help="the metrics the table shows (docs/metrics.md)")
    sweep.add_argument("--json", type=Path, metavar="FILE", help="write each point's grid "
                       "values and every metric's mean and 95%% CI here (- for stdout)")
    sweep.add_argument("--parquet", action="store_true", help="DIR/results.parquet too "
                       "(needs pyarrow: pip install 'schedsim[parquet]')")
    pl = sub.add_parser("plan", help="fewest nodes and cheapest configuration meeting a "
                        "deadline, per choice")
    _add_scenario_args(pl)
    pl.add_argument("--deadline", required=True, help='makespan deadline, e.g. "6h"')
    pl.add_argument("--budget", type=float, help="USD the run may cost at most")
    pl.add_argument("--confidence", type=float, default=0.95,
                    help="share of replications that must meet the deadline")
    pl.add_argument("--vary", action="append", default=[], metavar="KEY=LO..HI|V1,V2",
                    help="a count range to bisect (one) or choices to try (repeat)")
    pl.add_argument("--max-replications", type=_integer(1, MAX_REPLICATIONS),
                    default=DEFAULT_PLAN_REPLICATIONS, metavar="N",
                    help="replications a point near the threshold may grow to (59 of 59 "
                         "show 95%%)")
    pl.add_argument("--jobs", type=_JOBS, default=1, help="worker processes; results are "
                    "identical to a serial plan")
    pl.add_argument("--out", type=Path, metavar="DIR", help="plan.json and frontier.png here "
                    "(default out/plan-NAME)")
    rfc = sub.add_parser("rfc", help="Work Queue vs Ray: where the RFC's recommendation holds")
    rfc.add_argument("--quick", action="store_true", help="three points in under a minute")
    rfc.add_argument("--out", type=Path, default=Path("out/rfc"), metavar="DIR",
                     help="rfc-at-scale.md, rfc-heatmaps.png, rfc.json and the runs "
                          "(rfc-runs.csv; rerun to resume) go here (docs: --out docs)")
    rfc.add_argument("--jobs", type=_JOBS, default=1, help="worker processes (default 1)")
    rfc.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                     help="run on Ray: a local instance, or a running cluster's address")
    rfc.add_argument("--nodes", type=int, action="append", metavar="N",
                     help="a slice: only the points of this scale (repeat); the report "
                          "covers them (docs/rfc-at-scale.md, Slices)")
    # The values are checked by rfc.slice_grid, which lists the valid ones.
    for flag, axis, what in (("--task", "tasks", "task kind"), ("--sink", "sinks", "output sink"),
                             ("--churn", "churn", "churn level"),
                             ("--head", "heads", "head market")):
        rfc.add_argument(flag, dest=f"slice_{axis}", action="append", metavar="NAME",
                         help=f"a slice: only the points of this {what} (repeat; a wrong "
                              "name lists the valid ones)")
    rfc.add_argument("--runs-from", type=Path, metavar="DIR",
                     help="copy the runs an earlier study left in DIR (same model version) "
                          "instead of running them again, e.g. a slice --runs-from docs")
    rfc.add_argument("--validation", type=Path, metavar="FILE",
                     help="the validate report whose errors the report quotes (default "
                          "docs/validation.json in the current folder, if there)")
    val = sub.add_parser("validate", help="live runs vs the simulator on held-out configs")
    val.add_argument("--profile", type=Path, help="calibration profile (default: shipped)")
    val.add_argument("--quick", action="store_true", help="three configs, two repeats")
    val.add_argument("--out", type=Path, default=Path("out/validation"), metavar="DIR",
                     help="JSON, markdown and PNG go here (default out/validation)")
    val.add_argument("--timeout", type=float, default=300.0, help="limit per live run (s)")
    val.add_argument("--live", type=Path, metavar="FILE",
                     help="no live runs: compare with those recorded in FILE (a DIR/"
                          "validation-live.jsonl of an earlier validate), e.g. after a refit")
    # The host check (docs/validation.md, Another host): none with --live (no live runs).
    val.add_argument("--rescale", action="store_true",
                     help="on another host than the profile's, scale the simulated task times "
                          "by this host's task time over the profile's (the live runs' own, "
                          "else probes before and after them)")
    val.add_argument("--any-host", action="store_true",
                     help="on another host than the profile's, validate as it is")
    val.add_argument("--calibrate", action="store_true",
                     help="calibrate first (--quick: quick), writing --profile FILE (default "
                          "DIR/profile.json), then validate with it")
    val.add_argument("--published", action="store_true",
                     help="published numbers instead (docs/validation.md, Published numbers): "
                          "each scenario of --published-from simulated against its source")
    val.add_argument("--published-from", type=Path, metavar="DIR",
                     help="with --published: the folder of published.yaml and its scenarios "
                          "(default scenarios/published)")
    val.add_argument("--scale", action="store_true",
                     help="the scale matrix instead (docs/validation.md, At scale): the "
                          "committed live runs against the fitted scale parameters, seconds")
    val.add_argument("--scale-runs", type=Path, metavar="FILE",
                     help="with --scale: live runs of the matrix to compare with (default "
                          "schedsim/studies/scale/matrix-live.jsonl)")
    val.add_argument("--scale-live", action="store_true",
                     help="with --scale: run the matrix live first, 2 repeats (about 25 "
                          "minutes), recording to DIR/matrix-live.jsonl")
    val.add_argument("--scale-fit", action="store_true",
                     help="with --scale: fit the scale parameters on the fit points first, "
                          "writing DIR/scale-params.json")
    from schedsim.live.cli import register as register_live  # live runs and calibration

    COMMANDS.update(register_live(sub))
    completion = sub.add_parser("completion", help="print a shell completion script",
                                description="Print a completion script for bash or zsh, "
                                "e.g. schedsim completion bash > ~/.local/share/"
                                "bash-completion/completions/schedsim")
    completion.add_argument("shell", choices=("bash", "zsh"))
    for command in sub.choices.values():
        _verbosity_flags(command, argparse.SUPPRESS)
    return parser


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    from schedsim import resolve
    from schedsim.metrics import finite

    s = load_from_args(args)
    pools = ", ".join(f"{p.name}: {p.count} x {p.cores} cores ({p.market})"
                      for p in s.cluster.pools)
    console.print(escape(f"ok: {s.source}: '{s.name}', platform {s.platform.type}, "
                         f"{s.workload.tasks} tasks, {pools}, {s.replications} replication(s)"))
    model = resolve.model(s)
    for line in _model_lines(model):
        console.print(escape(line), highlight=False)
    for warning in model["warnings"]:
        console.print(f"[yellow]warning: {escape(warning)}[/yellow]")
    guess = estimate.for_run(s)
    console.print(f"estimate (serial, without --out): {guess.text()}")
    estimate.guard(guess, s.source)
    if args.json:
        model["estimate"] = {"memory_bytes": guess.memory, "seconds": guess.seconds,
                             "what": guess.what}
        emit_json(finite(model), args.json, console)
    return 0


def _model_lines(model: dict[str, Any]) -> list[str]:
    """``schedsim check``'s account of the resolved model (resolve.model), as text."""
    from schedsim.report import fmt

    task = model["task"]
    dist = task["duration"]
    shape = {"lognormal": f", cv {dist.get('cv', 0):g}", "weibull": f", shape "
             f"{dist.get('shape', 0):g}"}.get(dist["dist"], "")
    if dist["dist"] == "hyperexponential":
        shape = ": " + " + ".join(f"{ph['p']:g} x mean {fmt(ph['mean'])} s"
                                  for ph in dist["phases"])
    what = f"{dist['dist']}{shape}"
    written = ""
    if "profile" in task:
        p = task["profile"]
        what = (f"from {p['file']}: n = {p['n']:,} at tolerance {p['tolerance']:g}, time: "
                f"{p['time']}, lognormal noise cv {p['cv']:.2g}")
        written = f" (the calibrated task writes {_bytes(p['fitted_output_bytes'])})"
    lines = [f"task time: mean {fmt(task['mean_s'])} s ({what})",
             f"task data: input {_bytes(task['input_size_bytes'])}, output "
             f"{_bytes(task['output_size_bytes'])}{written}, executable "
             f"{_bytes(task['executable_size_bytes'])}"]
    params = model["platform_parameters"]
    if params:
        lines.append(f"platform {model['platform']}, options in force (from the scenario, "
                     f"the calibration profile {model['provenance']['calibration_profile']['file']}"
                     " or the documented default, docs/models.md):")
        width = max(len(name) for name in params)
        for name, p in params.items():
            lines.append(f"  {name:<{width}}  {_value(p['value'], p['unit']):<18}  "
                         f"{p['source']}")
    b = model["bound"]
    limits = ", ".join(f"{k} {fmt(v)}" for k, v in b["limits"].items())
    lines.append(f"bound: {fmt(b['throughput_tasks_per_s'])} tasks/s, binding: {b['binding']}; "
                 f"makespan >= {fmt(b['makespan_lower_bound_s'])} s ({limits})")
    return lines


def _value(value: object, unit: str) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    from schedsim.report import fmt

    if unit in ("B", "B/s"):
        return _bytes(value) + ("/s" if unit == "B/s" else "")
    return f"{fmt(value)} {unit}".strip()


def _bytes(n: float) -> str:
    return f"{n:g} B" if n < 1000 else estimate.size(n)


def out_folder(path: Path | None) -> None:
    """Refuse an ``--out`` that is an existing file, before any work is done."""
    if path is not None and path.exists() and not path.is_dir():
        raise InputError(f"--out {path}", "", "a folder (this is an existing file; the "
                         "command writes several files into the folder)", has_value=False)


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from schedsim.outputs import check_folder
    from schedsim.report import print_summary, verbose, write_outputs
    from schedsim.runner import run_scenario
    from schedsim.trace import TRACE_LIMIT

    out_folder(args.out)
    if args.parquet and args.out is None:
        raise InputError("--parquet", "", "--out DIR with it (attempts.parquet goes there)",
                         has_value=False)
    if args.parquet:
        _require_pyarrow()
    scenario = load_from_args(args)
    for flag, value in (("--trace", args.trace), ("--trace-limit", args.trace_limit),
                        ("--deadline", args.deadline)):
        if value is not None and args.out is None:
            raise InputError(flag, "", "--out DIR with it (it is about the files kept there)",
                             has_value=False)
    traces = _traces(args.trace or "0", scenario.replications)
    deadline = _duration("--deadline", args.deadline) if args.deadline is not None else None
    if args.out:
        check_folder(args.out, "run")
    keep = args.out is not None
    guess = estimate.for_run(scenario, jobs=args.jobs, keep_records=keep)
    estimate.guard(guess, scenario.source)
    verbose(f"estimate: {guess.text()}")
    started = time.perf_counter()
    tasks, reps = scenario.workload.tasks, scenario.replications
    with progress_bar() as progress:
        bar = progress.add_task(f"{scenario.name}: tasks of {reps} replication(s)",
                                total=tasks * reps)
        finished: dict[int, int] = {}  # tasks finished, by replication (some run at once)

        def tick(r: int, done: int) -> None:
            finished[r] = done
            progress.update(bar, completed=sum(finished.values()))

        summary = run_scenario(scenario, jobs=args.jobs, keep_records=keep,
                               on_done=lambda r: tick(r, tasks),
                               on_progress=lambda r, done, _n: tick(r, done))
    verbose(f"simulated {reps} replication(s) in {time.perf_counter() - started:.2f} s")
    print_summary(summary.data, console)
    if args.json:
        emit_json(summary.data, args.json, console)
    if args.out:
        started = time.perf_counter()
        for path in write_outputs(summary, args.out, parquet=args.parquet, traces=traces,
                                  trace_limit=args.trace_limit or TRACE_LIMIT, deadline=deadline,
                                  on_note=_note):
            console.print(f"wrote {escape(str(path))}", soft_wrap=True)
        verbose(f"wrote {args.out} in {time.perf_counter() - started:.2f} s")
    return JOB_FAILED if summary_failed(summary.data) else 0


def summary_failed(data: dict[str, Any]) -> bool:
    """A run in which a replication's job failed or left tasks unfinished."""
    return any(data["failures"]) or any(v == 0 for v in
                                        data["metrics"]["bag_completed"]["values"])


def _require_pyarrow() -> None:
    """``--parquet`` without pyarrow: one line naming the extra, before any work."""
    from schedsim import parquet

    parquet.require()


def _note(text: str) -> None:
    sys.stderr.write(f"schedsim: {text}\n")


def _traces(which: str, replications: int) -> list[int]:
    """``--trace``: 0,3 / all / none, as replication numbers."""
    text = which.strip().lower()
    if text == "all":
        return list(range(replications))
    if text == "none":
        return []
    parts = [v.strip() for v in text.split(",")]
    reps = [int(v) for v in parts if v.isdigit() and len(v) <= 9]
    if len(reps) != len(parts) or any(r >= replications for r in reps):
        raise InputError("--trace", "", f"all, none or replication numbers from 0 to "
                         f"{replications - 1} separated by commas", which)
    return sorted(set(reps))


def _duration(flag: str, text: str) -> float:
    """A duration > 0 given on the command line, or one line naming the flag."""
    from schedsim.units import UnitError, parse_duration

    try:
        value = parse_duration(text)
    except UnitError:
        value = -1.0
    if not (value > 0 and math.isfinite(value)):
        raise InputError(flag, "", 'a duration > 0 such as "6h"', text)
    return value


def cmd_compare(args: argparse.Namespace, console: Console) -> int:
    from schedsim.report import compare_table
    from schedsim.runner import compare_platforms

    scenario = load_from_args(args)
    platforms = list(dict.fromkeys(args.platforms))
    if len(platforms) < 2:
        raise InputError("--platform", "", "at least two different platforms", platforms)
    estimate.guard(estimate.for_compare(scenario, platforms, jobs=args.jobs), scenario.source)
    with progress_bar() as progress:
        bar = progress.add_task(f"{scenario.name}: " + " vs ".join(platforms),
                                total=scenario.replications * len(platforms))
        results = compare_platforms(scenario, platforms, jobs=args.jobs,
                                    on_done=lambda _r: progress.advance(bar))
    data = {name: summary.data for name, summary in results.items()}
    console.print(compare_table(data))
    for name, summary in data.items():
        failures = [f for f in summary["failures"] if f]
        if failures:
            console.print(f"[yellow]{name}: job failed in {len(failures)} replication(s): "
                          f"{escape(failures[0])}[/yellow]")
    if args.json:
        emit_json(data, args.json, console)
    return JOB_FAILED if any(summary_failed(s) for s in data.values()) else 0


def cmd_sweep(args: argparse.Namespace, console: Console) -> int:
    from schedsim.loading import load_scenario
    from schedsim.metrics import finite
    from schedsim.outputs import check_folder, folder_lock
    from schedsim.report import verbose
    from schedsim.resolve import provenance
    from schedsim.studies import sweep, sweep_report
    from schedsim.studies.jobs import run_pending

    out_folder(args.out)
    axes = sweep.parse_grid(args.grid)
    metrics = parse_metrics(args.metrics)
    if args.parquet:
        _require_pyarrow()
    scenario = load_scenario(args.scenario, args.overrides, replications=args.replications)
    if args.ray is not None and args.jobs > 1:
        raise InputError("--jobs", "", "1 with --ray (Ray schedules the runs itself)",
                         args.jobs)
    base = tuple(args.overrides)
    points = sweep.load_points(args.scenario, axes, base)
    estimate.guard(estimate.for_sweep(points, scenario.replications, args.jobs), args.scenario)
    jobs = sweep.plan(axes, scenario.replications, base)
    layout = sweep.Layout(tuple(key for key, _ in axes), base)
    out = args.out or Path("out") / f"sweep-{scenario.name}"
    manifest = sweep.manifest(args.scenario, points, axes, base, scenario.replications)
    check_folder(out, "sweep")
    started = time.perf_counter()
    with folder_lock(out, sweep.LOCK, "sweep"):
        results = out / sweep.RESULTS
        done = sweep.resume(out, manifest, jobs, layout, restart=args.restart)
        with progress_bar() as progress:
            bar = progress.add_task(f"sweep {scenario.name}", total=len(jobs))
            todo = run_pending(args.scenario, jobs, results, done, layout=layout,
                               workers=args.jobs, use_ray=args.ray is not None,
                               ray_address=args.ray or None, on_progress=lambda d, _t:
                               progress.update(bar, completed=d))
        verbose(f"ran {len(todo)} job(s) in {time.perf_counter() - started:.2f} s")
        rows = sweep.read_results(results, layout=layout)
        summaries = sweep.point_summaries(rows, layout)
        if args.parquet:
            sweep.write_parquet(rows, layout, out / sweep.PARQUET)
    console.print(sweep_report.table(summaries, layout.axes, metrics))
    if args.json:
        emit_json(finite({"kind": sweep.KIND, "scenario": scenario.name,
                          "grid": {key: values for key, values in axes},
                          "overrides": list(base), "replications": scenario.replications,
                          "points": [p.to_json() for p in summaries],
                          "provenance": provenance(scenario)}),
                  args.json, console)
    failed = sum(p.jobs_failed for p in summaries)
    for line, warning in sweep_report.summary(
            len(jobs) - len(todo), len(todo),
            [results, *([out / sweep.PARQUET] if args.parquet else [])], len(rows), failed):
        console.print(f"[yellow]{escape(line)}[/yellow]" if warning else escape(line))
    return JOB_FAILED if failed else 0


def parse_metrics(text: str) -> list[str]:
    """``--metrics M1,M2``: names of docs/metrics.md, each once."""
    from schedsim.metrics import METRICS

    names = [name.strip() for name in text.split(",")]
    for name in names:
        if name not in METRICS:
            raise InputError("--metrics", "", "comma-separated metric names from: " +
                             ", ".join(METRICS), name)
    return list(dict.fromkeys(names))


def cmd_plan(args: argparse.Namespace, console: Console) -> int:
    from schedsim.outputs import StagedFiles, check_folder
    from schedsim.report import json_text
    from schedsim.studies import plan as planning
    from schedsim.studies import plan_report
    from schedsim.units import UnitError, parse_duration

    try:
        deadline = parse_duration(args.deadline)
    except UnitError:
        deadline = -1.0
    if deadline <= 0:
        raise InputError("--deadline", "", 'a duration > 0 such as "6h"', args.deadline)
    if not 0 < args.confidence <= 1:
        raise InputError("--confidence", "", "a number in (0, 1]", args.confidence)
    if args.budget is not None and not (math.isfinite(args.budget) and args.budget >= 0):
        raise InputError("--budget", "", "a finite number of USD >= 0", args.budget)
    out_folder(args.out)
    scenario = load_from_args(args)
    out = args.out or Path("out") / f"plan-{scenario.name}"
    check_folder(out, "plan")
    base = list(args.overrides) + [f"replications={scenario.replications}",
                                   f"seed={scenario.seed}"]
    vary = planning.parse_vary(args.vary)
    planning.check_vary(scenario, *vary)  # a bad --vary names --vary, not the scenario file
    estimate.guard(estimate.for_plan(args.scenario, base, vary, jobs=args.jobs,
                                     max_replications=args.max_replications), args.scenario)
    with progress_bar(remaining=True) as progress:
        bar = progress.add_task("plan", total=None)

        def on_progress(done: int, total: int, what: str) -> None:
            progress.update(bar, completed=done, total=total,
                            description=escape(clip(f"plan: {what}", 60)))

        result = planning.plan(args.scenario, base, deadline, confidence=args.confidence,
                               budget=args.budget, vary=args.vary, jobs=args.jobs,
                               max_replications=args.max_replications, on_progress=on_progress)
    console.print(plan_report.answers_table(result, scenario.name))
    for table in plan_report.candidates_tables(result):
        console.print(table)
    for line, warning in plan_report.summary(result):
        console.print(f"[yellow]{escape(line)}[/yellow]" if warning else escape(line))
    with StagedFiles(out, ("plan.json", "frontier.png")) as files:
        files.write_text("plan.json", json_text(planning.as_json(result)))
        plan_report.figure(result, scenario.name, files.path("frontier.png"))
    console.print(escape(f"wrote {out}/plan.json, {out}/frontier.png"))
    # 3: infeasible, as for a failed job (docs/planning.md)
    return 0 if result.best is not None else JOB_FAILED


def cmd_rfc(args: argparse.Namespace, console: Console) -> int:
    from schedsim.outputs import StagedFiles
    from schedsim.report import json_text
    from schedsim.studies import rfc, rfc_report

    out_folder(args.out)
    if args.ray is not None and args.jobs > 1:
        raise InputError("--jobs", "", "1 with --ray (Ray schedules the runs itself)",
                         args.jobs)
    axes = {"nodes": args.nodes or [], **{axis: getattr(args, f"slice_{axis}") or []
                                          for axis in ("tasks", "sinks", "churn", "heads")}}
    grid = rfc.slice_grid(rfc.QUICK if args.quick else rfc.FULL, **axes)
    validation = rfc.load_validation(args.validation)
    with progress_bar() as progress:
        bar = progress.add_task("rfc", total=None)

        def on_job(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total, description=f"rfc: {done}/{total}")

        study = rfc.run_study(grid, args.out, workers=args.jobs, ray_address=args.ray or None,
                              use_ray=args.ray is not None, on_job=on_job,
                              runs_from=args.runs_from)
    # The command as given, less what does not change a number (--jobs, --ray).
    words = ["schedsim", "rfc"] + (["--quick"] if args.quick else []) + [
        word for axis, values in axes.items() for v in values
        for word in (rfc.SLICE_FLAGS[axis], str(v))] + ["--out", str(args.out)] + (
        ["--runs-from", str(args.runs_from)] if args.runs_from is not None else []) + (
        ["--validation", str(args.validation)] if args.validation is not None else [])
    text = rfc_report.report(study, "rfc-heatmaps.png", validation,
                             shlex.join(words), rfc.load_previous())
    with StagedFiles(args.out, ("rfc.json", "rfc-heatmaps.png", "rfc-at-scale.md")) as files:
        files.write_text("rfc.json", json_text(study))
        rfc_report.heatmaps(study["rows"], files.path("rfc-heatmaps.png"))
        files.write_text("rfc-at-scale.md", text)
    for line in rfc_report.summary(study):
        console.print(escape(line), soft_wrap=True)
    console.print(f"wrote {escape(str(args.out))}/rfc-at-scale.md, rfc-heatmaps.png, rfc.json",
                  soft_wrap=True)
    return 0


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    from schedsim.live.cli import check_timeout
    from schedsim.live.run import LiveRunError
    from schedsim.outputs import StagedFiles, check_folder, write_text
    from schedsim.report import json_text
    from schedsim.resolve import tool_provenance
    from schedsim.studies import validation

    out_folder(args.out)
    if args.published:
        return cmd_validate_published(args, console)
    if args.published_from is not None:
        raise InputError("--published-from", "", "--published with it", has_value=False)
    if args.scale:
        return cmd_validate_scale(args, console)
    if args.scale_runs is not None or args.scale_live or args.scale_fit:
        raise InputError("--scale-runs/--scale-live/--scale-fit", "",
                         "--scale with them", has_value=False)
    configs = validation.QUICK if args.quick else validation.FULL
    repeats, sims = (2, 20) if args.quick else (10, 50)
    check_timeout(args.timeout)
    if args.calibrate and args.live is not None:
        raise InputError("--calibrate", "", "live runs to make (not --live FILE)",
                         has_value=False)
    if args.profile is not None and not args.calibrate:  # one line before any run; absolute
        from schedsim.calibration.profile import load_profile

        args.profile = load_profile(args.profile).path
    live = validation.read_live(args.live) if args.live is not None else None
    host: Decision | None = None
    checks: dict[str, Any] = {}  # the host check, and its probes, for the report
    per_config = (0 if live else repeats * len(validation.PLATFORMS)) + \
        len(validation.PLATFORMS)
    recorded = args.out / "validation-live.jsonl"
    if args.calibrate:
        status = _calibrate_for_validate(args, console)
        if status:
            return status
    check_folder(args.out, "validate")
    if args.live is not None and args.live.resolve() != recorded.resolve():
        # The report's directory keeps the live runs it was made from.
        write_text(recorded, args.live.read_text(encoding="utf-8"))
    try:
        with progress_bar() as progress:
            bar = progress.add_task("validate", total=per_config * (len(configs) + 1))

            def step(s: str) -> None:
                progress.update(bar, advance=1, description=f"validate: {s}")

            if live is None and not args.calibrate:
                # Live runs are made here: this host must be the profile's.
                host = _host_for_validate(args, configs, repeats, recorded, step, checks)
                live = checks.pop("live")
            report = validation.validate(
                configs, repeats=repeats, sim_replications=sims, profile=args.profile,
                timeout_s=args.timeout, live=live, live_out=recorded,
                task_scale=host.task_scale if host else 1.0,
                platform_scales=host.platform_scales if host else None, on_step=step)
    except LiveRunError as exc:  # a missing tool, a hung or crashed platform
        sys.stderr.write(f"schedsim: validate: {exc}\n")
        return 1
    except _Refused as exc:  # written once the progress bar is gone: one line, unwrapped
        sys.stderr.write(f"schedsim: validate: {exc}\n")
        return 2
    if host is not None:
        report["host_check"] = checks["check"]
        if host.note:
            console.print(f"[yellow]{escape(host.note)}[/yellow]", soft_wrap=True)
    words = ["schedsim", "validate"] + (["--quick"] if args.quick else []) + (
        ["--calibrate"] if args.calibrate else []) + (
        ["--rescale"] if args.rescale else []) + (
        ["--any-host"] if args.any_host else []) + (
        ["--profile", _as_given(args.profile)] if args.profile is not None else []) + (
        ["--live", str(args.live)] if args.live is not None else []) + ["--out", str(args.out)]
    text = validation.markdown(report, "validation.png", command=shlex.join(words))
    page = args.out / "validation.md"
    if page.exists():  # the scale and published sections (validate --scale, --published) stay
        from schedsim.studies import published
        from schedsim.studies.scale_validation import insert_section, section_of
        old = page.read_text(encoding="utf-8", errors="replace")
        scale = section_of(old)
        if scale is not None:
            text = insert_section(text, scale)
        kept = published.section_of(old)
        if kept is not None:
            text = published.insert_section(text, kept)
    report = {**report, "provenance": tool_provenance(args.profile)}
    with StagedFiles(args.out, ("validation.json", "validation.png", "validation.md")) as files:
        files.write_text("validation.json", json_text(report))
        validation.plot(report, files.path("validation.png"))
        files.write_text("validation.md", text)
    for line in validation.summary(report):
        console.print(escape(line), soft_wrap=True)
    console.print(f"wrote {escape(str(args.out))}/validation.json, validation.md, "
                  "validation.png, validation-live.jsonl", soft_wrap=True)
    return 0


class _Refused(Exception):
    """validate's host check says no (exit 2), in one line."""


def _host_for_validate(args: argparse.Namespace, configs: Any, repeats: int,
                       recorded: Path, step: Callable[[str], None],
                       checks: dict[str, Any]) -> Decision:
    """``validate``'s live runs with the host check around them (docs/validation.md,
    Another host): CPU and cores before any run; the task's speed after, from the live
    runs' own task times where they have some, else from probes before and after them.
    The decision (schedsim.calibration.host.Decision), or :class:`_Refused`; ``checks``
    gets the live records and the check as the report keeps it."""
    from schedsim.calibration import host as host_check
    from schedsim.calibration.profile import default_profile_path, load_profile
    from schedsim.live.run import require_tools
    from schedsim.studies import validation

    require_tools(tuple(validation.PLATFORMS))  # a missing tool first: the probe needs one
    prof = load_profile(args.profile or default_profile_path())
    # A platform calibrated on a host of its own (calibrate --platform) is checked against
    # that host, and rescaled by its own ratio.
    own = [p for p in validation.PLATFORMS if host_check.platform_host(prof, p) is not None]

    def decision(probe: Any, live: Any, hardware_only: bool) -> Decision:
        here = host_check.this_host(probe)
        others = [p for p in validation.PLATFORMS if p not in own]
        check = host_check.compare_hosts(
            prof, here, task_ratio=validation.task_ratio(configs, live, others, args.profile))
        each = {p: host_check.compare_hosts(prof, here, p, task_ratio=validation.task_ratio(
            configs, live, [p], args.profile)) for p in own}
        if hardware_only:  # the speed is judged after the runs, on more than one probe
            check, each = check.hardware_only(), {p: c.hardware_only() for p, c in each.items()}
        checks["check"] = check.as_dict()
        if each:
            checks["check"]["platforms"] = {p: c.as_dict() for p, c in each.items()}
        return host_check.decide_platforms(check, each, rescale=args.rescale,
                                           any_host=args.any_host)

    before = host_check.run_probe()
    first = decision(before, [], hardware_only=True)
    if first.refuse:
        raise _Refused(first.refuse)
    # The kill moments are fixed now, with the scale the first probe gives (if rescaling).
    scales = decision(before, [], hardware_only=False)
    live = validation.live_runs(configs, repeats=repeats, out=recorded,
                                profile=args.profile, timeout_s=args.timeout, on_step=step,
                                task_scale=scales.task_scale,
                                platform_scales=scales.platform_scales)
    probe = host_check.combined_probe(before, host_check.run_probe())
    host = decision(probe, live, hardware_only=False)
    if host.refuse:
        raise _Refused(f"{host.refuse} (the live runs are kept: {recorded})")
    checks["live"] = live
    return host


def _calibrate_for_validate(args: argparse.Namespace, console: Console) -> int:
    """``validate --calibrate``: the profile made here first (``--profile`` or
    DIR/profile.json), so no host check follows; 0, or calibrate's exit status."""
    from schedsim.calibration.calibrate import calibrate
    from schedsim.live.run import LiveRunError

    out = args.profile or args.out / "profile.json"
    if out.suffix != ".json" or out.is_dir():
        raise InputError("--profile", "", "a .json file name to calibrate into", str(out))
    try:
        calibrate(out, quick=args.quick, console=console, timeout_s=args.timeout)
    except (LiveRunError, RuntimeError) as exc:
        sys.stderr.write(f"schedsim: validate: calibrate: {exc}\n")
        return 1
    args.profile = out.resolve()
    console.print(f"profile: {escape(str(out))} (calibrated here, now)", soft_wrap=True)
    return 0


def cmd_validate_published(args: argparse.Namespace, console: Console) -> int:
    """``validate --published``: published measurements against their scenarios, simulated."""
    from schedsim.outputs import check_folder, read_text, write_text
    from schedsim.report import json_text
    from schedsim.studies import published

    check_folder(args.out, "validate")
    folder = args.published_from or published.DEFAULT_FOLDER
    report = published.compare(folder)
    words = ["schedsim", "validate", "--published"] + (
        ["--published-from", str(args.published_from)] if args.published_from else []) + [
        "--out", str(args.out)]
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "validation-published.json", json_text(report))
    page = args.out / "validation.md"
    old = read_text(page, "a validation page") if page.exists() else "# Validation\n"
    write_text(page, published.insert_section(old, published.markdown(report,
                                                                      shlex.join(words))))
    for line in published.summary(report):
        console.print(escape(line), soft_wrap=True)
    out = escape(str(args.out))
    console.print(f"wrote {out}/validation-published.json and the published section of "
                  f"{out}/validation.md", soft_wrap=True)
    return 0


def cmd_validate_scale(args: argparse.Namespace, console: Console) -> int:
    """``validate --scale``: the scale matrix, its fit, the held-out errors at scale."""
    from schedsim.calibration import scale_fit
    from schedsim.outputs import check_folder, read_text, write_text
    from schedsim.report import json_text
    from schedsim.resolve import file_entry, tool_provenance
    from schedsim.studies import scale_matrix, scale_validation

    check_folder(args.out, "validate")
    args.out.mkdir(parents=True, exist_ok=True)
    runs = args.scale_runs or scale_validation.RECORDS
    if args.scale_live:
        runs = args.out / "matrix-live.jsonl"
        runs.unlink(missing_ok=True)  # a new matrix (run_matrix appends, to keep what ran)
        with progress_bar() as progress:
            bar = progress.add_task("scale matrix", total=2 * len(scale_matrix.MATRIX))
            scale_matrix.run_matrix(scale_matrix.MATRIX, repeats=2, out=runs,
                                    timeout_s=args.timeout, on_step=lambda s: progress.update(
                                        bar, advance=1, description=f"live: {s}"))
    records = scale_matrix.read_records(runs)
    params_path = scale_validation.PARAMS
    if args.scale_fit:
        # From the defaults and from the parameters in force (the last fit).
        in_force = scale_validation.load_params(scale_validation.PARAMS)
        doc = {p: scale_fit.fit(p, records, starts=[in_force[p]])
               for p in scale_validation.PLATFORMS}
        params_path = args.out / "scale-params.json"
        write_text(params_path, json_text(doc))
    report = scale_validation.validate_scale(records, scale_validation.load_params(params_path))
    report["runs"], report["params_file"] = str(runs), str(params_path)
    report["provenance"] = {**tool_provenance(), "scale_params": file_entry(params_path)}
    words = ["schedsim", "validate", "--scale"] + (
        ["--scale-runs", str(args.scale_runs)] if args.scale_runs is not None else []) + (
        ["--scale-live"] if args.scale_live else []) + (
        ["--scale-fit"] if args.scale_fit else []) + ["--out", str(args.out)]
    section = scale_validation.markdown(report, shlex.join(words))
    write_text(args.out / "validation-scale.json", json_text(report))
    page = args.out / "validation.md"
    old = read_text(page, "a validation page") if page.exists() else "# Validation\n"
    write_text(page, scale_validation.insert_section(old, section))
    for line in scale_validation.summary(report):
        console.print(escape(line), soft_wrap=True)
    out = escape(str(args.out))
    console.print(f"wrote {out}/validation-scale.json and the scale section of "
                  f"{out}/validation.md", soft_wrap=True)
    return 0


def cmd_completion(args: argparse.Namespace, console: Console) -> int:
    from schedsim.completion import script

    sys.stdout.write(script(build_parser(), args.shell))  # not through rich: no markup
    return 0


# Commands that print a few plain lines, through report.PlainConsole: no rich to import.
PLAIN_COMMANDS = frozenset({"check"})
COMMANDS: dict[str, Callable[[argparse.Namespace, Console], int]] = {
    "run": cmd_run, "check": cmd_check, "compare": cmd_compare, "sweep": cmd_sweep,
    "validate": cmd_validate, "plan": cmd_plan, "rfc": cmd_rfc, "completion": cmd_completion}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from schedsim.errors import WorkerLost
    from schedsim.report import STDOUT, VERBOSITY, PlainConsole, verbose

    VERBOSITY.quiet, VERBOSITY.verbose = args.quiet, args.verbose
    # With --json - the JSON alone goes to stdout (for a pipe); tables and notes to stderr.
    to_stderr = getattr(args, "json", None) == STDOUT
    console: Console
    if args.command in PLAIN_COMMANDS:
        console = PlainConsole(stderr=to_stderr, quiet=args.quiet)  # type: ignore[assignment]
    else:
        from rich.console import Console

        console = Console(stderr=to_stderr, quiet=args.quiet)
    started = time.perf_counter()
    try:
        status = COMMANDS[args.command](args, console)
        verbose(f"{args.command}: {time.perf_counter() - started:.2f} s")
        return status
    except InputError as exc:
        sys.stderr.write(f"schedsim: {exc.line}\n")
        return 2
    except KeyboardInterrupt:
        return interrupt.announce()
    except WorkerLost as exc:  # a worker killed from outside (out of memory)
        sys.stderr.write(f"schedsim: {exc}\n")
        return 1
    except OSError as exc:  # an output path that cannot be written, a full disk
        where = f" {exc.filename}" if exc.filename else ""
        sys.stderr.write(f"schedsim: cannot write{where}: {exc.strerror or exc}\n")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
