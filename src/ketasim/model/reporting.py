"""The variables a summary of a model reports: each compound's plasma exposure and every mechanism node.

Population runs report them (`population_run.py`: Cmax, Tmax and AUC per compound; baseline, peak and trough per
node), and the batched solver compiles its output interpolation for the states they read (`solver/batched/jit.py`),
so both must read the same list: this one.
"""

from __future__ import annotations

from .system import System


def summary_compounds(system: System) -> list[str]:
    """Compounds with exposure summaries: every one with a plasma AUC state (`build.add_exposure`: the compounds
    present, then racemic totals when both enantiomers are), in that order."""
    return [sid.removeprefix("auc_") for sid, st in system.states.items() if st.kind == "auc"]


def summary_nodes(system: System) -> list[str]:
    """Mechanism nodes, as `simulate` reports them (descriptions starting with 'node:'): assignments, then states."""
    nodes = [a for a, asg in system.assignments.items() if asg.description.startswith("node:")]
    return nodes + [s for s, st in system.states.items() if st.description.startswith("node:")]


def summary_variables(system: System) -> list[str]:
    """Every variable a summary reports, compounds first, each once."""
    return list(dict.fromkeys([*summary_compounds(system), *summary_nodes(system)]))
