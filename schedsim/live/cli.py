"""Command line of live runs and calibration: ``schedsim live`` and ``schedsim calibrate``.

:func:`register` adds both subcommands to the main parser's subparsers and returns their
handlers, so ``schedsim.cli`` stays the one entry point. Parse, call, print: the work is in
:mod:`schedsim.live` and :mod:`schedsim.calibration`. Bad input raises
:class:`~schedsim.errors.InputError` (one line, exit 2, printed by the caller); a live run that
cannot be carried out prints one line and exits 1.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schedsim.errors import InputError
from schedsim.report import escape

if TYPE_CHECKING:  # imported when a command runs: registering costs start-up nothing
    from rich.console import Console
    from rich.table import Table

    from schedsim.calibration.host import HostCheck

Handler = Callable[[argparse.Namespace, "Console"], int]
DEFAULT_TIMEOUT_S = 600.0


def register(subparsers: Any) -> dict[str, Handler]:
    """Add ``live`` and ``calibrate`` to ``subparsers``; returns {command: handler}."""
    live = subparsers.add_parser(
        "live", help="run a scenario for real on this host (Work Queue, Ray or ZeroMQ)",
        description="Run a scenario for real on this host: real workers run the real task "
        "(compress_task; workload.duration: {dist: profile, n: N, tolerance: T}) or, with "
        "workload.task: wait, a task that waits its drawn time and writes output_size bytes "
        "(any distribution, as many slots as the host's memory and file handles allow); "
        "churn kills and replaces them. The scenario must fit the host (docs/live.md).")
    live.add_argument("scenario", help="scenario YAML file")
    live.add_argument("--platform", required=True, metavar="workqueue|ray|zmq",
                      help="the platform that runs the tasks")
    live.add_argument("--set", dest="overrides", action="append", default=[],
                      metavar="KEY=VALUE", help="override a field by dotted path; VALUE is YAML "
                      "(repeatable)")
    live.add_argument("--seed", type=int, help="override the scenario's seed")
    live.add_argument("--replications", type=int, help="override the number of replications")
    live.add_argument("--json", type=Path, metavar="FILE", help="write the JSON summary here")
    live.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                      help=f"limit per replication (default {DEFAULT_TIMEOUT_S:g} s); a run "
                      "that takes longer is stopped and every process it started is killed")
    cal = subparsers.add_parser(
        "calibrate", help="measure the task and the platforms on this host, write a profile",
        description="Task sweep of compress_task, fit of its time and output-size models, "
        "live Work Queue and Ray runs; writes the profile and the raw measurements (JSONL) "
        "beside it.")
    cal.add_argument("--quick", action="store_true",
                     help="smaller sweep and fewer live runs (under 3 minutes on 2 cores)")
    cal.add_argument("--out", type=Path, metavar="FILE",
                     help="profile to write (default the shipped profile, "
                     "schedsim/profiles/default.json in the package); raw data go beside it "
                     "as NAME.task_sweep.jsonl and NAME.live.jsonl")
    cal.add_argument("--no-live", dest="live", action="store_false",
                     help="only the task sweep and its fit, no live runs")
    cal.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                     help="limit per live replication (default 300 s)")
    cal.add_argument("--refit", action="store_true",
                     help="measure nothing: refit the platform overheads to the live runs "
                     "already in the profile (after a change to the models)")
    from schedsim.calibration.platforms import CALIBRATED  # a registry, no measurement code

    cal.add_argument("--platform", dest="platforms", action="append",
                     choices=list(CALIBRATED), metavar="|".join(CALIBRATED),
                     help="only this platform (repeat), into the existing --out profile: "
                     "no task sweep, its live runs and fit alone, the other platforms' "
                     "sections kept; with --refit, refit it alone")
    return {"live": cmd_live, "calibrate": cmd_calibrate}


def check_timeout(seconds: float) -> None:
    """``--timeout``: a finite number of seconds > 0 (it becomes the platforms' own limits)."""
    if not 0 < seconds < math.inf:
        raise InputError("--timeout", "", "a finite number of seconds > 0", seconds)


def cmd_live(args: argparse.Namespace, console: Console) -> int:
    from schedsim.cli_args import load_from_args
    from schedsim.live.run import LiveRunError, check_live_scenario, run_live
    from schedsim.live.summary import live_summary
    from schedsim.report import emit_json, print_summary, progress_bar

    scenario = load_from_args(args)
    check_live_scenario(scenario, args.platform)
    check_timeout(args.timeout)
    results = []
    try:
        with progress_bar() as progress:
            bar = progress.add_task(f"{scenario.name} live on {args.platform}",
                                    total=scenario.replications)
            for r in range(scenario.replications):
                results.append(run_live(scenario, args.platform, r, args.timeout))
                progress.advance(bar)
    except LiveRunError as exc:
        sys.stderr.write(f"schedsim: live: {exc}\n")
        return 1
    data = live_summary(scenario, args.platform, results)
    # Probed after the runs, not before: the probe's tasks would share the host with the
    # run's first ones (and a run killed at once would leave them behind).
    host = host_check(scenario)
    if host is not None:
        data["live"]["host_check"] = host.as_dict()
        if not host.same_host:
            console.print(f"[yellow]{escape(host.line())}: this run's tasks are not the "
                          "profile's; run `schedsim calibrate` before comparing it with the "
                          "simulator[/yellow]", soft_wrap=True)
    print_summary(data, console)
    for reason in sorted({i for r in data["live"]["replications"] for i in r["ignored"]}):
        console.print(f"[yellow]ignored by a live run: {escape(reason)}[/yellow]")
    if args.json:
        emit_json(data, args.json, console)
    return 0


def host_check(scenario: Any) -> HostCheck | None:
    """This host against the profile a zfp scenario draws from (None for another task: the
    waiting task waits the drawn times on any host). A real task cannot be rescaled: the
    check is said and recorded (``live.host_check`` in the JSON)."""
    from schedsim.calibration.host import check_here
    from schedsim.calibration.profile import load_profile
    from schedsim.distributions import ProfileDuration
    from schedsim.scenario import ZFP_TASK

    duration = scenario.workload.duration
    if scenario.workload.task != ZFP_TASK or not isinstance(duration, ProfileDuration):
        return None
    return check_here(load_profile(duration.profile))


def cmd_calibrate(args: argparse.Namespace, console: Console) -> int:
    from schedsim.calibration.calibrate import calibrate
    from schedsim.calibration.profile import DEFAULT_PROFILE
    from schedsim.live.run import LiveRunError

    out: Path = args.out or DEFAULT_PROFILE
    if out.suffix != ".json" or out.is_dir():
        raise InputError("--out", "", "a .json file name (not a folder)", str(out))
    check_timeout(args.timeout)
    if args.platforms and not args.live:
        raise InputError("--platform", "", "live runs to make (not --no-live): a platform "
                         "is calibrated by its live runs", has_value=False)
    if args.refit:
        from schedsim.calibration.calibrate import refit

        doc = refit(out, console, only=args.platforms)
        console.print(measured_table(doc.get("measured", {})))
        which = ", ".join(args.platforms) if args.platforms else "platform"
        console.print(f"profile: {escape(str(out))} ({which} overheads refitted)")
        return 0
    if args.platforms:
        from schedsim.calibration.calibrate import calibrate_platforms

        try:
            doc = calibrate_platforms(out, args.platforms, quick=args.quick, console=console,
                                      timeout_s=args.timeout)
        except (LiveRunError, RuntimeError) as exc:
            sys.stderr.write(f"schedsim: calibrate: {exc}\n")
            return 1
        console.print(measured_table({p: doc["measured"][p] for p in args.platforms}))
        console.print(f"profile: {escape(str(out))} ({', '.join(args.platforms)} calibrated "
                      f"here, {'quick' if args.quick else 'full'}; the task model and the "
                      "other platforms kept)", soft_wrap=True)
        return 0
    try:
        doc = calibrate(out, quick=args.quick, console=console, live=args.live,
                        timeout_s=args.timeout)
    except LiveRunError as exc:
        sys.stderr.write(f"schedsim: calibrate: {exc}\n")
        return 1
    except RuntimeError as exc:
        sys.stderr.write(f"schedsim: calibrate: {exc}\n")
        return 1
    console.print(profile_table(doc))
    measured = doc.get("measured", {})
    if measured:
        console.print(measured_table(measured))
    console.print(f"profile: {escape(str(out))} ({doc['mode']}, {doc['elapsed_s']:.0f} s)")
    return 0


def profile_table(doc: dict[str, Any]) -> Table:
    from rich.table import Table

    table = Table(title=escape(f"task model: {doc['task']['program']} ({doc['task']['source']})"))
    for col in ("tol", "a ms", "b ns/v", "cv", "R2 log", "max err", "c B/v", "d B"):
        table.add_column(col, justify="right")
    for m in doc["task"]["models"]:
        t, o = m["time"], m["output"]
        table.add_row(f"{m['tolerance']:g}", f"{t['a']['value'] * 1e3:.3g}",
                      f"{t['b']['value'] * 1e9:.2f}", f"{t['cv']['value']:.3f}",
                      f"{t['fit']['r2_log']:.4f}", f"{t['fit']['max_abs_rel_error']:.1%}",
                      f"{o['c']['value']:.4f}", f"{o['d']['value']:.0f}")
    return table


def measured_table(measured: dict[str, Any]) -> Table:
    from rich.table import Table

    from schedsim.calibration.platforms import CALIBRATED

    table = Table(title="live runs (medians)")
    for col in ("platform", "config", "reps", "makespan s", "overhead ms", "gap ms"):
        table.add_column(col, justify="right")
    for platform in CALIBRATED:
        for c in measured.get(platform, {}).get("configs", []):
            table.add_row(platform, f"{c['tasks']}x{c['n']:.0e} on {c['nodes']}x{c['cores']}",
                          str(c["replications"]),
                          _med(c["makespan_s"]), _med(c.get("overhead_s", {}), 1e3),
                          _med(c.get("slot_gap_s", {}), 1e3))
    rfc = measured.get("rfc_comparison")
    if rfc:
        table.caption = (f"RFC config: Work Queue / Ray makespan = "
                         f"{rfc['ratio_workqueue_over_ray']:.2f} (RFC: {rfc['rfc']['ratio']:.2f});"
                         " overhead: per task beyond compress_task's own time; gap: a slot's "
                         "idle time between tasks")
    return table


def _med(stats: dict[str, Any], scale: float = 1.0) -> str:
    if not stats or not stats.get("count"):
        return "n/a"
    return f"{stats['median'] * scale:.3g}"
