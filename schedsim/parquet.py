"""Parquet copies of the tables a tool reads: a run's attempts and a sweep's results.

Parquet keeps each column's type (counts as integers, times as floats, text as text) and reads
in one call from pandas, polars or DuckDB. It needs pyarrow, an optional extra
(``pip install 'schedsim[parquet]'``): :func:`require` says so in one line, before any work,
when ``--parquet`` is asked for without it. Callers write to a temporary name, as every output
is written (:mod:`schedsim.outputs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from schedsim.errors import InputError

EXTRA = "pip install 'schedsim[parquet]'"
# Column types: what a column's values are converted to.
INT, FLOAT, TEXT = "int64", "float64", "string"


def require() -> ModuleType:
    """pyarrow, or one line naming the optional extra that installs it."""
    try:
        import pyarrow
    except ImportError:
        raise InputError("--parquet", "", f"pyarrow, which is not installed ({EXTRA})",
                         has_value=False) from None
    return pyarrow


def write_table(path: Path, columns: Sequence[tuple[str, str, Sequence[Any]]]) -> None:
    """``columns`` as (name, type, values), one Parquet file at ``path``."""
    pa = require()
    import pyarrow.parquet as pq

    table = pa.table({name: pa.array(values, type=getattr(pa, kind)())
                      for name, kind, values in columns})
    pq.write_table(table, path)
