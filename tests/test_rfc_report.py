"""The RFC report rendered from a stored study: the same text, sentence for sentence, as the
code wrote before its rows were typed and its prose moved into templates.

``tests/golden/rfc-report/study.json`` holds one point per region of the shipped study
(docs/rfc.json), a few more scales, its previous-report points, and two points changed by hand
so that every sentence shows (Work Queue faster and cheaper somewhere; Ray's unlimited retries
still behind somewhere). ``report.md``, ``report-slice.md`` and ``summary.txt`` beside it are
what the code before that change (commit 989ba1c) rendered from it; regenerate them only for a
change of wording meant to show in the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schedsim.studies import prose, rfc, rfc_report
from schedsim.studies.rows import AttributionRow, StudyRow

GOLDEN = Path(__file__).parent / "golden" / "rfc-report"  # not a case of test_golden
VALIDATION = {"overall": {
    "workqueue": {"median_abs_error": 0.05, "p95_abs_error": 0.12, "bias": "unbiased"},
    "ray": {"median_abs_error": 0.08, "p95_abs_error": 0.2, "bias": "simulation over-predicts"}}}


def _study() -> dict[str, Any]:
    return dict(json.loads((GOLDEN / "study.json").read_text()))


def test_the_report_of_a_stored_study_is_the_text_it_was() -> None:
    text = rfc_report.report(_study(), "rfc-heatmaps.png", VALIDATION, "schedsim rfc --out x",
                             rfc.load_previous())
    assert text == (GOLDEN / "report.md").read_text()


def test_a_slice_without_validation_or_previous_points_reads_as_it_did() -> None:
    study = _study()
    sliced = dict(study, rows=study["rows"][:5], attribution=[],
                  grid=dict(study["grid"], nodes=[100, 1000], sliced=["nodes"]))
    text = rfc_report.report(sliced, "h.png", None,
                             "schedsim rfc --nodes 100 --nodes 1000 --out y", None)
    assert text == (GOLDEN / "report-slice.md").read_text()


def test_the_terminal_summary_is_the_text_it_was() -> None:
    lines = rfc_report.summary(_study())
    assert "\n".join(lines) + "\n" == (GOLDEN / "summary.txt").read_text()


def test_typed_rows_read_and_write_the_same_json() -> None:
    """Each row of rfc.json reads into a typed row and back to the same JSON, key order too
    (so a report can be rendered again from the file alone)."""
    study = _study()
    for row in study["rows"]:
        assert json.dumps(StudyRow.from_json(row).to_json()) == json.dumps(row)
    for row in study["attribution"]:
        assert json.dumps(AttributionRow.from_json(row).to_json()) == json.dumps(row)


def test_every_sentence_of_the_template_is_used_and_filled() -> None:
    """The snippets file holds no sentence the code never asks for, and each placeholder is
    one the code fills (a missing value raises, it is never left blank)."""
    code = Path(rfc_report.__file__).read_text()
    names = prose.snippets(rfc_report.SENTENCES)
    unused = [name for name in names if f'"{name}"' not in code]
    assert not unused
    text = rfc_report.report(_study(), "h.png", VALIDATION, "x", rfc.load_previous())
    assert "$" not in text


def test_the_report_quotes_the_validation_of_its_own_platforms_only() -> None:
    overall = {p: {"median_abs_error": 0.05, "p95_abs_error": 0.18, "bias": "b"}
               for p in ("workqueue", "ray", "zmq")}
    lines = rfc_report.validation_lines({"overall": overall})
    assert [line.split(":")[0] for line in lines] == ["- workqueue", "- ray"]
