"""Which platform wins a metric: apart beyond the confidence intervals and by a margin that
matters.

Two summaries (the JSON of :mod:`schedsim.runner`) of the same scenario, seeds and churn are
compared metric by metric. A platform wins only where its 95% CI lies wholly on the better
side of the other's (the intervals do not overlap) *and* the means differ by at least a
practical margin: a relative one (say 5% of throughput) or an absolute one (say 1% of the
tasks failing). Common random numbers make the intervals of a deterministic model nearly
zero wide, so without the margin a 0.1% difference would be called a win. Anything else is a
tie, written ``-``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TIE = "-"


@dataclass(frozen=True)
class Margin:
    """A difference that matters: at least ``relative`` of the larger mean, or at least
    ``absolute`` in the metric's unit (either suffices; 0 turns one off)."""

    relative: float = 0.0
    absolute: float = 0.0

    def matters(self, a: float, b: float) -> bool:
        diff = abs(a - b)
        if self.relative <= 0.0 and self.absolute <= 0.0:
            return True  # no margin asked for: the CIs decide alone
        if diff == 0.0:
            return False
        if self.absolute > 0.0 and diff >= self.absolute:
            return True
        return self.relative > 0.0 and diff >= self.relative * max(abs(a), abs(b))


NO_MARGIN = Margin()


def cis_apart(better: tuple[float, float], worse: tuple[float, float], direction: str) -> bool:
    """True if the interval ``better`` lies wholly on the better side of ``worse``."""
    if direction == "higher":
        return better[0] > worse[1]
    return better[1] < worse[0]


def winner(data: dict[str, dict[str, Any]], metric: str, direction: str,
           margin: Margin = NO_MARGIN) -> str:
    """The platform whose CI of ``metric`` is apart from every other's on the better side,
    with means that differ by ``margin`` from each; else :data:`TIE`."""
    if direction not in ("higher", "lower"):
        raise ValueError(f"direction must be 'higher' or 'lower', not {direction!r}")
    for name, summary in data.items():
        m = summary["metrics"][metric]
        if m["mean"] is None or None in m["ci95"]:
            continue
        wins = True
        for other, osum in data.items():
            if other == name:
                continue
            o = osum["metrics"][metric]
            if o["mean"] is None or None in o["ci95"] or \
                    not cis_apart(tuple(m["ci95"]), tuple(o["ci95"]), direction) or \
                    not margin.matters(float(m["mean"]), float(o["mean"])):
                wins = False
                break
        if wins:
            return name
    return TIE
