"""Evidence base: bibliography, study records, claims, and the rule that weighs them."""

from .records import (
    Arm,
    Claim,
    ClaimRef,
    EvidenceBase,
    Outcome,
    Reference,
    Study,
    evidence_base,
    load_claims,
    load_references,
    load_studies,
)
from .strength import (
    ClaimStrength,
    StrengthRule,
    all_claim_strengths,
    claim_strength,
    strength_rule,
    study_weight,
)

__all__ = [
    "Arm",
    "Claim",
    "ClaimRef",
    "ClaimStrength",
    "EvidenceBase",
    "Outcome",
    "Reference",
    "StrengthRule",
    "Study",
    "all_claim_strengths",
    "claim_strength",
    "evidence_base",
    "load_claims",
    "load_references",
    "load_studies",
    "strength_rule",
    "study_weight",
]
