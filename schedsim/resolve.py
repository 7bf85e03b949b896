"""The resolved model of a scenario: every value in force, where it came from, what it implies.

A scenario file gives some keys; loading fills in the rest: documented defaults, and for a
platform's options the calibration profile's fitted values (resolved once, in the platform
registry, which records whether the scenario, the profile or the default won). This module
reads a loaded :class:`~schedsim.scenario.Scenario` back out: as a mapping with every key
(``--out`` keeps it as ``scenario.resolved.yaml``; it loads back to the same numbers), as a
hash, and as what the scenario implies before anything runs (the task time and output size,
the platform parameters and their sources, the analytic bound and its binding resource, and a
warning wherever the calibrated models are extrapolated). ``schedsim check`` prints it; every
JSON summary carries :func:`provenance`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

from schedsim.bound import scenario_bound
from schedsim.calibration.profile import default_profile_path, load_profile
from schedsim.distributions import Distribution, ProfileDuration
from schedsim.platforms import PLATFORMS
from schedsim.scenario import ChurnSpec, LinkSpec, Scenario
from schedsim.version import __version__


@dataclass(frozen=True)
class Parameter:
    """One platform option as it runs."""

    name: str
    value: Any
    unit: str
    source: str  # "scenario", "profile" or "default" (schedsim.platforms.base)


# ------------------------------------------------------------------ the resolved mapping

def resolved_mapping(scenario: Scenario) -> dict[str, Any]:
    """``scenario`` as scenario keys, every one written out: defaults, the platform options
    in force (all platforms' blocks), distributions as ``{dist: ...}`` mappings, quantities in
    seconds, bytes and bytes/s. Keys whose value is "none" (no horizon, no task_cores, no
    factory, ...) are left out, which is how a scenario says none. Parsing it gives a scenario
    that simulates the same numbers."""
    s = scenario
    out: dict[str, Any] = {"name": s.name, "seed": s.seed, "replications": s.replications}
    if s.horizon is not None:
        out["horizon"] = s.horizon
    platform: dict[str, Any] = {"type": s.platform.type}
    for kind, config in s.platform.configs.items():
        platform[kind] = _options(config)
    out["platform"] = platform
    w = s.workload
    out["workload"] = {"tasks": w.tasks, "duration": _distribution(w.duration),
                       "input_size": w.input_size, "output_size": w.output_size,
                       "executable_size": w.executable_size, "task": w.task}
    cluster: dict[str, Any] = {"pools": [
        {"name": p.name, "count": p.count, "cores": p.cores, "market": p.market,
         "price_per_hour": p.price_per_hour, "boot_time": _distribution(p.boot_time),
         "speed": p.speed} for p in s.cluster.pools]}
    if s.cluster.manager is not None:
        cluster["manager"] = asdict(s.cluster.manager)
    if s.cluster.host is not None:
        cluster["host"] = asdict(s.cluster.host)
    out["cluster"] = cluster
    out["churn"] = [_churn(c) for c in s.churn]
    out["network"] = None if s.network is None else {
        "manager": _link(s.network.manager), "worker": _link(s.network.worker)}
    return out


def _options(config: Any) -> dict[str, Any]:
    """A platform's options as its scenario block: a placement ``*_pool`` is written as
    ``{pool: NAME}`` under its key; nested option groups as mappings."""
    if config is None:
        return {}
    out: dict[str, Any] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if value is None:
            continue
        if f.name.endswith("_pool"):
            out[f.name.removesuffix("_pool")] = {"pool": value}
        elif is_dataclass(value):
            out[f.name] = _options(value)
        else:
            out[f.name] = value
    return out


def _distribution(dist: Distribution) -> dict[str, Any]:
    out = dict(dist.describe())
    if isinstance(dist, ProfileDuration):
        out["time"] = dist.time  # its default, written out
    return out


def _churn(c: ChurnSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"pool": c.pool}
    if c.band is not None:
        out["band"] = c.band  # the lifetime it stands for is derived from it
    elif c.lifetime is not None:
        out["lifetime"] = _distribution(c.lifetime)
    out.update({"notice": c.notice, "on_notice": c.on_notice, "replace": c.replace,
                "replace_delay": c.replace_delay})
    if c.max_lifetime is not None:
        out["max_lifetime"] = c.max_lifetime
    if c.trace_file is not None:
        out["trace"] = c.trace_file
    if c.zone_reclaims is not None:
        out["zone_reclaims"] = asdict(c.zone_reclaims)
    return out


def _link(link: LinkSpec) -> dict[str, Any]:
    return {"bandwidth": link.bandwidth, "latency": link.latency, "duplex": link.duplex}


# ------------------------------------------------------------------ provenance

def scenario_sha256(scenario: Scenario) -> str:
    """sha256 of the resolved scenario (canonical JSON of :func:`resolved_mapping`)."""
    text = json.dumps(resolved_mapping(scenario), sort_keys=True, separators=(",", ":"),
                      allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def file_sha256(path: Path) -> str | None:
    """sha256 of a file's bytes (cached per file version); None if there is no such file."""
    try:
        st = path.stat()
    except OSError:
        return None
    return _sha256(str(path.resolve()), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=16)
def _sha256(path: str, _mtime_ns: int, _size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def profiles(scenario: Scenario) -> dict[str, Path]:
    """The calibration profiles a scenario's numbers depend on: the shipped one (the platform
    options' fitted values; ``calibration``) and any other a profile distribution names
    (by its key path)."""
    out = {"calibration": default_profile_path()}
    for key, dist in _distributions(scenario):
        if isinstance(dist, ProfileDuration) and not dist.default:
            out[key] = Path(dist.profile)
    return out


def file_entry(path: Path) -> dict[str, Any]:
    """A file a result depends on, as provenance names it: its name and content hash."""
    return {"file": path.name, "sha256": file_sha256(path)}


def provenance(scenario: Scenario) -> dict[str, Any]:
    """What produced a summary: the tool's version, the resolved scenario's hash and the
    hash of each calibration profile it depends on (sha256 of the file's bytes). A study
    (plan, sweep, rfc) gives its base scenario's."""
    out: dict[str, Any] = {"schedsim": __version__, "scenario_sha256": scenario_sha256(scenario)}
    for key, path in profiles(scenario).items():
        if key == "calibration":
            out["calibration_profile"] = file_entry(path)
        else:
            out.setdefault("task_profiles", {})[key] = file_entry(path)
    return out


def tool_provenance(task_profile: Path | None = None) -> dict[str, Any]:
    """What produced a study of many scenarios built in code (validate): the tool's version,
    the shipped calibration profile's hash and, where one was given, that of the profile the
    tasks' times come from (``--profile``)."""
    out: dict[str, Any] = {"schedsim": __version__,
                           "calibration_profile": file_entry(default_profile_path())}
    if task_profile is not None:
        out["task_profiles"] = {"--profile": file_entry(task_profile)}
    return out


# ------------------------------------------------------------------ what the scenario implies

def platform_parameters(scenario: Scenario, kind: str | None = None) -> list[Parameter]:
    """The options of platform ``kind`` (default: the scenario's) as they run."""
    kind = kind or scenario.platform.type
    config = scenario.platform.configs.get(kind)
    if config is None:
        return []
    units = PLATFORMS[kind].units
    sources = scenario.platform.sources.get(kind, {})
    return [Parameter(f.name, getattr(config, f.name), units.get(f.name, ""),
                      sources.get(f.name, "default")) for f in fields(config)]


def _distributions(scenario: Scenario) -> list[tuple[str, Distribution]]:
    """Every distribution of the scenario, by key path."""
    out: list[tuple[str, Distribution]] = [("workload.duration", scenario.workload.duration)]
    out += [(f"cluster.pools.{p.name}.boot_time", p.boot_time) for p in scenario.cluster.pools]
    out += [(f"churn.{c.pool}.lifetime", c.lifetime) for c in scenario.churn
            if c.lifetime is not None and c.band is None]
    return out


def task(scenario: Scenario) -> dict[str, Any]:
    """The task time and data sizes the scenario implies."""
    w = scenario.workload
    out: dict[str, Any] = {"mean_s": w.duration.mean, "duration": _distribution(w.duration),
                           "input_size_bytes": w.input_size,
                           "output_size_bytes": w.output_size,
                           "executable_size_bytes": w.executable_size}
    dist = w.duration
    if isinstance(dist, ProfileDuration):
        profile = load_profile(dist.profile)
        out["profile"] = {"file": Path(dist.profile).name, "n": dist.n,
                          "tolerance": dist.tolerance, "time": dist.time, "cv": dist.cv,
                          "n_measured": list(profile.n_range),
                          "fitted_output_bytes": dist.output_bytes}
    return out


def bound(scenario: Scenario) -> dict[str, object]:
    """The analytic bound of the scenario on its platform, as a run reports it."""
    return scenario_bound(scenario)


def warnings(scenario: Scenario) -> list[str]:
    """Where the scenario takes a calibrated model beyond what was measured."""
    out = []
    for key, dist in _distributions(scenario):
        if not isinstance(dist, ProfileDuration):
            continue
        profile = load_profile(dist.profile)
        lo, hi = profile.n_range
        if not lo <= dist.n <= hi:
            out.append(f"{key}: n = {dist.n:,} lies outside the n {profile.path.name} measured "
                       f"({lo:,} to {hi:,}): the task time and output size are extrapolated "
                       "along the fitted lines")
    kind = scenario.platform.type
    fitted = [p.name for p in platform_parameters(scenario) if p.source == "profile"]
    measured = _measured_slots(kind)
    slots = sum(p.count * p.cores for p in scenario.cluster.pools)
    if fitted and measured is not None and slots > measured:
        out.append(f"platform.{kind}: {', '.join(fitted)} come from the calibration profile, "
                   f"fitted on live runs of at most {measured:,} slot(s) on one host; this "
                   f"scenario starts {slots:,} cores: extrapolated (docs/calibration.md)")
    return out


def _measured_slots(kind: str) -> int | None:
    """The most slots (nodes x cores) of a live run the shipped profile measured ``kind`` on."""
    path = default_profile_path()
    if not path.is_file():
        return None
    configs = load_profile(path).data.get("measured", {}).get(kind, {}).get("configs", [])
    sizes = [c["nodes"] * c["cores"] for c in configs
             if isinstance(c, dict) and isinstance(c.get("nodes"), int)
             and isinstance(c.get("cores"), int)]
    return max(sizes) if sizes else None


def model(scenario: Scenario) -> dict[str, Any]:
    """Everything ``schedsim check`` reports about a scenario, as JSON."""
    limits = bound(scenario)
    return {
        "scenario": scenario.name, "source": scenario.source,
        "platform": scenario.platform.type, "seed": scenario.seed,
        "replications": scenario.replications, "tasks": scenario.workload.tasks,
        "task": task(scenario),
        "platform_parameters": {
            p.name: {"value": _options(p.value) if is_dataclass(p.value) else p.value,
                     "unit": p.unit, "source": p.source}
            for p in platform_parameters(scenario)},
        "bound": limits,
        "warnings": warnings(scenario),
        "provenance": provenance(scenario),
    }
