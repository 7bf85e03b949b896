"""Scenario loading: the contract file, overrides, and one clear line per bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from schedsim.distributions import Constant, Exponential, Hyperexponential, Lognormal, Weibull
from schedsim.errors import InputError
from schedsim.loading import load_scenario
from schedsim.scenario import BANDS, band_lifetime
from schedsim.simulation import Simulation

from .conftest import CONTRACT, REPO, make


def test_contract_file_accepted_as_is() -> None:
    s = load_scenario(REPO / "scenarios" / "contract-example.yaml")
    assert s.name == "contract-example" and s.seed == 7 and s.replications == 3
    assert s.platform.type == "ideal"
    assert s.workload.tasks == 2000 and s.workload.duration == Exponential(1.0)
    assert s.workload.input_size == 0 and s.workload.output_size == 0
    (p,) = s.cluster.pools
    assert (p.name, p.count, p.cores, p.market, p.price_per_hour) == ("spot", 50, 1, "spot", 0.05)
    assert p.boot_time == Constant(0.0)
    (c,) = s.churn
    assert c.pool == "spot" and c.lifetime == Exponential(3600.0)
    assert c.notice == 0 and c.replace_delay == 0 and c.replace
    assert s.network is None


def test_shipped_scenarios_load() -> None:
    for path in sorted((REPO / "scenarios").glob("*.yaml")):
        assert load_scenario(path).workload.tasks > 0


def write(tmp_path: Path, data: object, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def with_(path: list[str | int], value: object, delete: bool = False) -> dict:
    import copy

    data = copy.deepcopy(CONTRACT)
    node: dict | list = data
    for key in path[:-1]:
        node = node[key]  # type: ignore[index]
    if delete:
        del node[path[-1]]  # type: ignore[arg-type]
    else:
        node[path[-1]] = value  # type: ignore[index]
    return data


BAD = [
    # (description, data, key path in the message, words expected in the message)
    ("unknown top key", with_(["colour"], "blue"), "colour", "a known key"),
    ("typo in pool key", with_(["cluster", "pools", 0, "cors"], 2), "cluster.pools[0].cors",
     "a known key"),
    ("negative count", with_(["cluster", "pools", 0, "count"], -3), "cluster.pools[0].count",
     "integer >= 0"),
    ("bad market", with_(["cluster", "pools", 0, "market"], "cheap"), "cluster.pools[0].market",
     "on_demand | spot"),
    ("unknown dist", with_(["workload", "duration"], {"dist": "gamma", "mean": 1}),
     "workload.duration.dist", "one of constant"),
    ("bad duration unit", with_(["workload", "duration", "mean"], "3 parsecs"),
     "workload.duration.mean", "duration"),
    ("missing tasks", with_(["workload", "tasks"], None, delete=True), "workload.tasks",
     "required"),
    ("tasks zero", with_(["workload", "tasks"], 0), "workload.tasks", "integer >= 1"),
    ("churn on unknown pool", with_(["churn", 0, "pool"], "gpu"), "churn[0].pool", "spot"),
    ("unknown platform", with_(["platform", "type"], "slurm"), "platform.type", "ideal"),
    ("size as rate", with_(["workload", "input_size"], "10 Gbps"), "workload.input_size",
     "size"),
    ("lognormal without cv", with_(["workload", "duration"], {"dist": "lognormal", "mean": 1}),
     "workload.duration.cv", "required"),
    ("hyperexp probs", with_(["workload", "duration"], {"dist": "hyperexponential", "phases": [
        {"p": 0.5, "mean": 1}, {"p": 0.2, "mean": 2}]}), "workload.duration.phases", "add up"),
    ("replications zero", with_(["replications"], 0), "replications", ">= 1"),
    ("pools empty", with_(["cluster", "pools"], []), "cluster.pools", "at least one"),
    ("duplicate pool", with_(["cluster", "pools"], [CONTRACT["cluster"]["pools"][0]] * 2),
     "cluster.pools[1].name", "not used"),
    ("band and lifetime", with_(["churn", 0, "band"], "5-10%"), "churn[0].band", "not both"),
    ("bad band", with_(["churn", 0], {"pool": "spot", "band": "7%"}), "churn[0].band", "<5%"),
    ("network bandwidth", with_(["network"], {"manager": {"bandwidth": "fast"},
                                             "worker": {"bandwidth": "1 Gbps"}}),
     "network.manager.bandwidth", "bandwidth"),
    ("pools not a list", with_(["cluster", "pools"], {"name": "x"}), "cluster.pools", "list"),
    ("bool as count", with_(["cluster", "pools", 0, "count"], True), "cluster.pools[0].count",
     "integer"),
    ("zero speed", with_(["cluster", "pools", 0, "speed"], 0), "cluster.pools[0].speed", "> 0"),
    ("host background", with_(["cluster", "host"], {"cpus": 2, "background": 2}),
     "cluster.host.background", "less than host.cpus"),
    ("unknown live task", with_(["workload", "task"], "sleep"), "workload.task",
     "one of wait | zfp"),
]


@pytest.mark.parametrize("desc,data,key,words", BAD, ids=[b[0] for b in BAD])
def test_bad_scenarios_give_one_line(tmp_path: Path, desc: str, data: dict, key: str,
                                     words: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(InputError) as info:
        load_scenario(path)
    line = str(info.value)
    assert "\n" not in line
    assert line.startswith(f"{path}: {key}: expected"), line
    assert words in line, line


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nworkload: [unclosed\n")
    with pytest.raises(InputError, match=r"line \d+: expected valid YAML"):
        load_scenario(path)


def test_missing_file() -> None:
    with pytest.raises(InputError, match="expected an existing scenario file"):
        load_scenario("no/such/file.yaml")


def test_yaml_objects_are_not_constructed(tmp_path: Path) -> None:
    path = write(tmp_path, "name: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(InputError, match="valid YAML"):
        load_scenario(path)


def test_overrides_by_name_index_and_yaml_value(contract_file: Path) -> None:
    s = load_scenario(contract_file, [
        "cluster.pools.spot.count=200",
        "cluster.pools.0.cores=4",
        "workload.duration={dist: constant, mean: 2s}",
        "churn.0.notice=2min",
    ])
    assert s.cluster.pools[0].count == 200 and s.cluster.pools[0].cores == 4
    assert s.workload.duration == Constant(2.0)
    assert s.churn[0].notice == 120.0
    assert s.raw["cluster"]["pools"][0]["count"] == 200  # the resolved scenario keeps it


@pytest.mark.parametrize("item,words", [
    ("cluster.pools.gpu.count=3", "a list index 0..0 or a name (spot)"),
    ("nokey", "KEY=VALUE"),
    ("workload..tasks=3", "dotted key path"),
    ("workload.tasks=-1", "workload.tasks: expected an integer >= 1"),
])
def test_bad_overrides(contract_file: Path, item: str, words: str) -> None:
    with pytest.raises(InputError) as info:
        load_scenario(contract_file, [item])
    assert words in str(info.value) and "\n" not in str(info.value)


def test_distributions_parse(tmp_path: Path) -> None:
    cases = {
        "{dist: lognormal, mean: 2s, cv: 0.5}": Lognormal(2.0, 0.5),
        "{dist: weibull, mean: 1h, shape: 0.7}": Weibull(3600.0, 0.7),
        "{dist: hyperexponential, phases: [{p: 0.3, mean: 20min}, {p: 0.7, mean: 6h}]}":
            Hyperexponential((0.3, 0.7), (1200.0, 21600.0)),
        "90s": Constant(90.0),
    }
    for text, dist in cases.items():
        s = load_scenario(write(tmp_path, CONTRACT), [f"workload.duration={text}"])
        assert s.workload.duration == dist


def test_band_hazard() -> None:
    import math

    for band, p in BANDS.items():
        rate_per_hour = 3600.0 / band_lifetime(band).mean
        assert rate_per_hour == pytest.approx(-math.log(1 - p) / 720)


def test_trace_paths_resolve_relative_to_scenario(tmp_path: Path) -> None:
    sub = tmp_path / "sc"
    sub.mkdir()
    (sub / "t.csv").write_text("time,pool,event\n10s,spot,reclaim\n5,spot,launch\n")
    data = with_(["churn", 0], {"pool": "spot", "trace": "t.csv"})
    s = load_scenario(write(sub, data))
    assert [(e.time, e.event) for e in s.churn[0].trace] == [(5.0, "launch"), (10.0, "reclaim")]


def test_bad_trace_line(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("time,pool,event\n10s,spot,explode\n")
    data = with_(["churn", 0], {"pool": "spot", "trace": "t.csv"})
    with pytest.raises(InputError, match=r"t.csv: line 2 event: expected reclaim \| launch"):
        load_scenario(write(tmp_path, data))


def test_manager_placement_must_name_a_pool(tmp_path: Path) -> None:
    data = with_(["platform"], {"type": "ray", "ray": {"head": {"pool": "nowhere"}}})
    with pytest.raises(InputError, match=r"platform.ray.head.pool: expected one of spot, got"):
        load_scenario(write(tmp_path, data))


def test_workload_task_defaults_to_zfp_and_changes_no_simulated_result() -> None:
    base = make({"replications": 1})
    assert base.workload.task == "zfp"
    wait = make({"replications": 1, "workload": {**CONTRACT["workload"], "task": "wait"}})
    assert wait.workload.task == "wait"
    # The waiting task's time is the drawn duration: the simulator times both tasks alike.
    for platform in ("ideal", "workqueue", "ray"):
        a = Simulation(base.with_platform(platform), 0).run()
        b = Simulation(wait.with_platform(platform), 0).run()
        assert a.metrics == b.metrics and a.events == b.events
