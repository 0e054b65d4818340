"""Getting models and results out of ketasim: SBML export (more writers join here)."""

from .sbml import to_sbml, validate_sbml

__all__ = ["to_sbml", "validate_sbml"]
