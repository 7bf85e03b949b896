"""Traces and figures: a track per slot on every platform, named, with churn markers; a trace
per replication on request, cut with a note; completions.png with the deadline and churn; the
terminal shows what rich would otherwise swallow as markup."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from matplotlib.axes import Axes
from rich.console import Console

from schedsim import report
from schedsim.cli import main
from schedsim.loading import load_scenario
from schedsim.metrics import NodeEvent
from schedsim.runner import Summary, run_scenario
from schedsim.trace import NODE_TID, trace_document

from .conftest import REPO

SPOT = REPO / "scenarios" / "spot.yaml"  # 8-core nodes, Work Queue tasks of one core each
SMALL = ["workload.tasks=600", "cluster.pools.spot.count=6", "replications=2",
         "churn=[{pool: spot, lifetime: {dist: exponential, mean: 4min}, notice: 60s, "
         "replace_delay: 30s}]"]
PLATFORMS = ("ideal", "workqueue", "ray")


@pytest.fixture(scope="module")
def runs() -> dict[str, Summary]:
    return {p: run_scenario(load_scenario(SPOT, [*SMALL, f"platform.type={p}"]),
                            keep_records=True) for p in PLATFORMS}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_attempt_has_a_slot_of_its_own(runs: dict[str, Summary], platform: str) -> None:
    """No two attempts share a slot at once, so a trace's tracks nest; on Work Queue a
    worker's tasks spread over its eight one-core slots (they all sat on slot 0)."""
    for result in runs[platform].results:
        tracks: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
        for rec in result.log:
            if rec.node >= 0:
                tracks[(rec.node, rec.slot)].append((rec.start, rec.end))
        for spans in tracks.values():
            spans.sort()
            assert all(b[0] >= a[1] for a, b in zip(spans, spans[1:], strict=False))
        assert {slot for _, slot in tracks} == set(range(8))


@pytest.mark.parametrize("platform", PLATFORMS)
def test_recording_nodes_and_slots_changes_no_number(runs: dict[str, Summary],
                                                     platform: str) -> None:
    scenario = load_scenario(SPOT, [*SMALL, f"platform.type={platform}"])
    assert run_scenario(scenario, keep_records=False).data == runs[platform].data


@pytest.mark.parametrize("platform", PLATFORMS)
def test_trace_names_every_track_and_marks_the_churn(runs: dict[str, Summary],
                                                     platform: str) -> None:
    result = runs[platform].results[0]
    doc, cut = trace_document(result)
    assert cut is None and doc["otherData"]["attempts"] == len(result.log)
    events = doc["traceEvents"]
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
             if e["ph"] == "M" and e["name"] == "thread_name"}
    processes = {e["pid"]: e["args"]["name"] for e in events
                 if e["ph"] == "M" and e["name"] == "process_name"}
    slices = [e for e in events if e["ph"] == "X"]
    for e in slices:  # Perfetto reserves pid and tid 0: node n is n + 1, slot s is s + 1
        node = e["pid"] - 1
        assert processes[e["pid"]] == f"node {node} (spot)"
        if e["tid"] != NODE_TID:
            assert names[(e["pid"], e["tid"])] == f"slot {e['tid'] - 1}"
            assert (e["args"]["node"], e["args"]["slot"]) == (node, e["tid"] - 1)
        else:
            assert names[(e["pid"], e["tid"])] == "node"
    assert all(e["pid"] > 0 and (e["tid"] > 0 or e["name"].startswith("process_"))
               for e in events)
    assert len([e for e in slices if e["name"].startswith("task ")]) == len(result.log)
    # Slices of a track nest or follow each other, never overlap in part (Perfetto's rule).
    tracks: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
    for e in slices:
        tracks[(e["pid"], e["tid"])].append((e["ts"], e["ts"] + e["dur"]))
    for spans in tracks.values():
        spans.sort()
        assert all(b[0] >= a[1] - 1e-3 for a, b in zip(spans, spans[1:], strict=False))
    marks = [e for e in events if e["ph"] == "i"]
    assert assert_count(marks, "preempted") == result.metrics["preemptions"] > 0
    assert assert_count(marks, "notice") == len(result.nodes.times(NodeEvent.NOTICE)) > 0
    assert all(names[(e["pid"], e["tid"])] == "node" for e in marks)


def assert_count(marks: list[dict[str, Any]], name: str) -> int:
    return sum(1 for e in marks if e["name"] == name)


def test_a_long_replication_is_cut_and_says_so(runs: dict[str, Summary]) -> None:
    result = runs["workqueue"].results[0]
    doc, cut = trace_document(result, limit=50)
    assert cut is not None and (cut.kept, cut.total) == (50, len(result.log))
    assert "--trace-limit" in doc["otherData"]["cut"]
    events = doc["traceEvents"]
    assert sum(1 for e in events if e["name"].startswith("task ")) == 50
    (mark,) = [e for e in events if e["name"] == "trace cut here"]
    assert mark["ts"] == cut.until * 1e6 and mark["s"] == "g"
    run = [e for e in events if e["ph"] == "M" and e["pid"] == mark["pid"]]
    assert {"process_name": "run"}.items() <= {e["name"]: e["args"].get("name")
                                               for e in run}.items()
    assert all(e["ts"] < cut.until * 1e6 for e in events if e["ph"] in ("X", "i")
               and e["name"] != "trace cut here")


def test_run_traces_the_replications_asked_for(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    run = ["run", str(SPOT), *[w for o in SMALL for w in ("--set", o)], "--out", str(out)]
    assert main([*run, "--trace", "all", "--trace-limit", "100"]) == 0
    err = capsys.readouterr().err
    assert "trace.json holds the first 100 of" in err and "trace-1.json holds" in err
    assert "--trace-limit" in err
    for name in ("trace.json", "trace-1.json"):
        doc = json.loads((out / name).read_text())
        assert doc["otherData"]["attempts_in_trace"] == 100 and "cut" in doc["otherData"]
    assert main([*run, "--trace", "1"]) == 0
    assert not (out / "trace.json").exists()  # an earlier run's trace is not kept
    doc = json.loads((out / "trace-1.json").read_text())
    assert doc["otherData"]["replication"] == 1 and "cut" not in doc["otherData"]
    assert "holds the first" not in capsys.readouterr().err
    assert main([*run, "--trace", "none"]) == 0
    assert not list(out.glob("trace*.json"))


@pytest.mark.parametrize("args,words", [
    (["--trace", "2"], "--trace: expected all, none or replication numbers from 0 to 1"),
    (["--trace", "0,x"], "--trace: expected"),
    (["--deadline", "soon"], '--deadline: expected a duration > 0 such as "6h"'),
])
def test_bad_trace_flags_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      args: list[str], words: str) -> None:
    assert main(["run", str(SPOT), *[w for o in SMALL for w in ("--set", o)], "--out",
                 str(tmp_path), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err
    assert main(["run", str(SPOT), *args]) == 2  # without --out there is nothing to trace
    assert "expected --out DIR with it" in capsys.readouterr().err


def test_completions_show_the_deadline_and_the_churn(runs: dict[str, Summary], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    lines: list[float] = []
    points: list[tuple[float, float]] = []
    axvline, scatter = Axes.axvline, Axes.scatter

    def spy_line(self: Axes, x: float = 0, *args: Any, **kwargs: Any) -> Any:
        lines.append(x)
        return axvline(self, x, *args, **kwargs)

    def spy_scatter(self: Axes, x: Any, y: Any, *args: Any, **kwargs: Any) -> Any:
        points.extend(zip(x, y, strict=True))
        return scatter(self, x, y, *args, **kwargs)

    monkeypatch.setattr(Axes, "axvline", spy_line)
    monkeypatch.setattr(Axes, "scatter", spy_scatter)
    summary = runs["workqueue"]
    report.plot_completions(summary, tmp_path / "c.png", deadline=600.0)
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert 600.0 in lines
    churn = sorted((t, rep) for rep, r in enumerate(summary.results) if r.nodes is not None
                   for t in r.nodes.times(NodeEvent.NOTICE, NodeEvent.PREEMPTED))
    assert churn and sorted(points) == churn


def test_the_run_table_shows_brackets_rich_would_swallow() -> None:
    data = json.loads(json.dumps(run_scenario(load_scenario(
        SPOT, [*SMALL, "replications=1", "name=spot [small]"])).data))
    data["metrics"]["cost_per_1k_tasks_usd"]["ci95"] = [None, None]
    console = Console(record=True, width=200)
    report.print_summary(data, console)
    text = console.export_text()
    assert "[n/a, n/a]" in text and "spot [small] on workqueue" in text


def test_work_queue_slots_stay_apart_through_fast_abort_and_drain() -> None:
    """Slots come back from a cancelled attempt and a drained worker too: every slot of a
    two-core task on an eight-core worker is used, never by two attempts at once."""
    scenario = load_scenario(SPOT, [
        *SMALL[:2], "replications=1", "platform.workqueue.task_cores=2",
        "platform.workqueue.fast_abort=2", "workload.duration={dist: lognormal, mean: 30s, "
        "cv: 0.8}", "churn=[{pool: spot, lifetime: {dist: exponential, mean: 4min}, "
        "notice: 60s, replace_delay: 30s, on_notice: drain}]"])
    summary = run_scenario(scenario, keep_records=True)
    assert summary.data == run_scenario(scenario).data
    log = summary.results[0].log
    assert {rec.outcome.name for rec in log} >= {"DONE", "CANCELLED"}
    tracks: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
    for rec in log:
        tracks[(rec.node, rec.slot)].append((rec.start, rec.end))
    assert {slot for _, slot in tracks} == {0, 1, 2, 3}
    for spans in tracks.values():
        spans.sort()
        assert all(b[0] >= a[1] for a, b in zip(spans, spans[1:], strict=False))


def test_attempts_csv_holds_each_work_queue_slot(tmp_path: Path) -> None:
    """The ``slot`` column of attempts.csv is the record's slot (it was always 0 on Work
    Queue): every slot of the 8-core workers appears, and no slot runs two at once."""
    import csv

    out = tmp_path / "wq"
    assert main(["run", str(SPOT), *(f"--set={s}" for s in SMALL),
                 "--set=platform.type=workqueue", "--replications=1", "--out", str(out),
                 "-q"]) == 0
    with (out / "attempts.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if int(r["node"]) >= 0]
    assert {int(r["slot"]) for r in rows} == set(range(8))
    spans: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        spans[(r["node"], r["slot"])].append((float(r["start_s"]), float(r["end_s"])))
    for s in spans.values():
        s.sort()
        assert all(b[0] >= a[1] - 1e-6 for a, b in zip(s, s[1:], strict=False))
