"""Resource guards: what cannot fit in memory is refused in one line before anything runs,
a long run is announced, and nothing the project ships is refused."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest

from schedsim import estimate
from schedsim.cli import main
from schedsim.loading import load_scenario, parse_scenario
from schedsim.studies import rfc

from .conftest import REPO

CONTRACT_FILE = REPO / "scenarios" / "contract-example.yaml"
GB = 1e9


@pytest.fixture
def sixteen_gb(monkeypatch: Any) -> None:
    """A machine with 16 GB available, whatever this one has."""
    monkeypatch.setattr(estimate, "available_memory", lambda: 16 * GB)


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("schedsim: ") and "Traceback" not in err
    return lines[0]


HUNDRED_MILLION = "cluster.pools.spot.count=100000000"


@pytest.mark.parametrize("command", [
    ["run", "--set", HUNDRED_MILLION], ["check", "--set", HUNDRED_MILLION],
    ["run", "--jobs", "2", "--set", HUNDRED_MILLION],
    ["compare", "--platform", "ideal", "--platform", "workqueue", "--set", HUNDRED_MILLION],
    ["plan", "--deadline", "6h", "--vary", "cluster.pools.spot.count=1..100000000"],
    ["sweep", "--grid", "seed=1,2", "--set", HUNDRED_MILLION],
])
def test_a_hundred_million_nodes_are_refused_in_one_line_fast(
        command: list[str], sixteen_gb: None, capsys: Any, tmp_path: Path) -> None:
    args = [command[0], str(CONTRACT_FILE), *command[1:]]
    if command[0] in ("sweep", "plan"):
        args += ["--out", str(tmp_path / "out")]
    start = time.perf_counter()
    assert main(args) == 2
    assert time.perf_counter() - start < 20
    line = _one_line(capsys.readouterr().err)
    assert "cluster.pools: expected a run that fits in the 16 GB of memory available; " \
           "the estimate is about" in line
    assert "100,000,000 nodes" in line
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_a_billion_tasks_kept_for_out_are_refused(sixteen_gb: None, capsys: Any,
                                                  tmp_path: Path) -> None:
    start = time.perf_counter()
    assert main(["run", str(CONTRACT_FILE), "--set", "workload.tasks=1000000000",
                 "--out", str(tmp_path / "out")]) == 2
    assert time.perf_counter() - start < 20
    line = _one_line(capsys.readouterr().err)
    assert ": workload.tasks: expected a run that fits" in line
    assert "1,000,000,000 tasks" in line
    assert not (tmp_path / "out").exists()


def test_a_billion_tasks_without_records_fit_and_are_announced_as_long(
        sixteen_gb: None, capsys: Any) -> None:
    """The bag is lazy: 1e9 tasks take no memory, only time; check says how much."""
    assert main(["check", str(CONTRACT_FILE), "--set", "workload.tasks=1000000000"]) == 0
    captured = capsys.readouterr()
    assert "estimate (serial, without --out): about" in captured.out
    warning = _one_line(captured.err)
    assert warning.startswith(f"schedsim: warning: {CONTRACT_FILE}: this will take about")
    assert "1,000,000,000 tasks" in warning


def test_a_run_estimated_long_warns_and_still_runs(monkeypatch: Any, capsys: Any,
                                                   tmp_path: Path) -> None:
    monkeypatch.setattr(estimate, "WARN_AFTER_S", 0.0)
    out = tmp_path / "s.json"
    assert main(["run", str(CONTRACT_FILE), "--replications", "1", "--json", str(out)]) == 0
    assert out.exists()
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "Ctrl-C stops it" in warnings[0]


def test_a_sweep_of_a_hundred_million_replications_is_refused(monkeypatch: Any,
                                                              capsys: Any,
                                                              tmp_path: Path) -> None:
    # The parser caps --replications at 100,000 (tests/test_hostile.py); the estimate refuses
    # what the cap lets through when the machine is small.
    monkeypatch.setattr(estimate, "available_memory", lambda: 0.01 * GB)
    start = time.perf_counter()
    assert main(["sweep", str(CONTRACT_FILE), "--grid", "seed=1,2", "--replications",
                 "100000", "--out", str(tmp_path / "sw")]) == 2
    assert time.perf_counter() - start < 20  # the job list was never built
    line = _one_line(capsys.readouterr().err)
    assert "replications: expected a run that fits" in line
    assert "200,000 runs" in line


def test_guard_refuses_only_above_the_available_memory() -> None:
    """This process's own memory (PROCESS_BYTES) is in use already: the rest must fit."""
    guess = estimate.Estimate(memory=2 * GB, seconds=1.0, what="x", key="cluster.pools")
    estimate.guard(guess, "s.yaml", available=2 * GB - estimate.PROCESS_BYTES)
    with pytest.raises(estimate.InputError) as exc:
        estimate.guard(guess, "s.yaml", available=1.9 * GB - estimate.PROCESS_BYTES)
    assert str(exc.value) == ("s.yaml: cluster.pools: expected a run that fits in the 1.79 GB "
                              "of memory available; the estimate is about 2 GB of memory "
                              "and 1 s (x)")


def test_guard_warns_in_one_line_above_a_few_minutes() -> None:
    stream = io.StringIO()
    estimate.guard(estimate.Estimate(GB, estimate.WARN_AFTER_S, "x"), "s.yaml",
                   available=4 * GB, stream=stream)
    assert stream.getvalue() == ""
    estimate.guard(estimate.Estimate(GB, 2 * 3600.0, "x"), "s.yaml", available=4 * GB,
                   stream=stream)
    assert stream.getvalue() == ("schedsim: warning: s.yaml: this will take about 1 GB of "
                                 "memory and 2 h (x); Ctrl-C stops it\n")


def test_available_memory_reads_meminfo(tmp_path: Path) -> None:
    info = tmp_path / "meminfo"
    info.write_text("MemTotal:       24683584 kB\nMemAvailable:   1000 kB\n")
    assert estimate.available_memory(info) == 1000 * 1024
    assert estimate.available_memory(tmp_path / "missing") is None


def test_memory_grows_with_nodes_slots_records_and_ray_pending() -> None:
    base = {"name": "e", "workload": {"tasks": 1000, "duration": "1s"},
            "cluster": {"pools": [{"name": "p", "count": 1000}]}}

    def memory(**changes: Any) -> estimate.Replication:
        data: dict[str, Any] = {**base, **changes}
        return estimate.replication(parse_scenario(data, "e.yaml"),
                                    keep_records=changes.pop("keep", False))

    small = memory()
    assert small.key == "cluster.pools"
    more = memory(cluster={"pools": [{"name": "p", "count": 10_000}]})
    assert more.memory == pytest.approx(10 * small.memory)
    cores = memory(cluster={"pools": [{"name": "p", "count": 1000, "cores": 8}]})
    assert cores.memory > small.memory
    ray = memory(platform={"type": "ray"}, workload={"tasks": 10_000_000, "duration": "1s"})
    assert ray.key == "workload.tasks"  # Ray's driver holds the pending tasks
    held = memory(platform={"type": "ray", "ray": {"max_pending": 1000}},
                  workload={"tasks": 10_000_000, "duration": "1s"})
    assert held.memory < ray.memory / 10
    assert held.seconds == pytest.approx(ray.seconds)


def _shipped() -> list[Any]:
    scenarios = [load_scenario(p) for p in sorted((REPO / "scenarios").glob("*.yaml"))]
    scenarios.append(load_scenario(REPO / "bench" / "ideal_1m.yaml"))
    for tasks, nodes in ((10_000_000, 100_000),):  # bench/matrix.py's largest scale
        for kind in ("ideal", "workqueue", "ray"):
            scenarios.append(load_scenario(REPO / "bench" / "ideal_1m.yaml", [
                f"platform.type={kind}", f"workload.tasks={tasks}",
                f"cluster.pools.spot.count={nodes}", "platform.ray.max_pending=200000"]))
    return scenarios


def test_nothing_the_project_ships_is_refused_on_a_small_machine(tmp_path: Path) -> None:
    """scenarios/*.yaml, the benchmarks and every RFC point fit in 2 GB (this machine has
    24 GB): the guard never stands in their way."""
    for scenario in _shipped():
        guess = estimate.for_run(scenario, jobs=2)
        assert guess.memory < 2 * GB, (scenario.name, guess.text())
    base = tmp_path / "rfc-base.yaml"
    base.write_text(rfc.base_scenario_text())
    for point in rfc.grid_points(rfc.FULL):
        for kind in ("workqueue", "ray"):
            s = load_scenario(base, [*rfc.point_overrides(point), f"platform.type={kind}"])
            guess = estimate.for_run(s, jobs=2)
            assert guess.memory < 2 * GB, (point.label(), guess.text())
