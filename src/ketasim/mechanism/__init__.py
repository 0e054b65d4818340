"""The mechanism: NMDA block -> disinhibition -> glutamate -> AMPA -> BDNF/VEGF -> mTORC1 -> synapses -> mood.

Rate laws live in data/mechanism/nodes.yaml, parameters in parameters.yaml, receptor pharmacology in
ligands.yaml, and hypotheses (edge sets) in hypotheses.yaml. This package only assembles them into a System.
"""

from __future__ import annotations

from .. import data
from ..model.system import Assignment, Parameter, State, System
from ..scenario import Scenario
from .hypotheses import check_gains, edge_weights, edges, hypotheses, parse_hypothesis
from .ligands import add_ligand_inputs

#: node ids reported by `simulate` (DESIGN.md), in causal order
NODES = [
    "nmda_occupancy_interneuron",
    "nmda_occupancy_pyramidal",
    "interneuron_activity",
    "glutamate",
    "ampa_activation",
    "bdnf",
    "vegf",
    "mtorc1",
    "synaptic_proteins",
    "spine_density",
    "gbc",
    "madrs",
    "dissociation",
    "mu_opioid_occupancy",
    "blood_pressure",
]

__all__ = ["NODES", "add_mechanism", "edge_weights", "edges", "hypotheses", "parse_hypothesis"]


def add_mechanism(system: System, compounds: list[str], scenario: Scenario) -> None:
    """Add ligand inputs, edge weights, parameters and every node's rate law to `system`."""
    weights = edge_weights(scenario.hypothesis, scenario.edges_off)
    params = data.load("mechanism/parameters.yaml")
    check_gains(scenario.gains, set(params))
    add_ligand_inputs(system, compounds, scenario.species)
    for edge, w in weights.items():
        system.add_parameter(
            Parameter(f"w_{edge}", w, "1", "hypothesis", f"edge {edge} under {scenario.hypothesis}")
        )
    for pid, rec in params.items():
        value = float(rec["value"]) * float(scenario.gains.get(pid, 1.0))
        note = rec.get("note", "") + (
            f" (scaled x{scenario.gains[pid]:g} by the scenario)" if pid in scenario.gains else ""
        )
        system.add_parameter(Parameter(pid, value, rec["unit"], rec["source"], note))
    for nid, rec in data.load("mechanism/nodes.yaml").items():
        label = "internal: " if rec.get("internal") else "node: "
        desc = label + rec.get("description", "")
        if rec["kind"] == "state":
            system.add_state(
                State(
                    nid,
                    rec["rate"],
                    float(rec.get("initial", 0.0 if rec["unit"] in ("mmHg", "1/h") else 1.0)),
                    rec["unit"],
                    desc,
                    None,
                    "node",
                )
            )
        else:
            system.add_assignment(Assignment(nid, rec["expr"], rec["unit"], desc))
