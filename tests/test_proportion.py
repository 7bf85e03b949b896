"""Exact binomial bounds: the closed forms, scipy's beta quantiles, and the replications a claim
needs."""

from __future__ import annotations

import pytest
from scipy.stats import beta

from schedsim.studies import proportion


def test_ten_of_ten_is_consistent_with_a_rate_of_74_percent() -> None:
    # P(10 of 10 | p) = p^10 = 0.05 at p = 0.05^(1/10): the "as low as 74%".
    assert proportion.lower(10, 10) == pytest.approx(0.05 ** 0.1)
    assert proportion.lower(10, 10) == pytest.approx(0.741, abs=5e-4)
    assert proportion.upper(10, 10) == 1.0
    assert proportion.lower(0, 10) == 0.0


def test_showing_95_percent_takes_59_of_59() -> None:
    assert proportion.lower(59, 59) >= 0.95 > proportion.lower(58, 58)
    assert proportion.replications_needed(10, 10, 0.95) == 59
    assert proportion.replications_needed(2, 2, 0.95) == 59
    assert proportion.replications_needed(10, 10, 0.99) == 299  # 0.99^n <= 0.05


@pytest.mark.parametrize("k,n", [(1, 10), (5, 7), (9, 10), (50, 100), (999, 1000),
                                 (3, 60), (30_000, 100_000), (0, 1), (1, 1)])
def test_bounds_are_the_beta_quantiles(k: int, n: int) -> None:
    low = beta.ppf(0.05, k, n - k + 1) if k > 0 else 0.0
    high = beta.ppf(0.95, k + 1, n - k) if k < n else 1.0
    assert proportion.lower(k, n) == pytest.approx(low, abs=1e-9)
    assert proportion.upper(k, n) == pytest.approx(high, abs=1e-9)


def test_replications_needed_shows_the_side_the_rate_is_on() -> None:
    # 0 of 10 misses 95% for sure after two: the upper bound of 0 of 2 is 1 - 0.05^(1/2).
    assert proportion.replications_needed(0, 10, 0.95) == 2
    # Closer to the target takes more: 98% needs more than 100%, fewer than 96%.
    n98 = proportion.replications_needed(98, 100, 0.95)
    n96 = proportion.replications_needed(96, 100, 0.95)
    assert n98 is not None and n96 is not None and 59 < n98 < n96
    # At that many, a rate of 98% shows it (the lower bound at 98% of them reaches 95%).
    assert proportion.lower(round(0.98 * n98), n98) >= 0.95 - 1e-3
    assert proportion.replications_needed(19, 20, 0.95) is None  # exactly on the target
    assert proportion.replications_needed(10, 10, 1.0) is None  # 100% is never shown


def test_bad_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        proportion.lower(11, 10)
    with pytest.raises(ValueError):
        proportion.upper(0, 0)
