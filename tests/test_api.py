"""The public Python API (issue 15, item 5): names re-exported from `ketasim`, typed signatures, a fast import,
and the Result's display, frames, xarray and plot.

Values are compared with the internal entry points (simulate.simulate, the Result's own arrays), never with
numbers of the current calibration.
"""

from __future__ import annotations

import inspect
import pydoc
import subprocess
import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest

import ketasim
from ketasim.errors import KetasimError as InternalKetasimError
from ketasim.results import Result
from ketasim.simulate import simulate as internal_simulate

matplotlib.use("Agg")

PUBLIC = ("simulate", "run_population", "run_trial", "load_trial", "scorecard", "Scenario", "Result", "KetasimError")
FUNCTIONS = ("simulate", "run_population", "run_trial", "load_trial", "scorecard")
KETAMINE = {"drug": "ketamine", "route": "iv", "dose": "0.5 mg/kg", "over": "40 min"}


@pytest.fixture(scope="module")
def result() -> Result:
    return ketasim.simulate(**KETAMINE, duration="2d", at="4h,24h")


# ---------------------------------------------------------------------------------------------- names
def test_every_public_name_is_exported():
    for name in PUBLIC:
        assert hasattr(ketasim, name), name
        assert name in ketasim.__all__
    assert ketasim.KetasimError is InternalKetasimError
    assert ketasim.Result is Result
    assert callable(ketasim.simulate) and not inspect.ismodule(ketasim.simulate)


def test_importing_the_simulate_module_does_not_shadow_the_function():
    import ketasim.simulate as _  # noqa: F401  (the import system sets ketasim.simulate to the module)

    assert inspect.isfunction(ketasim.simulate)
    assert ketasim.simulate.__module__ == "ketasim"


def test_import_is_lazy():
    """`import ketasim` loads none of the heavy libraries (a property, not a timing)."""
    code = (
        "import sys, ketasim; heavy = [m for m in ('numpy', 'pandas', 'numba', 'scipy', 'pydantic', 'xarray') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_help_lists_the_api_with_one_line_docstrings():
    text = pydoc.render_doc(ketasim, renderer=pydoc.plaintext)
    for name in PUBLIC:
        assert name in text
    for name in FUNCTIONS:
        doc = inspect.getdoc(getattr(ketasim, name))
        assert doc and doc.splitlines()[0].strip(), name


def test_signatures_spell_out_their_arguments():
    for name in FUNCTIONS:
        params = inspect.signature(getattr(ketasim, name)).parameters.values()
        assert not [p for p in params if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL)], name
    sim = inspect.signature(ketasim.simulate).parameters
    for field in ("drug", "route", "dose", "over", "regimen", "species", "weight", "age", "duration", "hypothesis",
                  "pretreatments", "at"):
        assert sim[field].kind is inspect.Parameter.KEYWORD_ONLY, field
        assert sim[field].annotation is not inspect.Parameter.empty, field
    scenario_fields = set(ketasim.Scenario.model_fields)
    assert {"drug", "route", "dose", "over", "regimen", "species", "duration", "hypothesis"} <= scenario_fields
    assert {"n", "seed", "out"} <= set(inspect.signature(ketasim.run_population).parameters)


# ---------------------------------------------------------------------------------------------- simulate
def test_simulate_matches_the_internal_entry_point(result: Result):
    ref = internal_simulate(**KETAMINE, duration="2d", at=["4h", "24h"])
    np.testing.assert_array_equal(result.times, ref.times)
    assert set(result.values) == set(ref.values)
    for var, arr in ref.values.items():
        np.testing.assert_array_equal(result.values[var], arr)
    assert result.at == {"4h": 4.0, "24h": 24.0}
    assert result.exposure("ketamine") == ref.exposure("ketamine")


def test_simulate_accepts_a_scenario_object_and_overrides_its_fields(result: Result):
    scen = ketasim.Scenario(**KETAMINE, duration="2d")
    again = ketasim.simulate(scen, at=["4h", "24h"])
    np.testing.assert_array_equal(again["madrs"], result["madrs"])
    shorter = ketasim.simulate(scen, duration="1d")
    assert shorter.times[-1] == pytest.approx(24.0)


def test_simulate_bad_input_raises_a_ketasim_error():
    with pytest.raises(ketasim.KetasimError):
        ketasim.simulate(drug="not_a_drug", dose="1 mg")
    with pytest.raises(ketasim.KetasimError, match="drug"):
        ketasim.simulate(dose="1 mg")


# ---------------------------------------------------------------------------------------------- Result
def test_repr_is_short_and_names_the_scenario(result: Result):
    text = repr(result)
    lines = text.splitlines()
    assert len(lines) <= 8 and len(text) < 2000
    assert "ketamine iv 0.5 mg/kg over 40 min" in lines[0]
    assert "subjects:  1" in text and "48 h" in text
    assert "madrs" in text and "ketamine_central" not in text  # internal states are only counted
    html = result._repr_html_()
    assert html.startswith("<div>") and "<table>" in html and "madrs" in html


def test_default_variables_are_compounds_and_nodes(result: Result):
    default = result.default_variables()
    assert set(default) == set(result.compounds) | set(result.nodes)
    assert len(default) < len(result.values)  # the internal states exist but are left out


def test_to_frame_long_and_wide(result: Result):
    long = result.to_frame()
    assert list(long.columns) == ["time_h", "subject", "variable", "value", "unit"]
    assert set(long["variable"]) == set(result.default_variables())
    assert len(long) == len(result.times) * result.n * len(result.default_variables())
    madrs = long[long["variable"] == "madrs"]["value"].to_numpy()
    np.testing.assert_array_equal(madrs, result["madrs"][:, 0])
    assert set(long[long["variable"] == "ketamine"]["unit"]) == {result.units["ketamine"]}

    wide = result.to_frame(["madrs", "ketamine"], wide=True)
    assert list(wide.columns) == ["time_h", "subject", "madrs", "ketamine"]
    assert len(wide) == len(result.times)
    np.testing.assert_array_equal(wide["ketamine"].to_numpy(), result["ketamine"][:, 0])
    assert not (np.signbit(wide["time_h"].to_numpy()) & (wide["time_h"].to_numpy() == 0)).any()

    everything = result.to_frame("all", wide=True)
    assert set(everything.columns) - {"time_h", "subject"} == set(result.values)


def test_to_frame_unknown_variable_says_what_exists(result: Result):
    with pytest.raises(ketasim.KetasimError, match="madrs"):
        result.to_frame(["no_such_variable"])


def test_to_frame_batch_of_subjects():
    batch = ketasim.simulate(**KETAMINE, duration="1d", n=3, covariates={"weight": np.array([50.0, 70.0, 90.0])})
    wide = batch.to_frame(["ketamine"], wide=True)
    assert len(wide) == 3 * len(batch.times)
    for s in range(3):
        np.testing.assert_array_equal(wide[wide["subject"] == s]["ketamine"].to_numpy(), batch["ketamine"][:, s])
    # a 0.5 mg/kg dose: the heavier subject gets more drug, so a higher peak (same volume per kg is not assumed)
    peaks = [batch.exposure("ketamine", s).cmax_ng_per_ml for s in range(3)]
    assert len(set(peaks)) == 3


def test_to_xarray_dims_units_and_values(result: Result):
    ds = result.to_xarray()
    assert set(ds.data_vars) == set(result.default_variables())
    assert ds["madrs"].dims == ("time", "subject")
    assert ds["ketamine"].attrs["units"] == result.units["ketamine"]
    assert ds["time"].attrs["units"] == "h"
    np.testing.assert_array_equal(ds["madrs"].values, result["madrs"])
    cube = ds.to_dataarray("variable")
    assert cube.sizes["time"] == len(result.times) and cube.sizes["subject"] == 1
    assert ds.attrs["dose_times_h"] == [float(t) for t in result.dose_times]


def test_plot_returns_a_figure_with_one_panel_per_variable(result: Result):
    import matplotlib.pyplot as plt

    fig = result.plot(["ketamine", "madrs"])
    try:
        visible = [ax for ax in fig.axes if ax.get_visible()]
        assert [ax.get_title() for ax in visible] == ["ketamine", "madrs"]
        np.testing.assert_array_equal(visible[1].lines[0].get_ydata(), result["madrs"][:, 0])
    finally:
        plt.close(fig)


def test_existing_result_methods_still_work(result: Result):
    table = result.table()
    assert isinstance(table, pd.DataFrame) and len(table) > 0
    assert result.exposure("ketamine").cmax_ng_per_ml > 0
    summary = result.node_summary("madrs")
    assert summary["min"] <= summary["baseline"]


# ---------------------------------------------------------------------------------------------- scorecard
def test_scorecard_frame_has_one_row_per_hypothesis_and_finding(monkeypatch: pytest.MonkeyPatch):
    """The frame conversion, on a scorecard object built without simulating (the scorecard itself is tested in
    test_scorecard.py)."""
    from ketasim.evidence import scorecard as sc_mod

    class Finding:
        def __init__(self, fid: str, verdict: str) -> None:
            self.id, self.verdict = fid, verdict

        def as_json(self) -> dict[str, object]:
            return {"id": self.id, "verdict": self.verdict, "quantities": {"x": 1.0}}

    class Card:
        def __init__(self, findings: list[Finding]) -> None:
            self.findings = findings

        def as_json(self) -> dict[str, object]:
            return {"passed": sum(f.verdict == "pass" for f in self.findings), "total": len(self.findings),
                    "findings": []}

    class Fake:
        def __init__(self) -> None:
            self.cards = {"a": Card([Finding("f1", "pass"), Finding("f2", "fail")]), "b": Card([Finding("f1", "fail")])}
            self.comparison = None

    seen: list[list[str]] = []

    def fake_run(configs: list[object], workers: int | None = None) -> Fake:
        seen.append([c.hypothesis for c in configs])  # type: ignore[attr-defined]
        return Fake()

    monkeypatch.setattr(sc_mod, "run_scorecard", fake_run)
    frame = ketasim.scorecard(["glutamate_mtor", "opioid"])
    assert seen[0][0] == "glutamate_mtor" and len(seen[0]) == 2
    assert list(frame[["hypothesis", "id", "verdict"]].itertuples(index=False, name=None)) == [
        ("a", "f1", "pass"), ("a", "f2", "fail"), ("b", "f1", "fail"),
    ]
    assert "quantities" not in frame.columns
    assert frame.attrs["scores"] == {"a": {"passed": 1, "total": 2}, "b": {"passed": 0, "total": 1}}
    with pytest.raises(ketasim.KetasimError):
        ketasim.scorecard("no_such_hypothesis")
