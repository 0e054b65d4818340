"""The mechanism: NMDA block -> disinhibition -> glutamate -> AMPA -> BDNF/VEGF -> mTORC1 -> synapses -> mood."""

from __future__ import annotations

from ..model.system import System
from ..scenario import Scenario


def add_mechanism(system: System, compounds: list[str], scenario: Scenario) -> None:
    """Placeholder until the cascade lands: PK only."""
    return None
