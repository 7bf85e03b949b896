"""The winner rule: CIs apart, by a practical margin; known values."""

from __future__ import annotations

from typing import Any

import pytest

from schedsim.verdict import TIE, Margin, cis_apart, winner


def _s(mean: float, low: float, high: float) -> dict[str, Any]:
    return {"metrics": {"m": {"mean": mean, "ci95": [low, high]}}}


def test_cis_apart_known_values() -> None:
    assert cis_apart((10.0, 12.0), (8.0, 9.9), "higher")
    assert not cis_apart((10.0, 12.0), (8.0, 10.0), "higher")  # touching is overlap
    assert cis_apart((1.0, 2.0), (2.1, 3.0), "lower")
    assert not cis_apart((1.0, 2.5), (2.1, 3.0), "lower")


@pytest.mark.parametrize(("a", "b", "direction", "margin", "expected"), [
    ((100, 99, 101), (90, 89, 91), "higher", Margin(), "a"),
    ((100, 99, 101), (90, 89, 91), "lower", Margin(), "b"),
    ((100, 95, 105), (98, 96, 100), "higher", Margin(), TIE),  # overlap
    # Apart, but only 1% different: a tie with a 5% margin, a win without one.
    ((100.0, 99.99, 100.01), (99.0, 98.99, 99.01), "higher", Margin(relative=0.05), TIE),
    ((100.0, 99.99, 100.01), (99.0, 98.99, 99.01), "higher", Margin(), "a"),
    # Failed tasks: 3 vs 0 of 1,000 is under an absolute margin of 10 tasks (1%).
    ((3, 2.9, 3.1), (0, 0, 0), "lower", Margin(absolute=10), TIE),
    ((30, 29, 31), (0, 0, 0), "lower", Margin(absolute=10), "b"),
    ((None, None, None), (0, 0, 0), "lower", Margin(), TIE),
])
def test_winner_known_values(a: tuple[Any, Any, Any], b: tuple[Any, Any, Any], direction: str,
                             margin: Margin, expected: str) -> None:
    data = {"a": _s(*a), "b": _s(*b)}
    assert winner(data, "m", direction, margin) == expected


def test_margin_either_relative_or_absolute() -> None:
    m = Margin(relative=0.05, absolute=10)
    assert m.matters(100, 94.9) and m.matters(1000, 989) and not m.matters(1000, 991)
    assert not Margin(relative=0.01).matters(5, 5) and Margin().matters(5, 5)
