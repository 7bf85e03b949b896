"""The resolved model: platform options resolved once with their sources, ``schedsim check``
printing it, ``--out`` keeping every key, and the provenance every summary carries."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from schedsim import __version__, resolve
from schedsim.calibration.profile import default_profile_path, platform_defaults
from schedsim.cli import main
from schedsim.loading import load_scenario, parse_scenario
from schedsim.platforms import PLATFORMS
from schedsim.reader import Reader
from schedsim.runner import run_scenario
from schedsim.scenario import PlatformSpec, Scenario
from schedsim.simulation import Simulation

from .conftest import CONTRACT, REPO

SCENARIOS = sorted((REPO / "scenarios").glob("*.yaml"))
SPOT = REPO / "scenarios" / "spot.yaml"


def scenario(overrides: dict[str, Any] | None = None, **platform: Any) -> Scenario:
    """The contract scenario on a platform, with top-level keys replaced."""
    data = copy.deepcopy(CONTRACT)
    data.update(copy.deepcopy(overrides or {}))
    if platform:
        data["platform"] = platform
    return parse_scenario(data, "test.yaml", REPO)


# ------------------------------------------------------------------ resolution and sources

@pytest.mark.parametrize("kind", ["workqueue", "ray"])
def test_every_option_says_which_source_won_and_holds_that_value(kind: str) -> None:
    given = {"workqueue": {"dispatch_time": "2ms", "task_cores": 1, "manager": {"pool": "spot"}},
             "ray": {"lease_latency": "3ms", "max_pending": 10, "head": {"pool": "spot"}}}[kind]
    s = scenario(type=kind, **{kind: given})
    config, sources = s.platform.configs[kind], s.platform.sources[kind]
    documented = PLATFORMS[kind].config()  # type: ignore[misc]
    fitted = platform_defaults(kind)
    assert set(sources) == {f.name for f in dataclasses.fields(config)}
    assert set(PLATFORMS[kind].units) == set(sources)
    for name, source in sources.items():
        value = getattr(config, name)
        if source == "scenario":
            assert name in given or name.removesuffix("_pool") in given, name
        elif source == "profile":
            assert name in fitted and value == fitted[name], name
        else:
            assert source == "default" and name not in fitted, name
            assert value == getattr(documented, name), name
    assert {n for n, src in sources.items() if src == "scenario"} == \
        {"workqueue": {"dispatch_time", "task_cores", "manager_pool"},
         "ray": {"lease_latency", "max_pending", "head_pool"}}[kind]
    assert {n for n, src in sources.items() if src == "profile"} == set(fitted) - set(given)
    # The shipped profile's fitted values are what runs, not the dataclass's source defaults.
    assert fitted and all(getattr(config, n) != getattr(documented, n) for n in fitted
                          if n not in given)


@pytest.mark.parametrize("kind", ["workqueue", "ray"])
def test_a_platform_built_without_options_takes_the_same_resolved_defaults(kind: str) -> None:
    """``config or WorkQueueConfig()`` skipped the profile: a platform built directly (no
    options) ran other overheads than a scenario that gives none."""
    loaded = scenario(type=kind)
    bare = dataclasses.replace(loaded, platform=PlatformSpec(type=kind))
    assert Simulation(bare, 0).platform.config == loaded.platform.config
    assert loaded.platform.config == PLATFORMS[kind].read_config(Reader("t", kind, {}), None)


# ------------------------------------------------------------------ the resolved scenario

VARIANTS: list[dict[str, Any]] = [
    {"platform": {"type": "workqueue", "workqueue": {
        "task_cores": 1, "fast_abort": 3, "listen_backlog": 5,
        "factory": {"pool": "spot", "max_workers": 60}}}},
    {"platform": {"type": "ray", "ray": {"driver": "get_in_loop", "max_pending": 50,
                                         "head": {"pool": "spot"}}},
     "cluster": {"pools": [{"name": "spot", "count": 20, "cores": 2, "speed": 1.5,
                            "boot_time": {"dist": "weibull", "mean": "30s", "shape": 2}}],
                 "manager": {"price_per_hour": 0.3}, "host": {"cpus": 8, "background": 0.5}},
     "churn": [{"pool": "spot", "band": ">20%", "max_lifetime": "2min", "notice": "5s",
                "on_notice": "drain", "zone_reclaims": {"mean_interval": "30s",
                                                        "fraction": 0.5}}]},
    {"workload": {"tasks": 200, "duration": {"dist": "profile", "n": 300000,
                                             "tolerance": 3e-3},
                  "output_size": "1 MB", "executable_size": "35 KB"},
     "network": {"manager": {"bandwidth": "1 Gbps", "latency": "1ms", "duplex": "half"},
                 "worker": {"bandwidth": "100 MB/s"}},
     "horizon": "1h"},
    {"workload": {"tasks": 300, "duration": {"dist": "hyperexponential", "phases": [
        {"p": 0.25, "mean": "3s"}, {"p": 0.75, "mean": "0.5s"}]}}},
]


@pytest.mark.parametrize("source", [*SCENARIOS, *range(len(VARIANTS))],
                         ids=lambda v: v.stem if isinstance(v, Path) else f"variant{v}")
def test_the_resolved_scenario_loads_back_to_the_same_model(source: Path | int) -> None:
    s = load_scenario(source) if isinstance(source, Path) else scenario(VARIANTS[source])
    mapping = resolve.resolved_mapping(s)
    text = yaml.safe_dump(mapping, sort_keys=False)
    again = parse_scenario(yaml.safe_load(text), s.source, REPO)
    assert again == s  # every field but the raw mapping
    assert again.platform.configs == s.platform.configs
    assert resolve.resolved_mapping(again) == mapping
    assert resolve.scenario_sha256(again) == resolve.scenario_sha256(s)


def test_the_resolved_scenario_of_run_out_has_every_key_and_the_same_numbers(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["run", str(SPOT), "--out", str(out), "--replications", "2",
                 "--set", "workload.tasks=400", "--set", "cluster.pools.spot.count=20"]) == 0
    resolved = yaml.safe_load((out / "scenario.resolved.yaml").read_text())
    wq = resolved["platform"]["workqueue"]
    fitted = platform_defaults("workqueue")
    assert wq["dispatch_time"] == fitted["dispatch_time"]  # the profile's value, written
    assert wq["scan_time_per_worker"] == 5e-7 and wq["keepalive_timeout"] == 30.0
    assert resolved["platform"]["ray"]["lease_latency"] == platform_defaults("ray")[
        "lease_latency"]
    assert resolved["workload"]["duration"] == {"dist": "lognormal", "mean": 30.0, "cv": 0.3}
    assert resolved["cluster"]["pools"][0]["speed"] == 1.0
    assert resolved["churn"][0]["on_notice"] == "shutdown"
    first = json.loads((out / "summary.json").read_text())
    again = run_scenario(load_scenario(out / "scenario.resolved.yaml"))
    assert again.data["metrics"] == first["metrics"]
    assert again.data["provenance"]["scenario_sha256"] == \
        first["provenance"]["scenario_sha256"]


# ------------------------------------------------------------------ provenance

def test_every_summary_carries_the_version_and_both_hashes(tmp_path: Path) -> None:
    profile = hashlib.sha256(default_profile_path().read_bytes()).hexdigest()
    run, compare = tmp_path / "run.json", tmp_path / "compare.json"
    small = ["--set", "workload.tasks=100", "--replications", "2"]
    assert main(["run", str(SPOT), "--json", str(run), *small]) == 0
    assert main(["compare", str(SPOT), "--platform", "workqueue", "--platform", "ray",
                 "--json", str(compare), *small]) == 0
    s = load_scenario(SPOT, ["workload.tasks=100"], replications=2)
    summaries = {"run": json.loads(run.read_text()), **json.loads(compare.read_text())}
    for name, data in summaries.items():
        p = data["provenance"]
        assert p["schedsim"] == __version__
        assert p["calibration_profile"] == {"file": "default.json", "sha256": profile}
        kind = "workqueue" if name == "run" else name
        expected = json.dumps(resolve.resolved_mapping(s.with_platform(kind)), sort_keys=True,
                              separators=(",", ":"))
        assert p["scenario_sha256"] == hashlib.sha256(expected.encode()).hexdigest(), name
    assert summaries["run"]["provenance"] == summaries["workqueue"]["provenance"]
    assert summaries["ray"]["provenance"]["scenario_sha256"] != \
        summaries["workqueue"]["provenance"]["scenario_sha256"]


def test_the_scenario_hash_follows_the_model_not_its_spelling() -> None:
    base = resolve.scenario_sha256(scenario())
    spelled = scenario({"workload": {"tasks": 2000, "duration": {"dist": "exponential",
                                                                 "mean": 1.0}}})
    assert resolve.scenario_sha256(spelled) == base  # "1s" and 1.0 are the same model
    explicit = scenario({"platform": {"type": "ideal", "workqueue": {
        "dispatch_time": platform_defaults("workqueue")["dispatch_time"]}}})
    assert resolve.scenario_sha256(explicit) == base  # a default written out changes nothing
    assert resolve.scenario_sha256(scenario({"seed": 8})) != base
    other = scenario({"platform": {"type": "ideal", "ray": {"lease_latency": "7ms"}}})
    assert resolve.scenario_sha256(other) != base


def test_a_task_profile_of_its_own_is_hashed_too(tmp_path: Path) -> None:
    copy_of = tmp_path / "mine.json"
    copy_of.write_bytes(default_profile_path().read_bytes() + b"\n")
    s = scenario({"workload": {"tasks": 10, "duration": {
        "dist": "profile", "n": 200000, "profile": str(copy_of)}}})
    p = resolve.provenance(s)
    assert p["task_profiles"] == {"workload.duration": {
        "file": "mine.json", "sha256": hashlib.sha256(copy_of.read_bytes()).hexdigest()}}
    assert "task_profiles" not in resolve.provenance(scenario())


# ------------------------------------------------------------------ schedsim check

def test_check_prints_the_resolved_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(SPOT)]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "ok: " in out
    assert "task time: mean 30 s (lognormal, cv 0.3)" in out
    assert "output 2 kB" in out and "executable 35 kB" in out
    assert "dispatch_time 6.925e-05 s profile" in out
    assert "scan_time_per_worker 5.000e-07 s default" in out
    assert "task_cores 1 cores scenario" in out
    assert "bound: 133.3 tasks/s, binding: worker_slots" in out
    assert "warning: platform.workqueue: dispatch_time" in out  # 4,000 cores vs 4 measured
    assert "estimate (serial, without --out)" in out


@pytest.mark.parametrize("n,outside", [(20_000_000, True), (2_000_000, False),
                                       (50_000, True)])
def test_check_warns_where_the_task_model_is_extrapolated(
        n: int, outside: bool, capsys: pytest.CaptureFixture[str]) -> None:
    rfc = str(REPO / "scenarios" / "rfc-local.yaml")
    assert main(["check", rfc, "--set", f"workload.duration.n={n}"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"n = {n:,} at tolerance 0.001" in out
    warned = f"warning: workload.duration: n = {n:,} lies outside the n default.json " \
             "measured (100,000 to 10,000,000)"
    assert (warned in out) == outside
    mean = load_scenario(rfc, [f"workload.duration.n={n}"]).workload.duration.mean
    assert f"task time: mean {mean:.4g} s" in out


def test_check_json_on_stdout_matches_what_a_run_reports() -> None:
    proc = subprocess.run([sys.executable, "-m", "schedsim", "check", str(SPOT), "--json", "-",
                           "--set", "workload.tasks=200"], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    model = json.loads(proc.stdout)  # the JSON alone; the text went to stderr
    assert "ok:" in proc.stderr
    s = load_scenario(SPOT, ["workload.tasks=200"])
    assert model["platform_parameters"]["dispatch_time"] == {
        "value": platform_defaults("workqueue")["dispatch_time"], "unit": "s",
        "source": "profile"}
    assert model["platform_parameters"]["task_cores"]["source"] == "scenario"
    assert model["task"]["mean_s"] == 30.0 and model["task"]["output_size_bytes"] == 2000.0
    ran = run_scenario(s).data
    assert model["bound"] == ran["bound"]
    assert model["provenance"]["scenario_sha256"] == ran["provenance"]["scenario_sha256"]
    assert model["estimate"]["seconds"] > 0 and model["warnings"]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
@pytest.mark.parametrize("kind", ["ideal", "workqueue", "ray"])
def test_the_bound_check_shows_is_the_bound_a_run_uses(path: Path, kind: str) -> None:
    s = load_scenario(path).with_platform(kind)
    assert resolve.bound(s) == Simulation(s, 0, keep_records=False).bound()


# What ``check`` must not import: the heavy packages and the models behind the registry.
NOT_FOR_CHECK = ("numpy", "scipy", "simpy", "rich", "matplotlib", "multiprocessing",
                 "schedsim.simulation", "schedsim.model", "schedsim.platforms.ideal",
                 "schedsim.platforms.workqueue", "schedsim.platforms.execution",
                 "schedsim.platforms.context", "schedsim.platforms.zmq.model",
                 *(f"schedsim.platforms.ray.{part}" for part in (
                     "platform", "driver", "raylet", "object_store", "control", "state")))


@pytest.mark.parametrize("kind", ["ideal", "workqueue", "ray", "zmq"])
def test_check_builds_no_model_and_imports_no_heavy_package(kind: str) -> None:
    """The start-up of ``check`` is mostly imports (scipy.stats alone took 0.7 s; numpy, the
    platform models with SimPy, and rich a third of a second more): it resolves the options,
    the bound and the estimate without them, and still prints the resolved model."""
    code = ("import json, sys; from schedsim.cli import main; rc = main(['check', 'scenarios/"
            f"spot.yaml', '--set', 'platform.type={kind}']); "
            "print(json.dumps(sorted(sys.modules)), file=sys.stderr); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    loaded = json.loads(proc.stderr.strip().splitlines()[-1])
    assert [m for m in loaded if any(m == n or m.startswith(n + ".")
                                     for n in NOT_FOR_CHECK)] == []
    out = " ".join(proc.stdout.split())
    assert f"platform {kind}" in out and "bound: " in out
