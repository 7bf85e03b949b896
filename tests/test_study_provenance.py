"""Every study's JSON says what produced it, as a run's summary does: the tool's version, the
(base) scenario's hash and the calibration profile's hash (the RFC study's also its model
fingerprint), so a plan, a sweep, a study or a validation can be traced to its inputs."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from schedsim import __version__, resolve
from schedsim.calibration.profile import default_profile_path
from schedsim.cli import main
from schedsim.loading import load_scenario
from schedsim.studies import rfc

from .test_plan import BASE, SCENARIO, _cli
from .test_rfc import TINY


def _profile() -> dict[str, str]:
    return {"file": default_profile_path().name,
            "sha256": hashlib.sha256(default_profile_path().read_bytes()).hexdigest()}


def test_plan_json_carries_the_scenario_and_profile_hashes(tmp_path: Path) -> None:
    assert main(_cli(tmp_path, "--max-replications", "2")) == 0
    data = json.loads((tmp_path / "plan.json").read_text())
    p = data["provenance"]
    assert p["schedsim"] == __version__ and p["calibration_profile"] == _profile()
    # The scenario the plan varies: --set applied, the seed and replications in force.
    s = load_scenario(SCENARIO, BASE)
    assert p == resolve.provenance(s)
    assert p["scenario_sha256"] != resolve.scenario_sha256(load_scenario(SCENARIO))


def test_sweep_json_carries_the_scenario_and_profile_hashes(tmp_path: Path) -> None:
    out = tmp_path / "sweep.json"
    assert main(["sweep", SCENARIO, "--grid", "cluster.pools.spot.count=5,6", "--set",
                 "workload.tasks=20", "--replications", "1", "--out", str(tmp_path / "s"),
                 "--json", str(out)]) == 0
    p = json.loads(out.read_text())["provenance"]
    assert p == resolve.provenance(load_scenario(SCENARIO, ["workload.tasks=20"],
                                                 replications=1))
    assert p["schedsim"] == __version__ and p["calibration_profile"] == _profile()


def test_rfc_json_carries_the_base_scenario_the_profile_and_the_model(tmp_path: Path) -> None:
    grid = dataclasses.replace(TINY, only=((5, "short", "manager", "none"),))
    study = rfc.run_study(grid, tmp_path)
    p = study["provenance"]
    assert p["model_fingerprint"] == rfc.model_fingerprint() == \
        (tmp_path / "rfc-runs.fingerprint").read_text().strip()
    assert p["schedsim"] == __version__ and p["calibration_profile"] == _profile()
    base = load_scenario(tmp_path / "rfc-base.yaml")
    assert p["scenario_sha256"] == resolve.scenario_sha256(base)


@pytest.mark.usefixtures("fake_validate")
def test_validation_json_carries_the_version_and_the_profiles(tmp_path: Path) -> None:
    assert main(["validate", "--quick", "--out", str(tmp_path / "a")]) == 0
    p = json.loads((tmp_path / "a" / "validation.json").read_text())["provenance"]
    assert p == {"schedsim": __version__, "calibration_profile": _profile()}
    mine = tmp_path / "mine.json"
    mine.write_bytes(default_profile_path().read_bytes() + b"\n")
    assert main(["validate", "--quick", "--profile", str(mine), "--out",
                 str(tmp_path / "b")]) == 0
    p = json.loads((tmp_path / "b" / "validation.json").read_text())["provenance"]
    assert p["task_profiles"] == {"--profile": {
        "file": "mine.json", "sha256": hashlib.sha256(mine.read_bytes()).hexdigest()}}


def test_validation_scale_json_carries_its_parameters_hash(tmp_path: Path) -> None:
    from schedsim.studies import scale_validation

    from .test_scale_matrix import _record

    runs = tmp_path / "runs.jsonl"
    runs.write_text("\n".join(json.dumps(r) for r in (
        _record("ray-1-1s", 0, 11.0), _record("ray-40-1s", 0, 30.0))) + "\n")
    out = tmp_path / "out"
    assert main(["validate", "--scale", "--scale-runs", str(runs), "--out", str(out)]) == 0
    p = json.loads((out / "validation-scale.json").read_text())["provenance"]
    assert p["schedsim"] == __version__ and p["calibration_profile"] == _profile()
    params = Path(scale_validation.PARAMS)
    assert p["scale_params"] == {"file": params.name,
                                 "sha256": hashlib.sha256(params.read_bytes()).hexdigest()}
