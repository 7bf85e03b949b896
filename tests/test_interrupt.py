"""Interruptions of real ``python -m schedsim`` processes: Ctrl-C (SIGINT, once or twice) and
SIGKILL of the parent, in serial, pooled and live runs.

Each command runs in a session of its own, so whatever it started (pool workers, their
resource tracker) is found afterwards by session id; live runs start sessions of their own and
are found by their work folder (TMPDIR). Every test asserts status 130, exactly one line on
stderr and no traceback, or for SIGKILL that nothing is left running.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from schedsim import interrupt
from schedsim.live.processes import command_name, session_members
from schedsim.live.run import NATIVE_DIR, remove_stale_folders
from schedsim.studies.jobs import done_jobs

from .conftest import REPO, processes_under
from .test_calibration import synthetic_profile

SCENARIO = str(REPO / "scenarios" / "contract-example.yaml")
STOP_S = 8.0  # generous on a loaded 2-core host; stopping itself takes well under a second
GONE_S = 10.0


class Command:
    """``python -m schedsim ARGS`` in a session of its own, output to files."""

    def __init__(self, tmp: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.out, self.err = tmp / "stdout.txt", tmp / "stderr.txt"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "schedsim", *args], cwd=REPO,
                                         stdout=out, stderr=err, start_new_session=True,
                                         env=env)
        self.sid = self.proc.pid

    def members(self) -> list[int]:
        """Live processes of the command's session, the command itself included."""
        return session_members({self.sid})

    def wait_for(self, condition: Any, what: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.proc.poll() is None, f"ended before {what}: {self.err.read_text()}"
            assert time.monotonic() < deadline, f"no {what} within {timeout} s"
            time.sleep(0.02)

    def stop(self, *signals: int, gap_s: float = 0.2) -> float:
        """Send the signals, wait for the exit (bounded); seconds from the first to the exit."""
        start = time.monotonic()
        for i, sig in enumerate(signals):
            if i:
                time.sleep(gap_s)
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 60 s after {signals}: it hangs")
        return time.monotonic() - start

    def assert_interrupted(self) -> None:
        err = self.err.read_text()
        assert self.proc.returncode == interrupt.STATUS, err
        assert [line for line in err.splitlines() if line.strip()] == [interrupt.LINE], err
        assert "Traceback" not in err

    def assert_nothing_left(self) -> None:
        deadline = time.monotonic() + GONE_S
        while self.members() and time.monotonic() < deadline:
            time.sleep(0.05)
        left = {pid: command_name(pid) for pid in self.members()}
        assert not left, f"left running: {left}"

    def kill(self) -> None:
        for pid in self.members():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()


@pytest.fixture
def command(tmp_path: Path) -> Iterator[list[Command]]:
    started: list[Command] = []
    yield started
    for c in started:
        c.kill()


def schedsim(started: list[Command], tmp: Path, *args: str, **kw: Any) -> Command:
    c = Command(tmp, *args, **kw)
    started.append(c)
    return c


def maps_mention(pid: int, name: str) -> bool:
    try:
        return name in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def rows(path: Path) -> int:
    return len(path.read_text().splitlines()) - 1 if path.exists() else 0


# --------------------------------------------------------------------------- start-up

def test_ctrl_c_while_modules_load_prints_one_line(command: list[Command],
                                                    tmp_path: Path) -> None:
    # check imports no numpy now (tests/test_check.py); run does, early in the second or so of
    # imports it needs (the simulator, then SciPy), when numpy's extension is mapped.
    c = schedsim(command, tmp_path, "run", SCENARIO)
    c.wait_for(lambda: maps_mention(c.proc.pid, "numpy"), "numpy import", timeout=60)
    c.stop(signal.SIGINT)
    c.assert_interrupted()


def test_console_entry_point_installs_the_handler_first() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["schedsim"] == "schedsim.__main__:main"
    source = (REPO / "schedsim" / "__main__.py").read_text()
    assert source.index("interrupt.install()") < source.index("from schedsim.cli import")


# --------------------------------------------------------------------------- serial and pool

def test_serial_run_ctrl_c(command: list[Command], tmp_path: Path) -> None:
    c = schedsim(command, tmp_path, "run", SCENARIO, "--replications", "3",
                 "--set", "workload.tasks=2000000")
    time.sleep(2.0)  # imports done or nearly: the first replication runs
    assert c.stop(signal.SIGINT) < STOP_S
    c.assert_interrupted()
    c.assert_nothing_left()


def test_pooled_run_ctrl_c_stops_at_once(command: list[Command], tmp_path: Path) -> None:
    # 8 replications of about 4 s of CPU each: finishing the queued ones would take 15 s or
    # more, stopping takes well under a second.
    c = schedsim(command, tmp_path, "run", SCENARIO, "--replications", "8", "--jobs", "2",
                 "--set", "workload.tasks=2000000")
    c.wait_for(lambda: len(c.members()) >= 3, "two workers")
    time.sleep(1.0)
    assert c.stop(signal.SIGINT) < STOP_S
    c.assert_interrupted()
    c.assert_nothing_left()


SWEEP = ["--grid", "cluster.pools.spot.count=10,20,30,40", "--replications", "3",
         "--set", "workload.tasks=20000", "--jobs", "2"]


def test_sweep_ctrl_c_keeps_the_rows_written_and_resumes(command: list[Command],
                                                         tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    results = out / "results.csv"
    c = schedsim(command, tmp_path, "sweep", SCENARIO, *SWEEP, "--out", str(out))
    c.wait_for(lambda: rows(results) >= 3, "three rows")
    before = rows(results)
    assert c.stop(signal.SIGINT) < STOP_S
    c.assert_interrupted()
    c.assert_nothing_left()
    kept = done_jobs(results)
    assert before <= len(kept) < 12 and rows(results) == len(kept)
    again = subprocess.run([sys.executable, "-m", "schedsim", "sweep", SCENARIO, *SWEEP,
                            "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"{len(kept)} job(s) were already done" in again.stdout
    assert len(done_jobs(results)) == rows(results) == 12


def test_second_ctrl_c_never_hangs(command: list[Command], tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    c = schedsim(command, tmp_path, "sweep", SCENARIO, *SWEEP, "--out", str(out))
    c.wait_for(lambda: len(c.members()) >= 3, "two workers")
    time.sleep(0.5)
    assert c.stop(signal.SIGINT, signal.SIGINT) < STOP_S
    c.assert_interrupted()
    c.assert_nothing_left()


def test_workers_die_with_a_killed_parent(command: list[Command], tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    c = schedsim(command, tmp_path, "sweep", SCENARIO, *SWEEP, "--out", str(out))
    # After a row: workers that have run jobs (fresh ones happened to leave by themselves).
    c.wait_for(lambda: rows(out / "results.csv") >= 1, "a row")
    c.stop(signal.SIGKILL)
    c.assert_nothing_left()


# --------------------------------------------------------------------------- live runs

READ_DEATH_SIGNAL = ("import ctypes; v = ctypes.c_int(); "
                     "ctypes.CDLL(None).prctl(2, ctypes.byref(v), 0, 0, 0); print(v.value)")


@pytest.mark.parametrize("setpriv", [True, False])
def test_programs_started_for_a_live_run_get_a_death_signal(
        setpriv: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux only")
    if not setpriv:
        monkeypatch.setattr(shutil, "which", lambda _name: None)
    elif shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    argv, preexec = interrupt.with_death_signal([sys.executable, "-c", READ_DEATH_SIGNAL],
                                                signal.SIGTERM)
    assert (preexec is None) == setpriv
    out = subprocess.run(argv, preexec_fn=preexec, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == str(int(signal.SIGTERM))

@pytest.fixture(scope="module")
def live_scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("live")
    profile = base / "prof.json"
    synthetic_profile(profile)
    path = base / "live.yaml"
    # Tasks of n = 1e8 (several seconds each) outlive a kill unless something ends them.
    path.write_text(yaml.safe_dump({
        "name": "interrupted", "workload": {"tasks": 40, "duration": {
            "dist": "profile", "n": 100_000_000, "profile": str(profile)}},
        "cluster": {"pools": [{"name": "h", "count": 2}]}}))
    return path


def live_env(tmp: Path) -> dict[str, str]:
    return dict(os.environ, TMPDIR=str(tmp))  # every work folder, so every command line


def kill_live_run_and_check(command: list[Command], tmp_path: Path, scenario: Path,
                            platform: str) -> Path:
    work = tmp_path / "t"
    work.mkdir()
    c = schedsim(command, tmp_path, "live", str(scenario), "--platform", platform,
                 env=live_env(work))
    c.wait_for(lambda: "compress_task" in {command_name(p) for p in processes_under(
        str(work))}, "a running task")
    c.stop(signal.SIGKILL)
    deadline = time.monotonic() + GONE_S
    while processes_under(str(work)) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = {pid: command_name(pid) for pid in processes_under(str(work))}
    assert not left, f"left running after SIGKILL: {left}"
    stale = list(work.glob("schedsim-live-*"))
    assert len(stale) == 1 and stale[0].name.startswith(f"schedsim-live-{c.proc.pid}-")
    return stale[0]


def require_workqueue() -> None:
    if shutil.which("work_queue_worker") is None or not os.access(NATIVE_DIR / "wq_manager",
                                                                  os.X_OK):
        pytest.skip("needs work_queue_worker and build/native/wq_manager "
                    "(scripts/install_native.sh)")


def test_killed_workqueue_run_leaves_nothing_running(command: list[Command], tmp_path: Path,
                                                     live_scenario: Path) -> None:
    require_workqueue()
    stale = kill_live_run_and_check(command, tmp_path, live_scenario, "workqueue")
    # The next live run removes the dead run's folder, and its own.
    small = subprocess.run([sys.executable, "-m", "schedsim", "live", str(live_scenario),
                            "--platform", "workqueue", "--set", "workload.tasks=2",
                            "--set", "workload.duration.n=1000"], cwd=REPO,
                           env=live_env(stale.parent), capture_output=True, text=True,
                           timeout=120)
    assert small.returncode == 0, small.stderr
    assert not stale.exists() and list(stale.parent.glob("schedsim-live-*")) == []


def test_killed_ray_run_leaves_nothing_running(command: list[Command], tmp_path: Path,
                                               live_scenario: Path) -> None:
    pytest.importorskip("ray", reason="ray is not installed: pip install -e .[live]")
    require_workqueue()  # compress_task
    stale = kill_live_run_and_check(command, tmp_path, live_scenario, "ray")
    pid = stale.name.split("-")[2]
    ray_dirs = list(Path("/tmp").glob(f"schedsim-ray-{pid}-*"))  # Ray's, outside TMPDIR
    assert ray_dirs and set(ray_dirs) <= set(remove_stale_folders())
    assert not any(p.exists() for p in ray_dirs)


def test_stale_live_folders_are_removed_only_when_their_run_is_gone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    import schedsim.live.run as live_run

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(live_run, "RAY_TMP", tmp_path)
    dead = subprocess.Popen(["true"])
    dead.wait()
    folders = {name: tmp_path / name for name in (
        f"schedsim-live-{dead.pid}-abc", f"schedsim-ray-{dead.pid}-123",
        f"schedsim-live-{os.getpid()}-def", "schedsim-live-old_name", "other-1-x")}
    for path in folders.values():
        (path / "sub").mkdir(parents=True)
    removed = remove_stale_folders()
    assert sorted(p.name for p in removed) == sorted(
        [f"schedsim-live-{dead.pid}-abc", f"schedsim-ray-{dead.pid}-123"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"schedsim-live-{os.getpid()}-def", "schedsim-live-old_name", "other-1-x"])
