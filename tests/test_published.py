"""Published numbers: the comparison runs on the shipped measurements, a scenario that does
not state its measurement's conditions is refused in one line, and the metric arithmetic."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from schedsim.cli import main
from schedsim.studies import published

from .conftest import REPO

SHIPPED = REPO / "scenarios" / "published"


def test_the_shipped_measurements_run_and_report_their_sources() -> None:
    report = published.compare(SHIPPED, replications=1)
    rows = {r["name"]: r for r in report["measurements"]}
    assert set(rows) == {"ray-single-client-tasks-async", "ray-many-tasks"}
    for r in rows.values():
        assert r["source"].startswith("https://github.com/ray-project/ray/blob/")
        assert r["relative_error"] == pytest.approx(r["simulated"] / r["published"] - 1)
        assert r["mechanism"]
    # The variant changes the mechanism named (the driver's result intake) and moves the
    # simulated throughput towards the published one.
    single = rows["ray-single-client-tasks-async"]
    assert abs(single["variant"]["relative_error"]) < abs(single["relative_error"])
    section = published.markdown(report, "schedsim validate --published")
    assert section.startswith(published.SECTION_BEGIN) and "## Published numbers" in section
    assert "Work Queue" in section  # the notes: no Work Queue number found


def test_cli_writes_the_section_and_keeps_the_page(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "published"
    shutil.copytree(SHIPPED, folder)
    (folder / "ray-many-tasks.yaml").write_text(
        (folder / "ray-many-tasks.yaml").read_text().replace("replications: 2",
                                                             "replications: 1"))
    out = tmp_path / "docs"
    out.mkdir()
    (out / "validation.md").write_text("# Validation\n\nkept\n")
    args = ["validate", "--published", "--published-from", str(folder), "--out", str(out)]
    assert main(args) == 0
    assert main(args) == 0  # the section replaces itself
    page = (out / "validation.md").read_text()
    assert "kept" in page and page.count("## Published numbers") == 1
    data = json.loads((out / "validation-published.json").read_text())
    assert len(data["measurements"]) == 2
    assert "ray-many-tasks: published 569 tasks/s" in capsys.readouterr().out


@pytest.mark.parametrize(("old", "new", "words"), [
    ("tasks: 1000", "tasks: 500", "workload.tasks: expected 1000 (the conditions of "
     "ray-single-client-tasks-async in published.yaml), got 500"),
    ("count: 1, cores: 64", "count: 1, cores: 8", "cluster.pools (count x cores): expected "
     "64"),
    ("mean: 20us", "mean: 2ms", "workload.duration: expected a mean task time of 2e-05 s"),
])
def test_a_scenario_away_from_its_conditions_fails_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str,
        words: str) -> None:
    folder = tmp_path / "published"
    shutil.copytree(SHIPPED, folder)
    scenario = folder / "ray-single-client-tasks-async.yaml"
    text = scenario.read_text()
    assert old in text
    scenario.write_text(text.replace(old, new))
    assert main(["validate", "--published", "--published-from", str(folder),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert words in err, err


def test_a_scenario_of_another_platform_fails_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "published"
    shutil.copytree(SHIPPED, folder)
    (folder / "ray-single-client-tasks-async.yaml").write_text(
        "name: x\nplatform: {type: workqueue}\nworkload: {tasks: 1000, duration: {dist: "
        "constant, mean: 20us}}\ncluster: {pools: [{name: n, count: 1, cores: 64}]}\n")
    assert main(["validate", "--published", "--published-from", str(folder),
                 "--out", str(tmp_path / "o")]) == 2
    assert "platform.type: expected ray (the conditions of ray-single-client-tasks-async" in \
        capsys.readouterr().err


def test_a_bad_index_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "published"
    shutil.copytree(SHIPPED, folder)
    index = folder / "published.yaml"
    index.write_text(index.read_text().replace("metric: throughput", "metric: speed", 1))
    assert main(["validate", "--published", "--published-from", str(folder),
                 "--out", str(tmp_path / "o")]) == 2
    assert "measurements[0].metric: expected one of launch_rate | throughput" in \
        capsys.readouterr().err
    assert main(["validate", "--published-from", str(folder), "--out",
                 str(tmp_path / "o")]) == 2


def test_metric_arithmetic() -> None:
    from schedsim.loading import load_scenario

    index, _ = published.read_index(SHIPPED)
    many = next(m for m in index if m.name == "ray-many-tasks")
    scenario = load_scenario(many.scenario)
    # 10,000 tasks whose last ends 17.6 s after the 300 s sleep: 568 tasks/s, as published.
    assert published.metric_of(many, scenario, 317.6) == pytest.approx(10_000 / 17.6)
    single = next(m for m in index if m.name != "ray-many-tasks")
    assert published.metric_of(single, load_scenario(single.scenario), 0.125) == \
        pytest.approx(8000.0)
