"""Published numbers as a second check: the simulator against measurements others made at scale.

Each measurement (``scenarios/published/published.yaml``) names its source, what was measured,
the published value of one metric and a scenario that states its conditions. The conditions
the file lists (tasks, slots, task time) are checked against the scenario before it runs, so
a scenario edited away from what was measured is refused in one line. The scenario is
simulated, the metric computed as the source defines it (``throughput``: tasks / makespan;
``launch_rate``: tasks / (makespan - task time), the rate at which a cluster starts a bag
of long tasks), and reported against the published value with the source; where they
disagree, the file says which mechanism explains it, and ``variant`` (dotted overrides) runs
the scenario with that mechanism changed, beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from schedsim.errors import InputError
from schedsim.loading import load_scenario
from schedsim.reader import Reader
from schedsim.safe_load import MAX_YAML_BYTES, load_yaml, read_text
from schedsim.scenario import Scenario
from schedsim.simulation import Simulation
from schedsim.studies import sections

INDEX = "published.yaml"
DEFAULT_FOLDER = Path("scenarios/published")  # from the current folder, like --out docs
METRICS = ("throughput", "launch_rate")
SECTION_BEGIN = "<!-- published: begin (schedsim validate --published --out docs) -->"
SECTION_END = "<!-- published: end -->"


@dataclass(frozen=True)
class Measurement:
    """One published number and the scenario of its conditions."""

    name: str
    scenario: Path
    platform: str
    metric: str  # one of METRICS
    value: float
    unit: str
    source: str  # where it was published (a URL)
    measured: str  # what was measured, in a sentence
    conditions: dict[str, float]  # tasks, slots, task_s
    mechanism: str = ""  # what explains a disagreement
    spread: float | None = None  # the published standard deviation, if any
    variant: dict[str, Any] = field(default_factory=dict)


def read_index(folder: Path) -> tuple[list[Measurement], str]:
    """The measurements of ``folder``'s index and its notes (what the report adds below
    the table); one line naming the file and key if bad."""
    path = folder / INDEX
    source = str(path)
    data = load_yaml(read_text(path, source, what="an index of published measurements "
                               f"({INDEX})", limit=MAX_YAML_BYTES), source)
    root = Reader(source, "", data if data is not None else {})
    notes = root.take_str("notes", "")
    out = []
    for r in root.items("measurements"):
        conditions = r.child("conditions")
        cond = {"tasks": float(conditions.take_int("tasks", 1)),
                "slots": float(conditions.take_int("slots", 1)),
                "task_s": conditions.take_float("task_s", 0.0)}
        conditions.done()
        variant_r = r.child("variant", {})
        variant = {key: variant_r.raw(key) for key in variant_r.keys()}
        spread = r.take_float("spread", 0.0, default=None)
        out.append(Measurement(
            name=r.take_str("name"), scenario=folder / r.take_str("scenario"),
            platform=r.take_str("platform"), metric=r.take_choice("metric", METRICS),
            value=r.take_float("value", 0.0, exclusive_min=True), unit=r.take_str("unit"),
            source=r.take_str("source"), measured=r.take_str("measured"), conditions=cond,
            mechanism=r.take_str("mechanism", ""), spread=spread, variant=variant))
        r.done()
    root.done()
    return out, notes


def check_conditions(m: Measurement, scenario: Scenario) -> None:
    """The scenario states the measurement's conditions, or one line naming its file."""
    source = str(m.scenario)
    slots = sum(p.count * p.cores for p in scenario.cluster.pools)
    task_s = scenario.workload.duration.mean
    for key, got, want in (("platform.type", scenario.platform.type, m.platform),
                           ("workload.tasks", scenario.workload.tasks, m.conditions["tasks"]),
                           ("cluster.pools (count x cores)", slots, m.conditions["slots"])):
        if got != want:
            shown = f"{want:g}" if isinstance(want, float) else want
            raise InputError(source, key, f"{shown} (the conditions of {m.name} in {INDEX})",
                             got)
    if not math.isclose(task_s, m.conditions["task_s"], rel_tol=1e-6, abs_tol=1e-9):
        raise InputError(source, "workload.duration", f"a mean task time of "
                         f"{m.conditions['task_s']:g} s (the conditions of {m.name} in "
                         f"{INDEX})", f"{task_s:g} s")


def metric_of(m: Measurement, scenario: Scenario, makespan: float) -> float:
    """The metric as the source defines it, from one simulated makespan."""
    tasks = scenario.workload.tasks
    if m.metric == "throughput":
        return tasks / makespan
    busy = makespan - scenario.workload.duration.mean
    return tasks / busy if busy > 0 else math.inf


def simulate(m: Measurement, scenario: Scenario, replications: int) -> float:
    """Mean of the metric over ``replications`` simulated runs."""
    values = [metric_of(m, scenario, Simulation(scenario, r, keep_records=False)
                        .run().metrics["makespan_s"]) for r in range(replications)]
    return float(np.mean(values))


def compare(folder: Path, replications: int | None = None) -> dict[str, Any]:
    """Every measurement of ``folder``, simulated (and its variant), against its value."""
    rows = []
    measurements, notes = read_index(folder)
    for m in measurements:
        scenario = load_scenario(m.scenario)
        check_conditions(m, scenario)
        reps = replications or scenario.replications
        simulated = simulate(m, scenario, reps)
        row: dict[str, Any] = {
            "name": m.name, "platform": m.platform, "metric": m.metric, "unit": m.unit,
            "published": m.value, "published_sd": m.spread, "simulated": simulated,
            "relative_error": (simulated - m.value) / m.value, "replications": reps,
            "source": m.source, "measured": m.measured, "mechanism": m.mechanism,
            "scenario": m.scenario.as_posix(), "conditions": m.conditions}
        if m.variant:
            overrides = [f"{k}={v}" for k, v in m.variant.items()]
            varied = simulate(m, load_scenario(m.scenario, overrides), reps)
            row["variant"] = {"overrides": overrides, "simulated": varied,
                              "relative_error": (varied - m.value) / m.value}
        rows.append(row)
    return {"measurements": rows, "notes": notes}


def _rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def markdown(report: dict[str, Any], command: str) -> str:
    """The "Published numbers" section of docs/validation.md."""
    lines = [SECTION_BEGIN, "## Published numbers", "",
             f"Written by `{command}` from `scenarios/published/{INDEX}`: measurements "
             "others published of these platforms at scale, each simulated with a scenario "
             "that states its conditions (checked against the index before it runs); error "
             "= (simulated - published) / published. The variant is the same scenario with "
             "the mechanism named below changed.", "",
             "| measurement | platform | metric | published | simulated | error | variant "
             "| source |", "|---|---|---|---|---|---|---|---|"]
    for r in report["measurements"]:
        sd = f" ± {_rate(r['published_sd'])}" if r.get("published_sd") else ""
        variant = r.get("variant")
        varied = (f"{_rate(variant['simulated'])} ({100 * variant['relative_error']:+.0f}%; "
                  f"{', '.join('`' + o + '`' for o in variant['overrides'])})"
                  if variant else "-")
        lines.append(f"| {r['name']} | {r['platform']} | {r['metric']} ({r['unit']}) | "
                     f"{_rate(r['published'])}{sd} | {_rate(r['simulated'])} | "
                     f"{100 * r['relative_error']:+.0f}% | {varied} | [source]({r['source']}) |")
    lines.append("")
    for r in report["measurements"]:
        lines.append(f"- **{r['name']}**: {r['measured']}. Scenario `{r['scenario']}`."
                     + (f" Where they differ: {r['mechanism']}." if r["mechanism"] else ""))
    if report.get("notes"):
        lines += ["", report["notes"].strip()]
    lines.append(SECTION_END)
    return "\n".join(lines) + "\n"


def summary(report: dict[str, Any]) -> list[str]:
    """One plain line per measurement for the terminal."""
    return [f"{r['name']}: published {_rate(r['published'])} {r['unit']}, simulated "
            f"{_rate(r['simulated'])} ({100 * r['relative_error']:+.0f}%)"
            for r in report["measurements"]]


def insert_section(page: str, section: str) -> str:
    """``page`` with its published section replaced by ``section`` (appended if it has none)."""
    return sections.insert(page, section, SECTION_BEGIN, SECTION_END)


def section_of(page: str) -> str | None:
    """The published section of a page, if it has one."""
    return sections.find(page, SECTION_BEGIN, SECTION_END)
