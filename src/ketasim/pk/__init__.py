"""Pharmacokinetics: compounds, PK parameter sets (data), routes, regimens, and their assembly into a System."""

from .catalog import Compound, Drug, compound, compounds, drug, drugs, species_default
from .pkset import PKSet, load_pkset
from .regimens import RegimenDose, parse_regimen

__all__ = [
    "Compound",
    "Drug",
    "PKSet",
    "RegimenDose",
    "compound",
    "compounds",
    "drug",
    "drugs",
    "load_pkset",
    "parse_regimen",
    "species_default",
]
