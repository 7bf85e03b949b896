"""``python -m schedsim`` runs the command line."""

from schedsim.cli import main

raise SystemExit(main())
