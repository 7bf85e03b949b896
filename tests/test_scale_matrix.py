"""The scale matrix and the mechanisms its fit needs, against closed forms.

Work Queue's connect backlog: with an idle manager, workers that all ask to connect at once
connect in waves, ``listen_backlog`` per wave, one accept (``accept_time``) after another,
up to 10 in a row when tasks wait to be sent, the waves at the SYN retransmissions (1, 3, 7 s
after the first try). The shared host's ``platform_work``: a burst of process starts ends
one by one, the k-th at k c / (C - D). The waiting task takes no CPU on a shared host. The
matrix's points and records.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from schedsim.errors import InputError
from schedsim.loading import parse_scenario
from schedsim.simulation import Simulation
from schedsim.studies.scale_matrix import (
    FIT,
    HELD_OUT,
    MATRIX,
    good_runs,
    point_by_label,
    read_records,
    scenario_for,
)


def wq_scenario(workers: int, options: dict[str, Any], *, host: dict[str, Any] | None = None,
                tasks: int = 1, duration: str = "10s", task: str = "zfp") -> Simulation:
    data: dict[str, Any] = {
        "name": "backlog", "seed": 1,
        "workload": {"tasks": tasks, "task": task,
                     "duration": {"dist": "constant", "mean": duration}},
        "cluster": {"pools": [{"name": "h", "count": workers, "cores": 1}]},
        "platform": {"type": "workqueue", "workqueue": {
            "dispatch_time": 0, "retrieval_time": 0, "scan_time_per_worker": 0,
            "task_launch_time": 0, **options}}}
    if host is not None:
        data["cluster"]["host"] = host
    return Simulation(parse_scenario(data, "backlog.yaml"), 0)


def test_connect_backlog_admits_a_backlog_per_retransmission_wave() -> None:
    backlog, accept, retry, connect = 5, 0.01, 1.0, 0.05
    sim = wq_scenario(12, {"listen_backlog": backlog, "accept_time": accept,
                           "connect_retry": retry, "worker_connect_time": connect})
    sim.run()
    connections = sim.platform.connections  # type: ignore[attr-defined]
    # Worker k is the (k % B)-th accept of wave k // B; wave j comes r (2^j - 1) after the
    # first try (each retry waits twice the last).
    truth = [connect + retry * (2 ** (k // backlog) - 1) + (k % backlog + 1) * accept
             for k in range(12)]
    assert connections == pytest.approx(truth, abs=1e-9)


def test_an_idle_pass_accepts_up_to_ten_workers_in_a_row_before_it_dispatches() -> None:
    # 14 workers ask at once, 14 tasks wait: the manager accepts 10 back to back (work_queue.c
    # connect_new_workers, MAX_NEW_WORKERS), then dispatches to them (a pass sends before it
    # accepts), then accepts the last 4. One accept per pass would alternate the two.
    accept, dispatch, connect = 0.01, 0.002, 0.05
    sim = wq_scenario(14, {"listen_backlog": 20, "accept_time": accept, "dispatch_time": dispatch,
                           "worker_connect_time": connect}, tasks=14)
    sim.run()
    connections = sim.platform.connections  # type: ignore[attr-defined]
    first = [connect + (k + 1) * accept for k in range(10)]
    rest = [first[-1] + 10 * dispatch + (k + 1) * accept for k in range(4)]
    assert connections == pytest.approx(first + rest, abs=1e-9)


def test_without_a_backlog_every_worker_connects_in_the_first_idle_pass() -> None:
    sim = wq_scenario(12, {"worker_connect_time": 0.05})
    sim.run()
    assert sim.platform.connections == pytest.approx([0.05] * 12)  # type: ignore[attr-defined]


def test_worker_starts_queue_for_the_host_cpus_with_platform_work() -> None:
    # 12 starts of 0.1 CPU-s on 2 - 0.5 CPUs, all at once, one after another at 1.5 CPUs.
    host = {"cpus": 2, "background": 0.5, "platform_work": True}
    sim = wq_scenario(12, {"worker_connect_time": 0.1}, host=host)
    sim.run()
    assert sim.platform.connections == pytest.approx(  # type: ignore[attr-defined]
        [(k + 1) * 0.1 / 1.5 for k in range(12)])
    # Without platform_work a start is a plain delay, as before.
    sim = wq_scenario(12, {"worker_connect_time": 0.1}, host={"cpus": 2})
    sim.run()
    assert sim.platform.connections == pytest.approx([0.1] * 12)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("task", "makespan"), [("zfp", 3.0), ("wait", 1.0)])
def test_the_waiting_task_takes_no_cpu_on_a_shared_host(task: str, makespan: float) -> None:
    # Three 1-s tasks on three slots of a one-CPU host: CPU work shares the CPU (3 s); the
    # waiting task just waits (1 s).
    sim = wq_scenario(3, {"worker_connect_time": 0}, host={"cpus": 1}, tasks=3,
                      duration="1s", task=task)
    assert sim.run().metrics["makespan_s"] == pytest.approx(makespan)


def test_matrix_points_bracket_the_scales_and_hold_some_out() -> None:
    labels = [p.label for p in MATRIX]
    assert len(set(labels)) == len(labels)
    for platform, most in (("workqueue", 200), ("ray", 32)):
        mine = [p for p in MATRIX if p.platform == platform]
        assert min(p.workers for p in mine) == 1 and max(p.workers for p in mine) >= most
        assert {p.role for p in mine} == {FIT, HELD_OUT}
        fitted = {(p.workers, p.task_s, p.output_b, p.kill) for p in mine if p.role == FIT}
        for p in mine:
            if p.role == HELD_OUT:
                assert (p.workers, p.task_s, p.output_b, p.kill) not in fitted
    assert min(p.task_s for p in MATRIX) <= 0.01 and max(p.task_s for p in MATRIX) >= 2.0
    assert max(p.output_b for p in MATRIX) >= 10_000_000


def test_scenario_of_a_point_live_and_simulated() -> None:
    point = point_by_label("wq-120-500ms-kill30")
    live = scenario_for(point)
    assert [(p.name, p.count, p.cores) for p in live.cluster.pools] == [
        ("stable", 8, 10), ("spot", 4, 10)]
    assert live.workload.task == "wait" and live.cluster.host is None
    # Live, an abrupt loss is SIGKILL alone: a notice would SIGTERM the workers first.
    assert live.churn[0].notice == 0.0
    sim = scenario_for(point, host={"cpus": 2, "platform_work": True})
    # One-core nodes for the simulator: each worker connects on its own.
    assert [(p.count, p.cores) for p in sim.cluster.pools] == [(80, 1), (40, 1)]
    assert sim.churn[0].notice == pytest.approx(0.001)
    ray = scenario_for(point_by_label("ray-32-1s-kill25"))
    assert [(p.count, p.cores) for p in ray.cluster.pools] == [(3, 8), (1, 8)]
    assert ray.churn[0].notice == 0.0


def test_a_point_with_a_notice_gets_it_live_and_simulated_on_both_platforms() -> None:
    from dataclasses import replace

    from schedsim.live.run import ignored_keys

    # Both platforms have clean (SIGTERM) and abrupt kills in the matrix.
    for platform in ("workqueue", "ray"):
        kinds = {p.notice_s > 0 for p in MATRIX if p.platform == platform and p.kill > 0}
        assert kinds == {True, False}, platform
    for label in ("wq-120-500ms-kill30", "ray-32-1s-kill25"):
        point = replace(point_by_label(label), notice_s=2.0)
        live = scenario_for(point)
        sim = scenario_for(point, host={"cpus": 2, "platform_work": True})
        for s in (live, sim):
            churn = s.churn[0]
            assert churn.notice == 2.0 and churn.on_notice == "shutdown"
            assert churn.lifetime is not None and churn.lifetime.mean == point.kill_at_s
        # Live, a notice with shutdown is honoured (SIGTERM at the notice): not ignored.
        assert ignored_keys(live) == []


def test_records_are_read_back_and_bad_lines_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    good = {"label": "wq-1-1s", "platform": "workqueue", "repeat": 0, "makespan_s": 10.0,
            "failure": None}
    failed = {"label": "wq-1-1s", "platform": "workqueue", "repeat": 1, "error": "timed out"}
    path.write_text(json.dumps(good) + "\n" + json.dumps(failed) + "\n")
    records = read_records(path)
    assert len(records) == 2 and list(good_runs(records)) == [good]
    path.write_text("{not json\n")
    with pytest.raises(InputError, match="m.jsonl: line 1: expected a scale-matrix run"):
        read_records(path)


# --------------------------------------------------------------------------- validation


def _params() -> dict[str, dict[str, float]]:
    from schedsim.calibration.scale_fit import PARAMETERS
    return {p: {q.name: q.start for q in params} for p, params in PARAMETERS.items()}


def _record(label: str, repeat: int, makespan: float, load: float = 0.1) -> dict[str, Any]:
    point = point_by_label(label)
    return {"label": label, "platform": point.platform, "repeat": repeat,
            "makespan_s": makespan, "failure": None, "busy_cpus_before": load}


def test_scale_validation_reports_errors_spread_and_ceiling() -> None:
    from schedsim.calibration.scale_fit import simulate
    from schedsim.studies.scale_validation import validate_scale

    params = _params()
    # Live runs 10% and 30% above the simulated makespan of each repeat's draws.
    sim = {r: simulate(point_by_label("wq-60-500ms-100KB"), params["workqueue"], r, 0.1)[0]
           for r in (0, 1)}
    records = [_record("wq-60-500ms-100KB", 0, sim[0] * 1.1),
               _record("wq-60-500ms-100KB", 1, sim[1] * 1.3),
               _record("wq-1-1s", 0, 10.0), {"label": "wq-1-1s", "platform": "workqueue",
                                            "repeat": 1, "error": "timed out"}]
    report = validate_scale(records, params)
    rows = {r["label"]: r for r in report["points"]}
    held = rows["wq-60-500ms-100KB"]
    live_mean = (sim[0] * 1.1 + sim[1] * 1.3) / 2
    assert held["relative_error"] == pytest.approx((sim[0] + sim[1]) / 2 / live_mean - 1)
    assert held["live_spread"] == pytest.approx(abs(sim[1] * 1.3 - sim[0] * 1.1) / live_mean)
    wq = report["overall"]["workqueue"]
    assert wq["held_out"]["configs"] == 1 and wq["held_out_at_scale"]["configs"] == 1
    assert wq["held_out"]["median_abs_error"] == pytest.approx(abs(held["relative_error"]))
    assert report["failed_runs"] == 1
    # The ceiling: the point with the most live tasks/s (60 workers, 1200 tasks).
    assert wq["ceiling"]["point"] == "wq-60-500ms-100KB"


def test_scale_section_replaces_only_itself() -> None:
    from schedsim.studies.scale_validation import (
        SECTION_BEGIN,
        SECTION_END,
        insert_section,
        section_of,
    )

    page = f"# Validation\n\nbefore\n\n{SECTION_BEGIN}\nold\n{SECTION_END}\n\nafter\n"
    new = f"{SECTION_BEGIN}\nnew\n{SECTION_END}\n"
    out = insert_section(page, new)
    assert out == f"# Validation\n\nbefore\n\n{SECTION_BEGIN}\nnew\n{SECTION_END}\n\nafter\n"
    assert insert_section("# V\n", new) == "# V\n\n" + new
    # A page rewritten whole (schedsim validate) keeps the section it had.
    assert section_of(out) == new and section_of("# V\n") is None
    assert insert_section("# V2\n", section_of(out) or "") == "# V2\n\n" + new


def test_validate_scale_cli_compares_recorded_runs(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from schedsim.cli import main

    runs = tmp_path / "runs.jsonl"
    runs.write_text("\n".join(json.dumps(r) for r in (
        _record("ray-1-1s", 0, 11.0), _record("ray-1-1s", 1, 11.5),
        _record("ray-40-1s", 0, 30.0))) + "\n")
    out = tmp_path / "out"
    assert main(["validate", "--scale", "--scale-runs", str(runs), "--out", str(out)]) == 0
    page = (out / "validation.md").read_text()
    assert "## At scale: the waiting-task matrix" in page and "| ray | ray-40-1s |" in page
    # The section names the command and the runs it was made from; the terminal gets the
    # verdicts, not the section.
    assert f"Written by `schedsim validate --scale --scale-runs {runs} --out {out}` from the " \
        f"live runs recorded in `{runs}`" in page
    printed = capsys.readouterr().out
    assert "ray (1 held out): median abs error" in printed and "|" not in printed
    report = json.loads((out / "validation-scale.json").read_text())
    assert [r["label"] for r in report["points"]] == ["ray-1-1s", "ray-40-1s"]
    # Scale flags without --scale: one line, status 2.
    assert main(["validate", "--scale-fit", "--out", str(out)]) == 2


def test_launches_queue_for_the_host_on_both_platforms() -> None:
    # k waiting tasks of d s on k slots, launches of l CPU-s on C - D = 1.5 CPUs, one after
    # another: the last task's launch ends k l / 1.5 after time 0, then it waits d.
    k, launch, d = 6, 0.03, 1.0
    host = {"cpus": 2, "background": 0.5, "platform_work": True}
    sim = wq_scenario(k, {"worker_connect_time": 0, "task_launch_time": launch}, host=host,
                      tasks=k, duration=f"{d}s", task="wait")
    assert sim.run().metrics["makespan_s"] == pytest.approx(k * launch / 1.5 + d)
    # Ray: k worker starts of w CPU-s first (each slot's first lease), then the k launches
    # behind them in the same queue: k w / 1.5 + k l / 1.5 + d.
    start = 0.2
    data: dict[str, Any] = {
        "name": "ray-launch", "seed": 1,
        "workload": {"tasks": k, "task": "wait", "duration": {"dist": "constant", "mean": d}},
        "cluster": {"pools": [{"name": "h", "count": 1, "cores": k}], "host": host},
        "platform": {"type": "ray", "ray": {
            "submit_time": 0, "result_time": 0, "lease_latency": 0,
            "worker_start_time": start, "task_launch_time": launch, "autoscaler": False}}}
    ray = Simulation(parse_scenario(data, "ray.yaml"), 0)
    assert ray.run().metrics["makespan_s"] == pytest.approx(k * (start + launch) / 1.5 + d)


def test_manager_and_driver_work_queue_with_the_launches() -> None:
    # With platform_work the manager's jobs join the host's queue: dispatch j and launch j
    # alternate, so task j's launch ends j (dispatch + launch) / 1.5 after time 0.
    k, dispatch, launch, d = 5, 0.01, 0.03, 1.0
    host = {"cpus": 2, "background": 0.5, "platform_work": True}
    sim = wq_scenario(k, {"worker_connect_time": 0, "task_launch_time": launch,
                          "dispatch_time": dispatch}, host=host, tasks=k,
                      duration=f"{d}s", task="wait")
    assert sim.run().metrics["makespan_s"] == pytest.approx(k * (dispatch + launch) / 1.5 + d)
    # Ray: the driver's submission of the k tasks (one run of .remote() calls), then the k
    # worker starts, then the k launches, then the last result's intake, in that order.
    submit, start, result = 0.01, 0.2, 0.003
    data: dict[str, Any] = {
        "name": "ray-driver", "seed": 1,
        "workload": {"tasks": k, "task": "wait", "duration": {"dist": "constant", "mean": d}},
        "cluster": {"pools": [{"name": "h", "count": 1, "cores": k}], "host": host},
        "platform": {"type": "ray", "ray": {
            "submit_time": submit, "result_time": result, "lease_latency": 0,
            "worker_start_time": start, "task_launch_time": launch, "autoscaler": False}}}
    ray = Simulation(parse_scenario(data, "ray.yaml"), 0)
    assert ray.run().metrics["makespan_s"] == pytest.approx(
        k * (submit + start + launch) / 1.5 + d + result / 1.5)


def test_busy_cpus_measures_other_work_on_the_host() -> None:
    """The background a run shares the host with is measured: a process spinning on one CPU
    shows as about one busy CPU (at least 0.6 of one on a noisy host), a quiet window as less."""
    import subprocess
    import sys

    from schedsim.studies.scale_matrix import busy_cpus

    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)
        busy = busy_cpus(1.0)
    finally:
        spin.kill()
        spin.wait()
    assert 0.6 <= busy <= (os.cpu_count() or 1) + 0.01, busy


def test_run_matrix_interleaves_repeats_numbered_from_the_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Repeats added by a later session continue the numbering (repeat r draws the task times
    of replication r), every point once per repeat, appended to the file."""
    import schedsim.studies.scale_matrix as sm

    def fake(point: Any, repeat: int, timeout_s: float) -> dict[str, Any]:
        return {"label": point.label, "platform": point.platform, "repeat": repeat,
                "makespan_s": 1.0}

    monkeypatch.setattr(sm, "live_record", fake)
    out = tmp_path / "m.jsonl"
    out.write_text(json.dumps({"label": "wq-1-1s", "platform": "workqueue", "repeat": 0,
                               "makespan_s": 2.0}) + "\n")
    chosen = [point_by_label("wq-1-1s"), point_by_label("ray-1-1s")]
    sm.run_matrix(chosen, repeats=2, out=out, first_repeat=2)
    assert [(r["label"], r["repeat"]) for r in read_records(out)] == [
        ("wq-1-1s", 0), ("wq-1-1s", 2), ("ray-1-1s", 2), ("wq-1-1s", 3), ("ray-1-1s", 3)]


def test_the_scale_section_prints_the_parameters_and_the_bound_they_imply() -> None:
    from schedsim.studies.scale_validation import parameter_lines

    wq = {"dispatch_time": 0.002, "retrieval_time": 0.001, "scan_time_per_worker": 1e-5,
          "task_launch_time": 0.012, "worker_connect_time": 0.01, "accept_time": 0.015,
          "background_base": 0.5}
    ray = {"submit_time": 0.001, "result_time": 0.001, "lease_latency": 0.03,
           "task_launch_time": 0.006, "worker_start_time": 0.5, "background_base": 0.4}
    text = "\n".join(parameter_lines({"workqueue": wq, "ray": ray}))
    assert "| workqueue | `accept_time` | 15 ms |" in text
    assert "| workqueue | `listen_backlog` | 6 (set) | CCTools" in text
    # (2 - 0.5) CPUs over 2 + 1 + 0.01 x 20 + 12 ms = 15.2 ms; at 200 workers 17 ms; Ray 8 ms.
    assert "15.2 ms at 20 workers (99 tasks/s), 17.0 ms at 200 workers (88 tasks/s)" in text
    assert "8.0 ms at 16 workers (200 tasks/s)" in text
