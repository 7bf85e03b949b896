"""Quantities with units: durations, data sizes and bandwidths.

Scenario values are either plain numbers in base units (seconds, bytes, bytes per second) or
strings with a unit: ``"90s"``, ``"2h"``, ``"400 KB"``, ``"1 GiB"``, ``"10 Gbps"``. Decimal
prefixes (KB, MB, GB, TB) are powers of 1000 and binary ones (KiB, MiB, GiB, TiB) powers of
1024. Bandwidths ending in ``bps`` are bits per second and are converted to bytes per second;
``B/s`` forms are bytes per second already.
"""

from __future__ import annotations

import math
import re

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*([A-Za-z/]*)\s*$")

DURATION_UNITS: dict[str, float] = {
    "": 1.0, "us": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0,
    "seconds": 1.0, "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
}

SIZE_UNITS: dict[str, float] = {
    "": 1.0, "B": 1.0, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
    "KiB": 1024.0, "MiB": 1024.0**2, "GiB": 1024.0**3, "TiB": 1024.0**4,
}

RATE_UNITS: dict[str, float] = {
    "": 1.0, "B/s": 1.0, "KB/s": 1e3, "MB/s": 1e6, "GB/s": 1e9,
    "KiB/s": 1024.0, "MiB/s": 1024.0**2, "GiB/s": 1024.0**3,
    "bps": 1 / 8, "Kbps": 1e3 / 8, "Mbps": 1e6 / 8, "Gbps": 1e9 / 8, "Tbps": 1e12 / 8,
}


class UnitError(ValueError):
    """A value that is not a quantity of the expected kind."""


def _parse(value: object, units: dict[str, float], kind: str) -> float:
    if isinstance(value, bool):
        raise UnitError(kind)
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        match = _QUANTITY.match(value)
        if not match or match.group(2) not in units:
            raise UnitError(kind)
        number = float(match.group(1)) * units[match.group(2)]
    else:
        raise UnitError(kind)
    if not math.isfinite(number):
        raise UnitError(kind)
    return number


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as ``"90s"``, ``"2h"``, ``"500 ms"``."""
    return _parse(value, DURATION_UNITS, "duration")


def parse_size(value: object) -> float:
    """Bytes from a number or a string such as ``"400 KB"`` or ``"1 GiB"``."""
    return _parse(value, SIZE_UNITS, "size")


def parse_rate(value: object) -> float:
    """Bytes per second from a number or a string such as ``"10 Gbps"`` or ``"100 MB/s"``."""
    return _parse(value, RATE_UNITS, "rate")
