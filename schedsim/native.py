"""Where the native programs are (``compress_task``, ``wait_task``, ``wq_manager``: docs/native.md).

They are built by CMake (``scripts/install_native.sh``), not shipped as package data: the
folder ``SCHEDSIM_NATIVE_DIR`` names, else ``build/native`` of the source checkout that holds
the package. ``PACKAGE_HOME`` is the folder holding the ``schedsim`` package, which a process
started elsewhere (a Ray worker) puts on its path to import this very copy.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_HOME = Path(__file__).resolve().parents[1]
NATIVE_DIR = Path(os.environ.get("SCHEDSIM_NATIVE_DIR") or PACKAGE_HOME / "build" / "native")
