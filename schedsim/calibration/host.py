"""The host a profile was measured on, and whether this host is that one.

A profile's ``host`` record holds the CPU model, the core count and the task's speed on a short
probe: ``compress_task`` at one point of the task sweep (n = 1e6, tolerance 1e-3), one warm-up
run and 15 back-to-back runs, the median of the program's own time (``total_s``), measured as
the sweep measures a point. ``schedsim validate`` and ``schedsim live`` run the same probe here
and compare: another CPU model, another core count, or a probe time off by more than
:data:`SPEED_TOLERANCE` is another host, said in one line (:meth:`HostCheck.line`). The ratio
of the two probe times is the factor by which task times are rescaled on request
(``validate --rescale``). A profile without a probe (written before 2026-12-02) is compared
through its own sweep's median at the probe's point, else its task model's mean there.

One probe is one moment of a host whose speed drifts 2-3x within a day, so ``validate``, when
it makes live runs, probes before and after them and takes the median of both probes' runs
together (:func:`combined_probe`); and where its live runs timed the real task alone on a
worker, their own task times over those calibration measured (:class:`TaskRatio`) are the
speed ratio instead of the probe's: they are the very runs being validated.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from schedsim.calibration.measure import native_binary, run_native
from schedsim.calibration.profile import Profile
from schedsim.errors import InputError

PROBE_N = 1_000_000
PROBE_TOLERANCE = 1e-3
PROBE_REPEATS = 15  # about 0.6 s of task on the profile's host, 2 s here when busy
# Twice the spread of the probe's median between probes a minute apart on this 2-core host
# (about 10%, 2026-12-02): a smaller tolerance would call the same host another one.
SPEED_TOLERANCE = 0.20


def run_probe(repeats: int = PROBE_REPEATS) -> dict[str, Any] | None:
    """The probe on this host (None without the native compress_task)."""
    binary = native_binary()
    if binary is None:
        return None
    work = Path(tempfile.mkdtemp(prefix="schedsim-probe-"))
    try:
        out = work / "out.zfp"
        load = os.getloadavg()[0]
        run_native(binary, PROBE_N, PROBE_TOLERANCE, 10_000, out)  # warm-up, as in the sweep
        times = [float(run_native(binary, PROBE_N, PROBE_TOLERANCE, 1 + r, out)["total_s"])
                 for r in range(repeats)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"n": PROBE_N, "tolerance": PROBE_TOLERANCE, "repeats": repeats,
            "median_s": float(np.median(times)), "min_s": min(times), "times_s": times,
            "load_1min": round(load, 2),
            "measured_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "source": "probe: compress_task, one warm-up and back-to-back runs, median "
                      "total_s"}


def combined_probe(before: dict[str, Any] | None,
                   after: dict[str, Any] | None) -> dict[str, Any] | None:
    """One probe of the probes before and after the live runs: the median of their runs
    together (a probe without its runs counts as its median), both kept as they were."""
    probes = [p for p in (before, after) if p is not None]
    if not probes:
        return None
    times = [float(t) for p in probes for t in (p.get("times_s") or [p["median_s"]])]
    loads = [p["load_1min"] for p in probes if p.get("load_1min") is not None]
    return {"n": PROBE_N, "tolerance": PROBE_TOLERANCE, "repeats": len(times),
            "median_s": float(np.median(times)), "min_s": min(times),
            "load_1min": max(loads) if loads else None, "before": before, "after": after,
            "source": "probes before and after the live runs: the median of their runs "
                      "together"}


@dataclass(frozen=True)
class TaskRatio:
    """This host's speed read off the live runs being validated: the mean of the task's own
    time (``task_total_s``) over the time calibration measured for it beside the same
    platform, median over the (platform, configuration) pairs that ran it."""

    ratio: float
    pairs: int  # (platform, configuration) pairs with live task times
    attempts: int

    def as_dict(self) -> dict[str, Any]:
        return {"ratio": self.ratio, "pairs": self.pairs, "attempts": self.attempts}


@functools.lru_cache(maxsize=1)
def probe_here() -> dict[str, Any] | None:
    """:func:`run_probe`, once per process: a test session or a study probes once."""
    return run_probe()


def this_host(probe: dict[str, Any] | None) -> dict[str, Any]:
    """This host's facts with ``probe`` (the record a profile keeps)."""
    from schedsim.live.summary import host_facts

    facts = host_facts()
    facts["probe"] = probe
    return facts


@dataclass(frozen=True)
class HostCheck:
    """This host against a profile's: what differs and the task-time ratio (here / there)."""

    profile: str  # the profile's file name
    there: dict[str, Any]  # cpu_model, cpus, probe_s, probe_from
    here: dict[str, Any]  # cpu_model, cpus, probe_s, load_1min
    ratio: float | None  # task time here over there; None if unknown
    differences: tuple[str, ...]  # the speed one, if any, last
    ratio_from: str = "probe"  # "probe", "probes before and after" or "live tasks"
    speed_differs: bool = False  # the last difference is the task's speed

    def hardware_only(self) -> HostCheck:
        """This check without its speed difference: what no probe or live run changes."""
        if not self.speed_differs:
            return self
        return dataclasses.replace(self, differences=self.differences[:-1],
                                   speed_differs=False)

    @property
    def same_host(self) -> bool:
        return not self.differences

    def line(self) -> str:
        """One line: the same host, or what differs and by how much."""
        if self.same_host:
            speed = f", probe {self.ratio:.2f}x its time there" if self.ratio else ""
            return f"profile {self.profile}: measured on this host{speed}"
        return (f"profile {self.profile} was measured on another host: "
                f"{'; '.join(self.differences)}")

    def as_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "there": self.there, "here": self.here,
                "ratio": self.ratio, "ratio_from": self.ratio_from,
                "same_host": self.same_host,
                "differences": list(self.differences), "tolerance": SPEED_TOLERANCE}


def platform_host(profile: Profile, platform: str) -> dict[str, Any] | None:
    """The host ``platform``'s fitted section was measured on, where it records one
    (``platforms.NAME.calibrated.host``, ``calibrate --platform``); else None: the profile's."""
    section = profile.data.get("platforms", {})
    section = section.get(platform) if isinstance(section, dict) else None
    calibrated = section.get("calibrated") if isinstance(section, dict) else None
    host = calibrated.get("host") if isinstance(calibrated, dict) else None
    return host if isinstance(host, dict) else None


def _recorded_probe(profile: Profile, probe: Any, key: str) -> float:
    median = probe.get("median_s") if isinstance(probe, dict) else None
    if (isinstance(median, bool) or not isinstance(median, int | float)
            or not math.isfinite(median) or median <= 0):
        raise InputError(str(profile.path), f"{key}.median_s",
                         f"a probe time in seconds > 0 (or no {key})", median)
    assert isinstance(probe, dict)
    if probe.get("n", PROBE_N) != PROBE_N or probe.get("tolerance") != PROBE_TOLERANCE:
        raise InputError(str(profile.path), key,
                         f"a probe at n = {PROBE_N}, tolerance {PROBE_TOLERANCE:g}",
                         {k: probe.get(k) for k in ("n", "tolerance")})
    return float(median)


def reference_probe(profile: Profile) -> tuple[float | None, str]:
    """The profile host's probe time (s) and where it comes from: the recorded probe, else
    its sweep's median at the probe's point, else its task model's mean there."""
    host = profile.data.get("host")
    probe = host.get("probe") if isinstance(host, dict) else None
    if probe is not None:
        return _recorded_probe(profile, probe, "host.probe"), "probe"
    for m in profile.data.get("task", {}).get("models", []):
        if m.get("tolerance") == PROBE_TOLERANCE:
            for row in m.get("time", {}).get("per_n", []):
                if row.get("n") == PROBE_N and isinstance(row.get("median_s"), int | float):
                    return float(row["median_s"]), "sweep"
    try:
        return profile.mean_time(PROBE_N, PROBE_TOLERANCE), "model"
    except ValueError:  # the probe's tolerance lies outside the profile's
        return None, "none"


def compare_hosts(profile: Profile, here: dict[str, Any], platform: str | None = None,
                  task_ratio: TaskRatio | None = None) -> HostCheck:
    """``here`` (:func:`this_host`) against the host ``profile`` records (with ``platform``,
    the host its section was measured on if it records one: :func:`platform_host`). With
    ``task_ratio`` (live runs' own task times), that is the speed ratio, not the probe's."""
    own = platform_host(profile, platform) if platform is not None else None
    name = profile.path.name
    host: dict[str, Any]
    probe_s: float | None
    if own is not None:
        host = own
        probe = own.get("probe")
        key = f"platforms.{platform}.calibrated.host.probe"
        probe_s, probe_from = ((_recorded_probe(profile, probe, key), "probe")
                               if probe is not None else (None, "none"))
        name = f"{name} ({platform}'s section)"
    else:
        recorded = profile.data.get("host")
        host = recorded if isinstance(recorded, dict) else {}
        probe_s, probe_from = reference_probe(profile)
    there = {"cpu_model": host.get("cpu_model"), "cpus": host.get("cpus"),
             "probe_s": probe_s, "probe_from": probe_from}
    probe = here.get("probe")
    mine = {"cpu_model": here.get("cpu_model"), "cpus": here.get("cpus"),
            "probe_s": probe["median_s"] if probe else None,
            "load_1min": probe["load_1min"] if probe else None}
    combined = isinstance(probe, dict) and "before" in probe
    if isinstance(probe, dict) and combined:  # validate's probes around its live runs
        mine.update({f"probe_{k}_s": probe[k]["median_s"] if probe[k] else None
                     for k in ("before", "after")})
    differences = []
    for key, what in (("cpu_model", "CPU"), ("cpus", "cores")):
        if there[key] is not None and mine[key] is not None and there[key] != mine[key]:
            differences.append(f"{what} {there[key]} there, {mine[key]} here")
    probe_ratio = mine["probe_s"] / probe_s if probe_s and mine["probe_s"] else None
    mine["probe_ratio"] = probe_ratio
    ratio, ratio_from = probe_ratio, "probes before and after" if combined else "probe"
    if task_ratio is not None:
        ratio, ratio_from = task_ratio.ratio, "live tasks"
        mine["live_tasks"] = task_ratio.as_dict()
    speed_differs = ratio is not None and max(ratio, 1 / ratio) > 1 + SPEED_TOLERANCE
    if speed_differs:
        assert ratio is not None
        load = mine["load_1min"]
        probe_text = (f"probe {mine['probe_s']:.4f} s here at load "
                      f"{'?' if load is None else f'{load:g}'}, "
                      f"{probe_s:.4f} s there from its {probe_from}"
                      if probe_ratio is not None else "no probe")
        if task_ratio is not None:
            how = (f"the live runs' own task times, {task_ratio.pairs} lone-task "
                   f"configurations, over calibration's; {probe_text}")
        else:
            how = probe_text + (" (median of the probes before and after the live runs)"
                                if combined else "")
        differences.append(f"the task takes {ratio:.2f}x its time there ({how}; tolerance "
                           f"{SPEED_TOLERANCE:.0%})")
    return HostCheck(name, there, mine, ratio, tuple(differences), ratio_from, speed_differs)


def check_here(profile: Profile, platform: str | None = None) -> HostCheck:
    """This host (probed once per process) against ``profile``'s (or ``platform``'s own)."""
    return compare_hosts(profile, this_host(probe_here()), platform)


def rescaled_speed(speed: float, ratio: float) -> float:
    """A pool's speed once task times are scaled by ``ratio`` (here over there): a task
    takes duration / speed, so a host ``ratio`` times slower runs at speed / ratio."""
    if not ratio > 0 or not math.isfinite(ratio):
        raise ValueError(f"a task-time ratio > 0, not {ratio!r}")
    return speed / ratio


@dataclass(frozen=True)
class Decision:
    """What ``validate`` does with a host check: the task-time scale, a note, or a refusal."""

    task_scale: float  # 1.0 unless rescaled
    note: str | None  # one line for the console (None on the same host)
    refuse: str | None  # one line for stderr, exit 2: another host and neither option
    # Platforms whose section was measured on a host of its own: their task-time scale
    # (their live-host speed already holds that host's task speed, not the profile's).
    platform_scales: dict[str, float] = field(default_factory=dict)


def decide(check: HostCheck, *, rescale: bool, any_host: bool) -> Decision:
    """``validate``'s answer to another host: ``--rescale`` scales task times by the probe
    ratio, ``--any-host`` goes on as it is; neither refuses, pointing at calibrate."""
    if check.same_host:
        return Decision(1.0, None, None)
    line = check.line()
    if rescale and check.ratio is not None:
        return Decision(check.ratio, f"{line}: task times rescaled by {check.ratio:.2f} "
                        f"(--rescale, ratio from the {check.ratio_from})", None)
    if any_host:
        return Decision(1.0, f"{line}: validated as it is (--any-host)", None)
    scale = (f", or --rescale (task times x{check.ratio:.2f})" if check.ratio is not None
             else "")
    return Decision(1.0, None, f"{line}: run `schedsim calibrate` first, or `schedsim "
                    f"validate --calibrate`{scale}, or --any-host")


def decide_platforms(check: HostCheck, own: dict[str, HostCheck], *, rescale: bool,
                     any_host: bool) -> Decision:
    """:func:`decide` for the profile's host (``check``) and for each platform calibrated
    on a host of its own (``own``): a refusal if any refuses, every note, one scale each."""
    base = decide(check, rescale=rescale, any_host=any_host)
    each = {p: decide(c, rescale=rescale, any_host=any_host) for p, c in own.items()}
    refusals = [d.refuse for d in (base, *each.values()) if d.refuse]
    notes = [d.note for d in (base, *each.values()) if d.note]
    return Decision(base.task_scale, " / ".join(notes) or None,
                    " / ".join(refusals) or None,
                    {p: d.task_scale for p, d in each.items()})
