"""SSL Workbench: train self-supervised models and see what they learn (the core, without Qt)."""

__version__ = "0.1.0"  # the one place the version is written: pyproject.toml reads it from here
