"""What a sweep shows a person: each point's grid values and the mean [95% CI] of the metrics
asked for, then what ran, where the rows are and how many jobs failed. Its words come from
templates/sweep-sentences.md (:mod:`schedsim.studies.prose`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from schedsim.report import escape, fmt, interval
from schedsim.studies import prose
from schedsim.studies.rows import PointSummary

if TYPE_CHECKING:
    from rich.table import Table

SENTENCES = "sweep-sentences.md"


def table(points: list[PointSummary], axes: tuple[str, ...], metrics: list[str]) -> Table:
    """Each point's grid values and the mean [95% CI] of ``metrics`` (the CI need not be
    symmetric: docs/metrics.md). Headers and cells fold onto more lines rather than being cut
    on a narrow terminal."""
    from rich.table import Table

    out = Table(title=escape(prose.snippet(SENTENCES, "table-title")))
    for key in axes:
        out.add_column(escape(key), overflow="fold")
    for name in metrics:
        out.add_column(name, justify="right", overflow="fold")
    for point in points:
        cells = [escape(point.grid[key]) for key in axes]  # a YAML list is not markup
        for name in metrics:
            m = point.metrics[name]
            low, high = m.ci95
            cells.append(f"{fmt(m.mean)} {interval(low, high)}")
        out.add_row(*cells)
    return out


def summary(done: int, ran: int, files: list[Path], rows: int, failed: int
            ) -> list[tuple[str, bool]]:
    """The lines after the table, each with whether it is a warning: the jobs already done
    and run, the files holding the rows, and the jobs that failed or left tasks unfinished."""
    lines = [(prose.snippet(SENTENCES, "ran", done=done, ran=ran,
                            files=", ".join(str(f) for f in files)), False)]
    if failed:
        lines.append((prose.snippet(SENTENCES, "failed", failed=failed, rows=rows), True))
    return lines
