"""A real HTTP SP-API emulator for development, tests, demos and benchmarks (see app.py)."""

from .app import EmulatorConfig, create_app

__all__ = ["EmulatorConfig", "create_app"]
