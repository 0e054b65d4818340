"""Population runs: summaries mean what the single-subject JSON means, and the CLI writes them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ketasim.cli.app import app
from ketasim.population_run import PopulationSpec, _prepare_chunk, run_population, simulate_chunk
from ketasim.scenario import make_scenario
from ketasim.simulate import run_prepared
from ketasim.solver import SolverOptions
from ketasim.solver.batched import POPULATION_ATOL, POPULATION_RTOL

SCENARIO = {"drug": "esketamine", "route": "intranasal", "dose": "84 mg", "regimen": "spravato", "duration": "8d"}
#: the single-subject path samples Cmax on its own (1-minute) grid, the population on a 2-minute one
CMAX_REL = 1e-2
#: values on both grids (AUC0-24, MADRS at whole days) differ only by the two solvers' tolerances
VALUE_REL = 1e-4


def test_rows_match_single_subject_summaries() -> None:
    spec = PopulationSpec(scenario=make_scenario(SCENARIO).model_dump(mode="json"), n=2, seed=4, chunk_size=2)
    frame = simulate_chunk(spec, 0, 2)
    assert list(frame["subject"]) == [0, 1]
    for i in range(2):
        prep, _ = _prepare_chunk(spec, i, i + 1)
        result = run_prepared(prep, options=SolverOptions(rtol=1e-10, atol=1e-12))
        exposure = result.exposure("esketamine").as_dict()
        row = frame.iloc[i]
        assert row["esketamine_cmax_ng_per_ml"] == pytest.approx(exposure["cmax_ng_per_ml"], rel=CMAX_REL)
        assert row["esketamine_auc_0_24_ng_h_per_ml"] == pytest.approx(
            exposure["auc_0_24_ng_h_per_ml"], rel=VALUE_REL
        )
        assert row["madrs_day7"] == pytest.approx(result.value_at("madrs", 168.0), rel=VALUE_REL)
        node = result.node_summary("madrs")
        assert row["madrs_baseline"] == pytest.approx(node["baseline"], rel=VALUE_REL)
        assert row["madrs_min"] == pytest.approx(node["min"], rel=1e-3)
        assert row["dissociation_peak"] == pytest.approx(result.node_summary("dissociation")["peak"], rel=CMAX_REL)
    assert "madrs_day14" not in frame.columns  # beyond the 8-day duration


#: documented accuracy of population summaries at the default tolerances (solver/batched/__init__.py)
SUMMARY_REL = 2e-4
#: values below this fraction of their column's largest value are compared in absolute terms
SUMMARY_FLOOR = 1e-2


def test_summaries_at_default_tolerances_agree_with_a_tight_run() -> None:
    """12 weeks of Spravato (the benchmark's course): every summary value within SUMMARY_REL of rtol 1e-9."""
    course = {"drug": "esketamine", "route": "intranasal", "dose": "84 mg", "regimen": "spravato"}
    scenario = make_scenario(course).model_dump(mode="json")
    n = 24
    ours = simulate_chunk(PopulationSpec(scenario=scenario, n=n, seed=9, chunk_size=n), 0, n)
    tight = simulate_chunk(PopulationSpec(scenario=scenario, n=n, seed=9, chunk_size=n, rtol=1e-9, atol=1e-12), 0, n)
    assert (POPULATION_RTOL, POPULATION_ATOL) == (1.5e-5, 1.5e-8)
    assert ours["solver_steps"].mean() < 0.25 * tight["solver_steps"].mean()
    values = [c for c in ours.columns if ours[c].dtype.kind == "f" and not c.endswith("_h")]
    assert len(values) > 50
    for c in values:
        a, b = ours[c].to_numpy(), tight[c].to_numpy()
        scale = np.maximum(np.abs(b), SUMMARY_FLOOR * np.nanmax(np.abs(b)))
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.where(scale > 0, np.abs(a - b) / scale, np.abs(a - b))
        assert np.nanmax(rel) <= SUMMARY_REL, f"{c} differs from the tight run by {np.nanmax(rel):.1e}"
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))


def test_cli_population_run(tmp_path: Path) -> None:
    out = tmp_path / "pop.parquet"
    args = ["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "84 mg", "--duration", "3d",
            "--n", "5", "--seed", "2", "--chunk-size", "2", "--quiet", "--out", str(out), "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["n"] == 5
    frame = pd.read_parquet(out)
    assert len(frame) == 5 and list(frame["subject"]) == list(range(5))
    direct = run_population({k: v for k, v in SCENARIO.items() if k != "regimen"} | {"duration": "3d"}, 5, seed=2,
                            chunk_size=5)
    pd.testing.assert_frame_equal(frame, direct, check_exact=True)
    assert np.all(frame["esketamine_cmax_ng_per_ml"] > 0)
    # --rtol reaches the solver: a tighter tolerance takes more steps and lands close to the default run
    tight_out = tmp_path / "tight.parquet"
    res = CliRunner().invoke(app, [*args[:-3], "--rtol", "1e-7", "--atol", "1e-10", "--out", str(tight_out)])
    assert res.exit_code == 0, res.output
    tight = pd.read_parquet(tight_out)
    assert np.all(tight["solver_steps"] > 1.5 * frame["solver_steps"])
    np.testing.assert_allclose(tight["madrs_day1"], frame["madrs_day1"], rtol=2e-4)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--n", "3"], "--out FILE.parquet"),
        (["--workers", "2"], "add --n"),
        (["--n", "0", "--out", "x.parquet"], "at least 1"),
        (["--n", "3", "--out", "x.parquet", "--rtol", "0.5"], "--rtol 0.5 is outside"),
        (["--n", "3", "--out", "x.parquet", "--rtol", "-1e-6"], "--rtol -1e-06 is outside"),
        (["--n", "3", "--out", "x.parquet", "--atol", "0"], "--atol 0 is outside"),
        (["--rtol", "1e-6"], "add --n"),
    ],
)
def test_cli_population_errors(extra: list[str], message: str, tmp_path: Path) -> None:
    from ketasim.cli import main  # noqa: F401  (one-line errors come from main(); here we read the exception)

    args = ["simulate", "--drug", "esketamine", "--route", "intranasal", "--dose", "84 mg", *extra]
    res = CliRunner().invoke(app, args)
    assert res.exit_code != 0
    assert message in str(res.exception)


def test_cli_help_states_the_population_tolerances() -> None:
    """The --rtol and --atol help texts repeat the defaults (the CLI module does not import the solver)."""
    from ketasim.cli import simulate_cmd

    text = Path(simulate_cmd.__file__).read_text()
    rtol = re.search(r"relative tolerance of the solver \(with --n; default ([0-9.e-]+)\)", text)
    atol = re.search(r"absolute tolerance, in each state's unit \(with --n; default ([0-9.e-]+)\)", text)
    assert rtol is not None and atol is not None
    assert (float(rtol.group(1)), float(atol.group(1))) == (POPULATION_RTOL, POPULATION_ATOL)
