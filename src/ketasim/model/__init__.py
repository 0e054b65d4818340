"""The declarative model (System) and its assembly from a Scenario."""

from .system import Assignment, Parameter, State, System

__all__ = ["Assignment", "Parameter", "State", "System"]
