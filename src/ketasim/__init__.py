"""ketasim: a quantitative model of ketamine's putative antidepressant mechanism, from dose to mood.

A research and teaching tool, not clinical advice. The public API (each name's own help says more):

    simulate(drug=..., route=..., dose=...)   one scenario, dose -> PK -> receptors -> cascade -> MADRS: a Result
    run_population(scenario, n=..., seed=...) N virtual subjects, one row of summaries each (resumable Parquet)
    load_trial(path)                          read and validate a trial YAML file: a TrialSpec
    run_trial(trial, n_per_arm=...)           simulate an in-silico clinical trial: arms, endpoints, statistics
    scorecard(hypotheses)                     every published finding simulated and judged: a DataFrame
    Scenario                                  what to simulate: drug, route, dose, regimen, subject, hypothesis
    Result                                    time courses with to_frame, to_xarray, plot, exposure, node_summary
    KetasimError                              raised for bad input; the message says what is wrong and how to fix it

Names load on first use (PEP 562), so `import ketasim` does not import numpy, pandas or numba.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from .errors import KetasimError

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .api import load_trial, run_population, run_trial, scorecard, simulate
    from .results import Result
    from .scenario import Scenario

#: public name -> module that defines it
_LAZY = {
    "simulate": "api",
    "run_population": "api",
    "run_trial": "api",
    "load_trial": "api",
    "scorecard": "api",
    "Scenario": "scenario",
    "Result": "results",
}

__all__ = ["KetasimError", "Result", "Scenario", "__version__", "load_trial", "run_population", "run_trial",
           "scorecard", "simulate"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """The package module: importing the submodule `ketasim.simulate` must not replace the function
    `ketasim.simulate` (the import system sets a package attribute for each submodule it loads)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
