"""Distributions of durations (task times, node lifetimes, boot times), looked up by name.

A scenario writes ``{dist: NAME, mean: ..., ...}`` or a plain duration (a constant). Each
distribution is a frozen dataclass registered under its ``dist`` name, knows its mean and draws
vectors from an explicit ``numpy.random.Generator``: nothing here touches global randomness.
:class:`Draws` hands out values one at a time from blocks drawn in bulk, because a million
scalar calls into numpy would dominate the simulation's cost.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from schedsim.reader import Reader
from schedsim.units import UnitError, parse_duration


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
from schedsim.calibration import profile as _profile  # noqa: E402,F401,I001  registers dist: profile
