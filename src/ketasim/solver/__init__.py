"""Numerical integration of a compiled `System` over a batch of subjects with exact dose events."""

from .codegen import CompiledSystem, compile_system
from .events import DoseEvent
from .piecewise import SolverOptions, integrate

__all__ = ["CompiledSystem", "DoseEvent", "SolverOptions", "compile_system", "integrate"]
