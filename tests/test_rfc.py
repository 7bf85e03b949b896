"""The RFC study on tiny grids: runs through the sweep machinery, resumes, corners move the
right parameters, and the report's words are the rows' own."""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from schedsim.errors import InputError
from schedsim.loading import load_scenario
from schedsim.metrics import METRICS
from schedsim.studies import jobs, rfc, rfc_report
from schedsim.studies.jobs import COLUMNS
from schedsim.studies.rows import StudyRow
from schedsim.verdict import TIE

TINY = rfc.Grid(nodes=(5,), replications=2,
                only=((5, "long", "storage", "abrupt"), (5, "short", "manager", "none")),
                heads=("on_demand",))


def test_tiny_grid_writes_report_plots_and_verdicts(tmp_path: Path) -> None:
    study = rfc.run_study(TINY, tmp_path)
    rows = study["rows"]
    assert [(r["task"], r["churn"]) for r in rows] == [("short", "none"), ("long", "abrupt")]
    for row in rows:
        assert set(row["winners"]) >= {"throughput", "cost", "out_of_retries"}
        assert all(w in ("workqueue", "ray", TIE) for w in row["winners"].values())
        assert "winners_corner_workqueue" in row and "winners_corner_ray" in row
    assert "out_of_retries_unlimited" in rows[1]["winners"]  # churn: Ray -1 runs too
    rfc_report.heatmaps(rows, tmp_path / "h.png")
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
    text = rfc_report.report(study, "h.png", None, "schedsim rfc --test")
    assert "## The answer" in text and "## By region" in text
    assert "## How sure we are" in text and "### The uncertain parameters" in text
    wins = sum(1 for r in rows if r["winners"]["throughput"] == "workqueue")
    assert f"Work Queue better at {wins} (" in text
    assert text.count("\n| 5 |") == 2


def test_runs_resume_after_a_kill_with_the_same_study(tmp_path: Path) -> None:
    grid = dataclasses.replace(TINY, only=((5, "short", "manager", "none"),))
    first = rfc.run_study(grid, tmp_path / "a")
    runs = tmp_path / "a" / "rfc-runs.csv"
    lines = runs.read_text().splitlines(keepends=True)
    runs.write_text("".join(lines[:4]) + lines[4][:30])  # killed while writing a row
    seen: list[tuple[int, int]] = []
    again = rfc.run_study(grid, tmp_path / "a", workers=2,
                          on_job=lambda d, t: seen.append((d, t)))
    assert again == first  # same numbers, serial or in two processes
    assert seen[0] == (3, seen[0][1])  # three rows were kept, the torn one ran again


@pytest.mark.parametrize("point", rfc.grid_points(rfc.FULL)[::7])
def test_every_point_is_a_valid_scenario(point: rfc.Point, tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(rfc.base_scenario_text())
    params = rfc.uncertain_params()
    for variant in rfc.variants(point):
        s = load_scenario(base, rfc.point_overrides(point) + variant.overrides(params))
        assert s.workload.tasks == point.tasks
        assert (s.churn[0].on_notice if s.churn else "-") in (point.glue, "shutdown")


def test_corners_move_every_parameter_to_the_end_that_favours_one_platform() -> None:
    params = rfc.uncertain_params()
    wq, ray = rfc.corner(params, "workqueue"), rfc.corner(params, "ray")
    for p in params:
        assert p.low < p.nominal < p.high or p.low <= p.nominal <= p.high
        assert wq[p.name] == (p.low if p.wq_likes == "low" else p.high)
        assert ray[p.name] == (p.high if p.wq_likes == "low" else p.low)
    lat = next(p for p in params if p.name == "link latency")
    ov = rfc.Variant("workqueue", "corner:ray").overrides(params)
    assert f"network.manager.latency={lat.high!r}" in ov
    assert f"network.worker.latency={lat.high!r}" in ov
    assert rfc.Variant("ray_unlimited", "nominal").overrides(params) == \
        ["platform.type=ray", "platform.ray.max_retries=-1"]


# Where a hand-written row is (its place does not enter the checks that read it).
POINT = {"nodes": 100, "task": "short", "sink": "manager", "churn": "none", "glue": "-",
         "head": "on_demand", "tasks": 2000}


def _row(**winners: Any) -> StudyRow:
    return StudyRow.from_json({
        **POINT, "winners": {"throughput": "ray", "cost": TIE},
        "winners_corner_workqueue": {"throughput": "ray", "cost": TIE},
        "winners_corner_ray": {"throughput": "ray", "cost": TIE}, **winners})


def _mechanism(row: dict[str, Any]) -> str:
    return rfc.mechanism(StudyRow.from_json({**POINT, **row}))


def test_robustness_and_the_parameters_that_flip_a_verdict() -> None:
    steady = _row()
    assert rfc.robust(steady, "throughput") and rfc.robust(steady, "cost")
    flip = _row(winners_corner_workqueue={"throughput": TIE, "cost": TIE},
                oat={"wq scan_time_per_worker=low": {"throughput": TIE, "cost": TIE},
                     "link latency=low": {"throughput": "ray", "cost": TIE}})
    assert not rfc.robust(flip, "throughput") and rfc.robust(flip, "cost")
    assert rfc.flipping_corners(flip, "throughput") == ["workqueue"]
    assert rfc.flipped_by(flip, "throughput") == ["wq scan_time_per_worker"]


def test_a_limit_is_named_only_where_the_loser_runs_near_it() -> None:
    row = {"winners": {"throughput": "ray", "out_of_retries": TIE}, "wq_bound": 100.0,
           "wq_throughput": 95.0, "wq_binding": "manager", "ray_bound": 1e4,
           "ray_throughput": 150.0, "ray_binding": "cores", "wq_job_lost_manager": 0,
           "ray_job_lost_manager": 0, "wq_job_hit_horizon": 0, "ray_job_hit_horizon": 0}
    assert "Work Queue is held by its serial manager (95% of its limit)" in _mechanism(row)
    assert _mechanism(dict(row, wq_throughput=40.0)) == ""
    churned = dict(row, wq_throughput=40.0, wq_wasted_core_s=36000.0, ray_wasted_core_s=3600.0)
    assert _mechanism(churned) == "Work Queue loses more work to node losses (10 core-h " \
        "against 1 for Ray)"
    lost = dict(row, winners={"throughput": TIE, "out_of_retries": "workqueue"})
    assert "max_retries" in _mechanism(lost)


def test_points_no_platform_could_finish_are_left_out_by_the_bound() -> None:
    out = rfc.infeasible_points(rfc.FULL)
    assert out and all(rfc.link_floor_s(p) > rfc.HORIZON_S for p in out)
    assert all(p.sink == "manager" for p in out)  # a 2 kB summary never fills the link
    kept = rfc.grid_points(rfc.FULL)
    assert not set(out) & set(kept)
    assert all(rfc.link_floor_s(p) <= rfc.HORIZON_S for p in kept)


def test_runs_of_another_model_are_moved_aside_not_mixed(tmp_path: Path) -> None:
    grid = dataclasses.replace(TINY, only=((5, "short", "manager", "none"),))
    rfc.run_study(grid, tmp_path)
    stamp = tmp_path / "rfc-runs.fingerprint"
    stamp.write_text("another model\n")
    rows = (tmp_path / "rfc-runs.csv").read_text()
    rfc.run_study(grid, tmp_path)
    assert (tmp_path / "rfc-runs.csv.stale").read_text() == rows  # kept, not reused
    assert stamp.read_text().strip() == rfc.model_fingerprint()


def test_attribution_steps_change_one_thing_each() -> None:
    models = rfc.attribution_overrides(100, 20_000_000, "models")
    assert "network.manager.latency=0.5ms" in models
    half = rfc.attribution_overrides(100, 20_000_000, "models, half duplex")
    assert set(half) - set(models) == {"network.manager.duplex=half",
                                       "network.worker.duplex=half"}
    scan = rfc.attribution_overrides(100, 20_000_000, "models, no scan")
    assert set(scan) - set(models) == {"platform.workqueue.scan_time_per_worker=0"}
    fast = rfc.attribution_overrides(100, 20_000_000, "+ latency 0.1 ms")
    storage = rfc.attribution_overrides(100, 20_000_000, "+ storage")
    assert len(set(fast) - set(models)) == 2 and len(set(storage) - set(fast)) == 1


def test_cli_runs_one_slice(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "schedsim", "rfc", "--quick", "--nodes", "20",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "rfc-at-scale.md").read_text()
    assert f"Written by `schedsim rfc --quick --nodes 20 --out {tmp_path}` (a slice of the " \
        "study: nodes 20)" in text
    every = text.split("## Every point")[1]
    assert "\n| 20 |" in every and "\n| 2000 |" not in every
    # The terminal gets the answer's counts and the files, not the report.
    assert "2 points: the RFC's recommendation holds at" in proc.stdout
    assert "|" not in proc.stdout and "**" not in proc.stdout and "## " not in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "schedsim", "rfc", "--quick", "--nodes", "7",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "--nodes" in bad.stderr and "Traceback" not in bad.stderr


def test_a_study_on_ray_gives_the_serial_rows(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    grid = dataclasses.replace(TINY, only=((5, "long", "storage", "abrupt"),))
    serial = rfc.run_study(grid, tmp_path / "serial")
    on_ray = rfc.run_study(grid, tmp_path / "ray", use_ray=True)
    assert on_ray == serial


def test_quick_grid_has_a_win_for_each_platform(tmp_path: Path) -> None:
    study = rfc.run_study(rfc.QUICK, tmp_path, workers=2)
    winners = {w for r in study["rows"] for w in r["winners"].values()}
    assert {"workqueue", "ray"} <= winners


RUN_ROW = ["0", "0", json.dumps(["workload.tasks=10", "platform.type=ray"]), ""] + \
    ["1.0"] * len(METRICS)


@pytest.mark.parametrize("header,row,words", [
    (COLUMNS[:-1], RUN_ROW[:-1], "line 1: expected the header of a results file"),
    (["x" + COLUMNS[0]] + COLUMNS[1:], RUN_ROW, "line 1: expected the header"),
    (COLUMNS, RUN_ROW[:-2], f"line 2: expected a results row of {len(COLUMNS)} cells"),
    (COLUMNS, RUN_ROW[:1] + ["x"] + RUN_ROW[2:], "line 2 replication: expected an integer"),
    (COLUMNS, RUN_ROW[:2] + ["5"] + RUN_ROW[3:], "line 2 overrides: expected a JSON list"),
    (COLUMNS, RUN_ROW[:2] + ["[1]"] + RUN_ROW[3:], "line 2 overrides: expected a JSON list"),
    (COLUMNS, RUN_ROW[:2] + ["{"] + RUN_ROW[3:], "line 2 overrides: expected a JSON list"),
    (COLUMNS, RUN_ROW[:-1] + ["fast"], "line 2 job_hit_horizon: expected a number"),
])
def test_malformed_runs_are_one_line(tmp_path: Path, header: list[str], row: list[str],
                                     words: str) -> None:
    with (tmp_path / "rfc-runs.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([header, row, RUN_ROW])  # a good row last: not a torn one
    (tmp_path / "rfc-runs.fingerprint").write_text(rfc.model_fingerprint() + "\n")
    with pytest.raises(InputError) as info:
        rfc.run_study(TINY, tmp_path)
    assert f"{tmp_path / 'rfc-runs.csv'}: {words}" in info.value.line
    assert "\n" not in info.value.line


def test_the_fingerprint_covers_the_model_code_only() -> None:
    """A change to the command line or a study's bookkeeping leaves the recorded runs valid;
    a change to the model, a platform or the runtime profile reader makes them stale."""
    for name in ("platforms/ray/raylet.py", "model/engine.py", "simulation.py", "scenario.py",
                 "runner.py", "watch.py", "calibration/profile.py"):
        assert rfc._runs_the_model(Path(name)), name
    for name in ("cli.py", "cli_args.py", "outputs.py", "live/run.py", "calibration/fit.py",
                 "calibration/scale_fit.py", "trace.py", "studies/sweep.py", "studies/jobs.py",
                 "studies/rfc_report.py", "studies/plan_report.py", "studies/proportion.py"):
        assert not rfc._runs_the_model(Path(name)), name


def test_the_fingerprint_hashes_the_model_files_of_the_whole_package() -> None:
    files = {p.as_posix() for p in rfc.model_files()}
    assert {"simulation.py", "model/engine.py", "platforms/ray/raylet.py",
            "calibration/profile.py"} <= files
    assert not any(f.startswith(("studies/", "live/")) for f in files)


def test_a_slice_restricts_its_axes_and_names_a_bad_value() -> None:
    one = rfc.slice_grid(rfc.FULL, nodes=[1000], churn=["notice"])
    assert (one.nodes, one.churn, one.sliced) == ((1000,), ("notice",), ("nodes", "churn"))
    assert one.attribution == ()  # the previous report's points have no churn
    # Its regions' smaller scales run too (not reported): they choose the sensitivity point.
    assert one.context_nodes == (100,) and rfc.slice_grid(rfc.FULL, nodes=[100]).context_nodes \
        == () and rfc.slice_grid(rfc.FULL, churn=["none"]).context_nodes == ()
    scale = rfc.slice_grid(rfc.FULL, nodes=[1000, 100])
    assert scale.nodes == (100, 1000)
    assert scale.attribution and {n for n, _ in scale.attribution} == {100, 1000}
    assert rfc.slice_grid(rfc.FULL) == rfc.FULL
    with pytest.raises(InputError) as info:
        rfc.slice_grid(rfc.QUICK, churn=["zone"])
    assert info.value.line == "--churn: expected one of none, abrupt, got 'zone'"


def _rows(folder: Path) -> dict[tuple[str, str], dict[str, str]]:
    with (folder / "rfc-runs.csv").open(newline="") as fh:
        return {(r["overrides"], r["replication"]): {k: v for k, v in r.items() if k != "point"}
                for r in csv.DictReader(fh)}


def test_a_slice_gives_the_study_rows_and_keeps_out_of_its_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from schedsim.report import json_text

    study = rfc.run_study(TINY, tmp_path / "all")
    (tmp_path / "all" / "rfc.json").write_text(json_text(study))
    before = (tmp_path / "all" / "rfc-runs.csv").read_bytes()
    part = rfc.slice_grid(TINY, tasks=["long"])
    with pytest.raises(InputError) as info:  # it would replace the whole study's report
        rfc.run_study(part, tmp_path / "all")
    assert info.value.line.startswith(f"--out {tmp_path / 'all'}: expected a folder without")
    alone = rfc.run_study(part, tmp_path / "alone")
    assert [r["task"] for r in alone["rows"]] == ["long"]
    assert alone["rows"] == [r for r in study["rows"] if r["task"] == "long"]
    assert _rows(tmp_path / "alone").items() <= _rows(tmp_path / "all").items()

    def nothing_to_run(_base: str, jobs: list[Any], **_kwargs: Any) -> None:
        assert not jobs, "every run of the slice was in the cache"

    monkeypatch.setattr(jobs, "execute", nothing_to_run)  # the runner rfc uses
    cached = rfc.run_study(part, tmp_path / "cached", runs_from=tmp_path / "all")
    assert cached == alone
    assert (tmp_path / "all" / "rfc-runs.csv").read_bytes() == before  # read, not written
    (tmp_path / "all" / "rfc-runs.fingerprint").write_text("another model\n")
    with pytest.raises(InputError) as info:
        rfc.run_study(part, tmp_path / "other", runs_from=tmp_path / "all")
    assert info.value.line.startswith(f"--runs-from {tmp_path / 'all'}: expected runs made by")


def test_a_slice_report_says_what_it_covers_and_the_terminal_gets_counts() -> None:
    study = {"grid": {"nodes": [1000], "churn": ["notice"], "sliced": ["nodes", "churn"]},
             "rows": [], "params": []}
    text = rfc_report.report(study, "h.png", None, "schedsim rfc --nodes 1000 --churn notice")
    assert "Written by `schedsim rfc --nodes 1000 --churn notice` (a slice of the study: " \
        "nodes 1,000; churn notice); edit" in text
    whole = rfc_report.report({**study, "grid": {"nodes": [1000]}}, "h.png", None, "x")
    assert "Written by `x`; edit" in whole


def _heat_row(nodes: int, task: str, ratio: float, gap: int, win: str) -> dict[str, Any]:
    return {"nodes": nodes, "task": task, "sink": "storage", "churn": "none", "glue": "-",
            "head": "on_demand", "tasks": 100, "throughput_ratio": ratio, "cost_ratio": ratio,
            "wq_out_of_retries": 0, "ray_out_of_retries": gap,
            "winners": {"throughput": win, "cost": win, "out_of_retries": TIE}}


def test_heatmaps_centre_their_colours_on_even_and_label_every_cell(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One colour meaning: a ratio of 1 and a gap of 0 sit at the middle (white) of the
    diverging map, the bars say which side is Work Queue's, a cell shows its value and
    winner, and a point not run is marked, not left white like a tie."""
    from matplotlib.figure import Figure

    figures: list[Figure] = []
    save = Figure.savefig

    def keep(fig: Figure, *args: Any, **kwargs: Any) -> None:
        figures.append(fig)
        save(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    rows = [_heat_row(100, "short", 0.5, 0, "ray"), _heat_row(1000, "short", 1.0, 0, TIE),
            _heat_row(100, "long", 2.0, 10, "workqueue")]
    rfc_report.heatmaps(rows, tmp_path / "h.png")
    (fig,) = figures
    images = [im for ax in fig.axes for im in ax.get_images()]
    assert len(images) == 3
    assert [float(im.norm(1.0)) for im in images[:2]] == [0.5, 0.5]
    assert float(images[2].norm(0.0)) == 0.5
    assert float(images[0].norm(2.0)) > 0.5 > float(images[0].norm(0.5))  # symmetric in log
    assert float(images[0].norm(2.0)) + float(images[0].norm(0.5)) == pytest.approx(1.0)
    labels = " ".join(ax.get_xlabel() for ax in fig.axes)
    assert "> 1: Work Queue faster" in labels and "> 1: Work Queue cheaper" in labels
    assert "> 0: Work Queue loses fewer" in labels
    cells = [t.get_text() for t in fig.axes[0].texts]
    assert cells.count("not run") == 1 and "0.50 Ray" in cells and "2.00 WQ" in cells
    assert "1.00 tie" in cells
    assert "+10.0% tie" in [t.get_text() for t in fig.axes[2].texts]


def test_the_validation_report_is_an_explicit_input(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The report quotes a validate report named by --validation (default
    docs/validation.json in the current folder), never the repository's by its path."""
    monkeypatch.chdir(tmp_path)
    assert rfc.load_validation(None) is None  # no docs/validation.json here
    overall = {"ray": {"median_abs_error": 0.05, "p95_abs_error": 0.2, "bias": "unbiased"}}
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "validation.json").write_text(json.dumps({"overall": overall}))
    assert rfc.load_validation(None) == {"overall": overall}
    mine = tmp_path / "mine.json"
    for text in ("{", '{"overall": {"ray": {"bias": "x"}}}', "[]"):
        mine.write_text(text)
        with pytest.raises(InputError) as info:
            rfc.load_validation(mine)
        assert info.value.line.startswith(f"--validation {mine}: ")
        assert "\n" not in info.value.line
    with pytest.raises(InputError) as info:
        rfc.load_validation(tmp_path / "missing.json")
    assert info.value.line.startswith(f"--validation {tmp_path / 'missing.json'}: expected an "
                                      "existing file")


def test_a_platform_the_study_never_runs_is_not_part_of_the_fingerprint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Calibrating or changing a third platform keeps the recorded runs; the study's own
    platforms' code and profile entries make them stale."""
    files = {p.as_posix() for p in rfc.model_files()}
    assert not any(f.startswith(("platforms/zmq/", "platforms/ideal")) for f in files)
    assert {"platforms/workqueue.py", "platforms/workqueue_options.py",
            "platforms/ray/config.py", "platforms/execution.py"} <= files
    profile = json.loads(rfc.default_profile_path().read_text())
    before = rfc.model_fingerprint()

    def with_profile(data: dict[str, Any]) -> str:
        path = tmp_path / f"p{len(list(tmp_path.iterdir()))}.json"
        path.write_text(json.dumps(data))
        monkeypatch.setattr(rfc, "default_profile_path", lambda: path)
        return rfc.model_fingerprint()

    assert with_profile(profile) == before
    third = copy.deepcopy(profile)
    third["platforms"]["zmq"] = {"parameters": {"dispatch_time": {"value": 5e-4}}}
    third["platforms"]["live_host"]["parameters"]["zmq_task_speed"] = {"value": 1.1}
    assert with_profile(third) == before
    own = copy.deepcopy(profile)
    own["platforms"]["workqueue"]["parameters"]["dispatch_time"]["value"] *= 2
    assert with_profile(own) != before
