"""Tests of the native programs: compress_task alone and wq_manager with live workers.

The binaries must already be built (``scripts/install_native.sh`` puts them in
``build/native/``). The live tests start real ``work_queue_worker`` processes on
127.0.0.1, each in its own session, and kill every process of those sessions
afterwards, including tasks the workers started and orphaned.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from schedsim.live.processes import command_name, session_members

REPO_ROOT = Path(__file__).resolve().parents[1]
NATIVE_DIR = REPO_ROOT / "build" / "native"
COMPRESS_TASK = NATIVE_DIR / "compress_task"
WQ_MANAGER = NATIVE_DIR / "wq_manager"
WAIT_TASK = NATIVE_DIR / "wait_task"

# Bound on any single wait, so that no test can hang.
STEP_TIMEOUT_S = 60.0

COMPRESS_KEYS = {
    "n",
    "tolerance",
    "seed",
    "bytes_in",
    "bytes_out",
    "generate_s",
    "compress_s",
    "write_s",
    "total_s",
}
TIME_FIELDS = [
    "time_when_submitted_us",
    "time_when_commit_start_us",
    "time_when_commit_end_us",
    "time_when_retrieval_us",
    "time_when_done_us",
]


# Stands in for compress_task (called as `--n N --tolerance T --seed S --out F`):
# creates the output, then for seed 1 prints a JSON object and succeeds, and
# otherwise prints something that is not JSON and exits 3.
FAKE_TASK = r"""#!/bin/sh
: > "$8"
if [ "$6" = 1 ]; then printf '%s\n' '{"x": [1, 2.5e-3, "s\"q"], "y": null}'; exit 0; fi
printf '{"a":1,}\n\001 "tail"\n'; exit 3
"""


def _require(path: Path) -> Path:
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built; run scripts/install_native.sh first")
    return path


@pytest.fixture(scope="module")
def compress_task() -> Path:
    return _require(COMPRESS_TASK)


@pytest.fixture(scope="module")
def wq_manager() -> Path:
    return _require(WQ_MANAGER)


@pytest.fixture(scope="module")
def wait_task() -> Path:
    return _require(WAIT_TASK)


@pytest.fixture(scope="module")
def worker_exe() -> str:
    exe = shutil.which("work_queue_worker")
    if exe is None:
        pytest.fail("work_queue_worker is not on PATH; run scripts/install_native.sh first")
    return exe


def run_compress(exe: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(exe), *map(str, args)], capture_output=True, text=True, timeout=STEP_TIMEOUT_S
    )


# ---- compress_task ----------------------------------------------------------


def test_compress_task_reports_json_and_writes_bytes_out(
    compress_task: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.zfp"
    proc = run_compress(compress_task, "--n", "100000", "--tolerance", "1e-3", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert set(rec) == COMPRESS_KEYS
    assert rec["n"] == 100000 and rec["seed"] == 1 and rec["tolerance"] == pytest.approx(1e-3)
    assert rec["bytes_in"] == 4 * 100000
    assert 0 < rec["bytes_out"] < rec["bytes_in"]
    assert out.stat().st_size == rec["bytes_out"]
    parts = [rec["generate_s"], rec["compress_s"], rec["write_s"]]
    assert all(p >= 0 for p in parts)
    assert rec["total_s"] >= sum(parts)


def test_compress_task_meets_tolerance(compress_task: Path, tmp_path: Path) -> None:
    # --verify decodes the stream again, so this checks zfp's accuracy mode is in force.
    proc = run_compress(
        compress_task, "--n", "50000", "--tolerance", "1e-2", "--verify", "--out", tmp_path / "o"
    )
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(proc.stdout)
    assert 0 < rec["max_abs_error"] <= 1e-2


def test_compress_task_seed_determines_output(compress_task: Path, tmp_path: Path) -> None:
    def compressed(seed: int, name: str) -> bytes:
        out = tmp_path / name
        args: list[str | Path] = [
            "--n",
            "20000",
            "--tolerance",
            "1e-3",
            "--seed",
            str(seed),
            "--out",
            out,
        ]
        assert run_compress(compress_task, *args).returncode == 0
        return out.read_bytes()

    first = compressed(7, "a")
    assert compressed(7, "b") == first
    assert compressed(8, "c") != first


@pytest.mark.parametrize(
    "args",
    [
        ["--n", "abc", "--tolerance", "1e-3", "--out", "{out}"],
        ["--n", "0", "--tolerance", "1e-3", "--out", "{out}"],
        ["--n", "-5", "--tolerance", "1e-3", "--out", "{out}"],
        ["--n", "10", "--tolerance", "0", "--out", "{out}"],
        ["--n", "10", "--tolerance", "nan", "--out", "{out}"],
        ["--n", "10", "--tolerance", "1e-3", "--seed", "x", "--out", "{out}"],
        ["--n", "10", "--tolerance", "1e-3", "--bogus", "1", "--out", "{out}"],
        ["--n", "10", "--tolerance", "1e-3"],
        ["--tolerance", "1e-3", "--out", "{out}"],
        ["--n", "10", "--tolerance", "1e-3", "--out", "{tmp}/no/such/dir/out"],
        ["--n", "10", "--tolerance", "1e-3", "--out"],
    ],
)
def test_compress_task_bad_args_exit_2(
    compress_task: Path, tmp_path: Path, args: list[str]
) -> None:
    argv = [a.format(out=tmp_path / "out", tmp=tmp_path) for a in args]
    proc = run_compress(compress_task, *argv)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith("compress_task: ")


# ---- wait_task ----------------------------------------------------------------


def test_wait_task_waits_its_time_and_writes_its_bytes(wait_task: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.bin"
    started = time.monotonic()
    proc = run_compress(wait_task, "--seconds", "0.3", "--bytes", "200000", "--out", out)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(proc.stdout)
    assert set(rec) == {"seconds", "bytes_out", "write_s", "total_s"}
    assert rec["seconds"] == 0.3 and rec["bytes_out"] == 200_000
    # The time is the given time: the write is inside it, not added to it.
    assert 0.3 <= rec["total_s"] <= elapsed and rec["write_s"] < rec["total_s"]
    data = out.read_bytes()
    assert len(data) == 200_000 and len(set(data)) > 200  # not a run of zeros
    empty = tmp_path / "empty"
    proc = run_compress(wait_task, "--seconds", "0", "--out", empty)
    assert proc.returncode == 0 and empty.read_bytes() == b""
    assert json.loads(proc.stdout)["bytes_out"] == 0


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--out", "{out}"],
        ["--seconds", "1"],
        ["--seconds", "-1", "--out", "{out}"],
        ["--seconds", "nan", "--out", "{out}"],
        ["--seconds", " 1", "--out", "{out}"],
        ["--seconds", "1", "--bytes", "1.5", "--out", "{out}"],
        ["--seconds", "1", "--bytes", "-2", "--out", "{out}"],
        ["--seconds", "1", "--out", "{tmp}/missing/x"],
        ["--seconds", "1", "--out"],
        ["--bogus", "1"],
    ],
)
def test_wait_task_bad_args_exit_2(wait_task: Path, tmp_path: Path, args: list[str]) -> None:
    argv = [a.format(out=tmp_path / "out", tmp=tmp_path) for a in args]
    proc = run_compress(wait_task, *argv)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith("wait_task: ")


# ---- process bookkeeping for live runs ---------------------------------------


class Processes:
    """Starts processes in sessions of their own and kills those sessions whole.

    A Work Queue worker runs each task in a new process group but in its own
    session, so killing by session also reaches tasks a dead worker orphaned.
    """

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[Any]] = []

    def start(self, argv: Sequence[str | Path], **kwargs: Any) -> subprocess.Popen[Any]:
        proc = subprocess.Popen([str(a) for a in argv], start_new_session=True, **kwargs)
        self.procs.append(proc)
        return proc

    def session_pids(self, proc: subprocess.Popen[Any]) -> list[int]:
        return session_members({proc.pid})

    def kill_session(self, proc: subprocess.Popen[Any]) -> None:
        for pid in session_members({proc.pid}):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def cleanup(self) -> None:
        for proc in self.procs:
            self.kill_session(proc)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        sids = {p.pid for p in self.procs}
        deadline = time.monotonic() + 10
        while session_members(sids) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = session_members(sids)
        assert not left, f"processes left behind: {left}"


@pytest.fixture
def processes() -> Iterator[Processes]:
    procs = Processes()
    try:
        yield procs
    finally:
        procs.cleanup()


def wait_for_first_line(
    path: Path, proc: subprocess.Popen[Any], timeout: float = 10.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if "\n" in text:
            first: dict[str, Any] = json.loads(text.split("\n", 1)[0])
            return first
        if proc.poll() is not None:
            pytest.fail(f"wq_manager exited with {proc.returncode} before listening")
        time.sleep(0.01)
    pytest.fail("wq_manager did not print its listening line")


def start_manager(
    processes: Processes,
    exe: Path,
    tmp: Path,
    *extra: str | Path,
    tasks: int,
    n: int,
    task_binary: Path,
    out_dir: Path | None = None,
) -> tuple[subprocess.Popen[Any], Path, int]:
    stdout_path = tmp / "manager.jsonl"
    argv: list[str | Path] = [
        exe,
        "--tasks",
        str(tasks),
        "--n",
        str(n),
        "--tolerance",
        "1e-3",
        "--task-binary",
        task_binary,
        "--out-dir",
        out_dir or tmp / "out",
        "--port",
        "0",
        "--password",
        tmp / "password",
        "--timeout",
        "50",
        *extra,
    ]
    with open(stdout_path, "w") as out, open(tmp / "manager.err", "w") as err:
        proc = processes.start(argv, stdout=out, stderr=err)
    listening = wait_for_first_line(stdout_path, proc)
    assert listening == {"event": "listening", "port": listening["port"]}
    assert 1024 <= listening["port"] <= 65535
    return proc, stdout_path, listening["port"]


def start_worker(
    processes: Processes, exe: str, tmp: Path, port: int, name: str
) -> subprocess.Popen[Any]:
    workdir = tmp / name
    workdir.mkdir()
    argv: list[str | Path] = [
        exe,
        "--single-shot",
        "--cores",
        "1",
        "--password",
        tmp / "password",
        "--timeout",
        "30",
        "--parent-death",
        "--workdir",
        workdir,
        "127.0.0.1",
        str(port),
    ]
    with open(tmp / f"{name}.log", "w") as log:
        return processes.start(argv, stdout=log, stderr=subprocess.STDOUT)


def finish_manager(
    proc: subprocess.Popen[Any], stdout_path: Path
) -> tuple[int, list[dict[str, Any]]]:
    """Waits for wq_manager (bounded) and returns its exit status and JSON lines."""
    rc = proc.wait(timeout=STEP_TIMEOUT_S)
    records = [json.loads(line) for line in stdout_path.read_text().splitlines()]
    return rc, records


def check_task_record(rec: dict[str, Any], seed_base: int, n: int) -> None:
    assert rec["ok"] is True and rec["result"] == 0 and rec["return_status"] == 0
    assert rec["result_str"] == "SUCCESS"
    times = [rec[f] for f in TIME_FIELDS]
    assert times[0] > 0
    assert times == sorted(times), dict(zip(TIME_FIELDS, times, strict=True))
    assert 0 < rec["time_workers_execute_last_us"] <= rec["time_workers_execute_all_us"]
    assert rec["host"].startswith("127.0.0.1:")
    out = rec["task_output"]
    assert isinstance(out, dict) and set(out) == COMPRESS_KEYS
    assert out["n"] == n and out["seed"] == seed_base + rec["task_index"] == rec["seed"]
    path = Path(rec["output_file"])
    assert path.name == f"task_{rec['task_index']}.zfp"
    assert path.stat().st_size == out["bytes_out"] == rec["output_bytes"]
    assert rec["bytes_received"] >= out["bytes_out"]


# ---- wq_manager --------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--tasks", "0"],
        ["--tasks", "x"],
        ["--n", "1.5"],
        ["--tolerance", "-1"],
        ["--port", "70000"],
        ["--max-retries", "-1"],
        ["--timeout", "0"],
        ["--task-binary", "{tmp}/missing"],
        ["--password", "{tmp}/missing"],
        ["--bogus", "1"],
        ["stray"],
        ["--seed-base"],
        ["--address", "localhost"],
        ["--address", "::1"],
    ],
)
def test_wq_manager_bad_args_exit_2(
    wq_manager: Path, compress_task: Path, tmp_path: Path, args: list[str]
) -> None:
    base = {
        "--tasks": "2",
        "--n": "10",
        "--tolerance": "1e-3",
        "--task-binary": str(compress_task),
        "--out-dir": str(tmp_path / "out"),
    }
    argv = [a.format(tmp=tmp_path) for a in args]
    if argv[0] in base and len(argv) == 2:
        base[argv[0]] = argv[1]
        argv = []
    flat = [x for kv in base.items() for x in kv] + argv
    proc = subprocess.run(
        [str(wq_manager), *flat], capture_output=True, text=True, timeout=STEP_TIMEOUT_S
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith("wq_manager: ")


@pytest.mark.parametrize(
    ("times", "extra", "words"),
    [
        ("1\n2\n", ["--n", "10"], "takes no --n or --tolerance"),
        ("1\n", [], "has 1 times for --tasks 2"),
        ("1\n2\n3\n", [], "more than --tasks 2 lines"),
        ("1\n-2\n", [], "line 2 expects a number of seconds >= 0, got '-2'"),
        ("1\n2 ; rm x\n", [], "line 2 expects a number of seconds"),
        ("1\n2\n", ["--output-bytes", "1e3"], "--output-bytes expects an integer >= 0"),
    ],
)
def test_wq_manager_bad_wait_times_exit_2(wq_manager: Path, wait_task: Path, tmp_path: Path,
                                          times: str, extra: list[str], words: str) -> None:
    (tmp_path / "times").write_text(times)
    proc = subprocess.run(
        [str(wq_manager), "--tasks", "2", "--wait-times", str(tmp_path / "times"),
         "--task-binary", str(wait_task), "--out-dir", str(tmp_path / "out"), *extra],
        capture_output=True, text=True, timeout=STEP_TIMEOUT_S)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and words in proc.stderr, proc.stderr


def test_wq_manager_output_bytes_need_wait_times(wq_manager: Path, compress_task: Path,
                                                 tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(wq_manager), "--tasks", "2", "--n", "10", "--tolerance", "1e-3",
         "--output-bytes", "5", "--task-binary", str(compress_task),
         "--out-dir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=STEP_TIMEOUT_S)
    assert proc.returncode == 2 and "--output-bytes needs --wait-times" in proc.stderr


def test_wq_manager_runs_waiting_tasks(wq_manager: Path, wait_task: Path, worker_exe: str,
                                       processes: Processes, tmp_path: Path) -> None:
    (tmp_path / "password").write_text("not-a-real-secret\n")
    times = [0.2, 0.05, 0.3]
    (tmp_path / "times").write_text("".join(f"{t}\n" for t in times))
    stdout_path = tmp_path / "manager.jsonl"
    argv: list[str | Path] = [
        wq_manager, "--tasks", "3", "--wait-times", tmp_path / "times",
        "--output-bytes", "3000", "--task-binary", wait_task, "--out-dir", tmp_path / "out",
        "--port", "0", "--password", tmp_path / "password", "--timeout", "50"]
    with open(stdout_path, "w") as out, open(tmp_path / "manager.err", "w") as err:
        manager = processes.start(argv, stdout=out, stderr=err)
    port = wait_for_first_line(stdout_path, manager)["port"]
    start_worker(processes, worker_exe, tmp_path, port, "w0")
    rc, records = finish_manager(manager, stdout_path)
    assert rc == 0, (tmp_path / "manager.err").read_text()
    done = sorted((r for r in records if r["event"] == "task_done"),
                  key=lambda r: r["task_index"])
    assert [r["task_index"] for r in done] == [0, 1, 2]
    for rec, seconds in zip(done, times, strict=True):
        out = rec["task_output"]
        assert rec["ok"] and out["seconds"] == seconds and out["bytes_out"] == 3000
        assert seconds <= out["total_s"] < seconds + 0.5
        assert Path(rec["output_file"]).name == f"task_{rec['task_index']}.out"
        assert rec["output_bytes"] == 3000 and rec["bytes_received"] >= 3000


def listening_addresses(pid: int) -> set[str]:
    """``ADDRESS:PORT`` of the IPv4 and IPv6 TCP sockets ``pid`` listens on (from /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                host, port = cols[1].split(":")
                raw = bytes.fromhex(host)
                if len(raw) == 4:
                    address = ".".join(str(b) for b in reversed(raw))
                else:
                    address = "::" if not any(raw) else host
                found.add(f"{address}:{int(port, 16)}")
    return found


@pytest.mark.parametrize(("args", "address"), [([], "127.0.0.1"), (["--address", "any"],
                                                                    "0.0.0.0")])
def test_wq_manager_listens_on_loopback_unless_asked(
    wq_manager: Path, compress_task: Path, processes: Processes, tmp_path: Path,
    args: list[str], address: str
) -> None:
    (tmp_path / "password").write_text("secret\n")
    proc, _out, port = start_manager(
        processes, wq_manager, tmp_path, *args, tasks=1, n=10, task_binary=compress_task
    )
    assert listening_addresses(proc.pid) == {f"{address}:{port}"}


def test_wq_manager_times_out_without_workers(
    wq_manager: Path, compress_task: Path, tmp_path: Path
) -> None:
    proc = subprocess.run(
        [
            str(wq_manager),
            "--tasks",
            "2",
            "--n",
            "10",
            "--tolerance",
            "1e-3",
            "--task-binary",
            str(compress_task),
            "--out-dir",
            str(tmp_path / "out"),
            "--timeout",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
    )
    assert proc.returncode == 3
    assert len(proc.stderr.splitlines()) == 1 and "timed out" in proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert records[0]["event"] == "listening"
    summary = records[-1]
    assert summary["event"] == "summary" and summary["stopped"] == "timeout"
    assert summary["done"] == 0 and summary["tasks"] == 2


def test_live_run_two_workers(
    wq_manager: Path, compress_task: Path, worker_exe: str, processes: Processes, tmp_path: Path
) -> None:
    (tmp_path / "password").write_text("not-a-real-secret\n")
    # A directory name that needs JSON escaping: quote, backslash, tab, non-ASCII.
    out_dir = tmp_path / 'out "q" \\ \t ü'
    n, tasks = 100_000, 4
    manager, stdout_path, port = start_manager(
        processes,
        wq_manager,
        tmp_path,
        "--transactions-log",
        tmp_path / "tx.log",
        tasks=tasks,
        n=n,
        task_binary=compress_task,
        out_dir=out_dir,
    )
    workers = [start_worker(processes, worker_exe, tmp_path, port, f"w{i}") for i in range(2)]

    rc, records = finish_manager(manager, stdout_path)
    assert rc == 0, (tmp_path / "manager.err").read_text()
    done = [r for r in records if r["event"] == "task_done"]
    assert len(done) == tasks
    assert sorted(r["task_index"] for r in done) == list(range(tasks))
    for rec in done:
        check_task_record(rec, seed_base=1, n=n)
        assert rec["output_file"].startswith(str(out_dir))
    # The executable is a cached input: sent at most once per worker.
    binary_size = compress_task.stat().st_size
    assert sum(r["bytes_sent"] >= binary_size for r in done) <= len(workers)

    summary = records[-1]
    assert summary["event"] == "summary"
    assert summary["tasks"] == tasks and summary["done"] == tasks and summary["failed"] == 0
    assert summary["stopped"] is None and summary["workers_lost"] == 0
    assert summary["wall_s"] > 0 and summary["tasks_per_s"] > 0
    assert sorted(p.name for p in out_dir.iterdir()) == [f"task_{i}.zfp" for i in range(tasks)]
    assert "TASK" in (tmp_path / "tx.log").read_text()

    # Single-shot workers leave by themselves once the manager is gone.
    for w in workers:
        assert w.wait(timeout=STEP_TIMEOUT_S) == 0


def test_live_run_reports_failures_and_non_json_output(
    wq_manager: Path, worker_exe: str, processes: Processes, tmp_path: Path
) -> None:
    (tmp_path / "password").write_text("pw\n")
    fake = tmp_path / "fake_task"
    fake.write_text(FAKE_TASK)
    fake.chmod(0o755)
    manager, stdout_path, port = start_manager(
        processes, wq_manager, tmp_path, tasks=2, n=10, task_binary=fake
    )
    start_worker(processes, worker_exe, tmp_path, port, "w0")
    rc, records = finish_manager(manager, stdout_path)
    assert rc == 1
    by_index = {r["task_index"]: r for r in records if r["event"] == "task_done"}
    assert by_index[0]["ok"] is True
    assert by_index[0]["task_output"] == {"x": [1, 2.5e-3, 's"q'], "y": None}
    assert by_index[1]["ok"] is False and by_index[1]["return_status"] == 3
    assert by_index[1]["task_output"] == '{"a":1,}\n\x01 "tail"\n'
    summary = records[-1]
    assert summary["done"] == 1 and summary["failed"] == 1


def test_live_run_survives_worker_loss(
    wq_manager: Path, compress_task: Path, worker_exe: str, processes: Processes, tmp_path: Path
) -> None:
    (tmp_path / "password").write_text("pw\n")
    n, tasks = 5_000_000, 6
    manager, stdout_path, port = start_manager(
        processes, wq_manager, tmp_path, tasks=tasks, n=n, task_binary=compress_task
    )
    victim = start_worker(processes, worker_exe, tmp_path, port, "victim")
    survivor = start_worker(processes, worker_exe, tmp_path, port, "survivor")

    # Kill the victim's whole session (worker and its running task, as when a
    # node vanishes) as soon as it is running a task. Killing only the worker
    # would leave the orphaned task holding the worker's socket open, and the
    # manager would notice the loss only when that task ended.
    deadline = time.monotonic() + 30
    while "compress_task" not in {command_name(pid) for pid in processes.session_pids(victim)}:
        assert time.monotonic() < deadline, "the victim worker never started a task"
        assert manager.poll() is None, "the manager finished before the victim got a task"
        time.sleep(0.005)
    processes.kill_session(victim)

    rc, records = finish_manager(manager, stdout_path)
    assert rc == 0, (tmp_path / "manager.err").read_text()
    done = [r for r in records if r["event"] == "task_done"]
    assert sorted(r["task_index"] for r in done) == list(range(tasks))
    for rec in done:
        check_task_record(rec, seed_base=1, n=n)
    retried = [r for r in done if r["try_count"] >= 2]
    assert retried, "the victim's task should have gone back to the queue"
    assert all(r["time_workers_execute_failure_us"] > 0 for r in retried)
    summary = records[-1]
    assert summary["done"] == tasks and summary["failed"] == 0
    assert summary["workers_lost"] == 1
    assert summary["tasks_dispatched"] == sum(r["try_count"] for r in done)
    assert victim.wait(timeout=10) == -signal.SIGKILL
    assert survivor.wait(timeout=STEP_TIMEOUT_S) == 0
