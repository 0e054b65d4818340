"""In-silico clinical trials: trial files, the clinical layer, endpoints and statistics, the runner.

Names are loaded on first use (PEP 562), so `ketasim.trials.defaults` can be read without importing the
statistics stack (statsmodels, lifelines).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ClinicalParams": "clinical",
    "Timeline": "clinical",
    "load_params": "clinical",
    "observed_madrs": "clinical",
    "ArmData": "run",
    "TrialResult": "run",
    "run_trial": "run",
    "DESIGNS": "spec",
    "Endpoint": "spec",
    "TrialSpec": "spec",
    "load_trial": "spec",
    "make_trial": "spec",
    "parse_endpoint": "spec",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
