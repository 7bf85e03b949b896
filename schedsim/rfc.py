"""The RFC at scale: Work Queue against Ray over scale, churn, task size, link and head market.

The RFC recommends Work Queue for a C++ bag of tasks on volatile pools although Ray won its
12-task local run. This sweep asks where that holds. Each point is one cluster: ``nodes``
one-core spot workers, 20 tasks per node of the real zfp task at size ``n`` (times from the
calibration profile; the compressed output, also from the profile, comes back to the manager
or driver), a churn level, a manager/head link, and the manager or head either on a
dedicated on-demand node or on a spot node of the pool. Both platforms run the same scenario,
seeds and churn; every metric is compared with its CI, and each region gets a verdict and the
mechanism behind it (from the bound and the failure reasons), with the validation error
carried along.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schedsim.calibration.profile import default_profile_path, load_profile, platform_defaults
from schedsim.report import better
from schedsim.runner import run_scenario
from schedsim.scenario import parse_scenario

TASKS_PER_NODE = 20
HORIZON = "7d"  # a job not done in a week counts as failed (and costs no more simulation)
CHURN: dict[str, list[dict[str, Any]]] = {
    "none": [],
    "band 5-10%": [{"pool": "spot", "band": "5-10%", "notice": "120s", "replace_delay": "60s"}],
    "band >20%": [{"pool": "spot", "band": ">20%", "notice": "120s", "replace_delay": "60s"}],
    "volatile": [{"pool": "spot", "notice": "120s", "replace_delay": "60s", "lifetime": {
        "dist": "hyperexponential", "phases": [{"p": 0.3, "mean": "20min"},
                                               {"p": 0.7, "mean": "8h"}]}}],
    "preemptible 24h": [{"pool": "spot", "band": "10-15%", "max_lifetime": "24h",
                         "notice": "30s", "replace_delay": "60s"}],
}


@dataclass(frozen=True)
class Grid:
    nodes: tuple[int, ...]
    churn: tuple[str, ...]
    n: tuple[int, ...]
    link_gbps: tuple[float, ...]
    head: tuple[str, ...]
    replications: int


QUICK = Grid(nodes=(10, 100), churn=("none", "volatile"), n=(200_000, 2_000_000_000),
             link_gbps=(10.0,), head=("on_demand", "spot"), replications=5)
FULL = Grid(nodes=(10, 100, 1000, 10_000), churn=tuple(CHURN), n=(200_000, 20_000_000,
            1_000_000_000), link_gbps=(1.0, 10.0, 100.0), head=("on_demand", "spot"),
            replications=3)  # 3: the 10,000-node points take minutes each


def output_bytes(n: int) -> float:
    """The task's compressed output (bytes) at the RFC's tolerance, from the profile's fit."""
    return round(load_profile(default_profile_path()).output_bytes(n, 1e-3))


def scenario_data(nodes: int, churn: str, n: int, link_gbps: float, head: str,
                  replications: int) -> dict[str, Any]:
    spot_head = head == "spot"
    return {
        "name": f"rfc-{nodes}-{churn}-{n}-{link_gbps:g}G-{head}",
        "seed": 2026, "replications": replications,
        "platform": {"type": "workqueue",
                     "workqueue": {"manager": {"pool": "spot"}} if spot_head else {},
                     "ray": {"head": {"pool": "spot"}, "max_pending": 100_000} if spot_head
                     else {"max_pending": 100_000}},
        "workload": {"tasks": TASKS_PER_NODE * nodes,
                     "duration": {"dist": "profile", "n": n, "tolerance": 1e-3},
                     # The compressed output comes back to the manager or driver.
                     "output_size": output_bytes(n), "executable_size": "35 KB"},
        "cluster": {"manager": {"price_per_hour": 0.34},
                    "pools": [{"name": "spot", "count": nodes, "market": "spot",
                               "price_per_hour": 0.0125,
                               "boot_time": {"dist": "lognormal", "mean": "60s", "cv": 0.3}}]},
        "churn": CHURN[churn],
        "network": {"manager": {"bandwidth": f"{link_gbps:g} Gbps", "latency": "0.5ms"},
                    "worker": {"bandwidth": "10 Gbps", "latency": "0.5ms"}},
        "horizon": HORIZON,
    }


def grid_points(grid: Grid) -> list[dict[str, Any]]:
    """Every point of the grid, in report order."""
    return [{"nodes": nodes, "churn": churn, "n": n, "link_gbps": link, "head": head}
            for nodes, churn, n, link, head in itertools.product(
                grid.nodes, grid.churn, grid.n, grid.link_gbps, grid.head)]


def run_point(point: dict[str, Any], replications: int) -> dict[str, Any]:
    """Both platforms on one point (same scenario, seeds and churn), and the verdict."""
    data = scenario_data(point["nodes"], point["churn"], point["n"], point["link_gbps"],
                         point["head"], replications)
    scenario = parse_scenario(data, f"<rfc {data['name']}>")
    summaries = {p: run_scenario(scenario.with_platform(p)).data
                 for p in ("workqueue", "ray")}
    return verdict(dict(point), summaries)


def _key(point: dict[str, Any]) -> str:
    return json.dumps([point[k] for k in ("nodes", "churn", "n", "link_gbps", "head")])


def load_cache(path: Path, replications: int) -> dict[str, dict[str, Any]]:
    """Rows already computed by an interrupted run with the same replications (by point).

    A line torn by a kill mid-write is ignored; its point runs again.
    """
    rows: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("replications") == replications:
            rows[_key(entry["row"])] = entry["row"]
    return rows


def run_grid(grid: Grid, on_point: Callable[[str], None] = lambda _s: None, *,
             jobs: int = 1, cache: Path | None = None) -> list[dict[str, Any]]:
    """Every point of the grid, ``jobs`` points at a time, resumable through ``cache``.

    Each finished point is appended to ``cache`` (JSON lines) at once; rerunning with the same
    cache skips the points already there. Rows come back in grid order whatever the order in
    which they finished, and a point's numbers do not depend on ``jobs``.
    """
    points = grid_points(grid)
    done = load_cache(cache, grid.replications) if cache is not None else {}
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        # A torn last line (killed mid-write) must not glue itself to the next row.
        if cache.exists() and cache.read_bytes()[-1:] not in (b"", b"\n"):
            with cache.open("a", encoding="utf-8") as f:
                f.write("\n")

    def finished(row: dict[str, Any]) -> None:
        done[_key(row)] = row
        if cache is not None:
            with cache.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"replications": grid.replications, "row": row}) + "\n")
                f.flush()
                os.fsync(f.fileno())
        on_point(scenario_data(row["nodes"], row["churn"], row["n"], row["link_gbps"],
                               row["head"], 1)["name"])

    for point in points:
        if _key(point) in done:
            on_point(scenario_data(point["nodes"], point["churn"], point["n"],
                                   point["link_gbps"], point["head"], 1)["name"])
    todo = [p for p in points if _key(p) not in done]
    if jobs <= 1:
        for point in todo:
            finished(run_point(point, grid.replications))
    else:
        # Largest points first, so that the last one to finish is a small one.
        todo.sort(key=lambda p: -p["nodes"])
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            pending = {pool.submit(run_point, p, grid.replications) for p in todo}
            while pending:
                ready, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in ready:
                    finished(future.result())
    return [done[_key(p)] for p in points]


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _groups(rows: list[dict[str, Any]], keys: tuple[str, ...]
            ) -> list[tuple[tuple[Any, ...], list[dict[str, Any]]]]:
    """Rows grouped by ``keys``, in the order the groups first appear."""
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return list(out.items())


def plain_answer(rows: list[dict[str, Any]]) -> list[str]:
    """The verdict in words, counted from the rows (nothing here is written by hand)."""
    def count(metric: str, who: str) -> int:
        return sum(1 for r in rows if r[f"winner_{metric}"] == who)

    volatile = [r for r in rows if r["churn"] != "none"]
    fewer_wq = sum(1 for r in volatile if r["winner_failures"] == "workqueue")
    fewer_ray = sum(1 for r in volatile if r["winner_failures"] == "ray")
    short = [r for r in rows if r["nodes"] >= 1000 and r["n"] == min(x["n"] for x in rows)]
    return ["## The answer", "",
            "- Throughput: Work Queue is ahead beyond the CIs at "
            f"{count('throughput', 'workqueue')} of {len(rows)} points, Ray at "
            f"{count('throughput', 'ray')}; the rest are ties.",
            f"- Cost per 1,000 tasks: Work Queue cheaper at {count('cost', 'workqueue')} points, "
            f"Ray at {count('cost', 'ray')}.",
            f"- Failed tasks under churn ({len(volatile)} points with churn): Work Queue fails "
            f"fewer at {fewer_wq}, Ray at {fewer_ray}. The RFC's reason for Work Queue, "
            "robustness on volatile pools, " + ("does not show in these models: both lose "
            "the same tasks to the same churn, and both fail the whole job when the manager "
            "or head is on a spot node that is reclaimed." if fewer_wq <= fewer_ray else
            "shows at these points."),
            f"- Short tasks on 1,000+ nodes ({len(short)} points): median Work Queue / Ray "
            f"throughput {_median([r['throughput_ratio_wq_over_ray'] for r in short]):.2f}, "
            "where Work Queue's single manager, which dispatches and retrieves one task at a "
            "time, is the bottleneck." if short else "",
            ""]


def _mean(s: dict[str, Any], metric: str) -> float:
    value = s["metrics"][metric]["mean"]
    return float(value) if value is not None else math.nan


def verdict(point: dict[str, Any], s: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Winners per metric (CIs apart), ratios, and the mechanism that explains the gap."""
    wq, ray = s["workqueue"], s["ray"]
    row = dict(point)
    for metric in ("throughput_tasks_per_s", "cost_per_1k_tasks_usd", "tasks_failed",
                   "makespan_s", "wasted_core_s"):
        row[f"wq_{metric}"] = _mean(wq, metric)
        row[f"ray_{metric}"] = _mean(ray, metric)
    row["throughput_ratio_wq_over_ray"] = row["wq_throughput_tasks_per_s"] / \
        row["ray_throughput_tasks_per_s"] if row["ray_throughput_tasks_per_s"] else math.nan
    row["cost_ratio_wq_over_ray"] = row["wq_cost_per_1k_tasks_usd"] / \
        row["ray_cost_per_1k_tasks_usd"] if row["ray_cost_per_1k_tasks_usd"] else math.nan
    tasks = TASKS_PER_NODE * point["nodes"]
    row["wq_failed_fraction"] = row["wq_tasks_failed"] / tasks
    row["ray_failed_fraction"] = row["ray_tasks_failed"] / tasks
    for metric, short in (("throughput_tasks_per_s", "throughput"),
                          ("cost_per_1k_tasks_usd", "cost"), ("tasks_failed", "failures")):
        direction = "higher" if metric == "throughput_tasks_per_s" else "lower"
        row[f"winner_{short}"] = better(s, metric, direction) or "-"
    row["wq_binding"] = wq["bound"]["binding"]
    row["ray_binding"] = ray["bound"]["binding"]
    row["wq_bound"] = wq["bound"]["throughput_tasks_per_s"]
    row["ray_bound"] = ray["bound"]["throughput_tasks_per_s"]
    row["wq_failures"] = sorted({f.split(" at ")[0] for f in wq["failures"] if f})
    row["ray_failures"] = sorted({f.split(" at ")[0] for f in ray["failures"] if f})
    row["why"] = mechanism(row)
    return row


def _link_cap(row: dict[str, Any], serial: bool = False) -> float:
    """Tasks/s at which the manager's or head's link can bring outputs back (inf if unknown);
    ``serial``: one file at a time, each capped by a worker's 10 Gbps link (Work Queue)."""
    if "n" not in row or "link_gbps" not in row:
        return math.inf
    gbps = min(row["link_gbps"], 10.0) if serial else row["link_gbps"]
    return gbps * 1e9 / 8 / output_bytes(row["n"])


def mechanism(row: dict[str, Any]) -> str:
    reasons = []
    cap = _link_cap(row)
    if row["wq_throughput_tasks_per_s"] >= 0.8 * cap and \
            row["ray_throughput_tasks_per_s"] >= 0.8 * cap:
        reasons.append("both are limited by the link that brings every output back to the "
                       "manager or driver")
    if any("head node lost" in f for f in row["ray_failures"]):
        reasons.append("Ray head-node loss fails the job")
    if any("manager node lost" in f for f in row["wq_failures"]):
        reasons.append("Work Queue manager-node loss fails the job")
    if row["ray_failed_fraction"] > 0 and not row["ray_failures"]:
        reasons.append("Ray retry limit (max_retries) exhausted by node losses")
    # A bound explains a gap only when the loser actually runs close to it.
    if row["winner_throughput"] == "ray" and row["wq_binding"] == "manager" and \
            row["wq_throughput_tasks_per_s"] >= 0.8 * row.get("wq_bound", math.inf):
        serial_cap = _link_cap(row, serial=True)
        staging = 1.0 / serial_cap if math.isfinite(serial_cap) else 0.0
        per_task = 1.0 / row["wq_bound"] if row.get("wq_bound") else 0.0
        if per_task and staging > 0.5 * per_task:
            reasons.append("Work Queue's serial manager stages every output through its "
                           "link one file at a time, which caps throughput")
        else:
            reasons.append("Work Queue's serial manager (dispatch and retrieval) caps "
                           "throughput")
    if row["winner_throughput"] == "workqueue" and row["ray_binding"] == "driver" and \
            row["ray_throughput_tasks_per_s"] >= 0.8 * row.get("ray_bound", math.inf):
        reasons.append("Ray's driver submission rate caps throughput")
    if not reasons and row["wq_wasted_core_s"] > 1.5 * row["ray_wasted_core_s"] + 1:
        reasons.append("Work Queue kills running tasks at the notice; Ray drains")
    if not reasons and row["winner_throughput"] == "ray":
        reasons.append("Ray's start-up and per-task costs are lower here")
    if not reasons and row["winner_throughput"] == "workqueue":
        reasons.append("Ray's per-task lease and worker start-up (fitted here, provisional) "
                       "cost more than Work Queue's dispatch")
    return "; ".join(reasons) or "no difference beyond the CIs"


def heatmaps(rows: list[dict[str, Any]], path: Path) -> None:
    """Throughput ratio, cost ratio and failed fraction over nodes x task size, per churn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    churns = list(dict.fromkeys(r["churn"] for r in rows))
    nodes = sorted({r["nodes"] for r in rows})
    sizes = sorted({r["n"] for r in rows})
    panels = [("throughput_ratio_wq_over_ray", "throughput WQ/Ray"),
              ("cost_ratio_wq_over_ray", "cost per 1k tasks WQ/Ray"),
              ("ray_failed_fraction", "Ray failed fraction")]
    fig, axes = plt.subplots(len(churns), len(panels), figsize=(4.2 * len(panels),
                                                                3.2 * len(churns)),
                             squeeze=False)
    for i, churn in enumerate(churns):
        for j, (key, title) in enumerate(panels):
            grid = np.full((len(sizes), len(nodes)), np.nan)
            for yi, n in enumerate(sizes):
                for xi, k in enumerate(nodes):
                    vals = [r[key] for r in rows if r["churn"] == churn and r["n"] == n
                            and r["nodes"] == k and r[key] == r[key]]
                    if vals:
                        grid[yi, xi] = float(np.mean(vals))
            ax = axes[i][j]
            log = "ratio" in key
            shown = np.log2(grid) if log else grid
            im = ax.imshow(shown, origin="lower", cmap="RdBu" if log else "Reds",
                           vmin=-2 if log else 0, vmax=2 if log else 1, aspect="auto")
            if log and np.isfinite(shown).sum() > 1 and len(nodes) > 1 and len(sizes) > 1:
                ax.contour(shown, levels=[0], colors="k", linewidths=1)  # the crossover
            for yi in range(len(sizes)):
                for xi in range(len(nodes)):
                    if np.isfinite(grid[yi, xi]):
                        ax.text(xi, yi, f"{grid[yi, xi]:.2g}", ha="center", va="center",
                                fontsize=7)
            ax.set_xticks(range(len(nodes)), [str(k) for k in nodes])
            ax.set_yticks(range(len(sizes)), [f"{n:.0e}" for n in sizes])
            ax.set_xlabel("nodes")
            ax.set_ylabel("n (values per task)")
            ax.set_title(f"{title}\nchurn: {churn}", fontsize=9)
            fig.colorbar(im, ax=ax, shrink=0.8,
                         label="log2 ratio (>0: WQ higher)" if log else "fraction")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def report(rows: list[dict[str, Any]], plot_name: str, validation: dict[str, Any] | None,
           quick: bool) -> str:
    holds = [r for r in rows if r["winner_throughput"] != "ray" and r["winner_failures"] != "ray"
             and r["winner_cost"] != "ray"]
    fails = [r for r in rows if r not in holds]
    lines = ["# The RFC at scale", "",
             "Written by `schedsim rfc" + (" --quick" if quick else "") + " --out docs`; edit "
             "`schedsim/rfc.py`, not this file.", "",
             "The RFC recommends Work Queue for a C++ bag of tasks on volatile pools. Each "
             "point below runs the same scenario, seeds and churn on both platforms "
             f"({TASKS_PER_NODE} tasks per node, one-core spot workers, task "
             "times from the calibration profile, platform overheads fitted on this host). A "
             "platform wins a metric only where the 95% CIs do not overlap.", "",
             f"**Where the recommendation holds** (Work Queue at least as good on throughput, "
             f"cost and failures): {len(holds)} of {len(rows)} points. **Where it fails**: "
             f"{len(fails)} points.", ""]
    lines += plain_answer(rows)
    lines += ["## By scale and task size", "",
              "| nodes | n | points | Ray wins throughput | WQ wins throughput | tie "
              "| WQ/Ray throughput: median (min-max) |", "|---|---|---|---|---|---|---|"]
    for (nodes, n), group in _groups(rows, ("nodes", "n")):
        ratios = [r["throughput_ratio_wq_over_ray"] for r in group]
        won = [r["winner_throughput"] for r in group]
        lines.append(f"| {nodes} | {n:.0e} | {len(group)} | {won.count('ray')} | "
                     f"{won.count('workqueue')} | {won.count('-')} | "
                     f"{_median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |")
    lines += ["", "## By churn and where the manager or head runs", "",
              "| churn | head | points | failed tasks WQ (mean) | failed tasks Ray (mean) "
              "| Ray fails fewer | WQ fails fewer |", "|---|---|---|---|---|---|---|"]
    for (churn, head), group in _groups(rows, ("churn", "head")):
        won = [r["winner_failures"] for r in group]
        wq = sum(r["wq_failed_fraction"] for r in group) / len(group)
        ray = sum(r["ray_failed_fraction"] for r in group) / len(group)
        lines.append(f"| {churn} | {head} | {len(group)} | {wq:.1%} | {ray:.1%} | "
                     f"{won.count('ray')} | {won.count('workqueue')} |")
    lines += ["", "## Every point", ""]
    lines += ["| nodes | churn | n | link | head | throughput WQ/Ray | cost WQ/Ray | failed WQ "
              "| failed Ray | winner: throughput / cost / failures | why |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['nodes']} | {r['churn']} | {r['n']:.0e} | {r['link_gbps']:g} "
                     f"Gbps | {r['head']} | {r['throughput_ratio_wq_over_ray']:.2f} | "
                     f"{r['cost_ratio_wq_over_ray']:.2f} | {r['wq_failed_fraction']:.1%} | "
                     f"{r['ray_failed_fraction']:.1%} | {r['winner_throughput']} / "
                     f"{r['winner_cost']} / {r['winner_failures']} | {r['why']} |")
    why: dict[str, int] = {}
    for r in fails:
        why[r["why"]] = why.get(r["why"], 0) + 1
    lines += ["", "## Why it fails where it fails", ""]
    lines += [f"- {reason}: {count} point(s)" for reason, count in
              sorted(why.items(), key=lambda kv: -kv[1])] or ["- (nowhere in this grid)"]
    lines += ["", "## How sure we are", ""]
    if validation:
        for platform, o in validation.get("overall", {}).items():
            lines.append(f"- {platform}: validation on this host gives a median absolute "
                         f"makespan error of {100 * o['median_abs_error']:.0f}% and P95 "
                         f"{100 * o['p95_abs_error']:.0f}% ({o['bias']}); a throughput ratio "
                         "within that band of 1 is not a real difference."
                         + (f" Given the task times measured live, the platform model alone "
                            f"is within {100 * o['platform_model']['median_abs_error']:.0f}% "
                            f"(median) and {100 * o['platform_model']['p95_abs_error']:.0f}% "
                            "(P95)." if o.get("platform_model") else ""))
    else:
        lines.append("- no validation report found (docs/validation.json)")
    late = [r for r in rows
            if any("horizon" in (f or "") for f in r["wq_failures"] + r["ray_failures"])]
    if late:
        shapes = sorted({f"{r['nodes']} nodes, n = {r['n']:.0e}, {r['link_gbps']:g} Gbps"
                         for r in late})
        lines.append(f"- {len(late)} point(s) reached the {HORIZON} horizon ({'; '.join(shapes)})"
                     ": their outputs cannot cross the manager's or head's link within it on "
                     "either platform, so their unfinished tasks count as failed; they account "
                     "for the failed tasks of the churn-free rows above.")
    ray = platform_defaults("ray")
    wq = platform_defaults("workqueue")
    lines += ["- Platform overheads come from this 2-core host (docs/calibration.md): Ray's "
              f"lease {1e3 * ray.get('lease_latency', math.nan):.1f} ms and launch "
              f"{1e3 * ray.get('task_launch_time', math.nan):.1f} ms a task, worker "
              f"start {ray.get('worker_start_time', math.nan):.2f} s; Work Queue's dispatch "
              f"{1e6 * wq.get('dispatch_time', math.nan):.0f} us, launch "
              f"{1e3 * wq.get('task_launch_time', math.nan):.1f} ms and retrieval "
              f"{1e3 * wq.get('retrieval_time', math.nan):.2f} ms a task plus the output's "
              "transfer. Work Queue's serial manager decides the short-task points at 1,000+ "
              "nodes, and its per-task costs were measured on loopback with small files: a "
              "real manager on a real network is unlikely to be faster, so the direction of "
              "those verdicts is robust, their size less so.",
              "- Validation covers sub-second runs on one 2-core host; projections at 1,000+ "
              "nodes rest on the models' mechanisms (docs/models.md), not on measurements "
              "at that scale.", "", f"![heatmaps]({plot_name})", ""]
    return "\n".join(lines)


VALIDATION_JSON = Path(__file__).resolve().parents[1] / "docs" / "validation.json"


def load_validation(path: Path = VALIDATION_JSON) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None
