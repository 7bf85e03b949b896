"""Typed, strict scenarios: what is simulated, read from YAML.

A scenario file becomes a tree of frozen dataclasses. :mod:`schedsim.loading` reads the file
(a bounded ``yaml.safe_load``, limits in :mod:`schedsim.safe_load`) and applies ``--set
KEY=VALUE`` overrides to the raw mapping (:func:`apply_override`, here); this module then reads
every section but ``platform:`` strictly through :class:`~schedsim.reader.Reader` (the
platforms read their own options, through the registry loading passes in): unknown keys are
refused and every bad value becomes one :class:`~schedsim.errors.InputError` line naming the
file, the key path and what was expected. Paths inside a scenario resolve relative to the
scenario file. Every key is documented in ``docs/scenarios.md``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schedsim.distributions import Constant, Distribution, Exponential, read_distribution
from schedsim.errors import InputError
from schedsim.reader import MAX_REPLICATIONS, MAX_SEED, Reader
from schedsim.safe_load import MAX_DATA_BYTES, load_yaml, read_text

MARKETS = ("on_demand", "spot")
# What the deployment does when a node gets its reclaim notice (docs/models.md, Notices):
# nothing until the node shuts down, or drain it (no new tasks; retries not counted).
SHUTDOWN, DRAIN = "shutdown", "drain"
ON_NOTICE = (SHUTDOWN, DRAIN)
# A link's two directions: independent (full duplex, as Ethernet) or one shared bandwidth.
FULL, HALF = "full", "half"
DUPLEX = (FULL, HALF)

# Monthly interruption-frequency bands (AWS Spot Instance Advisor) and the representative
# monthly probability used for each: the band's midpoint, 25% for the open ">20%" band.
BANDS: dict[str, float] = {
    "<5%": 0.025, "5-10%": 0.075, "10-15%": 0.125, "15-20%": 0.175, ">20%": 0.25,
}
HOURS_PER_MONTH = 720.0
_ZERO = Constant(0.0)


def band_lifetime(band: str) -> Exponential:
    """Exponential lifetime whose hazard is -ln(1-p)/720 per hour (platforms.md)."""
    p = BANDS[band]
    rate_per_s = -math.log1p(-p) / (HOURS_PER_MONTH * 3600.0)
    return Exponential(1.0 / rate_per_s)


@dataclass(frozen=True)
class LinkSpec:
    bandwidth: float  # bytes/s
    latency: float = 0.0  # s
    duplex: str = FULL  # FULL: each direction has the bandwidth; HALF: both share it


@dataclass(frozen=True)
class NetworkSpec:
    manager: LinkSpec  # the manager's (head's, storage's) link, shared by all its transfers
    worker: LinkSpec  # one such link per worker node


@dataclass(frozen=True)
class PoolSpec:
    name: str
    count: int
    cores: int
    market: str
    price_per_hour: float
    boot_time: Distribution
    speed: float = 1.0  # relative speed of a node's cores: a task takes duration / speed


@dataclass(frozen=True)
class ManagerSpec:
    price_per_hour: float = 0.0
    market: str = "on_demand"


@dataclass(frozen=True)
class HostSpec:
    """Every worker node is processes on one host with ``cpus`` CPUs, ``background`` of
    them kept busy by the platform's own processes (schedsim/model/host.py)."""

    cpus: float
    background: float = 0.0
    # The platform's own process starts and task launches are CPU work on the host too
    # (worker starts, the fork and exec of each task), shared with everything else there.
    platform_work: bool = False


@dataclass(frozen=True)
class ClusterSpec:
    pools: tuple[PoolSpec, ...]
    manager: ManagerSpec | None = None
    host: HostSpec | None = None  # None: every node is a machine of its own

    def pool(self, name: str) -> PoolSpec:
        return next(p for p in self.pools if p.name == name)

    @property
    def initial_cores(self) -> int:
        return sum(p.count * p.cores for p in self.pools)


@dataclass(frozen=True)
class ZoneReclaimSpec:
    mean_interval: float  # s between zone-wide reclaim events (exponential)
    fraction: float  # share of the pool's live nodes each event takes


@dataclass(frozen=True)
class TraceEvent:
    time: float
    pool: str
    event: str  # "reclaim" | "launch"


@dataclass(frozen=True)
class ChurnSpec:
    pool: str
    lifetime: Distribution | None = None
    notice: float = 0.0
    max_lifetime: float | None = None
    replace: bool = True
    replace_delay: float = 0.0
    trace: tuple[TraceEvent, ...] = ()
    trace_file: str | None = None  # the file the trace was read from, absolute
    zone_reclaims: ZoneReclaimSpec | None = None
    band: str | None = None
    on_notice: str = SHUTDOWN  # one of ON_NOTICE, the same for every platform


# The task a live run executes (docs/live.md): the real zfp compression, or the waiting task
# that lasts its drawn duration and writes output_size bytes. The simulator times both alike.
ZFP_TASK, WAIT_TASK = "zfp", "wait"
TASKS = (ZFP_TASK, WAIT_TASK)


@dataclass(frozen=True)
class WorkloadSpec:
    tasks: int
    duration: Distribution
    input_size: float = 0.0
    output_size: float = 0.0
    executable_size: float = 0.0
    task: str = ZFP_TASK  # one of TASKS; only live runs look at it


@dataclass(frozen=True)
class PlatformSpec:
    """The platform that runs the scenario, and the options of every platform.

    Options sit under each platform's own name (``platform: {type: ray, ray: {...},
    workqueue: {...}}``), so ``schedsim compare`` can switch ``type`` and keep both sets.
    """

    type: str
    configs: dict[str, Any] = field(default_factory=dict, compare=False)
    # Per platform, where each option's value in force came from: "scenario", "profile"
    # (the calibration profile's fitted value) or "default" (the documented default).
    sources: dict[str, dict[str, str]] = field(default_factory=dict, compare=False)

    @property
    def config(self) -> Any:
        return self.configs.get(self.type)


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    replications: int
    platform: PlatformSpec
    workload: WorkloadSpec
    cluster: ClusterSpec
    churn: tuple[ChurnSpec, ...] = ()
    network: NetworkSpec | None = None
    horizon: float | None = None
    source: str = "<scenario>"
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def with_platform(self, kind: str) -> Scenario:
        """The same scenario on another platform (its options as the scenario gives them)."""
        import dataclasses

        raw = copy.deepcopy(self.raw)
        raw.setdefault("platform", {})["type"] = kind
        spec = PlatformSpec(type=kind, configs=self.platform.configs,
                            sources=self.platform.sources)
        return dataclasses.replace(self, platform=spec, raw=raw)


# --------------------------------------------------------------------------- reading

def apply_override(data: Any, item: str, flag: str = "--set") -> Any:
    """Apply one ``KEY=VALUE`` override (dotted path; list items by index or by name);
    errors name ``flag``, the option that gave it."""
    source = f"{flag} {item}"
    if "=" not in item:
        raise InputError(source, "", "KEY=VALUE with a dotted key path", has_value=False)
    key, _, text = item.partition("=")
    parts = [p for p in key.strip().split(".")]
    if not key.strip() or any(not p for p in parts):
        raise InputError(source, "", "a dotted key path such as cluster.pools.spot.count",
                         has_value=False)
    value = load_yaml(text, source)
    data = copy.deepcopy(data)
    if not isinstance(data, dict):
        raise InputError(source, "", "a scenario whose top level is a mapping", has_value=False)
    node: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        here = ".".join(parts[: depth + 1])
        if isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        elif isinstance(node, list):
            index = _list_index(node, part)
            if index is None:
                names = [str(x.get("name")) for x in node if isinstance(x, dict) and "name" in x]
                hint = f"a list index 0..{len(node) - 1}" + (
                    f" or a name ({', '.join(names)})" if names else "")
                raise InputError(source, here, hint, part)
            if last:
                node[index] = value
            else:
                node = node[index]
        else:
            raise InputError(source, ".".join(parts[:depth]), "a mapping or list to descend into",
                             node)
    return data


def split_values(text: str) -> list[str]:
    """Split ``V1,V2,...`` (``--grid``, ``--vary``) on commas outside brackets and braces,
    so ``{dist: constant, mean: 2s}`` stays one value."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _list_index(items: list[Any], part: str) -> int | None:
    if part.lstrip("-").isdigit():
        if len(part) > 18:  # no list is that long; int() of thousands of digits raises
            return None
        index = int(part)
        return index if -len(items) <= index < len(items) else None
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get("name") == part:
            return i
    return None


def read_scenario(r: Reader, read_platform: Callable[[Reader], PlatformSpec],
                  raw: dict[str, Any] | None = None) -> Scenario:
    """Read a whole scenario mapping; the ``platform:`` section through ``read_platform``
    (the platform registry's reader, which :mod:`schedsim.loading` passes in: the options
    are the platforms' own, and this module stays below them)."""
    source = r.source
    name = r.take_str("name")
    seed = r.take_int("seed", 0, default=0, maximum=MAX_SEED)
    replications = r.take_int("replications", 1, default=1, maximum=MAX_REPLICATIONS)
    platform = read_platform(r.child("platform", {"type": "ideal"}))
    workload = _read_workload(r.child("workload"))
    cluster = _read_cluster(r.child("cluster"))
    churn = tuple(_read_churn(c, cluster) for c in r.items("churn", []))
    seen: set[str] = set()
    for i, c in enumerate(churn):
        if c.pool in seen:
            raise InputError(source, f"churn[{i}].pool",
                             "each pool named in at most one churn entry", c.pool)
        seen.add(c.pool)
    _check_placements(platform, cluster, source)
    network = None
    value = r.raw("network", None)  # null: no network
    if value is not None:
        network = _read_network(Reader(source, r.key_path("network"), value, r.base_dir))
    horizon = r.take_duration("horizon", default=None, positive=True)
    r.done()
    return Scenario(name=name, seed=seed, replications=replications, platform=platform,
                    workload=workload, cluster=cluster, churn=churn, network=network,
                    horizon=horizon, source=source, raw=raw if raw is not None else {})


def _check_placements(platform: PlatformSpec, cluster: ClusterSpec, source: str) -> None:
    """A manager or head placed in a pool (``*_pool`` options) must name an existing pool."""
    pools = [p.name for p in cluster.pools]
    for kind, config in platform.configs.items():
        for key, value in getattr(config, "__dict__", {}).items():
            if key.endswith("_pool") and value is not None and value not in pools:
                where = f"platform.{kind}.{key.removesuffix('_pool')}.pool"
                raise InputError(source, where, "one of " + " | ".join(pools), value)
            pool = getattr(value, "pool", None)
            if isinstance(pool, str) and pool not in pools:
                raise InputError(source, f"platform.{kind}.{key}.pool",
                                 "one of " + " | ".join(pools), pool)


def _read_workload(r: Reader) -> WorkloadSpec:
    spec = WorkloadSpec(
        tasks=r.take_int("tasks", 1),
        duration=read_distribution(r, "duration"),
        input_size=r.take_size("input_size", 0.0),
        output_size=r.take_size("output_size", 0.0),
        executable_size=r.take_size("executable_size", 0.0),
        task=r.take_choice("task", TASKS, ZFP_TASK),
    )
    r.done()
    return spec


def _read_cluster(r: Reader) -> ClusterSpec:
    pools = []
    names: set[str] = set()
    for p in r.items("pools"):
        name = p.take_str("name")
        if name in names:
            raise p.error("name", "a pool name not used by another pool", name)
        names.add(name)
        pools.append(PoolSpec(
            name=name,
            count=p.take_int("count", 0),
            cores=p.take_int("cores", 1, default=1),
            market=p.take_choice("market", MARKETS, default="on_demand"),
            price_per_hour=p.take_float("price_per_hour", 0.0, default=0.0),
            boot_time=read_distribution(p, "boot_time", default=_ZERO),
            speed=p.take_float("speed", 0.0, default=1.0, exclusive_min=True),
        ))
        p.done()
    if not pools:
        raise r.error("pools", "at least one pool", [])
    if sum(p.count for p in pools) == 0:
        raise r.error("pools", "at least one pool with count > 0", 0)
    manager = None
    if r.has("manager"):
        m = r.child("manager")
        manager = ManagerSpec(price_per_hour=m.take_float("price_per_hour", 0.0, default=0.0),
                              market=m.take_choice("market", MARKETS, default="on_demand"))
        m.done()
    host = None
    if r.has("host"):
        h = r.child("host")
        cpus = h.take_float("cpus", 0.0, exclusive_min=True)
        background = h.take_float("background", 0.0, default=0.0)
        if background >= cpus:
            raise h.error("background", f"less than host.cpus ({cpus:g})", background)
        platform_work = h.take_bool("platform_work", False)
        h.done()
        host = HostSpec(cpus=cpus, background=background, platform_work=platform_work)
    r.done()
    return ClusterSpec(pools=tuple(pools), manager=manager, host=host)


def _read_churn(r: Reader, cluster: ClusterSpec) -> ChurnSpec:
    pool = r.take_choice("pool", [p.name for p in cluster.pools])
    lifetime = read_distribution(r, "lifetime") if r.has("lifetime") else None
    band = r.take_choice("band", BANDS, default=None) if r.has("band") else None
    if lifetime is not None and band is not None:
        raise r.error("band", "either lifetime or band, not both", band)
    if band is not None:
        lifetime = band_lifetime(band)
    max_lifetime = r.take_duration("max_lifetime", default=None, positive=True)
    trace_path = r.take_path("trace") if r.has("trace") else None
    trace = _read_trace(trace_path, cluster) if trace_path is not None else ()
    trace_file = str(trace_path.resolve()) if trace_path is not None else None
    zone = None
    if r.has("zone_reclaims"):
        z = r.child("zone_reclaims")
        zone = ZoneReclaimSpec(mean_interval=z.take_duration("mean_interval", positive=True),
                               fraction=z.take_float("fraction", 0.0, 1.0, exclusive_min=True))
        z.done()
    if lifetime is None and max_lifetime is None and not trace and zone is None:
        raise r.error("lifetime", "a lifetime, band, max_lifetime, trace or zone_reclaims "
                      "(a churn entry must make nodes leave somehow)")
    spec = ChurnSpec(
        pool=pool, lifetime=lifetime, band=band,
        notice=r.take_duration("notice", 0.0),
        on_notice=r.take_choice("on_notice", ON_NOTICE, default=SHUTDOWN),
        max_lifetime=max_lifetime,
        replace=r.take_bool("replace", True),
        replace_delay=r.take_duration("replace_delay", 0.0),
        trace=trace, trace_file=trace_file, zone_reclaims=zone,
    )
    r.done()
    return spec


def _read_trace(path: Path, cluster: ClusterSpec) -> tuple[TraceEvent, ...]:
    """A CSV trace with a header ``time,pool,event``; event is reclaim or launch."""
    from schedsim.units import UnitError, parse_duration

    events = []
    pools = {p.name for p in cluster.pools}
    lines = read_text(path, str(path), what="churn trace (CSV)",
                      limit=MAX_DATA_BYTES).splitlines()
    if not lines or [c.strip() for c in lines[0].split(",")] != ["time", "pool", "event"]:
        raise InputError(str(path), "line 1", "the header time,pool,event", has_value=False)
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in line.split(",")]
        where = f"line {lineno}"
        if len(cells) != 3:
            raise InputError(str(path), where, "three comma-separated cells time,pool,event", line)
        try:
            t = parse_duration(cells[0])
        except UnitError:
            raise InputError(str(path), where + " time", "a duration >= 0", cells[0]) from None
        if t < 0:
            raise InputError(str(path), where + " time", "a duration >= 0", cells[0])
        if cells[1] not in pools:
            raise InputError(str(path), where + " pool", "one of " + " | ".join(sorted(pools)),
                             cells[1])
        if cells[2] not in ("reclaim", "launch"):
            raise InputError(str(path), where + " event", "reclaim | launch", cells[2])
        events.append(TraceEvent(t, cells[1], cells[2]))
    events.sort(key=lambda e: e.time)
    return tuple(events)


def _read_link(r: Reader) -> LinkSpec:
    spec = LinkSpec(bandwidth=r.take_rate("bandwidth"), latency=r.take_duration("latency", 0.0),
                    duplex=r.take_choice("duplex", DUPLEX, default=FULL))
    r.done()
    return spec


def _read_network(r: Reader) -> NetworkSpec:
    spec = NetworkSpec(manager=_read_link(r.child("manager")), worker=_read_link(r.child("worker")))
    r.done()
    return spec

