"""Shared helpers: build scenarios from small dicts without files."""

from __future__ import annotations

import copy
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
