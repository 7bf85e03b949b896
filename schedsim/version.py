"""The tool's version, in a module of its own so that any module can name it without importing
the package's API (an import cycle)."""

__version__ = "0.1.0"  # keep in step with pyproject.toml
