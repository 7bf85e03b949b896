"""Coverage of the summaries' 95% intervals (docs/metrics.md, "Confidence intervals").

Draws many samples of n replications from distributions shaped like the metrics (counts,
skewed times, fractions near 1, 0/1 outcomes), and counts how often the interval of
:func:`schedsim.metrics.summarize` holds the true mean, next to the plain Student-t
interval's. Prints the markdown table of the docs; deterministic (seeded).

    python3 scripts/ci_coverage.py [--samples 20000]
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

import numpy as np

from schedsim.metrics import BINARY, FRACTION, NONNEGATIVE, REAL, summarize

Draw = Callable[[np.random.Generator, int], np.ndarray]


def _beta(mean: float, sd: float) -> Draw:
    k = mean * (1 - mean) / sd**2 - 1
    return lambda g, n: g.beta(mean * k, (1 - mean) * k, n)


CV = 0.3
SIGMA = math.sqrt(math.log(1 + CV**2))
CASES: list[tuple[str, str, Draw, float]] = [
    ("counts, Poisson mean 16", NONNEGATIVE, lambda g, n: g.poisson(16, n), 16.0),
    ("counts, Poisson mean 2", NONNEGATIVE, lambda g, n: g.poisson(2, n), 2.0),
    ("times, lognormal CV 0.3", NONNEGATIVE,
     lambda g, n: g.lognormal(-SIGMA**2 / 2, SIGMA, n), 1.0),
    ("times, exponential", NONNEGATIVE, lambda g, n: g.exponential(1.0, n), 1.0),
    ("fraction, beta mean 0.97 sd 0.03", FRACTION, _beta(0.97, 0.03), 0.97),
    ("0/1, Bernoulli p 0.2", BINARY, lambda g, n: (g.random(n) < 0.2).astype(float), 0.2),
]
SIZES = (2, 3, 5, 10)


def coverage(support: str, draw: Draw, mean: float, n: int, samples: int,
             rng: np.random.Generator) -> tuple[float, float]:
    """Shares of samples whose Student-t and whose summarize interval hold ``mean``."""
    t_hits = hits = 0
    for _ in range(samples):
        values = [float(v) for v in draw(rng, n)]
        low, high = summarize(values, REAL)["ci95"]  # type: ignore[misc]
        t_hits += low <= mean <= high
        low, high = summarize(values, support)["ci95"]  # type: ignore[misc]
        hits += low <= mean <= high
    return t_hits / samples, hits / samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20000, help="samples per cell")
    args = parser.parse_args()
    rng = np.random.default_rng(20240518)
    print("| metric shape | interval | " + " | ".join(f"R = {n}" for n in SIZES) + " |")
    print("|---|---|" + "---|" * len(SIZES))
    for name, support, draw, mean in CASES:
        cells = [coverage(support, draw, mean, n, args.samples, rng) for n in SIZES]
        print(f"| {name} | Student-t | " + " | ".join(f"{c[0]:.3f}" for c in cells) + " |")
        print(f"| | {support} | " + " | ".join(f"{c[1]:.3f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
