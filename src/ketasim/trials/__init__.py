"""In-silico clinical trials: trial files, the clinical layer, endpoints and statistics, the runner."""

from .clinical import ClinicalParams, Timeline, load_params, observed_madrs
from .run import ArmData, TrialResult, run_trial
from .spec import DESIGNS, Endpoint, TrialSpec, load_trial, make_trial, parse_endpoint

__all__ = [
    "DESIGNS",
    "ArmData",
    "ClinicalParams",
    "Endpoint",
    "Timeline",
    "TrialResult",
    "TrialSpec",
    "load_params",
    "load_trial",
    "make_trial",
    "observed_madrs",
    "parse_endpoint",
    "run_trial",
]
