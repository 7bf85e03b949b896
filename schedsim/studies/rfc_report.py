"""The RFC study as a person reads it: the markdown report and its heatmaps.

Every number and every sentence of interpretation is computed from the study's rows
(:func:`schedsim.studies.rfc.analyse`); nothing here states a finding by hand. One colour
meaning runs through the heatmaps: orange is better for Work Queue, purple better for Ray, white
a tie.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import Any

from schedsim.studies.rfc import (
    FAILED_SHARE,
    HORIZON_S,
    LINK,
    STEPS,
    SUMMARY_BYTES,
    TASKS,
    THROUGHPUT_MARGIN,
    flipped_by,
    flipping_corners,
    robust,
)
from schedsim.verdict import TIE

VERDICTS = (("throughput", "throughput"), ("cost", "cost per 1,000 tasks"),
            ("out_of_retries", "tasks out of retries, Ray max_retries 3"),
            ("out_of_retries_unlimited", "tasks out of retries, Ray max_retries -1"))
NAMES = {"workqueue": "Work Queue", "ray": "Ray", TIE: "tie"}


def _region_label(region: tuple[Any, ...]) -> str:
    task, sink, churn, glue, head = region
    glue = f", {glue}" if glue != "-" else ""
    return f"{task} / {sink} / {churn}{glue} / head {head}"


def _groups(rows: list[dict[str, Any]], keys: tuple[str, ...]
            ) -> list[tuple[tuple[Any, ...], list[dict[str, Any]]]]:
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return list(out.items())


def _count(rows: list[dict[str, Any]], verdict: str) -> Counter[str]:
    return Counter(r["winners"][verdict] for r in rows if verdict in r["winners"])


def _cell(rows: list[dict[str, Any]], verdict: str) -> str:
    """'WQ 2 · Ray 1 · tie 3 (robust 5/6)' for one verdict over some rows."""
    have = [r for r in rows if verdict in r["winners"]]
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


def _holds(rows: list[dict[str, Any]]) -> tuple[int, int, int, int]:
    """Points where the RFC's recommendation holds, where Work Queue is strictly better on
    a core verdict (and robustly so), and where the verdicts are mixed."""
    holds = [r for r in rows if all(r["winners"][v] != "ray" for v in CORE)]
    better = [r for r in holds if any(r["winners"][v] == "workqueue" for v in CORE)]
    steady = [r for r in better if all(robust(r, v) for v in CORE)]
    mixed = [r for r in rows if r not in holds and "workqueue" in
             (r["winners"][v] for v in CORE)]
    return len(holds), len(better), len(steady), len(mixed)


def _verdicts(rows: list[dict[str, Any]]
              ) -> list[tuple[str, int, Counter[str], dict[str, int]]]:
    """Per verdict: its title, the points that have it, the wins and the robust wins."""
    out = []
    for verdict, title in VERDICTS:
        have = [r for r in rows if verdict in r["winners"]]
        if have:
            sure = {w: sum(1 for r in have if r["winners"][verdict] == w and robust(r, verdict))
                    for w in ("workqueue", "ray", TIE)}
            out.append((title, len(have), _count(have, verdict), sure))
    return out


def summary(study: dict[str, Any]) -> list[str]:
    """A few plain lines for the terminal: the answer's counts, not the report."""
    rows = study["rows"]
    n = len(rows)
    holds, better, steady, mixed = _holds(rows)
    lines = [f"{n} points: the RFC's recommendation holds at {holds} (Work Queue strictly "
             f"better at {better}, {steady} robust) and fails at {n - holds} ({mixed} mixed)."]
    for title, have, c, sure in _verdicts(rows):
        lines.append(f"  {title} ({have} points): Work Queue {c['workqueue']}, Ray {c['ray']}, "
                     f"tie {c[TIE]} (robust: {sure['workqueue']}, {sure['ray']}, "
                     f"{sure[TIE]})")
    skipped = study.get("not_run", [])
    if skipped:
        lines.append(f"  not run: {len(skipped)} points no platform could finish within the "
                     f"{HORIZON_S / 3600:g} h horizon")
    return lines


def answer(rows: list[dict[str, Any]]) -> list[str]:
    """The verdict in words, each count taken from the rows."""
    lines: list[str] = []
    n = len(rows)
    holds, better, steady, mixed = _holds(rows)
    lines.append(f"**Where the RFC's recommendation holds** (Work Queue at least as good on "
                 f"throughput, cost and tasks out of retries, Ray at its default retries): "
                 f"{holds} of {n} points; Work Queue strictly better on one of them at "
                 f"{better} ({steady} robust). **Where it fails** (Ray better on one "
                 f"of them): {n - holds} points, of which {mixed} are mixed (Ray "
                 "faster or cheaper, Work Queue losing fewer tasks).")
    lines.append("")
    for title, have, c, sure in _verdicts(rows):
        lines.append(f"- **{title.capitalize()}** ({have} of {n} points): Work Queue "
                     f"better at {c['workqueue']} ({sure['workqueue']} robust), Ray at "
                     f"{c['ray']} ({sure['ray']} robust), tie at {c[TIE]} ({sure[TIE]} "
                     "robust).")
    both_lost = [r for r in rows if r["wq_job_lost_manager"] and r["ray_job_lost_manager"]]
    spot = [r for r in rows if r["head"] == "spot"]
    if spot:
        lines.append(f"- **Manager or head on spot** ({len(spot)} points): both platforms lose "
                     f"the whole job in some replication at {len(both_lost)} of them; the "
                     "driver owns every Ray task and the Work Queue manager holds the queue, "
                     "so neither survives the loss of that node.")
    wq_rob = [r for r in rows if r["winners"].get("out_of_retries") == "workqueue"]
    if wq_rob:
        flips = sum(1 for r in wq_rob if r["winners"].get("out_of_retries_unlimited") == TIE)
        lines.append(f"- **Where Work Queue's robustness shows** ({len(wq_rob)} points, all "
                     f"with node losses): Ray's tasks run out of their 3 retries; with "
                     f"`max_retries: -1` Ray ties at {flips} of them"
                     + (": there the RFC's point is about Ray's default, which a deployment "
                        "can change." if flips == len(wq_rob) else
                        f", and Work Queue stays ahead at {len(wq_rob) - flips}."))
    fast = [r for r in rows if r["winners"]["throughput"] == "ray"]
    if fast:
        why = Counter(_kind(r["why"]) for r in fast).most_common(1)[0]
        lines.append(f"- **Where Ray's speed wins** ({len(fast)} points; median Work Queue / "
                     f"Ray throughput {_median([r['throughput_ratio'] for r in fast]):.2f}): "
                     f"most often because {why[0] or 'of smaller per-task costs'} "
                     f"({why[1]} points).")
    even = [r for r in rows if all(w == TIE for w in r["winners"].values())]
    if even:
        kinds = Counter(f"{r['task']} tasks, outputs to {r['sink']}" for r in even)
        lines.append(f"- **Where they tie on every verdict** ({len(even)} points): "
                     + "; ".join(f"{k} ({n})" for k, n in kinds.most_common()) + ".")
    slow = [r for r in rows if r["winners"]["throughput"] == "workqueue"]
    if slow:
        why = Counter(_kind(r["why"]) for r in slow).most_common(1)[0]
        lines.append(f"- **Where Work Queue is faster** ({len(slow)} points): most often "
                     f"because {why[0] or 'of smaller per-task costs'} ({why[1]} points).")
    return lines + [""]


def regions_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| region | nodes | throughput | cost | out of retries (Ray 3) "
             "| out of retries (Ray -1) | WQ/Ray throughput (median) | what decides it |",
             "|---|---|---|---|---|---|---|---|"]
    for region, group in _groups(rows, ("task", "sink", "churn", "glue", "head")):
        nodes = ", ".join(str(r["nodes"]) for r in group)
        why = Counter(_kind(r["why"]) for r in group if r["why"]).most_common(1)
        ratio = _median([r["throughput_ratio"] for r in group if r["throughput_ratio"]])
        lines.append(f"| {_region_label(region)} | {nodes} | {_cell(group, 'throughput')} | "
                     f"{_cell(group, 'cost')} | {_cell(group, 'out_of_retries')} | "
                     f"{_cell(group, 'out_of_retries_unlimited')} | "
                     f"{ratio:.2f} | "
                     f"{why[0][0] if why else 'no limit named'} |")
    return lines + [""]


def sensitivity_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| region | verdict | points flipped / points | flipped at corner | "
             "parameters that flip it alone (at nodes) |", "|---|---|---|---|---|"]
    found = False
    for region, group in _groups(rows, ("task", "sink", "churn", "glue", "head")):
        for verdict, title in VERDICTS[:2]:
            flipped = [r for r in group if not robust(r, verdict)]
            if not flipped:
                continue
            found = True
            corners = sorted({c for r in flipped for c in flipping_corners(r, verdict)})
            probe = next((r for r in flipped if r.get("oat")), None)
            named = ", ".join(flipped_by(probe, verdict)) or "none alone: only together" \
                if probe else "not probed"
            at = f" ({probe['nodes']})" if probe else ""
            lines.append(f"| {_region_label(region)} | {title} | {len(flipped)} / "
                         f"{len(group)} | {', '.join(corners)} | {named}{at} |")
    if not found:
        lines.append("| (none) | | | | |")
    return lines + [""]


def points_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| nodes | task | sink | churn | notice | head | WQ/Ray throughput | Ray/WQ cost "
             "| out of retries WQ / Ray / Ray -1 | jobs lost WQ / Ray | winners: throughput / "
             "cost / retries / retries -1 | robust | why |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        w = r["winners"]
        ret = f"{r['wq_out_of_retries']:.0f} / {r['ray_out_of_retries']:.0f} / " + (
            f"{r['rayu_out_of_retries']:.0f}" if "rayu_out_of_retries" in r else "-")
        sure = "/".join("y" if robust(r, v) else "n" for v, _ in VERDICTS[:2])
        lines.append(
            f"| {r['nodes']} | {r['task']} | {r['sink']} | {r['churn']} | {r['glue']} | "
            f"{r['head']} | {_num(r['throughput_ratio'])} | {_num(r['cost_ratio'])} | {ret} | "
            f"{r['wq_job_lost_manager']:.2f} / {r['ray_job_lost_manager']:.2f} | "
            f"{NAMES[w['throughput']]} / {NAMES[w['cost']]} / {NAMES[w['out_of_retries']]} / "
            f"{NAMES[w.get('out_of_retries_unlimited', TIE)]} | {sure} | {r['why'] or '-'} |")
    return lines + [""]


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def report(study: dict[str, Any], plot_name: str, validation: dict[str, Any] | None,
           command: str, previous: dict[str, Any] | None = None) -> str:
    """The report: the prose of templates/rfc-at-scale.md around the computed sections."""
    rows = study["rows"]
    tasks = "; ".join(f"{k}: {TASKS[k].per_node} a node, "
                      + (f"zfp n = {TASKS[k].duration['n']:.0e} from the calibration profile"
                         if TASKS[k].duration.get("dist") == "profile" else
                         f"{TASKS[k].duration['mean']} ({TASKS[k].duration['dist']})")
                      for k in dict.fromkeys(r["task"] for r in rows))
    not_run = []
    skipped = study.get("not_run", [])
    if skipped:
        floor = min(p["link_floor_h"] for p in skipped)
        kinds = sorted({(p["nodes"], p["task"], p["sink"]) for p in skipped})
        not_run = [f"Not run: {len(skipped)} points (" + "; ".join(
            f"{n:,} nodes, {t} tasks, outputs to the {k}" for n, t, k in kinds) + ") where "
                   f"carrying every output through the head's {LINK} link alone would take "
                   f"at least {floor:.0f} h, beyond the {HORIZON_S / 3600:g} h horizon, on "
                   "either platform.", ""]
    template = Template(files("schedsim.studies").joinpath("templates", "rfc-at-scale.md")
                        .read_text(encoding="utf-8"))
    sliced = study["grid"].get("sliced")
    scope = " (a slice of the study: " + "; ".join(
        f"{axis} " + ", ".join(f"{v:,}" if isinstance(v, int) else str(v)
                               for v in study["grid"][axis]) for axis in sliced) + \
        ")" if sliced else ""
    return template.substitute(
        command=command, scope=scope, tasks=tasks, link=LINK, summary_bytes=SUMMARY_BYTES,
        horizon_h=f"{HORIZON_S / 3600:g}",
        throughput_margin=f"{THROUGHPUT_MARGIN.relative:.0%}",
        failed_share=f"{FAILED_SHARE:.0%}", answer="\n".join(answer(rows)),
        not_run="\n".join(not_run), regions="\n".join(regions_table(rows)),
        sensitivity="\n".join(sensitivity_table(rows)),
        params="\n".join(params_table(study["params"])),
        changes="\n".join(changes(previous, study.get("attribution", []))),
        validation="\n".join(validation_lines(validation)),
        points="\n".join(points_table(rows)), plot=plot_name)


def params_table(params: list[dict[str, Any]]) -> list[str]:
    lines = ["| parameter | nominal | low | high | Work Queue favoured by | why uncertain |",
             "|---|---|---|---|---|---|"]
    for p in params:
        lines.append(f"| {p['name']} | {p['nominal']:.3g} | {p['low']:.3g} | {p['high']:.3g} "
                     f"| {p['wq_likes']} | {p['why']} |")
    return lines + [""]


def changes(previous: dict[str, Any] | None, attribution: list[dict[str, Any]]) -> list[str]:
    """Which verdicts changed since the previous report, and which change changed them."""
    if not attribution:
        return ["(No point of the previous report was rerun.)", ""]
    old = {(r["nodes"], r["n"]): r for r in (previous or {}).get("rows", [])}
    steps = [s for s, _ in STEPS]
    lines = ["| nodes | n | previous report | " + " | ".join(steps) + " |",
             "|---|---|---|" + "---|" * len(steps)]
    changed: Counter[str] = Counter()
    causes: Counter[str] = Counter()
    toggles = {"models, half duplex": "full duplex", "models, no scan": "per-worker scan"}
    for row in attribution:
        prev = old.get((row["nodes"], row["n"]))
        got = row["steps"]
        cells = [f"{NAMES[v['throughput']]} ({_num(v['throughput_ratio'])})"
                 if (v := got.get(step)) else "n/a" for step in steps]
        if prev and "models" in got and got["models"]["throughput"] != prev["winner_throughput"]:
            changed["models"] += 1
            undo = [name for step, name in toggles.items()
                    if got.get(step, {}).get("throughput") == prev["winner_throughput"]]
            for name in undo or ["neither (another fix)"]:
                causes[name] += 1
        for before, step in zip(["models"] + steps[3:-1], steps[3:], strict=True):
            if before in got and step in got and \
                    got[step]["throughput"] != got[before]["throughput"]:
                changed[step] += 1
        prev_cell = f"{NAMES[prev['winner_throughput']]} " \
            f"({prev['throughput_ratio_wq_over_ray']:.2f})" if prev else "n/a"
        lines.append(f"| {row['nodes']:,} | {row['n']:.0e} | {prev_cell} | "
                     + " | ".join(cells) + " |")
    why = ", ".join(f"{name} {k}" for name, k in causes.items())
    lines += ["", f"Throughput verdicts changed by today's models against the previous report: "
              f"{changed['models']}" + (f" (undone by taking back: {why})" if why else "")
              + "; then by the 5% margin: " + f"{changed['+ margin']}; by 0.1 ms links: "
              f"{changed['+ latency 0.1 ms']}; by outputs to storage: {changed['+ storage']}.",
              ""]
    return lines


def validation_lines(validation: dict[str, Any] | None) -> list[str]:
    lines: list[str] = []
    if validation:
        for platform, o in validation.get("overall", {}).items():
            lines.append(f"- {platform}: validation on this host gives a median absolute "
                         f"makespan error of {100 * o['median_abs_error']:.0f}% and P95 "
                         f"{100 * o['p95_abs_error']:.0f}% ({o['bias']}); a throughput ratio "
                         "within that band of 1 is not a real difference.")
    else:
        lines.append("- no validation report was found.")
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


def _panel_value(row: dict[str, Any], key: str) -> float:
    if key == "retry_gap":
        return (row["ray_out_of_retries"] - row["wq_out_of_retries"]) / row["tasks"]
    value = row[key]
    return float(value) if value else math.nan


def heatmaps(rows: list[dict[str, Any]], path: Path) -> None:
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

    regions = [g for g, _ in _groups(rows, ("task", "sink", "churn", "glue", "head"))]
    nodes = sorted({r["nodes"] for r in rows})
    cmap = plt.get_cmap("PuOr_r").with_extremes(bad="#d9d9d9")
    fig, axes = plt.subplots(1, len(PANELS), squeeze=False, sharey=True, figsize=(
        3.0 + 1.35 * len(nodes) * len(PANELS), 2.2 + 0.42 * len(regions)), layout="constrained")
    for j, (key, title, label, verdict, ratio) in enumerate(PANELS):
        values = np.full((len(regions), len(nodes)), np.nan)
        winners: dict[tuple[int, int], str] = {}
        run: set[tuple[int, int]] = set()
        for r in rows:
            y = regions.index((r["task"], r["sink"], r["churn"], r["glue"], r["head"]))
            x = nodes.index(r["nodes"])
            run.add((y, x))
            v = _panel_value(r, key)
            values[y, x] = v if not ratio or v > 0 else math.nan
            if verdict in r["winners"]:
                winners[(y, x)] = SHORT[r["winners"][verdict]]
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
