"""Command line: parse, call, print. No simulation logic lives here.

``schedsim run SCENARIO`` runs the replications with a progress bar and prints a table of
every metric with its 95% CI and the analytic bound; ``--json`` and ``--out`` keep the results.
``schedsim check SCENARIO`` only validates. Bad input prints one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from rich.console import Console

from schedsim import estimate, interrupt
from schedsim.errors import InputError, clip, one_line
from schedsim.platforms import PLATFORMS
from schedsim.pool import WorkerLost
from schedsim.reader import MAX_REPLICATIONS, MAX_SEED
from schedsim.report import STDOUT, emit_json, progress_bar
from schedsim.scenario import Scenario, load_scenario

MAX_JOBS = 1024  # worker processes; more cost memory and start-up time, never speed


class _Parser(argparse.ArgumentParser):
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


def _add_scenario_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field by dotted path; VALUE is YAML (repeatable)")
    p.add_argument("--seed", type=_integer(0, MAX_SEED), help="override the scenario's seed")
    p.add_argument("--replications", type=_integer(1, MAX_REPLICATIONS),
                   help="override the number of replications")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="schedsim", description="Simulate bags of tasks on Work Queue, Ray "
                     "and ideal platforms over churning spot pools.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="simulate a scenario and print its metrics")
    _add_scenario_args(run)
    run.add_argument("--json", type=Path, metavar="FILE", help="write the JSON summary here "
                     "(- for stdout; the table then goes to stderr)")
    run.add_argument("--out", type=Path, metavar="DIR", help="keep resolved scenario, summary, "
                     "per-attempt CSV, plot and trace here")
    run.add_argument("--jobs", type=_JOBS, default=1, help="replications run in parallel "
                     "(processes); results are identical to a serial run")
    check = sub.add_parser("check", help="validate a scenario without running it")
    _add_scenario_args(check)
    compare = sub.add_parser("compare", help="run a scenario on several platforms, same seeds")
    _add_scenario_args(compare)
    compare.add_argument("--platform", dest="platforms", action="append", required=True,
                         choices=sorted(PLATFORMS), help="a platform to compare (repeat)")
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
    pl = sub.add_parser("plan", help="cheapest configuration meeting a deadline")
    _add_scenario_args(pl)
    pl.add_argument("--deadline", required=True, help='makespan deadline, e.g. "6h"')
    pl.add_argument("--budget", type=float, help="USD the run may cost at most")
    pl.add_argument("--confidence", type=float, default=0.95,
                    help="share of replications that must meet the deadline")
    pl.add_argument("--vary", action="append", default=[], metavar="KEY=LO..HI|V1,V2",
                    help="a count range to bisect (one) or choices to try (repeat)")
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
                     help="only the points of this scale (repeat); the report covers them")
    val = sub.add_parser("validate", help="live runs vs the simulator on held-out configs")
    val.add_argument("--profile", type=Path, help="calibration profile (default: shipped)")
    val.add_argument("--quick", action="store_true", help="three configs, two repeats")
    val.add_argument("--out", type=Path, default=Path("out/validation"), metavar="DIR",
                     help="JSON, markdown and PNG go here (default out/validation)")
    val.add_argument("--timeout", type=float, default=300.0, help="limit per live run (s)")
    val.add_argument("--live", type=Path, metavar="FILE",
                     help="no live runs: compare with those recorded in FILE (a DIR/"
                          "validation-live.jsonl of an earlier validate), e.g. after a refit")
    val.add_argument("--scale", action="store_true",
                     help="the scale matrix instead (docs/validation.md, At scale): the "
                          "committed live runs against the fitted scale parameters, seconds")
    val.add_argument("--scale-runs", type=Path, metavar="FILE",
                     help="with --scale: live runs of the matrix to compare with (default "
                          "calibration/scale/matrix-live.jsonl)")
    val.add_argument("--scale-live", action="store_true",
                     help="with --scale: run the matrix live first, 2 repeats (about 25 "
                          "minutes), recording to DIR/matrix-live.jsonl")
    val.add_argument("--scale-fit", action="store_true",
                     help="with --scale: fit the scale parameters on the fit points first, "
                          "writing DIR/scale-params.json")
    from schedsim.live.cli import register as register_live  # live runs and calibration

    COMMANDS.update(register_live(sub))
    return parser


def load_from_args(args: argparse.Namespace) -> Scenario:
    """The scenario named on the command line, with ``--set``, ``--seed``, ``--replications``."""
    return load_scenario(args.scenario, args.overrides, seed=args.seed,
                         replications=args.replications)


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    s = load_from_args(args)
    pools = ", ".join(f"{p.name}: {p.count} x {p.cores} cores ({p.market})"
                      for p in s.cluster.pools)
    console.print(f"ok: {s.source}: '{s.name}', platform {s.platform.type}, "
                  f"{s.workload.tasks} tasks, {pools}, {s.replications} replication(s)")
    guess = estimate.for_run(s)
    console.print(f"estimate (serial, without --out): {guess.text()}")
    estimate.guard(guess, s.source)
    return 0


def out_folder(path: Path | None) -> None:
    """Refuse an ``--out`` that is an existing file, before any work is done."""
    if path is not None and path.exists() and not path.is_dir():
        raise InputError(f"--out {path}", "", "a folder (this is an existing file; the "
                         "command writes several files into the folder)", has_value=False)


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from schedsim.outputs import check_folder
    from schedsim.report import print_summary, write_outputs
    from schedsim.runner import run_scenario

    out_folder(args.out)
    scenario = load_from_args(args)
    if args.out:
        check_folder(args.out, "run")
    keep = args.out is not None
    estimate.guard(estimate.for_run(scenario, jobs=args.jobs, keep_records=keep),
                   scenario.source)
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
    print_summary(summary.data, console)
    if args.json:
        emit_json(summary.data, args.json, console)
    if args.out:
        for path in write_outputs(summary, args.out):
            console.print(f"wrote {path}")
    return 0


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
                          f"{failures[0]}[/yellow]")
    if args.json:
        emit_json(data, args.json, console)
    return 0


def cmd_sweep(args: argparse.Namespace, console: Console) -> int:
    from schedsim import sweep
    from schedsim.outputs import check_folder, folder_lock

    out_folder(args.out)
    axes = sweep.parse_grid(args.grid)
    scenario = load_scenario(args.scenario, args.overrides, replications=args.replications)
    if args.ray is not None and args.jobs > 1:
        raise InputError("--jobs", "", "1 with --ray (Ray schedules the runs itself)",
                         args.jobs)
    base = tuple(args.overrides)
    points = sweep.load_points(args.scenario, axes, base)
    estimate.guard(estimate.for_sweep(points, scenario.replications, args.jobs), args.scenario)
    jobs = sweep.plan(axes, scenario.replications, base)
    out = args.out or Path("out") / f"sweep-{scenario.name}"
    manifest = sweep.manifest(args.scenario, points, axes, base, scenario.replications)
    check_folder(out, "sweep")
    with folder_lock(out, sweep.LOCK, "sweep"):
        manifest_path, results = out / sweep.MANIFEST, out / sweep.RESULTS
        if args.restart:
            results.unlink(missing_ok=True)
        elif manifest_path.exists():
            sweep.check_resume(manifest_path, sweep.read_manifest(manifest_path), manifest)
        sweep.write_manifest(manifest_path, manifest)
        done_rows = sweep.read_results(results, warn=True)
        sweep.check_rows(results, done_rows, jobs)
        done = {(r.point, r.replication) for r in done_rows}
        todo = [j for j in jobs if (j.point, j.replication) not in done]
        writer = sweep.ResultsFile(results)
        try:
            with progress_bar() as progress:
                bar = progress.add_task(f"sweep {scenario.name}", total=len(jobs),
                                        completed=len(jobs) - len(todo))

                def on_row(row: dict[str, object]) -> None:
                    writer.append(row)
                    progress.advance(bar)

                sweep.execute(args.scenario, todo, workers=args.jobs,
                              use_ray=args.ray is not None, ray_address=args.ray or None,
                              on_row=on_row)
        finally:
            writer.close()
        console.print(sweep_table(results, axes))
    console.print(f"{len(jobs) - len(todo)} job(s) were already done, {len(todo)} ran; "
                  f"results: {results}")
    return 0


def sweep_table(results: Path, axes: list[tuple[str, list[str]]]) -> object:
    """Mean makespan, throughput and cost per point, with 95% CIs."""
    from rich.table import Table

    from schedsim.metrics import summarize_metric
    from schedsim.report import fmt, interval
    from schedsim.sweep import read_results

    points: dict[int, list[dict[str, str]]] = {}
    overrides: dict[int, tuple[str, ...]] = {}
    for row in read_results(results):
        points.setdefault(row.point, []).append(row.cells)
        overrides[row.point] = row.overrides
    table = Table(title="sweep")
    for key, _ in axes:
        table.add_column(key)
    for name in ("makespan_s", "throughput_tasks_per_s", "cost_usd", "tasks_failed"):
        table.add_column(name, justify="right")
    for point in sorted(points):
        rows = points[point]
        values = {o.partition("=")[0]: o.partition("=")[2] for o in overrides[point]}
        cells = [values.get(key, "") for key, _ in axes]
        for name in ("makespan_s", "throughput_tasks_per_s", "cost_usd", "tasks_failed"):
            s = summarize_metric(name, [float(r[name]) for r in rows])
            ci: list[float] = s["ci95"]  # type: ignore[assignment]
            mean: float = s["mean"]  # type: ignore[assignment]
            cells.append(f"{fmt(mean)} {interval(ci[0], ci[1])}")
        table.add_row(*cells)
    return table


def cmd_plan(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    from schedsim import plan as planning
    from schedsim.outputs import StagedFiles, check_folder
    from schedsim.report import fmt, json_text
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
    estimate.guard(estimate.for_plan(args.scenario, base, vary), args.scenario)
    err = Console(stderr=True)
    with err.status("planning") as status:
        result = planning.plan(args.scenario, base, deadline, confidence=args.confidence,
                               budget=args.budget, vary=args.vary,
                               on_point=lambda p: status.update(
                                   f"planning: {planning.describe(p)}"))
    table = Table(title=f"{scenario.name}: Pareto frontier (cost vs makespan), deadline "
                        f"{fmt(deadline)} s at {args.confidence:.0%}")
    for column in ("configuration", "mean cost USD", "mean makespan s", "P(on time)"):
        table.add_column(column)
    for p in result.frontier:
        mark = " <- cheapest feasible" if p is result.best else ""
        table.add_row(planning.describe(p) + mark, fmt(p.mean_cost), fmt(p.mean_makespan),
                      f"{p.success:.0%}")
    console.print(table)
    if result.best is not None:
        console.print(f"cheapest feasible: {planning.describe(result.best)}: "
                      f"{fmt(result.best.mean_cost)} USD, makespan {fmt(result.best.mean_makespan)}"
                      f" s; binding: {result.binding}")
    else:
        console.print(f"[yellow]no feasible configuration; binding: {result.binding}[/yellow]")
    console.print(f"{len(result.points)} point(s) simulated, {result.pruned} pruned by the bound")
    with StagedFiles(out, ("plan.json", "frontier.png")) as files:
        files.write_text("plan.json", json_text(planning.as_json(result)))
        planning.plot(result, deadline, files.path("frontier.png"))
    console.print(f"wrote {out}/plan.json, {out}/frontier.png")
    return 0


def cmd_rfc(args: argparse.Namespace, console: Console) -> int:
    import dataclasses

    from schedsim import rfc, rfc_report
    from schedsim.outputs import StagedFiles
    from schedsim.report import json_text

    out_folder(args.out)
    if args.ray is not None and args.jobs > 1:
        raise InputError("--jobs", "", "1 with --ray (Ray schedules the runs itself)",
                         args.jobs)
    grid = rfc.QUICK if args.quick else rfc.FULL
    if args.nodes:
        bad = [n for n in args.nodes if n not in grid.nodes]
        if bad:
            raise InputError("--nodes", "", "one of " + ", ".join(map(str, grid.nodes)),
                             bad[0])
        grid = dataclasses.replace(grid, nodes=tuple(sorted(set(args.nodes))))
    with progress_bar() as progress:
        bar = progress.add_task("rfc", total=None)

        def on_job(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total, description=f"rfc: {done}/{total}")

        study = rfc.run_study(grid, args.out, workers=args.jobs, ray_address=args.ray or None,
                              use_ray=args.ray is not None, on_job=on_job)
    command = "schedsim rfc" + (" --quick" if args.quick else "") + "".join(
        f" --nodes {n}" for n in (args.nodes or [])) + f" --out {args.out}"
    text = rfc_report.report(study, "rfc-heatmaps.png", rfc.load_validation(), command,
                             rfc.load_previous())
    with StagedFiles(args.out, ("rfc.json", "rfc-heatmaps.png", "rfc-at-scale.md")) as files:
        files.write_text("rfc.json", json_text(study))
        rfc_report.heatmaps(study["rows"], files.path("rfc-heatmaps.png"))
        files.write_text("rfc-at-scale.md", text)
    console.print(f"{len(study['rows'])} points; wrote {args.out}/rfc-at-scale.md, "
                  "rfc-heatmaps.png, rfc.json")
    return 0


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    from schedsim import validation
    from schedsim.live.cli import check_timeout
    from schedsim.live.run import LiveRunError
    from schedsim.outputs import StagedFiles, check_folder, write_text
    from schedsim.report import json_text

    out_folder(args.out)
    if args.scale:
        return cmd_validate_scale(args, console)
    if args.scale_runs is not None or args.scale_live or args.scale_fit:
        raise InputError("--scale-runs/--scale-live/--scale-fit", "",
                         "--scale with them", has_value=False)
    configs = validation.QUICK if args.quick else validation.FULL
    repeats, sims = (2, 20) if args.quick else (10, 50)
    check_timeout(args.timeout)
    if args.profile is not None:  # checked (one line) before any run, and made absolute
        from schedsim.calibration.profile import load_profile

        args.profile = load_profile(args.profile).path
    live = validation.read_live(args.live) if args.live is not None else None
    per_config = (0 if live else repeats * len(validation.PLATFORMS)) + \
        len(validation.PLATFORMS)
    check_folder(args.out, "validate")
    recorded = args.out / "validation-live.jsonl"
    if args.live is not None and args.live.resolve() != recorded.resolve():
        # The report's directory keeps the live runs it was made from.
        write_text(recorded, args.live.read_text(encoding="utf-8"))
    try:
        with progress_bar() as progress:
            bar = progress.add_task("validate", total=per_config * (len(configs) + 1))
            report = validation.validate(
                configs, repeats=repeats, sim_replications=sims, profile=args.profile,
                timeout_s=args.timeout, live=live, live_out=recorded,
                on_step=lambda s: progress.update(bar, advance=1,
                                                  description=f"validate: {s}"))
    except LiveRunError as exc:  # a missing tool, a hung or crashed platform
        sys.stderr.write(f"schedsim: validate: {exc}\n")
        return 1
    text = validation.markdown(report, "validation.png")
    page = args.out / "validation.md"
    if page.exists():  # the scale section (validate --scale) stays
        from schedsim.scale_validation import insert_section, section_of
        scale = section_of(page.read_text(encoding="utf-8", errors="replace"))
        if scale is not None:
            text = insert_section(text, scale)
    with StagedFiles(args.out, ("validation.json", "validation.png", "validation.md")) as files:
        files.write_text("validation.json", json_text(report))
        validation.plot(report, files.path("validation.png"))
        files.write_text("validation.md", text)
    console.print(text)
    console.print(f"wrote {args.out}/validation.json, validation.md, validation.png, "
                  "validation-live.jsonl")
    return 0


def cmd_validate_scale(args: argparse.Namespace, console: Console) -> int:
    """``validate --scale``: the scale matrix, its fit, the held-out errors at scale."""
    from schedsim import scale_matrix, scale_validation
    from schedsim.calibration import scale_fit
    from schedsim.outputs import check_folder, read_text, write_text
    from schedsim.report import json_text

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
        doc = {p: scale_fit.fit(p, records) for p in scale_validation.PLATFORMS}
        params_path = args.out / "scale-params.json"
        write_text(params_path, json_text(doc))
    report = scale_validation.validate_scale(records, scale_validation.load_params(params_path))
    report["runs"], report["params_file"] = str(runs), str(params_path)
    section = scale_validation.markdown(report)
    write_text(args.out / "validation-scale.json", json_text(report))
    page = args.out / "validation.md"
    old = read_text(page, "a validation page") if page.exists() else "# Validation\n"
    write_text(page, scale_validation.insert_section(old, section))
    console.print(section)
    console.print(f"wrote {args.out}/validation-scale.json and the scale section of "
                  f"{args.out}/validation.md")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace, Console], int]] = {
    "run": cmd_run, "check": cmd_check, "compare": cmd_compare, "sweep": cmd_sweep,
    "validate": cmd_validate, "plan": cmd_plan, "rfc": cmd_rfc}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # With --json - the JSON alone goes to stdout (for a pipe); tables and notes to stderr.
    console = Console(stderr=getattr(args, "json", None) == STDOUT)
    try:
        return COMMANDS[args.command](args, console)
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
