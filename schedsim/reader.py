"""Strict, typed reading of nested YAML mappings.

A :class:`Reader` wraps one mapping of a scenario and knows where it sits (source file and key
path). Each ``take_*`` call removes one key, converts it and checks it; :meth:`Reader.done`
refuses whatever keys are left, so typos are caught. Every failure is an :class:`InputError`
naming the file, the full key path and what was expected.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from schedsim.errors import InputError
from schedsim.units import UnitError, parse_duration, parse_rate, parse_size

T = TypeVar("T")
_MISSING: Any = object()
# Counts (tasks, nodes, cores, retries): a billion tasks or nodes is already far past what
# fits in memory; anything above is a typo or an attack, refused at once.
MAX_COUNT = 10**9
# Replications: the CI half-width shrinks as 1/sqrt(n), so 100,000 leave it at 0.3% of the
# standard deviation; a sweep builds one job per replication and point up front.
MAX_REPLICATIONS = 100_000
MAX_SEED = 2**63 - 1
# YAML 1.1 reads a number with an exponent but no dot (1e12) or no sign (1.0e12) as text.
_TEXT_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+\s*$")


class Unexpected(ValueError):
    """Raised by a converter whose value fails in a way the key's usual text does not say."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


class Reader:
    """Strict view of one mapping at ``path`` inside the file ``source``."""

    def __init__(self, source: str, path: str, data: Any, base_dir: Path | None = None) -> None:
        if not isinstance(data, dict):
            raise InputError(source, path or "(top level)", "a mapping of keys", data)
        self.source = source
        self.path = path
        self.base_dir = base_dir if base_dir is not None else Path(".")
        self._data = dict(data)

    def key_path(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, expected: str, got: Any = _MISSING) -> InputError:
        return InputError(self.source, self.key_path(key), expected, got,
                          has_value=got is not _MISSING)

    def has(self, key: str) -> bool:
        return key in self._data

    def keys(self) -> list[str]:
        return list(self._data)

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        if key not in self._data:
            if default is _MISSING:
                raise self.error(key, "this key (it is required)")
            return default
        return self._data.pop(key)

    def take(self, key: str, convert: Callable[[Any], T], expected: str,
             default: Any = _MISSING, numeric: bool = False) -> T:
        """Remove ``key`` and convert it; ``convert`` raises ValueError/TypeError when bad
        (:class:`Unexpected` to say what was expected instead of ``expected``)."""
        if key not in self._data:
            if default is _MISSING:
                raise self.error(key, f"{expected} (this key is required)")
            return default
        value = self._data.pop(key)
        try:
            return convert(value)
        except Unexpected as exc:
            raise self.error(key, exc.expected, value) from None
        except (ValueError, TypeError, UnitError):
            hint = number_hint(value) if numeric else ""
            raise self.error(key, expected + hint, value) from None

    def take_str(self, key: str, default: Any = _MISSING) -> str:
        return self.take(key, _as_str, "a non-empty string", default)

    def take_choice(self, key: str, choices: Iterable[str], default: Any = _MISSING) -> str:
        options = sorted(choices)
        return self.take(key, lambda v: _as_choice(v, options), "one of " + " | ".join(options),
                         default)

    def take_int(self, key: str, minimum: int = 0, default: Any = _MISSING,
                 maximum: int = MAX_COUNT) -> int:
        return self.take(key, lambda v: _as_int(v, minimum, maximum), f"an integer >= {minimum}",
                         default, numeric=True)

    def take_float(self, key: str, minimum: float = 0.0, maximum: float | None = None,
                   default: Any = _MISSING, exclusive_min: bool = False) -> float:
        low = ">" if exclusive_min else ">="
        text = f"a number {low} {minimum:g}"
        if maximum is not None:
            text += f" and <= {maximum:g}"
        return self.take(key, lambda v: _as_float(v, minimum, maximum, exclusive_min, text),
                         text, default, numeric=True)

    def take_bool(self, key: str, default: Any = _MISSING) -> bool:
        return self.take(key, _as_bool, "true or false", default)

    def take_duration(self, key: str, default: Any = _MISSING, positive: bool = False) -> float:
        text = "a duration > 0" if positive else "a duration >= 0"
        return self.take(key, lambda v: _nonneg(parse_duration(v), positive),
                         text + ' (seconds, or a string such as "90s", "2h")', default)

    def take_size(self, key: str, default: Any = _MISSING) -> float:
        return self.take(key, lambda v: _nonneg(parse_size(v), False),
                         'a size >= 0 (bytes, or a string such as "400 KB", "1 GiB")', default)

    def take_rate(self, key: str, default: Any = _MISSING) -> float:
        return self.take(key, lambda v: _nonneg(parse_rate(v), True),
                         'a bandwidth > 0 (bytes/s, or a string such as "10 Gbps")', default)

    def take_path(self, key: str, default: Any = _MISSING) -> Path:
        """A file path, resolved relative to the scenario file's folder."""
        rel = self.take(key, _as_str, "a file path", default)
        if rel is default:
            return rel
        path = Path(rel)
        path = path if path.is_absolute() else self.base_dir / path
        if not path.is_file():
            raise self.error(key, "an existing file (relative to the scenario file)", rel)
        return path

    def child(self, key: str, default: Any = _MISSING) -> Reader:
        value = self.raw(key, default)
        return Reader(self.source, self.key_path(key), value, self.base_dir)

    def items(self, key: str, default: Any = _MISSING) -> list[Reader]:
        """Readers for each mapping in the list at ``key``."""
        value = self.raw(key, default)
        if not isinstance(value, list):
            raise self.error(key, "a list of mappings", value)
        return [Reader(self.source, f"{self.key_path(key)}[{i}]", item, self.base_dir)
                for i, item in enumerate(value)]

    def done(self) -> None:
        """Refuse any key that no ``take_*`` call consumed."""
        if self._data:
            key = sorted(self._data, key=str)[0]
            raise InputError(self.source, self.key_path(str(key)),
                             "a known key (this one is unknown; check the spelling)",
                             has_value=False)


def _as_str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError
    return value


def _as_choice(value: Any, options: list[str]) -> str:
    if value not in options:
        raise ValueError
    return str(value)


def number_hint(value: Any) -> str:
    """How to write ``value`` so YAML reads a number, if it is a number YAML read as text."""
    if not isinstance(value, str) or not _TEXT_NUMBER.match(value):
        return ""
    text = value.strip()
    mantissa, _, exponent = text.replace("E", "e").partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    if exponent[0] not in "+-":
        exponent = "+" + exponent
    exact = Decimal(text)
    plain = f"{exact:f}" if abs(exact.adjusted()) <= 20 else ""
    alternatives = f"{mantissa}e{exponent}" + (f" or {plain}" if plain else "")
    return f" (YAML reads {text} as text: write {alternatives})"


def _as_int(value: Any, minimum: int, maximum: int) -> int:
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value < minimum:
        raise ValueError
    if value > maximum:
        raise Unexpected(f"an integer from {minimum} to {maximum:,}")
    return value


def _as_float(value: Any, minimum: float, maximum: float | None, exclusive: bool,
              text: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError
    try:
        number = float(value)
    except OverflowError:  # an int beyond the float range
        number = math.inf
    if not math.isfinite(number):
        raise Unexpected(text.replace("a number", "a finite number", 1))
    if number < minimum or (exclusive and number == minimum):
        raise ValueError
    if maximum is not None and number > maximum:
        raise ValueError
    return number


def _as_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError
    return value


def _nonneg(value: float, positive: bool) -> float:
    if value < 0 or (positive and value == 0):
        raise ValueError
    return value
