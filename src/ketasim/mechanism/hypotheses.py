"""Hypotheses are edge sets of one causal graph: resolve a name like 'glutamate_mtor+opioid' to edge weights."""

from __future__ import annotations

from functools import cache
from typing import Any

from .. import data
from ..errors import UnknownNameError
from ..pk.catalog import unknown


@cache
def _spec() -> dict[str, Any]:
    return data.load("mechanism/hypotheses.yaml")


def edges() -> dict[str, dict[str, Any]]:
    return dict(_spec()["edges"])


def hypotheses() -> dict[str, dict[str, Any]]:
    return dict(_spec()["hypotheses"])


def parse_hypothesis(name: str) -> list[str]:
    """'a+b' -> ['a', 'b'], each a known hypothesis."""
    parts = [p.strip() for p in str(name).split("+") if p.strip()]
    if not parts:
        raise UnknownNameError(
            "empty hypothesis; choose glutamate_mtor, opioid, hnk_ampa or a combination like A+B"
        )
    known = sorted(hypotheses())
    for p in parts:
        if p not in known:
            raise unknown("hypothesis", p, known)
    return parts


def edge_weights(name: str, edges_off: list[str] | None = None) -> dict[str, float]:
    """Weight 1 for every edge the hypothesis (or any part of a combination) switches on, 0 otherwise."""
    spec = _spec()
    on = set(spec["common"])
    for part in parse_hypothesis(name):
        on |= set(spec["hypotheses"][part]["edges"])
    all_edges = sorted(spec["edges"])
    for e in edges_off or []:
        if e not in spec["edges"]:
            raise unknown("edge", e, all_edges)
        on.discard(e)
    return {e: (1.0 if e in on else 0.0) for e in all_edges}


def check_gains(gains: dict[str, float], parameter_ids: set[str]) -> None:
    for key, factor in gains.items():
        if key not in parameter_ids:
            raise unknown(
                "gain parameter", key, sorted(p for p in parameter_ids if p.startswith(("g_", "k_")))
            )
        if not (factor >= 0):
            raise UnknownNameError(f"gain scale for {key!r} must be a non-negative number, got {factor!r}")
