"""What a plan shows a person: the answer of each choice, every candidate, and the frontier figure.

The answers table has one row per ``--vary`` choice (a platform, a market, ...), dominated or
not: its smallest count meeting the deadline at the confidence, with P(on time) and its exact
bounds, the p95 makespan, the mean cost and the replications a claim needs. The candidates
table lists every simulated point and marks the chosen one, as SkyPilot's optimizer lists
every candidate it priced. ``frontier.png`` draws them: one colour and one marker per choice,
each point labelled with its count, the deadline and the budget drawn, the chosen point ringed.
"""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.markup import escape
from rich.table import Table

from schedsim.report import fmt
from schedsim.studies import proportion, prose
from schedsim.studies.plan import PlanResult, Point, describe, describe_choice

BOUNDS = "bounds %"  # one-sided proportion.LEVEL bounds, as the caption says
COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink",
           "tab:olive", "tab:cyan")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
SENTENCES = "plan-sentences.md"


def percent(value: float) -> str:
    return f"{value:.0%}" if value in (0.0, 1.0) else f"{value:.1%}"


def bounds(p: Point) -> str:
    low, high = p.interval
    return f"{100 * low:.1f}-{100 * high:.1f}"


def needed(p: Point) -> str:
    """About how many replications show the point's side of the confidence."""
    n = p.replications_needed
    return f"{n:,}" if n is not None else "-"


def _say(key: str, /, **values: object) -> str:
    """A sentence of templates/plan-sentences.md."""
    return prose.snippet(SENTENCES, key, **values)


def caption(result: PlanResult) -> str:
    return _say("caption", level=f"{proportion.LEVEL:.0%}",
                confidence=f"{result.confidence:.0%}")


def _count_name(result: PlanResult) -> str:
    return result.range_key.rsplit(".", 1)[-1] if result.range_key else "point"


def _table(title: str, columns: list[str], caption_text: str,
           words: dict[int, int]) -> Table:
    """Numbers right-aligned and never wrapped; ``words`` (column: its minimum width) are
    left-aligned and wrap when the terminal is narrow."""
    table = Table(title=escape(title), caption=escape(caption_text) or None,
                  box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for i, column in enumerate(columns):
        if i in words:
            table.add_column(escape(column), min_width=words[i])
        else:
            table.add_column(escape(column), justify="right", no_wrap=True)
    return table


def _short(p: Point) -> str:
    """A point within its choice: its count, or its description without a range."""
    return str(p.count) if p.count is not None else describe(p)


def answers_table(result: PlanResult, name: str) -> Table:
    """One row per choice: its smallest count meeting the deadline, and its cheapest."""
    count = _count_name(result)
    # A column per --vary choice key, the values in the cells.
    keys = [c.partition("=")[0] for c in result.answers[0].choice] if result.answers else []
    values = [[c.partition("=")[2] for c in a.choice] or ["as is"] for a in result.answers]
    names = keys or ["scenario"]
    widths = {i: min(24, max([len(names[i]), *(len(v[i]) for v in values)]))
              for i in range(len(names))}
    columns = [*names, count, "P(on time)", BOUNDS, "p95 s", "cost USD",
               "need", "cheapest"]
    title = _say("answers-title-per-choice" if keys else "answers-title", name=name,
                 count=count, deadline=fmt(result.deadline),
                 confidence=f"{result.confidence:.0%}")
    table = _table(title, columns, caption(result), {**widths, len(columns) - 1: 8})
    for answer, choice in zip(result.answers, values, strict=True):
        p, cheap = answer.smallest, answer.cheapest
        cheapest = "none" if cheap is None else "same" if cheap is p else _short(cheap)
        cells = [escape(c) for c in choice]
        if p is None:
            what = "none in range" if result.range_key else "misses"
            table.add_row(*cells, what, "", "", "", "", "", escape(cheapest))
            continue
        table.add_row(*cells, str(p.count) if p.count is not None else "meets",
                      percent(p.success), bounds(p), fmt(p.p95_makespan), fmt(p.mean_cost),
                      needed(p), escape(cheapest))
    return table


def candidates_tables(result: PlanResult) -> list[Table]:
    """Every simulated point, a table per choice in count order, the chosen one marked."""
    frontier = {id(p) for p in result.frontier}
    smallest = {id(a.smallest) for a in result.answers if a.smallest is not None}
    tables = []
    for answer in result.answers:
        mine = sorted((p for p in result.points if p.choice == answer.choice),
                      key=lambda p: p.count or 0)
        if not mine:
            continue
        title = _say("candidates-title-of-choice", choice=describe_choice(answer.choice)) \
            if answer.choice else _say("candidates-title")
        columns = [_count_name(result), "on time", "P(on time)", BOUNDS, "need", "p95 s",
                   "cost USD", ""]
        words = {len(columns) - 1: 12} if result.range_key else {0: 12, len(columns) - 1: 12}
        table = _table(title, columns, "", words)
        for p in mine:
            notes = []
            if p is result.best:
                notes.append("<- chosen")
            if id(p) in smallest:
                notes.append("smallest")
            if id(p) in frontier:
                notes.append("frontier")
            if not p.meets:
                notes.append("misses")
            elif not result.feasible(p):
                notes.append("over budget")
            table.add_row(escape(_short(p)), f"{p.on_time}/{p.replications}",
                          percent(p.success), bounds(p), needed(p), fmt(p.p95_makespan),
                          fmt(p.mean_cost), ", ".join(notes),
                          style="bold" if p is result.best else None)
        tables.append(table)
    return tables


def summary(result: PlanResult) -> list[tuple[str, bool]]:
    """The lines after the tables, each with whether it is a warning: the cheapest feasible
    configuration and what binds it (and whether P(on time) is demonstrated), or that none
    is feasible; how many points were simulated, pruned and given more replications."""
    lines = []
    best = result.best
    if best is not None:
        low, _ = best.interval
        lines.append((_say("cheapest", point=describe(best), cost=fmt(best.mean_cost),
                           p95=fmt(best.p95_makespan), on_time=best.on_time,
                           replications=best.replications, lower=f"{low:.1%}",
                           binding=result.binding), False))
        if not best.demonstrated:
            need = best.replications_needed
            confidence = f"{result.confidence:.0%}"
            lines.append((_say("not-demonstrated", confidence=confidence, needed=f"{need:,}")
                          if need else _say("not-demonstrable", confidence=confidence), True))
    else:
        lines.append((_say("infeasible", binding=result.binding), True))
    lines.append((_say("counts", simulated=len(result.points), pruned=result.pruned,
                       added=result.added, cap=result.max_replications), False))
    return lines


def figure(result: PlanResult, name: str, path: Path) -> None:
    """Mean cost against mean makespan, a colour and a marker per choice; filled points meet
    the deadline at the confidence, hollow ones miss it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.0, 5.5))
    for i, answer in enumerate(result.answers):
        mine = sorted((p for p in result.points if p.choice == answer.choice),
                      key=lambda p: p.count or 0)
        colour, marker = COLOURS[i % len(COLOURS)], MARKERS[i % len(MARKERS)]
        label = describe_choice(answer.choice)
        for meets in (True, False):
            some = [p for p in mine if p.meets == meets]
            if not some:
                continue
            ax.scatter([p.mean_cost for p in some], [p.mean_makespan for p in some], s=36,
                       marker=marker, edgecolors=colour,
                       facecolors=colour if meets else "none",
                       label=label if meets or not any(p.meets for p in mine) else None,
                       zorder=3)
        for p in mine:  # labels above for even choices, below for odd: both stay legible
            text = str(p.count) if p.count is not None else label
            ax.annotate(text, (p.mean_cost, p.mean_makespan), textcoords="offset points",
                        xytext=(5, 4 if i % 2 == 0 else -11), fontsize=7, color=colour)
    front = result.frontier
    if len(front) > 1:
        ax.plot([p.mean_cost for p in front], [p.mean_makespan for p in front], "--",
                color="grey", linewidth=0.8, label="Pareto frontier", zorder=2)
    ax.axhline(result.deadline, color="red", linestyle="--", linewidth=1.0,
               label=f"deadline {fmt(result.deadline)} s")
    if result.budget is not None:
        ax.axvline(result.budget, color="darkred", linestyle=":", linewidth=1.0,
                   label=f"budget {fmt(result.budget)} USD")
    if result.best is not None:
        best = result.best
        ax.scatter([best.mean_cost], [best.mean_makespan], s=220, facecolors="none",
                   edgecolors="red", linewidths=1.6, label="chosen (cheapest feasible)",
                   zorder=4)
    _log_if_wide(ax, [p.mean_cost for p in result.points], "x")
    _log_if_wide(ax, [p.mean_makespan for p in result.points] + [result.deadline], "y")
    ax.set_xlabel("mean cost (USD)")
    ax.set_ylabel("mean makespan (s)")
    ax.set_title(f"{name}: every candidate, deadline {fmt(result.deadline)} s at "
                 f"{result.confidence:.0%}\nfilled: meets it, hollow: misses it; labels: "
                 f"{_count_name(result)}", fontsize=10)
    ax.grid(True, linewidth=0.3, alpha=0.5)
    ax.legend(fontsize="small", loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _log_if_wide(ax: object, values: list[float], axis: str) -> None:
    """A log scale when the values span more than 20x (counts from 1 to 1,000 and more)."""
    positive = [v for v in values if v > 0]
    if positive and max(positive) > 20 * min(positive):
        getattr(ax, f"set_{axis}scale")("log")
