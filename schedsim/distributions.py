"""Distributions of durations (task times, node lifetimes, boot times), looked up by name.

A scenario writes ``{dist: NAME, mean: ..., ...}`` or a plain duration (a constant). Each
distribution is a frozen dataclass registered under its ``dist`` name, knows its mean and draws
vectors from an explicit ``numpy.random.Generator``: nothing here touches global randomness.
``dist: profile`` (:class:`ProfileDuration`) is the calibrated task's time, its parameters
read from a calibration profile (:mod:`schedsim.calibration.profile`).
:class:`Draws` hands out values one at a time from blocks drawn in bulk, because a million
scalar calls into numpy would dominate the simulation's cost.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from schedsim.calibration.profile import (
    DEFAULT_TOLERANCE,
    Profile,
    default_profile_path,
    load_profile,
)
from schedsim.reader import Reader
from schedsim.units import UnitError, parse_duration

if TYPE_CHECKING:
    # numpy is imported where values are drawn: reading a scenario (schedsim check) does
    # not pay its import.
    import numpy as np


class Distribution(ABC):
    """A non-negative random duration in seconds."""

    name: ClassVar[str]

    @property
    @abstractmethod
    def mean(self) -> float:
        """Expected value in seconds."""

    @abstractmethod
    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw ``size`` values."""

    def describe(self) -> dict[str, object]:
        """The distribution as scenario keys (for the resolved scenario file)."""
        out: dict[str, object] = {"dist": self.name}
        out.update({k: v for k, v in self.__dict__.items()})
        return out


DISTRIBUTIONS: dict[str, Callable[[Reader], Distribution]] = {}


def register(name: str) -> Callable[[Callable[[Reader], Distribution]],
                                    Callable[[Reader], Distribution]]:
    def wrap(parser: Callable[[Reader], Distribution]) -> Callable[[Reader], Distribution]:
        DISTRIBUTIONS[name] = parser
        return parser
    return wrap


@dataclass(frozen=True)
class Constant(Distribution):
    name: ClassVar[str] = "constant"
    value: float

    @property
    def mean(self) -> float:
        return self.value

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        import numpy as np

        return np.full(size, self.value)

    def describe(self) -> dict[str, object]:
        return {"dist": "constant", "mean": self.value}


@dataclass(frozen=True)
class Exponential(Distribution):
    name: ClassVar[str] = "exponential"
    mean_s: float

    @property
    def mean(self) -> float:
        return self.mean_s

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.exponential(self.mean_s, size)

    def describe(self) -> dict[str, object]:
        return {"dist": "exponential", "mean": self.mean_s}


@dataclass(frozen=True)
class Lognormal(Distribution):
    """Lognormal given its mean and coefficient of variation (std / mean)."""

    name: ClassVar[str] = "lognormal"
    mean_s: float
    cv: float

    @property
    def mean(self) -> float:
        return self.mean_s

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        sigma2 = math.log1p(self.cv**2)
        mu = math.log(self.mean_s) - sigma2 / 2
        return rng.lognormal(mu, math.sqrt(sigma2), size)

    def describe(self) -> dict[str, object]:
        return {"dist": "lognormal", "mean": self.mean_s, "cv": self.cv}


@dataclass(frozen=True)
class Weibull(Distribution):
    """Weibull given its mean and shape k (k < 1: decreasing hazard, k > 1: wear-out)."""

    name: ClassVar[str] = "weibull"
    mean_s: float
    shape: float

    @property
    def mean(self) -> float:
        return self.mean_s

    @property
    def scale(self) -> float:
        return self.mean_s / math.gamma(1 + 1 / self.shape)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return self.scale * rng.weibull(self.shape, size)

    def describe(self) -> dict[str, object]:
        return {"dist": "weibull", "mean": self.mean_s, "shape": self.shape}


@dataclass(frozen=True)
class Hyperexponential(Distribution):
    """Mixture of exponential phases: phase i is chosen with probability p_i."""

    name: ClassVar[str] = "hyperexponential"
    probs: tuple[float, ...]
    means: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(sum(p * m for p, m in zip(self.probs, self.means, strict=True)))

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        import numpy as np

        phase = rng.choice(len(self.probs), size=size, p=np.array(self.probs))
        return rng.exponential(1.0, size) * np.array(self.means)[phase]

    def describe(self) -> dict[str, object]:
        return {"dist": "hyperexponential",
                "phases": [{"p": p, "mean": m} for p, m in zip(self.probs, self.means,
                                                                 strict=True)]}


def _mean(r: Reader) -> float:
    return r.take_duration("mean", positive=True)


@register("constant")
def _constant(r: Reader) -> Distribution:
    return Constant(r.take_duration("mean"))


@register("exponential")
def _exponential(r: Reader) -> Distribution:
    return Exponential(_mean(r))


@register("lognormal")
def _lognormal(r: Reader) -> Distribution:
    mean, cv = _mean(r), r.take_float("cv", 0.0, exclusive_min=True)
    if not math.isfinite(math.log1p(cv * cv)):  # sigma^2 = ln(1 + cv^2) overflows
        raise r.error("cv", "a cv whose sigma^2 = ln(1 + cv^2) is finite (cv <= 1e150)", cv)
    return Lognormal(mean, cv)


@register("weibull")
def _weibull(r: Reader) -> Distribution:
    dist = Weibull(_mean(r), r.take_float("shape", 0.0, exclusive_min=True))
    try:
        scale = dist.scale
    except OverflowError:  # Gamma(1 + 1/shape) beyond the float range
        scale = 0.0
    if not (math.isfinite(scale) and scale > 0):
        raise r.error("shape", "a shape whose scale, mean / Gamma(1 + 1/shape), is finite and "
                      "> 0 (shape >= 0.006)", dist.shape)
    return dist


@register("hyperexponential")
def _hyperexponential(r: Reader) -> Distribution:
    phases = r.items("phases")
    if not phases:
        raise r.error("phases", "a non-empty list of {p, mean} phases", [])
    probs, means = [], []
    for ph in phases:
        probs.append(ph.take_float("p", 0.0, 1.0, exclusive_min=True))
        means.append(ph.take_duration("mean", positive=True))
        ph.done()
    if abs(sum(probs) - 1.0) > 1e-6:
        raise r.error("phases", "phase probabilities p that add up to 1", sum(probs))
    return Hyperexponential(tuple(probs), tuple(means))


# The calibrated task's time: the one distribution whose parameters come from a file. It reads
# the profile (schedsim.calibration.profile), which knows nothing of distributions.
@dataclass(frozen=True)
class ProfileDuration(Distribution):
    """Task time of the calibrated task for ``n`` values at ``tolerance``, in seconds."""

    name: ClassVar[str] = "profile"
    n: int
    tolerance: float
    a_s: float
    b_s: float
    cv: float
    c_bytes: float
    d_bytes: float
    profile: str  # absolute path of the profile used
    default: bool = True  # the scenario named no profile
    time: str = "task"  # "task": the program's own time; "process": fork to exit

    @classmethod
    def from_profile(cls, profile: Profile, n: int, tolerance: float,
                     default: bool, time: str = "task") -> ProfileDuration:
        m = profile.model(tolerance, process=time == "process")
        # A task is its program plus the process's teardown, which grows with n; the
        # platforms add the fixed cost of starting the process (task_launch_time).
        b_s = m.b_s + (profile.teardown_per_value if time == "task" else 0.0)
        return cls(n=n, tolerance=tolerance, a_s=m.a_s, b_s=b_s, cv=m.cv, c_bytes=m.c_bytes,
                   d_bytes=m.d_bytes, profile=str(profile.path), default=default, time=time)

    @property
    def mean(self) -> float:
        return self.a_s + self.b_s * self.n

    @property
    def output_bytes(self) -> float:
        """Fitted output size of this task (bytes)."""
        return self.c_bytes * self.n + self.d_bytes

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        mean = self.mean
        if self.cv <= 0:
            import numpy as np

            return np.full(size, mean)
        sigma2 = math.log1p(self.cv**2)
        return mean * rng.lognormal(-sigma2 / 2, math.sqrt(sigma2), size)

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {"dist": "profile", "n": self.n, "tolerance": self.tolerance}
        if self.time != "task":
            out["time"] = self.time
        if not self.default:
            out["profile"] = self.profile
        return out


def _number(value: Any) -> float:
    # YAML 1.1 reads 1e-3 (no dot) as a string; accept it as the number it spells.
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, str):
        value = float(value.strip())
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError
    return float(value)


def _as_count(value: Any) -> int:
    number = _number(value)
    if number < 1 or not number.is_integer():
        raise ValueError
    return int(number)


def _as_tolerance(value: Any) -> float:
    number = _number(value)
    if number <= 0:
        raise ValueError
    return number


@register("profile")
def _profile(r: Reader) -> Distribution:
    n = r.take("n", _as_count, "an integer >= 1 (values of float32)")
    tolerance = r.take("tolerance", _as_tolerance, "a number > 0 (zfp absolute error bound)",
                       DEFAULT_TOLERANCE)
    given = r.take_path("profile", default=None)
    time = r.take_choice("time", ("task", "process"), "task")
    path = given if given is not None else default_profile_path()
    if given is None and not path.is_file():
        raise r.error("profile", f"a calibration profile: none given and the default "
                      f"{path} is missing (run schedsim calibrate)")
    profile = load_profile(path)
    try:
        dist = ProfileDuration.from_profile(profile, n, tolerance, default=given is None,
                                            time=time)
    except ValueError as exc:
        key = "time" if "process_time" in str(exc) else "tolerance"
        raise r.error(key, str(exc), time if key == "time" else tolerance) from None
    if dist.mean <= 0:
        raise r.error("n", f"an n whose fitted mean time is positive (the profile measured "
                      f"n from {profile.n_range[0]} to {profile.n_range[1]})", n)
    return dist


def read_distribution(parent: Reader, key: str,
                      extra: dict[str, Callable[[Reader], Distribution]] | None = None,
                      default: Distribution | None = None) -> Distribution:
    """Read ``key`` as a distribution mapping, or a plain duration meaning a constant."""
    if not parent.has(key):
        if default is None:
            raise parent.error(key, "a duration or a {dist: ...} mapping (this key is required)")
        return default
    value = parent.raw(key)
    if not isinstance(value, dict):
        try:
            seconds = parse_duration(value)
        except UnitError:
            seconds = -1.0
        if seconds < 0:
            raise parent.error(key, "a duration >= 0 or a {dist: ...} mapping", value)
        return Constant(seconds)
    reader = Reader(parent.source, parent.key_path(key), value, parent.base_dir)
    registry = dict(DISTRIBUTIONS, **(extra or {}))
    name = reader.take_choice("dist", registry)
    dist = registry[name](reader)
    reader.done()
    return dist


class Draws:
    """Values of one distribution from one stream, drawn in blocks, handed out in order.

    ``longest`` is the largest value drawn so far (blocks ahead included): a watchdog's time
    scale, kept per block so that handing out a value costs nothing more.
    """

    __slots__ = ("_dist", "_rng", "_block", "_buf", "_pos", "longest")

    def __init__(self, dist: Distribution, rng: np.random.Generator, block: int = 8192) -> None:
        self._dist = dist
        self._rng = rng
        self._block = block
        self._buf: list[float] = []
        self._pos = 0
        self.longest = 0.0

    def next(self) -> float:
        if self._pos >= len(self._buf):
            block = self._dist.sample(self._rng, self._block)
            self.longest = max(self.longest, float(block.max()))
            self._buf = block.tolist()
            self._pos = 0
        value = self._buf[self._pos]
        self._pos += 1
        return value
