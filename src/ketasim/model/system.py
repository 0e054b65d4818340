"""The declarative model: states with rate laws, algebraic assignments, parameters and dose inputs.

One `System` describes PK and mechanism together. The solver compiles it to numpy; the SBML exporter writes
it out. Every parameter keeps its unit and source so that docs and exports can show provenance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import DataError
from . import expressions


@dataclass(frozen=True)
class Parameter:
    """A model constant with its unit and provenance (a bibliography key, `assumed` or `calibrated`)."""

    id: str
    value: float
    unit: str
    source: str
    note: str = ""


@dataclass(frozen=True)
class State:
    """A quantity integrated over time: `d(id)/dt = rate`. `initial` is a number or an expression."""

    id: str
    rate: str
    initial: float | str
    unit: str
    description: str = ""
    compound: str | None = None  # set for drug amounts (mg), used for mass balance
    kind: str = "amount"  # amount | node | sink | auc


@dataclass(frozen=True)
class Assignment:
    """An algebraic quantity recomputed at every instant from states and parameters."""

    id: str
    expr: str
    unit: str
    description: str = ""


@dataclass
class System:
    """States, ordered assignments, parameters, and which states accept doses."""

    parameters: dict[str, Parameter] = field(default_factory=dict)
    states: dict[str, State] = field(default_factory=dict)
    assignments: dict[str, Assignment] = field(default_factory=dict)
    #: infusion-rate input parameters (mg/h) per dosable state: `rate` in the state's law references them
    inputs: dict[str, str] = field(default_factory=dict)

    def add_parameter(self, p: Parameter) -> None:
        existing = self.parameters.get(p.id)
        if existing is not None and existing.value != p.value:
            raise DataError(f"parameter {p.id!r} defined twice with different values")
        self.parameters[p.id] = p

    def add_state(self, s: State) -> None:
        if s.id in self.states:
            raise DataError(f"state {s.id!r} defined twice")
        self.states[s.id] = s

    def add_assignment(self, a: Assignment) -> None:
        if a.id in self.assignments:
            raise DataError(f"assignment {a.id!r} defined twice")
        self.assignments[a.id] = a

    def add_flux(self, source: str | None, target: str | None, rate: str, yield_: float | str = 1.0) -> None:
        """Move material: subtract `rate` from `source`, add `yield_ * rate` to `target` (mass, mg/h)."""
        if source is not None:
            self._append_rate(source, f"-({rate})")
        if target is not None:
            term = f"({rate})" if yield_ in (1.0, 1, "1") else f"({yield_}) * ({rate})"
            self._append_rate(target, term)

    def _append_rate(self, state_id: str, term: str) -> None:
        s = self.states[state_id]
        new = term if s.rate.strip() in ("", "0", "0.0") else f"{s.rate} + {term}"
        self.states[state_id] = State(s.id, new, s.initial, s.unit, s.description, s.compound, s.kind)

    def add_input(self, state_id: str) -> str:
        """Make a state dosable by infusion: adds parameter `rate_in_<state>` (mg/h) to its law."""
        pid = f"rate_in_{state_id}"
        if state_id not in self.inputs:
            self.add_parameter(Parameter(pid, 0.0, "mg/h", "dosing", "infusion input set by dose events"))
            self._append_rate(state_id, pid)
            self.inputs[state_id] = pid
        return pid

    def symbols(self) -> set[str]:
        return set(self.parameters) | set(self.states) | set(self.assignments) | {"time"}

    def ordered_assignments(self) -> list[Assignment]:
        """Assignments in dependency order (each after what it reads); cycles are a data error."""
        deps = {a.id: expressions.names(a.expr) & set(self.assignments) for a in self.assignments.values()}
        order: list[str] = []
        done: set[str] = set()
        visiting: set[str] = set()

        def visit(node: str) -> None:
            if node in done:
                return
            if node in visiting:
                raise DataError(f"assignments form a cycle through {node!r}")
            visiting.add(node)
            for d in sorted(deps[node]):
                visit(d)
            visiting.discard(node)
            done.add(node)
            order.append(node)

        for aid in self.assignments:
            visit(aid)
        return [self.assignments[a] for a in order]

    def validate(self) -> None:
        """Every symbol used is defined; ids are unique across kinds."""
        kinds = [set(self.parameters), set(self.states), set(self.assignments)]
        for i, a in enumerate(kinds):
            for b in kinds[i + 1 :]:
                clash = a & b
                if clash:
                    raise DataError(f"ids used twice across parameters/states/assignments: {sorted(clash)}")
        known = self.symbols()
        laws = [(s.id, s.rate) for s in self.states.values()] + [(a.id, a.expr) for a in self.assignments.values()]
        for item_id, expr in laws:
            unknown = expressions.names(expr) - known
            if unknown:
                raise DataError(f"{item_id!r} refers to undefined symbols {sorted(unknown)}")
        self.ordered_assignments()
