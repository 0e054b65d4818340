"""Imports every command module so that each registers itself on the app."""

from . import (  # noqa: F401
    evidence_cmd,
    export_cmd,
    params_cmd,
    report_cmd,
    scorecard_cmd,
    simulate_cmd,
    trial_cmd,
    warmup_cmd,
)
