"""The RFC study as a person reads it: the markdown report and its heatmaps.

Both are rendered from the study's JSON alone (``rfc.json``), its rows read back typed
(:class:`schedsim.studies.rows.StudyRow`). Every number and every choice of sentence is
computed from the rows (:func:`schedsim.studies.rfc.analyse`); nothing here states a finding by
hand, and the words are templates/rfc-at-scale.md (the page) and templates/rfc-sentences.md
(the sentences the numbers call for, and the tables' heads). One colour meaning runs through
the heatmaps: orange is better for Work Queue, purple better for Ray, white a tie.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

from schedsim.studies import prose
from schedsim.studies.rfc import (
    FAILED_SHARE,
    HORIZON_S,
    LINK,
    PLATFORMS,
    STEPS,
    SUMMARY_BYTES,
    TASKS,
    THROUGHPUT_MARGIN,
    Param,
    flipped_by,
    flipping_corners,
    robust,
)
from schedsim.studies.rows import AttributionRow, NotRun, StudyRow
from schedsim.verdict import TIE

VERDICTS = (("throughput", "throughput"), ("cost", "cost per 1,000 tasks"),
            ("out_of_retries", "tasks out of retries, Ray max_retries 3"),
            ("out_of_retries_unlimited", "tasks out of retries, Ray max_retries -1"))
NAMES = {"workqueue": "Work Queue", "ray": "Ray", TIE: "tie"}
PAGE = "rfc-at-scale.md"  # the page's prose, around the computed sections
SENTENCES = "rfc-sentences.md"  # the sentences picked by the numbers, and the tables' heads


def _region_label(region: tuple[Any, ...]) -> str:
    task, sink, churn, glue, head = region
    glue = f", {glue}" if glue != "-" else ""
    return f"{task} / {sink} / {churn}{glue} / head {head}"


def rows_of(study: dict[str, Any]) -> list[StudyRow]:
    """The rows of a study's JSON (what :func:`schedsim.studies.rfc.run_study` returns and
    ``rfc.json`` holds), typed."""
    return [StudyRow.from_json(r) for r in study["rows"]]


def _groups(rows: list[StudyRow]) -> list[tuple[tuple[str, ...], list[StudyRow]]]:
    """The rows by region, in the order of their first point."""
    out: dict[tuple[str, ...], list[StudyRow]] = {}
    for r in rows:
        out.setdefault(r.region, []).append(r)
    return list(out.items())


def _count(rows: list[StudyRow], verdict: str) -> Counter[str]:
    return Counter(r.winners[verdict] for r in rows if verdict in r.winners)


def _cell(rows: list[StudyRow], verdict: str) -> str:
    """'WQ 2 · Ray 1 · tie 3 (robust 5/6)' for one verdict over some rows."""
    have = [r for r in rows if verdict in r.winners]
    if not have:
        return "n/a"
    c = _count(have, verdict)
    sure = sum(1 for r in have if robust(r, verdict))
    return (f"WQ {c['workqueue']} · Ray {c['ray']} · tie {c[TIE]}"
            + (f" (robust {sure}/{len(have)})" if sure < len(have) else " (all robust)"))


def _kind(why: str) -> str:
    """A mechanism without its numbers, to count points that share it."""
    return re.sub(r" \([^)]*\d[^)]*\)", "", why)


def _median(values: list[float]) -> float:
    v = sorted(values)
    if not v:
        return math.nan
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


CORE = ("throughput", "cost", "out_of_retries")


def _holds(rows: list[StudyRow]) -> tuple[int, int, int, int]:
    """Points where the RFC's recommendation holds, where Work Queue is strictly better on
    a core verdict (and robustly so), and where the verdicts are mixed."""
    holds = [r for r in rows if all(r.winners[v] != "ray" for v in CORE)]
    better = [r for r in holds if any(r.winners[v] == "workqueue" for v in CORE)]
    steady = [r for r in better if all(robust(r, v) for v in CORE)]
    mixed = [r for r in rows if r not in holds and "workqueue" in
             (r.winners[v] for v in CORE)]
    return len(holds), len(better), len(steady), len(mixed)


def _verdicts(rows: list[StudyRow]
              ) -> list[tuple[str, int, Counter[str], dict[str, int]]]:
    """Per verdict: its title, the points that have it, the wins and the robust wins."""
    out = []
    for verdict, title in VERDICTS:
        have = [r for r in rows if verdict in r.winners]
        if have:
            sure = {w: sum(1 for r in have if r.winners[verdict] == w and robust(r, verdict))
                    for w in ("workqueue", "ray", TIE)}
            out.append((title, len(have), _count(have, verdict), sure))
    return out


def summary(study: dict[str, Any]) -> list[str]:
    """A few plain lines for the terminal: the answer's counts, not the report."""
    rows = rows_of(study)
    n = len(rows)
    holds, better, steady, mixed = _holds(rows)
    lines = [_say("summary-holds", n=n, holds=holds, better=better, steady=steady,
                  fails=n - holds, mixed=mixed)]
    for title, have, c, sure in _verdicts(rows):
        lines.append(_say("summary-verdict", title=title, have=have, **_wins(c, sure)))
    skipped = study.get("not_run", [])
    if skipped:
        lines.append(_say("summary-not-run", count=len(skipped), horizon_h=_hours(HORIZON_S)))
    return lines


def _say(key: str, /, **values: object) -> str:
    """A sentence of templates/rfc-sentences.md."""
    return prose.snippet(SENTENCES, key, **values)


def _lines(key: str) -> list[str]:
    """A snippet of several lines (a table's header) as its lines."""
    return _say(key).split("\n")


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g}"


def _wins(c: Counter[str], sure: dict[str, int]) -> dict[str, int]:
    """A verdict's wins and robust wins per side, as the sentences name them."""
    return {"wq": c["workqueue"], "ray": c["ray"], "tie": c[TIE],
            "wq_robust": sure["workqueue"], "ray_robust": sure["ray"], "tie_robust": sure[TIE]}


def _why(rows: list[StudyRow]) -> dict[str, object]:
    """The mechanism most of ``rows`` share, and at how many."""
    why, count = Counter(_kind(r.why) for r in rows).most_common(1)[0]
    return {"why": why or _say("no-limit-named"), "why_count": count}


def answer(rows: list[StudyRow]) -> list[str]:
    """The verdict in words, each count taken from the rows."""
    lines: list[str] = []
    n = len(rows)
    holds, better, steady, mixed = _holds(rows)
    lines.append(_say("holds", holds=holds, n=n, better=better, steady=steady,
                      fails=n - holds, mixed=mixed))
    lines.append("")
    for title, have, c, sure in _verdicts(rows):
        lines.append(_say("verdict", title=title.capitalize(), have=have, n=n,
                          **_wins(c, sure)))
    both_lost = [r for r in rows if r.wq.job_lost_manager and r.ray.job_lost_manager]
    spot = [r for r in rows if r.head == "spot"]
    if spot:
        lines.append(_say("head-on-spot", count=len(spot), both_lost=len(both_lost)))
    wq_rob = [r for r in rows if r.winners.get("out_of_retries") == "workqueue"]
    if wq_rob:
        flips = sum(1 for r in wq_rob if r.winners.get("out_of_retries_unlimited") == TIE)
        lines.append(_say("robustness-ray-default" if flips == len(wq_rob) else
                          "robustness-stays-ahead", count=len(wq_rob), ties=flips,
                          ahead=len(wq_rob) - flips))
    fast = [r for r in rows if r.winners["throughput"] == "ray"]
    if fast:
        ratios = [r.throughput_ratio for r in fast if r.throughput_ratio is not None]
        lines.append(_say("ray-faster", count=len(fast), ratio=f"{_median(ratios):.2f}",
                          **_why(fast)))
    even = [r for r in rows if all(w == TIE for w in r.winners.values())]
    if even:
        kinds = Counter((r.task, r.sink) for r in even)
        lines.append(_say("ties", count=len(even), kinds="; ".join(
            _say("tie-kind", task=task, sink=sink, count=k)
            for (task, sink), k in kinds.most_common())))
    slow = [r for r in rows if r.winners["throughput"] == "workqueue"]
    if slow:
        lines.append(_say("wq-faster", count=len(slow), **_why(slow)))
    return lines + [""]


def regions_table(rows: list[StudyRow]) -> list[str]:
    lines = _lines("regions-header")
    for region, group in _groups(rows):
        nodes = ", ".join(str(r.nodes) for r in group)
        why = Counter(_kind(r.why) for r in group if r.why).most_common(1)
        ratio = _median([r.throughput_ratio for r in group if r.throughput_ratio])
        lines.append(f"| {_region_label(region)} | {nodes} | {_cell(group, 'throughput')} | "
                     f"{_cell(group, 'cost')} | {_cell(group, 'out_of_retries')} | "
                     f"{_cell(group, 'out_of_retries_unlimited')} | "
                     f"{ratio:.2f} | "
                     f"{why[0][0] if why else 'no limit named'} |")
    return lines + [""]


def sensitivity_table(rows: list[StudyRow]) -> list[str]:
    lines = _lines("sensitivity-header")
    found = False
    for region, group in _groups(rows):
        for verdict, title in VERDICTS[:2]:
            flipped = [r for r in group if not robust(r, verdict)]
            if not flipped:
                continue
            found = True
            corners = sorted({c for r in flipped for c in flipping_corners(r, verdict)})
            probe = next((r for r in flipped if r.oat), None)
            named = ", ".join(flipped_by(probe, verdict)) or "none alone: only together" \
                if probe else "not probed"
            at = f" ({probe.nodes})" if probe else ""
            lines.append(f"| {_region_label(region)} | {title} | {len(flipped)} / "
                         f"{len(group)} | {', '.join(corners)} | {named}{at} |")
    if not found:
        lines.append("| (none) | | | | |")
    return lines + [""]


def points_table(rows: list[StudyRow]) -> list[str]:
    lines = _lines("points-header")
    for r in rows:
        w = r.winners
        ret = f"{r.wq.out_of_retries:.0f} / {r.ray.out_of_retries:.0f} / " + (
            f"{r.rayu.out_of_retries:.0f}" if r.rayu is not None else "-")
        sure = "/".join("y" if robust(r, v) else "n" for v, _ in VERDICTS[:2])
        lines.append(
            f"| {r.nodes} | {r.task} | {r.sink} | {r.churn} | {r.glue} | "
            f"{r.head} | {_num(r.throughput_ratio)} | {_num(r.cost_ratio)} | {ret} | "
            f"{r.wq.job_lost_manager:.2f} / {r.ray.job_lost_manager:.2f} | "
            f"{NAMES[w['throughput']]} / {NAMES[w['cost']]} / {NAMES[w['out_of_retries']]} / "
            f"{NAMES[w.get('out_of_retries_unlimited', TIE)]} | {sure} | {r.why or '-'} |")
    return lines + [""]


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def report(study: dict[str, Any], plot_name: str, validation: dict[str, Any] | None,
           command: str, previous: dict[str, Any] | None = None) -> str:
    """The report of a study's JSON (what :func:`schedsim.studies.rfc.run_study` returns and
    ``rfc.json`` holds): the prose of templates/rfc-at-scale.md around the computed
    sections."""
    rows = rows_of(study)
    tasks = "; ".join(f"{k}: {TASKS[k].per_node} a node, "
                      + (f"zfp n = {TASKS[k].duration['n']:.0e} from the calibration profile"
                         if TASKS[k].duration.get("dist") == "profile" else
                         f"{TASKS[k].duration['mean']} ({TASKS[k].duration['dist']})")
                      for k in dict.fromkeys(r.task for r in rows))
    not_run = []
    skipped = [NotRun(**p) for p in study.get("not_run", [])]
    if skipped:
        floor = min(p.link_floor_h for p in skipped)
        kinds = sorted({(p.nodes, p.task, p.sink) for p in skipped})
        not_run = [_say("not-run", count=len(skipped), kinds="; ".join(
            _say("not-run-kind", nodes=f"{n:,}", task=t, sink=k) for n, t, k in kinds),
            link=LINK, floor_h=f"{floor:.0f}", horizon_h=_hours(HORIZON_S)), ""]
    sliced = study["grid"].get("sliced")
    scope = _say("slice", axes="; ".join(
        f"{axis} " + ", ".join(f"{v:,}" if isinstance(v, int) else str(v)
                               for v in study["grid"][axis]) for axis in sliced)) \
        if sliced else ""
    return prose.page(PAGE,
        command=command, scope=scope, tasks=tasks, link=LINK, summary_bytes=SUMMARY_BYTES,
        horizon_h=_hours(HORIZON_S),
        throughput_margin=f"{THROUGHPUT_MARGIN.relative:.0%}",
        failed_share=f"{FAILED_SHARE:.0%}", answer="\n".join(answer(rows)),
        not_run="\n".join(not_run), regions="\n".join(regions_table(rows)),
        sensitivity="\n".join(sensitivity_table(rows)),
        params="\n".join(params_table([Param(**{**p, "keys": tuple(p["keys"])})
                                        for p in study["params"]])),
        changes="\n".join(changes(previous, [AttributionRow.from_json(a) for a in
                                              study.get("attribution", [])])),
        validation="\n".join(validation_lines(validation)),
        points="\n".join(points_table(rows)), plot=plot_name)


def params_table(params: list[Param]) -> list[str]:
    lines = _lines("params-header")
    for p in params:
        lines.append(f"| {p.name} | {p.nominal:.3g} | {p.low:.3g} | {p.high:.3g} "
                     f"| {p.wq_likes} | {p.why} |")
    return lines + [""]


def changes(previous: dict[str, Any] | None, attribution: list[AttributionRow]) -> list[str]:
    """Which verdicts changed since the previous report, and which change changed them."""
    if not attribution:
        return [_say("changes-none"), ""]
    old = {(r["nodes"], r["n"]): r for r in (previous or {}).get("rows", [])}
    steps = [s for s, _ in STEPS]
    lines = ["| nodes | n | previous report | " + " | ".join(steps) + " |",
             "|---|---|---|" + "---|" * len(steps)]
    changed: Counter[str] = Counter()
    causes: Counter[str] = Counter()
    toggles = {"models, half duplex": "full duplex", "models, no scan": "per-worker scan"}
    for row in attribution:
        prev = old.get((row.nodes, row.n))
        got = row.steps
        cells = [f"{NAMES[v.throughput]} ({_num(v.throughput_ratio)})"
                 if (v := got.get(step)) else "n/a" for step in steps]
        if prev and "models" in got and got["models"].throughput != prev["winner_throughput"]:
            changed["models"] += 1
            undo = [name for step, name in toggles.items()
                    if (g := got.get(step)) is not None
                    and g.throughput == prev["winner_throughput"]]
            for name in undo or ["neither (another fix)"]:
                causes[name] += 1
        for before, step in zip(["models"] + steps[3:-1], steps[3:], strict=True):
            if before in got and step in got and \
                    got[step].throughput != got[before].throughput:
                changed[step] += 1
        prev_cell = f"{NAMES[prev['winner_throughput']]} " \
            f"({prev['throughput_ratio_wq_over_ray']:.2f})" if prev else "n/a"
        lines.append(f"| {row.nodes:,} | {row.n:.0e} | {prev_cell} | "
                     + " | ".join(cells) + " |")
    why = ", ".join(f"{name} {k}" for name, k in causes.items())
    lines += ["", _say("changes", models=changed["models"],
                       undone=_say("changes-undone", causes=why) if why else "",
                       margin=changed["+ margin"], latency=changed["+ latency 0.1 ms"],
                       storage=changed["+ storage"]), ""]
    return lines


def validation_lines(validation: dict[str, Any] | None) -> list[str]:
    lines: list[str] = []
    if validation:
        # The study's platforms only: a third platform's validation is not what it rests on.
        for platform, o in validation.get("overall", {}).items():
            if platform not in PLATFORMS:
                continue
            lines.append(_say("validation", platform=platform,
                              median=f"{100 * o['median_abs_error']:.0f}",
                              p95=f"{100 * o['p95_abs_error']:.0f}", bias=o["bias"]))
    else:
        lines.append(_say("validation-none"))
    return lines


# The heatmaps' panels: the row's value, its title, its colourbar label, the verdict it
# shows, and whether it is a ratio (a log scale centred on 1) or a share (centred on 0).
PANELS = (("throughput_ratio", "Throughput", "Work Queue / Ray throughput\n"
           "(> 1: Work Queue faster)", "throughput", True),
          ("cost_ratio", "Cost per task", "Ray / Work Queue cost per task\n"
           "(> 1: Work Queue cheaper)", "cost", True),
          ("retry_gap", "Tasks out of retries", "(Ray - Work Queue) out of retries / tasks\n"
           "(> 0: Work Queue loses fewer)", "out_of_retries", False))
RATIO_SPAN = 4.0  # the ratio colours saturate at 1/4 and 4
GAP_SPAN = 0.2  # the share colours at -20% and +20%
SHORT = {"workqueue": "WQ", "ray": "Ray", TIE: "tie"}


def _panel_value(row: StudyRow, key: str) -> float:
    if key == "retry_gap":
        ray, wq = row.ray.out_of_retries, row.wq.out_of_retries
        return (ray - wq) / row.tasks if ray is not None and wq is not None else math.nan
    value = row.throughput_ratio if key == "throughput_ratio" else row.cost_ratio
    return float(value) if value else math.nan


def heatmaps(study_rows: list[dict[str, Any]], path: Path) -> None:
    """WQ/Ray throughput, Ray/WQ cost and the out-of-retries gap, per region and scale. One
    colour meaning in every panel: orange is better for Work Queue, purple for Ray, white
    even (a ratio of 1, a gap of 0), grey a point not run (or n/a: no task completed on one
    side); each cell shows its value and its verdict (the winner by the study's rule, or a
    tie)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import LogNorm, Normalize

    rows = [StudyRow.from_json(r) for r in study_rows]
    regions = [g for g, _ in _groups(rows)]
    nodes = sorted({r.nodes for r in rows})
    cmap = plt.get_cmap("PuOr_r").with_extremes(bad="#d9d9d9")
    fig, axes = plt.subplots(1, len(PANELS), squeeze=False, sharey=True, figsize=(
        3.0 + 1.35 * len(nodes) * len(PANELS), 2.2 + 0.42 * len(regions)), layout="constrained")
    for j, (key, title, label, verdict, ratio) in enumerate(PANELS):
        values = np.full((len(regions), len(nodes)), np.nan)
        winners: dict[tuple[int, int], str] = {}
        run: set[tuple[int, int]] = set()
        for r in rows:
            y = regions.index(r.region)
            x = nodes.index(r.nodes)
            run.add((y, x))
            v = _panel_value(r, key)
            values[y, x] = v if not ratio or v > 0 else math.nan
            if verdict in r.winners:
                winners[(y, x)] = SHORT[r.winners[verdict]]
        norm = LogNorm(1 / RATIO_SPAN, RATIO_SPAN) if ratio else Normalize(-GAP_SPAN, GAP_SPAN)
        ax = axes[0][j]
        im = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto")
        for y in range(len(regions)):
            for x in range(len(nodes)):
                v = values[y, x]
                if not np.isfinite(v):  # no task completed on one side, or not run
                    ax.text(x, y, "n/a" if (y, x) in run else "not run", ha="center",
                            va="center", fontsize=7, color="#555555")
                    continue
                red, green, blue, _ = cmap(norm(v))
                dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
                text = f"{v:.2f}" if ratio else "0" if not v else \
                    f"{v:+.1%}" if abs(v) >= 0.001 else f"{v:+.2%}"
                if (y, x) in winners:
                    text += f" {winners[(y, x)]}"
                ax.text(x, y, text, ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
        ax.set_xticks(range(len(nodes)), [f"{k:,}" for k in nodes], fontsize=9)
        ax.set_xlabel("nodes", fontsize=9)
        ax.set_title(title, fontsize=11)
        ax.set_xticks(np.arange(-0.5, len(nodes)), minor=True)
        ax.set_yticks(np.arange(-0.5, len(regions)), minor=True)
        ax.grid(which="minor", color="white", linewidth=1.5)
        ax.tick_params(which="minor", length=0)
        bar = fig.colorbar(im, ax=ax, orientation="horizontal", location="bottom",
                           shrink=0.9, pad=0.02, aspect=30, extend="both")
        bar.set_label(label, fontsize=9)
        if ratio:
            ticks = [1 / RATIO_SPAN, 0.5, 1.0, 2.0, RATIO_SPAN]
            bar.ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            bar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
        else:
            ticks = [-GAP_SPAN, -GAP_SPAN / 2, 0.0, GAP_SPAN / 2, GAP_SPAN]
            bar.set_ticks(ticks, labels=[f"{t:+.0%}" if t else "0" for t in ticks])
        bar.ax.tick_params(labelsize=8)
    axes[0][0].set_yticks(range(len(regions)), [_region_label(g) for g in regions], fontsize=9)
    fig.suptitle("Work Queue against Ray by region and scale: orange favours Work Queue, "
                 "purple Ray, white is even; grey was not run. Each cell: value, winner",
                 fontsize=11)
    fig.savefig(path, dpi=150)
    plt.close(fig)
