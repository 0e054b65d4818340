"""Receptor occupancy inputs built from the compounds present: sums of C/Ki over ligands.

Writing these sums from data (ligands.yaml) keeps the node equations in nodes.yaml independent of which
drugs a scenario contains.
"""

from __future__ import annotations

from typing import Any

from .. import data
from ..model.system import Assignment, Parameter, System


def _param(system: System, pid: str, rec: dict[str, Any]) -> str:
    system.add_parameter(Parameter(pid, float(rec["value"]), rec["unit"], rec["source"], rec.get("note", "")))
    return pid


def interneuron_selectivity(trapping: float) -> float:
    """Preference of a channel blocker for tonically active interneurons, from how well it is trapped."""
    spec = data.load("mechanism/ligands.yaml")["interneuron_selectivity"]
    ref, t_ref, m = (float(spec[k]["value"]) for k in ("reference", "trapping_reference", "exponent"))
    return ref * (trapping / t_ref) ** m


def add_ligand_inputs(system: System, compounds: list[str], species: str = "human") -> None:
    """Define nmda_x_*, mu_x_*, nbqx_block, hnk_ampa_signal, rapamycin blocks, ketamine_family_plasma."""
    lig = data.load("mechanism/ligands.yaml")
    present = set(compounds)
    pyr_terms, in_terms = [], []
    potency = _param(system, "nmda_in_vivo_factor", lig["in_vivo_potency"][species])
    for cid, rec in lig["nmda"].items():
        if cid not in present:
            continue
        ki = _param(system, f"nmda_ki_{cid}", rec["ki"])
        trap = float(rec["trapping"]["value"])
        sel = interneuron_selectivity(trap)
        system.add_parameter(
            Parameter(
                f"nmda_sel_{cid}",
                sel,
                "1",
                "derived",
                f"interneuron selectivity from trapping {trap:g} (ligands.yaml interneuron_selectivity rule)",
            )
        )
        pyr_terms.append(f"{cid}_brain_um / ({ki} * {potency})")
        in_terms.append(f"nmda_sel_{cid} * {cid}_brain_um / ({ki} * {potency})")
    system.add_assignment(
        Assignment("nmda_x_pyramidal", " + ".join(pyr_terms) or "0", "1", "sum of C/Ki, pyramidal")
    )
    system.add_assignment(
        Assignment("nmda_x_interneuron", " + ".join(in_terms) or "0", "1", "sum of C/Ki, interneurons")
    )

    antagonists = {"naltrexone"}
    ant: list[str] = []
    ago: list[str] = []
    for cid, rec in lig["mu_opioid"].items():
        if cid not in present:
            continue
        ki = _param(system, f"mu_ki_{cid}", rec["ki"])
        (ant if cid in antagonists else ago).append(f"{cid}_brain_um / {ki}")
    system.add_assignment(
        Assignment("mu_x_antagonist", " + ".join(ant) or "0", "1", "mu antagonists, sum of C/Ki")
    )
    system.add_assignment(
        Assignment("mu_x_agonist", " + ".join(ago) or "0", "1", "mu ligands (ketamine), sum of C/Ki")
    )

    def block(name: str, table: str, cid: str, key: str, conc: str) -> None:
        if cid in present:
            ic = _param(system, f"{table}_{key}_{cid}", lig[table][cid][key])
            expr = f"{conc} / ({conc} + {ic})"
        else:
            expr = "0"
        system.add_assignment(Assignment(name, expr, "1", f"{cid} effect fraction"))

    block("nbqx_block", "ampa", "nbqx", "ic50", "nbqx_brain_um")
    block("hnk_ampa_signal", "ampa", "hnk_2r6r", "ec50", "hnk_2r6r_brain_um")
    block("rapamycin_brain_block", "mtor", "rapamycin", "ic50", "rapamycin_brain_um")
    block("rapamycin_peripheral_block", "rapamycin_peripheral", "rapamycin", "ic50", "rapamycin")
    family = [c for c in ("esketamine", "arketamine") if c in present]
    system.add_assignment(
        Assignment(
            "ketamine_family_plasma",
            " + ".join(family) or "0",
            "ng/mL",
            "ketamine enantiomers in plasma",
        )
    )
