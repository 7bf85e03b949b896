"""``python -m schedsim`` and the ``schedsim`` command.

Ctrl-C handling (:mod:`schedsim.interrupt`) is installed before the command line and what it
imports (numpy, scipy, SimPy: about a second) are loaded, so Ctrl-C at any moment prints one
line and exits with status 130.
"""

from schedsim import interrupt


def main(argv: list[str] | None = None) -> int:
    interrupt.install()
    try:
        from schedsim.cli import main as cli_main

        return cli_main(argv)
    except KeyboardInterrupt:
        return interrupt.announce()
    finally:
        interrupt.leaving()


if __name__ == "__main__":
    raise SystemExit(main())
