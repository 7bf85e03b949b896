"""What the command lines share: a command's scenario arguments, read into a :class:`Scenario`.

Both :mod:`schedsim.cli` and :mod:`schedsim.live.cli` (which ``schedsim.cli`` registers) sit
above this module, so neither imports the other for what they have in common.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from schedsim.scenario import Scenario


def load_from_args(args: argparse.Namespace) -> Scenario:
    """The scenario named on the command line, with ``--set``, ``--seed``, ``--replications``."""
    from schedsim.loading import load_scenario  # here: the scenario reader is costly to import

    return load_scenario(args.scenario, args.overrides, seed=args.seed,
                         replications=args.replications)
