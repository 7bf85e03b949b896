#!/usr/bin/env bash
# Installs everything the tests need, then runs the whole suite.
#   - system packages (apt, as root) and the native build: scripts/install_native.sh
#   - the Python package with its test and live-run extras: pip install -e .[test,live]
#   - lint (ruff), types (mypy), tests (pytest)
# Usage: bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install_native.sh
python3 -m pip install --quiet --disable-pip-version-check -e '.[test,live]'
python3 -m ruff check schedsim tests bench
python3 -m mypy
python3 -m pytest "$@"
