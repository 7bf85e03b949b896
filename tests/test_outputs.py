"""Outputs: written whole or not at all, reused folders cleared of stale files, folders locked
while a study appends to them, and a sweep's folder kept apart from other outputs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from schedsim import report
from schedsim.cli import main
from schedsim.errors import InputError
from schedsim.outputs import (
    StagedFiles,
    append_json_line,
    folder_lock,
    replacing,
    write_text,
)
from schedsim.studies import rfc
from schedsim.studies.jobs import COLUMNS

from .conftest import REPO

CONTRACT_FILE = REPO / "scenarios" / "contract-example.yaml"
RUN = ["run", str(CONTRACT_FILE), "--replications", "1", "--set", "workload.tasks=200"]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_an_interrupted_write_keeps_the_earlier_file(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    write_text(path, "old\n")
    with pytest.raises(KeyboardInterrupt), replacing(path) as tmp:
        tmp.write_text("half of the ne")
        raise KeyboardInterrupt
    assert snapshot(tmp_path) == {"a.json": b"old\n"}  # and no temporary file is left


def test_staged_files_land_together_and_clear_the_sets_stale_files(tmp_path: Path) -> None:
    (tmp_path / "trace.json").write_text("stale")
    (tmp_path / "mine.txt").write_text("not ours")
    with pytest.raises(RuntimeError), StagedFiles(tmp_path, ("a", "trace.json")) as files:
        files.write_text("a", "new")
        raise RuntimeError
    assert snapshot(tmp_path) == {"mine.txt": b"not ours", "trace.json": b"stale"}
    with StagedFiles(tmp_path, ("a", "trace.json")) as files:
        files.write_text("a", "new")
        assert not (tmp_path / "a").exists()  # nothing lands before the set is complete
    assert snapshot(tmp_path) == {"a": b"new", "mine.txt": b"not ours"}


def test_interrupted_run_out_keeps_the_earlier_outputs(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    assert main([*RUN, "--out", str(out)]) == 0
    before = snapshot(out)
    assert "trace.json" in before and "completions.png" in before

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "plot_completions", interrupted)  # the last file written
    assert main([*RUN, "--seed", "99", "--out", str(out)]) == 130
    assert snapshot(out) == before


def test_reused_run_out_does_not_keep_a_stale_trace(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main([*RUN, "--out", str(out)]) == 0
    assert (out / "trace.json").exists()
    assert main([*RUN, "--out", str(out), "--trace", "none"]) == 0  # this run keeps none
    assert sorted(p.name for p in out.iterdir()) == [
        "attempts.csv", "completions.png", "scenario.resolved.yaml", "summary.json"]


def test_temporary_files_of_a_killed_process_are_removed(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp_path / f".summary.json.tmp-{dead.pid}-0123abcd.json"
    left.write_text("{")
    mine = tmp_path / f".x.json.tmp-{os.getpid()}-0123abcd.json"  # a live writer's
    mine.write_text("{")
    write_text(tmp_path / "summary.json", "{}\n")
    assert not left.exists() and mine.exists()


HOLD = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from schedsim.outputs import folder_lock
    with folder_lock(Path(sys.argv[1]), "x.lock", "test"):
        if os.fork() == 0:  # a worker that outlives its parent, as a pool's may
            time.sleep(60)
            os._exit(0)
        print("locked", flush=True)
        time.sleep(60)
""")


def test_a_lock_is_refused_while_held_and_freed_by_sigkill(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(InputError) as info, folder_lock(tmp_path, "x.lock", "test"):
            pass
        assert f"process {proc.pid} holds x.lock" in info.value.line
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        # The forked child still runs, but the lock went with the process that took it.
        with folder_lock(tmp_path, "x.lock", "test"):
            assert (tmp_path / "x.lock").read_text().strip() == str(os.getpid())
        assert not (tmp_path / "x.lock").exists()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], *words: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


def test_sweep_and_other_outputs_do_not_share_a_folder(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    run_out = tmp_path / "run"
    assert main([*RUN, "--out", str(run_out)]) == 0
    before = snapshot(run_out)
    sweep = ["sweep", str(CONTRACT_FILE), "--grid", "workload.tasks=50,60",
             "--replications", "1"]
    one_line_error(capsys, [*sweep, "--out", str(run_out)], "an empty folder or a sweep's",
                   "attempts.csv")
    assert snapshot(run_out) == before
    study = tmp_path / "rfc"
    study.mkdir()
    (study / "rfc-runs.csv").write_text(",".join(COLUMNS) + "\n")
    one_line_error(capsys, [*sweep, "--out", str(study)], "rfc-runs.csv")
    swept = tmp_path / "sweep"
    assert main([*sweep, "--out", str(swept)]) == 0
    capsys.readouterr()
    one_line_error(capsys, [*RUN, "--out", str(swept)], "not a sweep's", "sweep.json")
    with pytest.raises(InputError, match="not a sweep's"):
        rfc.run_study(rfc.QUICK, swept)
    assert sorted(p.name for p in swept.iterdir()) == ["results.csv", "sweep.json"]


def test_reading_a_folder_says_reading_failed(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    sweep = ["sweep", str(CONTRACT_FILE), "--grid", "workload.tasks=50", "--replications",
             "1", "--out", str(tmp_path)]
    assert main(sweep) == 0
    (tmp_path / "results.csv").unlink()
    (tmp_path / "results.csv").mkdir()
    one_line_error(capsys, sweep, "results.csv", "reading failed")
    (tmp_path / "sweep.json").unlink()
    (tmp_path / "sweep.json").mkdir()
    one_line_error(capsys, sweep, "sweep.json", "reading failed")
    study = tmp_path / "rfc"
    (study / "rfc-runs.csv").mkdir(parents=True)
    with pytest.raises(InputError, match="rfc-runs.csv: .*reading failed"):
        rfc.run_study(rfc.QUICK, study)



def test_a_json_line_is_on_disk_as_soon_as_it_is_appended(tmp_path: Path) -> None:
    """The live studies' records (validation, scale matrix) survive a kill after each one:
    another reader sees every appended line while the file is still open."""
    path = tmp_path / "runs.jsonl"
    with path.open("a", encoding="utf-8") as fh:
        append_json_line(fh, {"platform": "ray", "makespan_s": 1.5})
        assert path.read_text() == '{"platform": "ray", "makespan_s": 1.5}\n'
        append_json_line(fh, {"a": [1, 2]}, compact=True)
        assert path.read_text().splitlines()[1] == '{"a":[1,2]}'
