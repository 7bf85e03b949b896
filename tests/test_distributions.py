"""Distributions: sample means match the declared means, draws are reproducible."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schedsim.distributions import (
    Constant,
    Distribution,
    Draws,
    Exponential,
    Hyperexponential,
    Lognormal,
    Weibull,
)

means = st.floats(min_value=1e-3, max_value=1e5)


def sample_mean_ok(dist: Distribution, n: int = 200_000) -> bool:
    rng = np.random.default_rng(1)
    x = dist.sample(rng, n)
    se = x.std() / np.sqrt(n)
    return bool(np.all(x >= 0) and abs(x.mean() - dist.mean) <= 6 * se + 1e-12 * dist.mean)


@settings(max_examples=25, deadline=None)
@given(means, st.floats(min_value=0.05, max_value=2.0))
def test_lognormal_mean_and_cv(mean: float, cv: float) -> None:
    d = Lognormal(mean, cv)
    assert sample_mean_ok(d)
    x = d.sample(np.random.default_rng(2), 200_000)
    assert x.std() / x.mean() == pytest.approx(cv, rel=0.1)


@settings(max_examples=25, deadline=None)
@given(means, st.floats(min_value=0.5, max_value=5.0))
def test_weibull_mean(mean: float, shape: float) -> None:
    assert sample_mean_ok(Weibull(mean, shape))


@settings(max_examples=25, deadline=None)
@given(means)
def test_exponential_and_constant_means(mean: float) -> None:
    assert sample_mean_ok(Exponential(mean))
    assert Constant(mean).sample(np.random.default_rng(0), 3).tolist() == [mean] * 3


@settings(max_examples=25, deadline=None)
@given(st.floats(min_value=0.05, max_value=0.95), means, means)
def test_hyperexponential_mean(p: float, m1: float, m2: float) -> None:
    d = Hyperexponential((p, 1 - p), (m1, m2))
    assert d.mean == pytest.approx(p * m1 + (1 - p) * m2)
    assert sample_mean_ok(d)


def test_draws_are_reproducible_and_blocked() -> None:
    a = Draws(Exponential(2.0), np.random.default_rng(5), block=7)
    b = Draws(Exponential(2.0), np.random.default_rng(5), block=7)
    xs = [a.next() for _ in range(30)]
    assert xs == [b.next() for _ in range(30)]
    assert len(set(xs)) == 30
