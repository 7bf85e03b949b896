"""How sure a share of replications is: exact (Clopper-Pearson) bounds for a binomial proportion.

``k`` of ``n`` replications met the deadline. :func:`lower` is the one-sided lower confidence
bound on the true rate, :func:`upper` the one-sided upper one, both exact (Clopper-Pearson: the
binomial tail itself, never a normal approximation), so a claim "P >= c with 95% confidence" is
true whenever the lower bound is >= c, however few the replications. 10 of 10 gives a 95% lower
bound of 0.05^(1/10) = 74.1%; showing 95% needs 59 of 59. :func:`replications_needed` says how
many replications such a claim takes at the observed rate.

Pure Python (a continued fraction for the incomplete beta function, Numerical Recipes 6.4):
importing scipy.stats costs about a second, more than planning a small scenario.
"""

from __future__ import annotations

import math

DEFAULT_MAX_REPLICATIONS = 60  # a plan's cap per point: 59 of 59 shows 95%

LEVEL = 0.95  # the confidence of each one-sided bound
NEEDED_LIMIT = 100_000  # the most replications a scenario may ask for (reader.MAX_REPLICATIONS)
_BISECTIONS = 60  # halvings of [0, 1]: the bound to within 1e-18
_CF_ITERATIONS = 10_000
_CF_EPS = 1e-15
_TINY = 1e-300


def _continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _CF_ITERATIONS + 1):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                   -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + aa / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < _CF_EPS:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), for a, b > 0."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) +
                     a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _continued_fraction(a, b, x) / a
    return 1.0 - front * _continued_fraction(b, a, 1.0 - x) / b


def _solve(a: float, b: float, target: float) -> float:
    """The p with I_p(a, b) = target (I grows with p), by bisection."""
    lo, hi = 0.0, 1.0
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2.0
        if betainc(a, b, mid) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def _check(k: int, n: int) -> None:
    if not 0 <= k <= n or n < 1:
        raise ValueError(f"expected 0 <= k <= n and n >= 1, got k={k}, n={n}")


def lower(k: int, n: int, level: float = LEVEL) -> float:
    """One-sided lower bound: the rate at which k or more successes of n have probability
    1 - level (P(X >= k | p) = I_p(k, n - k + 1))."""
    _check(k, n)
    return _lower(k, n, level)


def upper(k: int, n: int, level: float = LEVEL) -> float:
    """One-sided upper bound: the rate at which k or fewer successes of n have probability
    1 - level (P(X <= k | p) = 1 - I_p(k + 1, n - k))."""
    _check(k, n)
    return _upper(k, n, level)


# The bounds for a real k (the incomplete beta takes any positive parameters): what
# replications_needed uses, so that the rate k/n of m replications is not rounded.
def _lower(k: float, n: float, level: float) -> float:
    if k <= 0:
        return 0.0
    if k >= n:
        return float((1.0 - level) ** (1.0 / n))  # closed form, exact
    return _solve(k, n - k + 1, 1.0 - level)


def _upper(k: float, n: float, level: float) -> float:
    if k >= n:
        return 1.0
    if k <= 0:
        return float(1.0 - (1.0 - level) ** (1.0 / n))
    return _solve(k + 1, n - k, level)


def replications_needed(k: int, n: int, target: float, level: float = LEVEL) -> int | None:
    """About how many replications show the rate on the side of ``target`` where k of n lies,
    if the rate stays k/n: for k/n > target the smallest m whose lower bound (with k/n of m on
    time) reaches target; for k/n < target the smallest m whose upper bound falls below it.
    None when k/n equals target or no m up to :data:`NEEDED_LIMIT` suffices (the rate is too
    close to the target to tell)."""
    _check(k, n)
    rate = k / n
    if rate == target:
        return None
    if rate > target:
        def shown(m: int) -> bool:
            return _lower(rate * m, m, level) >= target
    else:
        def shown(m: int) -> bool:
            return _upper(rate * m, m, level) < target
    # Exponential then binary search: shown() grows with m (a real k keeps it monotone).
    m = 1
    while not shown(m):
        if m >= NEEDED_LIMIT:
            return None
        m = min(2 * m, NEEDED_LIMIT)
    lo, hi = m // 2, m  # shown(hi); not shown(lo) unless lo == 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if shown(mid):
            hi = mid
        else:
            lo = mid
    return hi
