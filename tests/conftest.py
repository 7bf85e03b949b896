"""Shared helpers: build scenarios from small dicts without files; a validate report without
live runs; find and interrupt the processes of a live run."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from schedsim.loading import parse_scenario
from schedsim.scenario import Scenario

REPO = Path(__file__).resolve().parents[1]

CONTRACT: dict[str, Any] = {
    "name": "contract-example",
    "seed": 7,
    "replications": 3,
    "platform": {"type": "ideal"},
    "workload": {"tasks": 2000, "duration": {"dist": "exponential", "mean": "1s"},
                 "input_size": "0 B", "output_size": "0 B"},
    "cluster": {"pools": [{"name": "spot", "count": 50, "cores": 1, "market": "spot",
                           "price_per_hour": 0.05, "boot_time": "0s"}]},
    "churn": [{"pool": "spot", "lifetime": {"dist": "exponential", "mean": "1h"},
               "notice": "0s", "replace_delay": "0s"}],
}


def make(overrides: dict[str, Any] | None = None, drop: tuple[str, ...] = ()) -> Scenario:
    """The contract scenario with top-level keys replaced or dropped."""
    data = copy.deepcopy(CONTRACT)
    for key in drop:
        data.pop(key, None)
    data.update(copy.deepcopy(overrides or {}))
    return parse_scenario(data, "test.yaml", REPO)


def pool(count: int, cores: int = 1, **extra: Any) -> dict[str, Any]:
    return {"cluster": {"pools": [{"name": "p", "count": count, "cores": cores, **extra}]}}


@pytest.fixture
def contract_file(tmp_path: Path) -> Path:
    import yaml

    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(CONTRACT))
    return path


def fake_report() -> dict[str, Any]:
    """A fixed validation report: every config 10% off, so each platform fails."""
    from schedsim.studies import validation

    return {"configs": [{"config": "c", "platform": p, "tasks": 1, "n": 1e5, "workers": 1,
                         "held_out": True, "live_makespan_s": 1.0, "live_makespan_sd": 0.0,
                         "sim_makespan_s": 1.1, "sim_makespan_sd": 0.0,
                         "relative_error": 0.1, "latency_mape": 0.1, "latency_ks": 0.2}
                        for p in validation.PLATFORMS],
            "overall": {p: validation.overall([0.1]) for p in validation.PLATFORMS},
            "rfc_ratio_wq_over_ray": {"rfc": 1.78, "live": 0.2, "simulated": 0.3},
            "tolerance": {"median": 0.05, "p95": 0.15}}


@pytest.fixture
def fake_validate(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``validation.validate`` made to return :func:`fake_report`: the command's files and
    output without a live run."""
    from schedsim.studies import validation

    fake = fake_report()
    monkeypatch.setattr(validation, "validate", lambda *a, **k: fake)
    # This host as the profile's, and no tools needed (the host check is tests/test_host.py's).
    import schedsim.live.run as live_run
    from schedsim.calibration import host

    monkeypatch.setattr(live_run, "require_tools", lambda platforms: None)
    monkeypatch.setattr(host, "run_probe", lambda repeats=15: None)
    monkeypatch.setattr(host, "this_host", lambda probe: {"probe": probe})
    monkeypatch.setattr(validation, "live_runs", lambda *a, **k: [])
    return fake


def processes_under(prefix: str) -> list[int]:
    """Live processes whose command line or working folder lies under ``prefix``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except (OSError, IndexError):
            continue
        # A task's command line is relative (./compress_task); its sandbox is under prefix.
        if (prefix in cmd or cwd.startswith(prefix)) and state != "Z":
            found.append(int(entry))
    return found


StartLive = Callable[[Path, str, str], "tuple[subprocess.Popen[str], str]"]


@pytest.fixture
def live_cli_running(tmp_path: Path) -> Iterator[StartLive]:
    """Start ``schedsim live SCENARIO --platform P`` in its own session, every work folder
    under a fresh TMPDIR, and return (process, TMPDIR) once ``program`` runs there; the
    process group is killed at teardown if the test left it running."""
    from schedsim.live.processes import command_name

    started: list[subprocess.Popen[str]] = []

    def start(scenario: Path, platform: str, program: str) -> tuple[subprocess.Popen[str], str]:
        tmp = tmp_path / "t"
        tmp.mkdir()
        env = dict(os.environ, TMPDIR=str(tmp))  # every work folder, so every command line
        proc = subprocess.Popen([sys.executable, "-m", "schedsim", "live", str(scenario),
                                 "--platform", platform], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        started.append(proc)
        deadline = time.monotonic() + 30
        while program not in {command_name(p) for p in processes_under(str(tmp))}:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        return proc, str(tmp)

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
