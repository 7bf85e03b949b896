"""Calibration profiles: what was measured on a host, as JSON.

A profile (written by ``schedsim calibrate``, format in docs/calibration.md) holds, for each
measured zfp tolerance, the fitted task model of ``compress_task``:

- time: ``t(n) = (a + b n) * eps``, where ``eps`` is lognormal with mean 1 and coefficient of
  variation ``cv``, so the mean time is exactly ``a + b n``; fitted twice: to the program's own
  time (``time``) and to the process's wall time from fork to exit (``process_time``);
- output: ``bytes_out(n) = c n + d``;

plus the host, the versions, the fit quality and the platform phases measured by live runs.
Between measured tolerances every coefficient is interpolated linearly in log10(tolerance);
outside the measured range a tolerance is refused.

A scenario draws task times from it with ``workload.duration: {dist: profile, n: 200000,
tolerance: 1e-3}`` (:class:`schedsim.distributions.ProfileDuration` reads this module, which
knows nothing of distributions); ``profile: FILE`` (relative to the scenario file) picks another
profile than the shipped ``schedsim/profiles/default.json``. ``time: task`` (the default)
draws the program's own time plus the process's teardown at exit (``task.teardown``: the part
of the process wall time beyond the program's own that grows with n, fitted over the sweep);
the Work Queue and Ray models add their own measured fixed cost of starting the task's process
(``task_launch_time``: a C worker's fork and sandbox, a Python worker's subprocess), which
depends on who forks. ``time: process`` draws the process's wall time as the
calibration sweep measured it (forked by the calibrating Python process), for a platform model
without a launch cost of its own. The simulator reads only this file, never the measurement
code (:mod:`schedsim.calibration.measure`).
"""

from __future__ import annotations

import functools
import json
import math
import stat
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from schedsim.errors import InputError
from schedsim.reader import Reader
from schedsim.safe_load import MAX_DATA_BYTES, read_text

FORMAT = "schedsim-calibration-profile"
FORMAT_VERSION = 1
# The shipped profile (and the raw measurements it was fitted to, beside it) is package data:
# found through the package, so an installed schedsim reads it too.
DEFAULT_PROFILE = Path(str(files("schedsim").joinpath("profiles", "default.json")))
DEFAULT_TOLERANCE = 1e-3  # the RFC's zfp accuracy


def default_profile_path() -> Path:
    return DEFAULT_PROFILE


@dataclass(frozen=True)
class TaskModel:
    """Fitted model of one task at one tolerance (seconds, bytes, values of float32)."""

    tolerance: float
    a_s: float  # fixed time per task, s
    b_s: float  # time per value, s/value
    cv: float  # coefficient of variation of the multiplicative noise
    c_bytes: float  # output bytes per value
    d_bytes: float  # fixed output bytes (zfp header)

    def mean_time(self, n: int) -> float:
        return self.a_s + self.b_s * n

    def output_bytes(self, n: int) -> float:
        return self.c_bytes * n + self.d_bytes


@dataclass(frozen=True)
class Profile:
    """A loaded calibration profile."""

    path: Path
    name: str
    source: str  # "native" (compress_task) or "zfpy" (in-process fallback)
    models: tuple[TaskModel, ...]  # sorted by tolerance: the program's own time
    process_models: tuple[TaskModel, ...]  # the same, process wall time (may be empty)
    n_range: tuple[int, int]  # smallest and largest n measured
    data: dict[str, Any]  # the whole JSON document
    teardown_per_value: float = 0.0  # s/value: the process's exit after the program's end

    def teardown_s(self, n: int) -> float:
        """The part of the process's wall time after the program's own end that grows with
        n (the kernel freeing its memory at exit)."""
        return self.teardown_per_value * n

    @property
    def tolerance_range(self) -> tuple[float, float]:
        return self.models[0].tolerance, self.models[-1].tolerance

    def model(self, tolerance: float, process: bool = False) -> TaskModel:
        """The task model at ``tolerance`` (of the process's wall time if ``process``);
        ValueError outside the measured range."""
        models = self.process_models if process else self.models
        if not models:
            raise ValueError("a profile with process_time fits (rerun schedsim calibrate), "
                             "or time: task")
        lo, hi = self.tolerance_range
        for m in models:
            if math.isclose(m.tolerance, tolerance, rel_tol=1e-9):
                return m
        if not lo < tolerance < hi:
            raise ValueError(f"a tolerance measured by the profile ({_span(lo, hi)})")
        x = math.log10(tolerance)
        for left, right in zip(models, models[1:], strict=False):
            if left.tolerance < tolerance < right.tolerance:
                w = (x - math.log10(left.tolerance)) / (
                    math.log10(right.tolerance) - math.log10(left.tolerance))

                def mix(a: float, b: float, w: float = w) -> float:
                    return a + w * (b - a)

                return TaskModel(tolerance, mix(left.a_s, right.a_s), mix(left.b_s, right.b_s),
                                 mix(left.cv, right.cv), mix(left.c_bytes, right.c_bytes),
                                 mix(left.d_bytes, right.d_bytes))
        raise AssertionError("unreachable: tolerance inside the range")

    def mean_time(self, n: int, tolerance: float, process: bool = False) -> float:
        """Mean task time (s) for ``n`` values at ``tolerance`` (process wall time if
        ``process``)."""
        return self.model(tolerance, process).mean_time(n)

    def output_bytes(self, n: int, tolerance: float) -> float:
        """Fitted size of the task's output (bytes) for ``n`` values at ``tolerance``."""
        return self.model(tolerance).output_bytes(n)


def _span(lo: float, hi: float) -> str:
    return f"{lo:g}" if lo == hi else f"{lo:g} to {hi:g}"


def _param(r: Reader, key: str, minimum: float = -math.inf) -> float:
    """A parameter written as {value, unit, ...}; only the value is read."""
    child = r.child(key)
    return child.take_float("value", minimum)


def parse_profile(data: Any, path: Path) -> Profile:
    """Validate a profile document (InputError naming the file and key path)."""
    source = str(path)
    r = Reader(source, "", data)
    fmt = r.take_str("format")
    if fmt != FORMAT:
        raise r.error("format", repr(FORMAT), fmt)
    version = r.take_int("format_version", 1)
    if version != FORMAT_VERSION:
        raise r.error("format_version", str(FORMAT_VERSION), version)
    name = r.take_str("name")
    task = r.child("task")
    src = task.take_choice("source", ("native", "zfpy"))
    sweep = task.child("sweep")
    ns = sweep.raw("n")
    if not isinstance(ns, list) or not ns or not all(isinstance(v, int) and v > 0 for v in ns):
        raise sweep.error("n", "a non-empty list of positive integers", ns)
    models: list[TaskModel] = []
    process_models: list[TaskModel] = []
    for m in task.items("models"):
        tol = m.take_float("tolerance", 0.0, exclusive_min=True)
        out_r = m.child("output")
        c_bytes, d_bytes = _param(out_r, "c"), _param(out_r, "d")
        for key, into in (("time", models), ("process_time", process_models)):
            if key == "process_time" and not m.has(key):
                continue
            time_r = m.child(key)
            into.append(TaskModel(tolerance=tol, a_s=_param(time_r, "a"),
                                  b_s=_param(time_r, "b"), cv=_param(time_r, "cv", 0.0),
                                  c_bytes=c_bytes, d_bytes=d_bytes))
    if not models:
        raise task.error("models", "at least one fitted task model", [])
    if process_models and len(process_models) != len(models):
        raise task.error("models", "process_time in every model or in none", "some")
    teardown = 0.0
    if task.has("teardown"):
        teardown = _param(task.child("teardown"), "per_value", 0.0)
    if r.has("platforms"):
        _check_platforms(r.child("platforms"))
    models.sort(key=lambda m: m.tolerance)
    process_models.sort(key=lambda m: m.tolerance)
    return Profile(path=path, name=name, source=src, models=tuple(models),
                   process_models=tuple(process_models), n_range=(min(ns), max(ns)), data=data,
                   teardown_per_value=teardown)


def _check_platforms(r: Reader) -> None:
    """The shape of the fitted overheads (``platforms``: {kind: {parameters: {name: {value,
    ...}}}}) that the platform models start from; :func:`platform_defaults` then skips a
    value that is null (a fit that gave no number) or negative."""
    for kind in r.keys():
        params = r.child(kind).child("parameters", {})
        for name in params.keys():
            params.child(name).take("value", _number_or_null, "a number or null")


def _number_or_null(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError
    return float(value)


def _finite(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError
    return float(value)


def _check_stats(r: Reader) -> None:
    """A measured quantity's statistics ({count, mean, median, ...}) as the fit reads them."""
    if r.take_int("count", 0):
        for key in ("mean", "median"):
            r.take(key, _finite, "a finite number")


# The statistics of a live configuration that the platform fit and calibrate's table read.
MEASURED_STATS = ("task_total_s", "slot_gap_s", "retrieval_s", "dispatch_s",
                  "execute_minus_task_s", "process_overhead_s", "overhead_s", "return_s",
                  "launch_s")


def check_measured(profile: Profile) -> None:
    """The live runs of a profile (its ``measured`` section), checked before a refit reads
    them: an InputError naming the file and the entry."""
    measured = Reader(str(profile.path), "", profile.data).child("measured")
    if measured.has("host_cpus"):
        measured.take_int("host_cpus", 1)
    for platform in sorted(measured.keys()):
        if platform in ("host_cpus", "rfc_comparison"):
            continue
        for c in measured.child(platform).items("configs", []):
            c.take_str("label")
            for key in ("tasks", "n", "nodes", "cores"):
                c.take_int(key, 1)
            c.take_int("replications", 0)
            tolerance = c.take_float("tolerance", 0.0, exclusive_min=True)
            try:
                profile.model(tolerance)
            except ValueError as exc:
                raise c.error("tolerance", str(exc), tolerance) from None
            _check_stats(c.child("makespan_s"))
            for key in MEASURED_STATS:
                if c.has(key):
                    _check_stats(c.child(key))
    if measured.has("rfc_comparison"):
        rfc = measured.child("rfc_comparison")
        rfc.take("ratio_workqueue_over_ray", _finite, "a finite number")
        rfc.child("rfc").take("ratio", _finite, "a finite number")


@functools.lru_cache(maxsize=16)
def _load_cached(path: str, _mtime_ns: int, _size: int) -> Profile:
    p = Path(path)
    text = read_text(p, path, what="calibration profile", limit=MAX_DATA_BYTES)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"line {exc.lineno}", f"valid JSON ({exc.msg})",
                         has_value=False) from None
    except (ValueError, RecursionError):  # an integer of thousands of digits, deep nesting
        raise InputError(path, "", "valid JSON (numbers of at most 4,300 digits, nesting "
                         "below Python's recursion limit)", has_value=False) from None
    return parse_profile(data, p)


def load_profile(path: Path | str) -> Profile:
    """Load (and cache, per file version) a calibration profile."""
    p = Path(path).resolve()
    try:
        st = p.stat()
    except OSError:
        raise InputError(str(path), "", "an existing calibration profile (run schedsim "
                         "calibrate)", has_value=False) from None
    if not stat.S_ISREG(st.st_mode):  # a folder fails to read; a FIFO would block
        raise InputError(str(path), "", "a calibration profile file (this is a folder or "
                         "a special file)", has_value=False)
    return _load_cached(str(p), st.st_mtime_ns, st.st_size)


def platform_defaults(kind: str, path: Path | str | None = None) -> dict[str, float]:
    """Fitted overheads of platform ``kind`` from a profile's ``platforms`` section.

    The platform models start from these values (the shipped default profile unless ``path``
    names another); a profile without the section, or no profile at all, gives ``{}`` and the
    models keep their documented source defaults.
    """
    p = Path(path) if path is not None else default_profile_path()
    if not p.is_file():
        return {}
    section = load_profile(p).data.get("platforms", {}).get(kind, {})
    params = section.get("parameters", {}) if isinstance(section, dict) else {}
    out: dict[str, float] = {}
    for name, entry in params.items():
        value = entry.get("value") if isinstance(entry, dict) else None
        if isinstance(value, int | float) and math.isfinite(value) and value >= 0:
            out[name] = float(value)
    return out
