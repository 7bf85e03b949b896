"""The studies sit above the model: they import it, it never imports them."""

from __future__ import annotations

from .test_layering import PACKAGE, import_graph

# Who may import a study: the command line and the API above them, and the offline scale fit,
# which fits its parameters at the points the scale matrix defines.
STUDY_IMPORTERS = {"schedsim.cli", "schedsim.api", "schedsim.calibration.scale_fit"}


def test_only_the_command_line_and_the_api_import_the_studies() -> None:
    graph = import_graph(PACKAGE)
    assert any(name.startswith("schedsim.studies.") for name in graph)
    bad = [f"{a} -> {b} ({where[0]})" for a, targets in sorted(graph.items())
           if not a.startswith("schedsim.studies") and a not in STUDY_IMPORTERS
           for b, where in targets.items() if b.startswith("schedsim.studies")]
    assert not bad, "\n".join(bad)
