"""Loading a scenario: the file, its overrides, and every section read into typed objects.

This layer sits above both the scenario dataclasses (:mod:`schedsim.scenario`, which reads
every section but ``platform:``) and the platform registry (:mod:`schedsim.platforms`, which
reads each platform's options and resolves their defaults), and joins them: the scenario
module never imports the platforms, whose models build on its specs. Every command and the
Python API load scenarios through here.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from schedsim.platforms import read_platform
from schedsim.reader import Reader
from schedsim.safe_load import MAX_YAML_BYTES, load_yaml, read_text
from schedsim.scenario import Scenario, apply_override, read_scenario


def load_scenario(path: str | Path, overrides: list[str] | None = None, *,
                  seed: int | None = None, replications: int | None = None) -> Scenario:
    """Read, override and validate a scenario file (``seed``/``replications`` override too)."""
    overrides = list(overrides or [])
    if seed is not None:
        overrides.append(f"seed={seed}")
    if replications is not None:
        overrides.append(f"replications={replications}")
    path = Path(path)
    source = str(path)
    text = read_text(path, source, what="scenario file", limit=MAX_YAML_BYTES)
    data = load_yaml(text, source)
    if data is None:
        data = {}
    for item in overrides:
        data = apply_override(data, item)
    return parse_scenario(data, source, path.resolve().parent)


def parse_scenario(data: Any, source: str, base_dir: Path | None = None) -> Scenario:
    """Validate a raw mapping into a :class:`~schedsim.scenario.Scenario`."""
    raw = copy.deepcopy(data)
    return read_scenario(Reader(source, "", data, base_dir), read_platform, raw)
