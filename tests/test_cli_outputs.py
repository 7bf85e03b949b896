"""Outputs a tool can read: sweep columns, --metrics, --json -, Parquet, exit statuses,
--version, defaults in --help, completion, -q/-v, and what a command imports to start."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.errors import MarkupError

from schedsim import __version__, report
from schedsim.cli import main
from schedsim.metrics import METRICS
from schedsim.platforms import PLATFORMS

from .conftest import REPO

CONTRACT = str(REPO / "scenarios" / "contract-example.yaml")
SMALL = ["--set", "workload.tasks=50", "--replications", "2"]
GRID = ["--grid", "cluster.pools.spot.count=50,60", "--grid", "platform.type=ideal,ray"]


def schedsim(*args: str, cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "schedsim", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO), **env})


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------------ sweep results

def test_sweep_rows_have_a_column_per_axis_and_whole_counts(tmp_path: Path) -> None:
    assert main(["sweep", CONTRACT, *GRID, *SMALL, "--out", str(tmp_path)]) == 0
    rows = read_rows(tmp_path / "results.csv")
    assert len(rows) == 8 and "overrides" not in rows[0]
    assert [(r["cluster.pools.spot.count"], r["platform.type"]) for r in rows[::2]] == \
        [("50", "ideal"), ("50", "ray"), ("60", "ideal"), ("60", "ray")]
    for name in ("tasks_completed", "task_attempts", "preemptions", "nodes_launched",
                 "bag_completed", "job_failed"):
        assert all(r[name].isdigit() for r in rows), name  # 50, not 50.0
    assert rows[0]["tasks_completed"] == "50"
    assert float(rows[0]["makespan_s"]) > 0 and "." in rows[0]["makespan_s"]
    manifest = json.loads((tmp_path / "sweep.json").read_text())
    assert manifest["format"] == 2


def test_a_sweep_of_the_old_format_is_refused_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sweep", CONTRACT, "--grid", "workload.tasks=50,60", "--replications", "1",
            "--out", str(tmp_path)]
    assert main(args) == 0
    manifest = json.loads((tmp_path / "sweep.json").read_text())
    del manifest["format"]  # as every sweep.json before the axis columns
    (tmp_path / "sweep.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "sweep.json: format: expected results in this version's format (2: a column per " \
        "grid axis), got a sweep written in format 1; --restart starts the sweep over" in err
    assert len(err.strip().splitlines()) == 1
    assert main([*args, "--restart"]) == 0


def headers(table: str) -> list[str]:
    """The column headers of a rich table, each put back together from its folded lines."""
    lines = table.splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("┏"))
    end = next(i for i, line in enumerate(lines) if line.startswith("┡"))
    cells = [line.strip("┃").split("┃") for line in lines[top + 1:end]]
    return ["".join(row[c].strip() for row in cells) for c in range(len(cells[0]))]


def test_sweep_table_shows_the_chosen_metrics_with_whole_headers(tmp_path: Path) -> None:
    chosen = ["wasted_core_s", "preemptions", "cost_per_1k_tasks_usd"]
    proc = schedsim("sweep", CONTRACT, *GRID, *SMALL, "--out", str(tmp_path),
                    "--metrics", ",".join(chosen), COLUMNS="60")  # a narrow terminal
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout  # nothing cut off, headers or numbers
    assert headers(proc.stdout) == ["cluster.pools.spot.count", "platform.type", *chosen]


def test_sweep_prints_a_folder_with_brackets_as_it_is(tmp_path: Path) -> None:
    """The results path is text, not rich markup: ``[b]`` in a folder's name stays."""
    out = tmp_path / "[b]"
    proc = schedsim("sweep", CONTRACT, "--grid", "cluster.pools.spot.count=5", *SMALL,
                    "--out", str(out), COLUMNS="400")
    assert proc.returncode == 0, proc.stderr
    assert f"results: {out}/results.csv" in proc.stdout


def test_a_bad_metric_name_is_one_line_naming_the_valid_ones(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", CONTRACT, *GRID, "--metrics", "makespan_s,wasted",
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"--metrics: expected comma-separated metric names from: {', '.join(METRICS)}, " \
        "got 'wasted'" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "results.csv").exists()


def test_sweep_json_gives_each_point_on_stdout(tmp_path: Path) -> None:
    proc = schedsim("sweep", CONTRACT, *GRID, *SMALL, "--out", str(tmp_path / "s"),
                    "--json", "-", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # the JSON alone: the table went to stderr
    assert "sweep" in proc.stderr and not (tmp_path / "-").exists()
    assert [p["grid"] for p in data["points"]][:2] == [
        {"cluster.pools.spot.count": "50", "platform.type": "ideal"},
        {"cluster.pools.spot.count": "50", "platform.type": "ray"}]
    rows = read_rows(tmp_path / "s" / "results.csv")
    first = data["points"][0]
    assert first["replications"] == 2 and first["jobs_failed"] == 0
    mean = sum(float(r["makespan_s"]) for r in rows[:2]) / 2
    assert first["metrics"]["makespan_s"]["mean"] == pytest.approx(mean)
    assert set(first["metrics"]) == set(METRICS)


@pytest.mark.parametrize("command", [
    ["run", CONTRACT, *SMALL],
    ["compare", CONTRACT, *SMALL, "--platform", "ideal", "--platform", "ray"],
])
def test_json_dash_is_stdout_and_never_a_file(tmp_path: Path, command: list[str]) -> None:
    proc = schedsim(*command, "--json", "-", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    json.loads(proc.stdout)
    assert not (tmp_path / "-").exists()


# ------------------------------------------------------------------ Parquet

def test_parquet_without_pyarrow_is_one_line_naming_the_extra(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if not installed
    assert main(["run", CONTRACT, *SMALL, "--out", str(tmp_path / "r"), "--parquet"]) == 2
    assert main(["sweep", CONTRACT, *GRID, *SMALL, "--out", str(tmp_path / "s"),
                 "--parquet"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["schedsim: --parquet: expected pyarrow, which is not installed (pip "
                     "install 'schedsim[parquet]')"] * 2
    assert not (tmp_path / "r").exists() and not (tmp_path / "s").exists()  # before any work


def test_parquet_needs_out_on_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", CONTRACT, *SMALL, "--parquet"]) == 2
    assert "--parquet: expected --out DIR with it" in capsys.readouterr().err


def test_parquet_attempts_and_sweep_hold_the_csv_numbers_typed(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "run"
    assert main(["run", CONTRACT, *SMALL, "--out", str(out), "--parquet"]) == 0
    table = pq.read_table(out / "attempts.parquet")
    rows = read_rows(out / "attempts.csv")
    assert table.num_rows == len(rows) > 0
    assert str(table.schema.field("task").type) == "int64"
    assert table.column("outcome").to_pylist() == [r["outcome"] for r in rows]
    assert table.column("end_s").to_pylist()[5] == pytest.approx(float(rows[5]["end_s"]),
                                                                 abs=1e-6)
    assert main(["run", CONTRACT, *SMALL, "--out", str(out)]) == 0
    assert not (out / "attempts.parquet").exists()  # not left from the run before

    swept = tmp_path / "sweep"
    assert main(["sweep", CONTRACT, *GRID, *SMALL, "--out", str(swept), "--parquet"]) == 0
    table = pq.read_table(swept / "results.parquet")
    rows = read_rows(swept / "results.csv")
    assert table.column_names == list(rows[0])
    assert str(table.schema.field("preemptions").type) == "int64"
    assert str(table.schema.field("makespan_s").type) == "double"
    assert table.column("platform.type").to_pylist() == [r["platform.type"] for r in rows]
    assert table.column("makespan_s").to_pylist() == [float(r["makespan_s"]) for r in rows]


# ------------------------------------------------------------------ exit statuses

def test_a_failed_job_exits_3(tmp_path: Path) -> None:
    run = schedsim("run", CONTRACT, *SMALL, "--set", "horizon=2s", "--json", "-",
                   cwd=tmp_path)
    assert run.returncode == 3, run.stderr
    assert "job failed" in run.stderr and json.loads(run.stdout)["failures"][0]
    assert schedsim("run", CONTRACT, *SMALL).returncode == 0
    sweep = schedsim("sweep", CONTRACT, *SMALL, "--grid", "horizon=2s,1d",
                     "--out", str(tmp_path / "s"))
    assert sweep.returncode == 3, sweep.stderr
    assert "2 of 4 job(s) failed or left tasks unfinished" in sweep.stdout
    rows = read_rows(tmp_path / "s" / "results.csv")
    assert [bool(r["failure"]) for r in rows] == [True, True, False, False]


# ------------------------------------------------------------------ the command line

def test_version() -> None:
    proc = schedsim("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"schedsim {__version__}"


def test_help_gives_defaults() -> None:
    run = schedsim("run", "--help", COLUMNS="200").stdout
    assert "results are identical to a serial run (default: 1)" in run
    plan = schedsim("plan", "--help", COLUMNS="200").stdout
    assert "(default: 0.95)" in plan and "(default: None)" not in plan
    sweep = schedsim("sweep", "--help", COLUMNS="200").stdout
    assert "(default: makespan_s,throughput_tasks_per_s,cost_usd,tasks_failed)" in sweep
    assert "(default: False)" not in sweep and "(default: [])" not in sweep
    # A flag states no default: "--no-live ... (default: True)" read as live runs off.
    calibrate = schedsim("calibrate", "--help", COLUMNS="200").stdout
    assert "--no-live" in calibrate and "(default: True)" not in calibrate


def complete(script: str, words: list[str]) -> list[str]:
    """What the bash completion offers for the last of ``words``."""
    line = " ".join(f"'{w}'" for w in words)
    program = (f"{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _schedsim\n"
               'printf "%s\\n" "${COMPREPLY[@]}"')
    proc = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_completion_completes_commands_options_and_choices() -> None:
    proc = schedsim("completion", "bash")
    assert proc.returncode == 0, proc.stderr
    script = proc.stdout
    assert sorted(complete(script, ["schedsim", "c"])) == ["calibrate", "check", "compare",
                                                           "completion"]
    assert "--metrics" in complete(script, ["schedsim", "sweep", "x.yaml", "--m"])
    assert complete(script, ["schedsim", "compare", "s.yaml", "--platform", ""]) == sorted(
        PLATFORMS)  # every registered platform
    assert complete(script, ["schedsim", "completion", "z"]) == ["zsh"]
    assert complete(script, ["schedsim", "run", "scen"]) == []  # file names: bash's own
    zsh = schedsim("completion", "zsh").stdout
    assert "bashcompinit" in zsh and "complete -o default -F _schedsim schedsim" in zsh


def test_quiet_shows_nothing_and_verbose_shows_timings(tmp_path: Path) -> None:
    quiet = schedsim("run", CONTRACT, *SMALL, "-q", "--out", str(tmp_path / "q"))
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    assert (tmp_path / "q" / "summary.json").exists()
    before = schedsim("-q", "check", CONTRACT)  # before the command, as well as after it
    assert before.returncode == 0 and before.stdout == ""
    loud = schedsim("run", CONTRACT, *SMALL, "-v")
    assert loud.returncode == 0 and "makespan_s" in loud.stdout
    assert "schedsim: simulated 2 replication(s) in " in loud.stderr
    assert "schedsim: run: " in loud.stderr
    normal = schedsim("run", CONTRACT, *SMALL)
    assert "makespan_s" in normal.stdout and "schedsim: run: " not in normal.stderr


# ------------------------------------------------------------------ plain printing

MARKUP = st.lists(st.sampled_from(["[", "]", "\\", "/", "a", "b", "@", " ", "yellow", "[bold]",
                                  "[/bold]", "[/]", "x\\[", "é"]), max_size=12).map("".join)


@settings(max_examples=400, deadline=None)
@given(MARKUP)
def test_escape_and_plain_follow_rich(text: str) -> None:
    """``check`` prints through report.PlainConsole without rich: what it escapes and prints
    must be what rich would have shown (tags dropped, escaped brackets shown)."""
    from rich.console import Console
    from rich.markup import escape as rich_escape

    assert report.escape(text) == rich_escape(text)
    for markup in (report.escape(text), text):
        buffer = io.StringIO()
        console = Console(file=buffer, width=10_000, color_system=None, highlight=False,
                          emoji=False)
        try:
            console.print(markup, end="")
        except MarkupError:  # a closing tag with nothing open: rich refuses it
            continue
        assert report.plain(markup) == buffer.getvalue()


# ------------------------------------------------------------------ start-up

HEAVY = ("numpy", "scipy", "simpy", "matplotlib", "yaml", "rich", "pandas", "pyarrow")


def imported_after(*argv: str) -> set[str]:
    """The heavy top-level packages loaded by ``schedsim ARGV`` in a fresh interpreter."""
    program = ("import sys\nfrom schedsim.__main__ import main\n"
               "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
               "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})), "
               "file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", program, *argv], capture_output=True,
                          text=True, cwd=REPO, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    loaded = set(proc.stderr.strip().splitlines()[-1].split())
    return loaded & set(HEAVY)


def test_help_and_check_import_only_what_they_need() -> None:
    assert imported_after("--help") == set()
    assert imported_after("run", "--help") == set()
    assert imported_after("check", "scenarios/spot.yaml") == {"yaml"}  # tests/test_check.py
    program = ("import json, sys, schedsim, schedsim.cli, schedsim.report\n"
               "print(json.dumps(sorted(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          cwd=REPO, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert not {m.split(".")[0] for m in json.loads(proc.stdout)} & set(HEAVY)
