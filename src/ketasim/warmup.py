"""Compile the batched solver for every shipped model ahead of use (`ketasim warmup`).

The batched solver compiles each model's System for the machine once (numba, cached on disk: solver/batched/jit.py)
the first time a population run or a large trial needs it, which takes tens of seconds. A System is fixed by the
drug's PK set and the species (not by dose, route, regimen or hypothesis), so compiling one scenario of each
drug/species combination, deduplicated by equations, covers every later run of those drugs.
Combinations with pretreatments (e.g. ketamine after naltrexone) are Systems of their own and compile on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from .pk import catalog

#: the scenario each model is compiled with: short (the System does not depend on the duration) and a few subjects
WARMUP_DURATION = "1d"
WARMUP_SUBJECTS = 2


@dataclass(frozen=True)
class ShippedModel:
    """One drug/species combination: a scenario that builds its System (dose: the drug's highest studied dose)."""

    drug: str
    species: str
    route: str | None
    dose: str | None

    @property
    def label(self) -> str:
        return f"{self.drug} ({self.species})"

    def scenario(self) -> dict[str, str]:
        fields = {"drug": self.drug, "species": self.species, "duration": WARMUP_DURATION}
        if self.route is not None and self.dose is not None:
            fields.update(route=self.route, dose=self.dose)
        return fields


def shipped_models() -> list[ShippedModel]:
    """Every drug of drugs.yaml with a PK set for a species, and placebo (the mechanism alone) per species."""
    from .pk.pkset import load_pkset

    out: list[ShippedModel] = []
    for species in catalog.SPECIES:
        for did, drug in catalog.drugs().items():
            if not drug.components:
                out.append(ShippedModel(did, species, None, None))
                continue
            if species not in drug.pk:
                continue
            routes = load_pkset(drug.pk[species]).routes
            limit = drug.max_studied_dose[species]
            out.append(ShippedModel(did, species, routes[0], f"{limit['value']} {limit['unit']}"))
    return out


def distinct(models: list[ShippedModel]) -> list[list[ShippedModel]]:
    """Shipped models grouped by the equations of their System (ketamine and arketamine share one, for example)."""
    from .model.build import prepare
    from .scenario import make_scenario
    from .solver.batched.jit import equations_key

    groups: dict[str, list[ShippedModel]] = {}
    for m in models:
        prep = prepare(make_scenario(m.scenario(), source="warmup"), n=1)
        groups.setdefault(equations_key(prep.compiled), []).append(m)
    return list(groups.values())


def compile_model(model: ShippedModel) -> bool:
    """Compile (or load from the disk cache) the batched solver of one shipped model through both batched paths,
    a population run's summaries and a trial's stored time courses; whether it had to be compiled now."""
    import numpy as np

    from .model.build import prepare
    from .population_run import PopulationSpec, simulate_chunk
    from .scenario import make_scenario
    from .solver.batched import integrate_batched, jit, model_for
    from .solver.batched.jit import cached_on_disk

    notice, jit.compile_notice = jit.compile_notice, None  # warmup shows its own progress (also in workers)
    try:
        scenario = make_scenario(model.scenario(), source="warmup")
        prep = prepare(scenario, n=WARMUP_SUBJECTS)
        cold = not cached_on_disk(model_for(prep.compiled).key)
        spec = PopulationSpec(scenario=scenario.model_dump(mode="json"), n=WARMUP_SUBJECTS)
        simulate_chunk(spec, 0, WARMUP_SUBJECTS, threads=1)
        t_out = np.array([prep.t_start, prep.t_end])
        integrate_batched(prep.compiled, prep.params, prep.events, t_out, prep.t_start)
    finally:
        jit.compile_notice = notice
    return cold


def warmup(
    groups: list[list[ShippedModel]],
    workers: int = 1,
    on_done: Callable[[list[ShippedModel], bool], None] | None = None,
) -> None:
    """Compile one model of each group (`distinct`); `on_done(group, compiled_now)` after each, in order."""

    def finished() -> Iterator[bool]:
        if workers <= 1:
            for g in groups:
                yield compile_model(g[0])
            return
        with ProcessPoolExecutor(max_workers=workers) as ex:
            yield from ex.map(compile_model, [g[0] for g in groups])

    for g, cold in zip(groups, finished(), strict=True):
        if on_done is not None:
            on_done(g, cold)
