"""Package data is found through the package, and the wheel ships it.

Every data file a default points at lies inside the installed ``schedsim`` folder (not the
repository root, which an installed package does not have), and a ``package-data`` glob of
pyproject.toml covers it, so ``pip install`` carries it along.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import schedsim
from schedsim.calibration.profile import DEFAULT_PROFILE, load_profile
from schedsim.studies import rfc, scale_validation

from .conftest import REPO

PACKAGE = Path(schedsim.__file__).resolve().parent


def _shipped(path: Path) -> bool:
    """Whether a package-data glob of pyproject.toml covers ``path``."""
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]
    for package, patterns in globs.items():
        root = PACKAGE.parent.joinpath(*package.split("."))
        if path.is_relative_to(root):
            rel = path.relative_to(root).as_posix()
            if any(fnmatch.fnmatchcase(rel, p) for p in patterns):
                return True
    return False


def test_every_default_data_file_is_inside_the_package_and_shipped() -> None:
    files = [DEFAULT_PROFILE, DEFAULT_PROFILE.with_name("default.task_sweep.jsonl"),
             DEFAULT_PROFILE.with_name("default.live.jsonl"), scale_validation.RECORDS,
             scale_validation.PARAMS, rfc.PREVIOUS_JSON,
             *(PACKAGE / "studies" / "templates").glob("*.md")]
    for path in files:
        assert path.is_file(), path
        assert path.resolve().is_relative_to(PACKAGE), f"{path} is outside the package"
        assert _shipped(path.resolve()), f"{path} is not in pyproject's package-data"
    assert load_profile(DEFAULT_PROFILE).path == DEFAULT_PROFILE.resolve()


def test_a_file_outside_the_globs_is_not_taken_as_shipped() -> None:
    assert not _shipped(PACKAGE / "studies" / "rfc.py")
    assert not _shipped(REPO / "docs" / "validation.json")
