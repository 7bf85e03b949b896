"""Fitting the task model to measurements (scipy), and proving the fit on synthetic data.

Time. Measured task times at sizes ``n`` are modelled as ``t = (a + b n) * eps`` with
``eps`` lognormal, mean 1, coefficient of variation ``cv``: a fixed cost, a cost per value, and
noise proportional to the time, which is what repeated runs of a compute-bound program show.
Taking logs, ``log t = log(a + b n) + log eps`` with ``log eps ~ Normal(-s^2/2, s^2)``, so the
maximum-likelihood fit is a least-squares fit of ``log(a' + b' n)`` to ``log t``
(``scipy.optimize.least_squares``, with ``a', b' > 0``), where ``a' + b' n`` is the median
time. Then ``s^2`` is the residual variance, ``cv = sqrt(exp(s^2) - 1)``, and the mean-time
coefficients are ``a = a' exp(s^2/2)``, ``b = b' exp(s^2/2)``. Standard errors come from the
Jacobian at the optimum.

Output size. ``bytes_out = c n + d`` by ordinary least squares (``scipy.stats.linregress``),
separately for each tolerance.

:func:`synthetic_times` draws measurements from known parameters, so a test (and anyone) can
check that :func:`fit_time` recovers them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import optimize, stats


@dataclass(frozen=True)
class TimeFit:
    """Fitted ``t = (a + b n) * eps``, eps lognormal with mean 1 and CV ``cv``."""

    a_s: float
    b_s: float
    cv: float
    a_stderr: float
    b_stderr: float
    cv_stderr: float
    points: int
    r2_log: float  # share of the variance of log t the model explains
    rmse_log: float  # = sigma of log eps
    ks_statistic: float  # standardised log residuals against Normal(0, 1)
    ks_pvalue: float
    mean_abs_rel_error: float  # of the model mean against the sample mean at each n
    max_abs_rel_error: float

    def mean(self, n: float) -> float:
        return self.a_s + self.b_s * n

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SizeFit:
    """Fitted ``bytes_out = c n + d``."""

    c_bytes: float
    d_bytes: float
    c_stderr: float
    d_stderr: float
    points: int
    r2: float
    max_abs_rel_error: float

    def predict(self, n: float) -> float:
        return self.c_bytes * n + self.d_bytes


def fit_time(n: Iterable[float], t: Iterable[float]) -> TimeFit:
    """Fit the multiplicative-lognormal linear time model (see the module docstring)."""
    n_arr = np.asarray(list(n), dtype=float)
    t_arr = np.asarray(list(t), dtype=float)
    if n_arr.shape != t_arr.shape or n_arr.size < 3:
        raise ValueError("fit_time needs at least 3 (n, t) pairs of equal length")
    if np.any(t_arr <= 0) or np.any(n_arr <= 0):
        raise ValueError("fit_time needs positive n and times")
    if np.unique(n_arr).size < 2:
        raise ValueError("fit_time needs at least two distinct n")
    log_t = np.log(t_arr)
    # Start from a straight line through the medians at the smallest and largest n.
    lo, hi = n_arr.min(), n_arr.max()
    t_lo, t_hi = np.median(t_arr[n_arr == lo]), np.median(t_arr[n_arr == hi])
    b0 = max((t_hi - t_lo) / (hi - lo), 1e-15)
    a0 = max(t_lo - b0 * lo, 1e-3 * t_lo)
    # Parameters are log a', log b' (both must be positive); scaled for the solver.
    def residuals(p: np.ndarray) -> np.ndarray:
        return np.log(np.exp(p[0]) + np.exp(p[1]) * n_arr) - log_t

    sol = optimize.least_squares(residuals, x0=np.log([a0, b0]), method="lm", xtol=1e-14,
                                 ftol=1e-14, gtol=1e-14, max_nfev=10_000)
    res = sol.fun
    dof = max(1, n_arr.size - 2)
    s2 = float(res @ res) / dof
    a_med, b_med = float(np.exp(sol.x[0])), float(np.exp(sol.x[1]))
    scale = math.exp(s2 / 2)
    a, b = a_med * scale, b_med * scale
    # Covariance of (log a', log b') from the Jacobian; delta method to a and b.
    try:
        cov = np.linalg.inv(sol.jac.T @ sol.jac) * s2
        a_se = a * math.sqrt(max(cov[0, 0], 0.0))
        b_se = b * math.sqrt(max(cov[1, 1], 0.0))
    except np.linalg.LinAlgError:
        a_se = b_se = math.nan
    cv = math.sqrt(math.expm1(s2))
    # sigma's standard error is about sigma / sqrt(2 dof); d cv / d sigma = sigma e^{s2} / cv.
    sigma = math.sqrt(s2)
    cv_se = (sigma * math.exp(s2) / cv) * sigma / math.sqrt(2 * dof) if cv > 0 else 0.0
    ss_tot = float(np.sum((log_t - log_t.mean()) ** 2))
    r2 = 1.0 - float(res @ res) / ss_tot if ss_tot > 0 else 1.0
    ks = stats.kstest(res / sigma, "norm") if sigma > 0 else None
    rel = []
    for value in np.unique(n_arr):
        sample_mean = float(t_arr[n_arr == value].mean())
        rel.append(abs(a + b * value - sample_mean) / sample_mean)
    return TimeFit(a_s=a, b_s=b, cv=cv, a_stderr=a_se, b_stderr=b_se, cv_stderr=cv_se,
                   points=int(n_arr.size), r2_log=r2, rmse_log=sigma,
                   ks_statistic=float(ks.statistic) if ks is not None else 0.0,
                   ks_pvalue=float(ks.pvalue) if ks is not None else 1.0,
                   mean_abs_rel_error=float(np.mean(rel)), max_abs_rel_error=float(max(rel)))


def fit_size(n: Iterable[float], size: Iterable[float]) -> SizeFit:
    """Ordinary least squares of output bytes on n."""
    n_arr = np.asarray(list(n), dtype=float)
    s_arr = np.asarray(list(size), dtype=float)
    if n_arr.size < 2 or np.unique(n_arr).size < 2:
        raise ValueError("fit_size needs at least two distinct n")
    lr = stats.linregress(n_arr, s_arr)
    pred = lr.slope * n_arr + lr.intercept
    resid = s_arr - pred
    # Standard errors and R^2 from the residuals: linregress derives them from r, which for
    # an almost exact line (zfp's size on uniform data) can round past 1 and give NaN.
    ssr = float(resid @ resid)
    sxx = float(np.sum((n_arr - n_arr.mean()) ** 2))
    s2 = ssr / max(1, n_arr.size - 2)
    sst = float(np.sum((s_arr - s_arr.mean()) ** 2))
    rel = np.abs(resid) / np.maximum(s_arr, 1.0)
    return SizeFit(c_bytes=float(lr.slope), d_bytes=float(lr.intercept),
                   c_stderr=math.sqrt(s2 / sxx),
                   d_stderr=math.sqrt(s2 * (1.0 / n_arr.size + n_arr.mean() ** 2 / sxx)),
                   points=int(n_arr.size), r2=1.0 - ssr / sst if sst > 0 else 1.0,
                   max_abs_rel_error=float(rel.max()))


def synthetic_times(rng: np.random.Generator, n_values: Iterable[int], repeats: int,
                    a_s: float, b_s: float, cv: float) -> tuple[np.ndarray, np.ndarray]:
    """Measurements drawn from the model with known parameters: ``(n, t)`` arrays."""
    n = np.repeat(np.asarray(list(n_values), dtype=float), repeats)
    sigma2 = math.log1p(cv**2)
    eps = rng.lognormal(-sigma2 / 2, math.sqrt(sigma2), n.size)
    return n, (a_s + b_s * n) * eps


def per_n_table(n: Iterable[float], t: Iterable[float], fit: TimeFit) -> list[dict[str, float]]:
    """Sample statistics at each measured n next to the model's mean (for the profile)."""
    n_arr = np.asarray(list(n), dtype=float)
    t_arr = np.asarray(list(t), dtype=float)
    rows = []
    for value in np.unique(n_arr):
        x = t_arr[n_arr == value]
        mean = float(x.mean())
        rows.append({"n": int(value), "count": int(x.size), "mean_s": mean,
                     "median_s": float(np.median(x)),
                     "cv": float(x.std(ddof=1) / mean) if x.size > 1 else 0.0,
                     "model_mean_s": fit.mean(value),
                     "rel_error": (fit.mean(value) - mean) / mean})
    return rows
