import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schedsim.units import UnitError, parse_duration, parse_rate, parse_size


@pytest.mark.parametrize("text,seconds", [
    ("90s", 90), ("2h", 7200), ("1.5 min", 90), ("500ms", 0.5), ("1d", 86400), (3, 3.0),
    ("1e3 s", 1000), (0.25, 0.25),
])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text,size", [
    ("400 KB", 400e3), ("1 GiB", 2**30), ("0 B", 0), ("2MiB", 2 * 2**20), (1024, 1024),
])
def test_sizes(text: object, size: float) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text,rate", [
    ("10 Gbps", 10e9 / 8), ("100 MB/s", 100e6), ("1 Mbps", 125e3), (5e8, 5e8),
])
def test_rates(text: object, rate: float) -> None:
    assert parse_rate(text) == pytest.approx(rate)


@pytest.mark.parametrize("bad", ["ten s", "5 parsecs", "", True, None, [1], "nan", "inf s"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(UnitError):
        parse_duration(bad)


def test_rate_units_are_not_sizes() -> None:
    with pytest.raises(UnitError):
        parse_size("10 Gbps")


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_numbers_are_base_units(x: float) -> None:
    assert parse_duration(x) == x and parse_size(x) == x and parse_rate(x) == x


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False), st.sampled_from(["s", "min", "h"]))
def test_duration_strings_scale(x: float, unit: str) -> None:
    factor = {"s": 1, "min": 60, "h": 3600}[unit]
    assert math.isclose(parse_duration(f"{x!r} {unit}"), x * factor, rel_tol=1e-12)
