"""Imports every command module so that each registers itself on the app."""

from . import params_cmd, simulate_cmd  # noqa: F401
