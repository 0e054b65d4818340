"""Provenance in every output (issue 15, item 7): the record, and each writer carrying it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import ketasim
from ketasim import provenance
from ketasim.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
FIELDS = {"ketasim_version", "data_sha256", "inputs_sha256", "source_file", "source_sha256", "seed", "solver",
          "rtol", "atol", "libraries"}
ESK = {"drug": "esketamine", "route": "intranasal", "dose": "84 mg", "duration": "1d"}


def test_record_is_deterministic_and_hashes_its_inputs(tmp_path: Path):
    a = provenance.record(inputs={"drug": "x", "dose": "1 mg"}, seed=3, solver="s", rtol=1e-6, atol=1e-9)
    b = provenance.record(inputs={"dose": "1 mg", "drug": "x"}, seed=3, solver="s", rtol=1e-6, atol=1e-9)
    assert set(a) == FIELDS
    assert provenance.to_json(a) == provenance.to_json(b)  # key order of the inputs does not matter
    assert a["ketasim_version"] == ketasim.__version__ and re.fullmatch(r"[0-9a-f]{64}", a["data_sha256"])
    c = provenance.record(inputs={"drug": "x", "dose": "2 mg"})
    assert c["inputs_sha256"] != a["inputs_sha256"]
    f = tmp_path / "s.yaml"
    f.write_bytes(b"drug: esketamine\n")
    provenance.add_source(a, f)
    assert a["source_file"] == "s.yaml"
    import hashlib

    assert a["source_sha256"] == hashlib.sha256(b"drug: esketamine\n").hexdigest()


def test_data_hash_covers_every_packaged_yaml():
    from importlib import resources

    n = sum(1 for p in Path(str(resources.files("ketasim") / "data")).rglob("*.yaml"))
    assert n > 5
    assert provenance.data_sha256() == provenance.data_sha256()


def test_population_parquet_metadata(tmp_path: Path):
    out = tmp_path / "pop.parquet"
    ketasim.run_population(**ESK, n=8, seed=5, out=out, chunk_size=4)
    meta = pq.read_schema(out).metadata
    rec = json.loads(meta[provenance.KEY.encode()])
    assert set(rec) >= FIELDS
    assert rec["seed"] == 5 and rec["n"] == 8 and rec["solver"].startswith("batched")
    assert rec["rtol"] > 0 and rec["atol"] > 0
    # the same run again gives the same bytes (no clock in the record)
    again = tmp_path / "again.parquet"
    ketasim.run_population(**ESK, n=8, seed=5, out=again, chunk_size=2)
    assert again.read_bytes() == out.read_bytes()


def test_scenario_file_hash_in_csv_sidecar(tmp_path: Path):
    scen = tmp_path / "s.yaml"
    scen.write_text("drug: esketamine\nroute: intranasal\ndose: 84 mg\nduration: 1d\n")
    out = tmp_path / "t.csv"
    res = CliRunner().invoke(app, ["simulate", str(scen), "--out", str(out)])
    assert res.exit_code == 0, res.output
    side = json.loads(provenance.sidecar_path(out).read_text())
    assert side["source_file"] == "s.yaml" and side["source_sha256"] == provenance.file_sha256(scen)
    assert side["solver"].startswith("scipy") and side["rtol"] > 0


def test_trial_summary_carries_provenance(tmp_path: Path):
    trial = ROOT / "examples" / "trials" / "williams2018.yaml"
    result = ketasim.run_trial(trial, n_per_arm=4, seed=2)
    rec = result.summary[provenance.KEY]
    assert set(rec) >= FIELDS and rec["seed"] == 2 and rec["n_per_arm"] == 4
    assert rec["source_file"] == trial.name and rec["source_sha256"] == provenance.file_sha256(trial)


def test_sbml_notes_carry_provenance():
    from ketasim.io.sbml import to_sbml
    from ketasim.model.build import prepare
    from ketasim.scenario import make_scenario

    text = to_sbml(prepare(make_scenario(ESK), n=1))
    assert "Provenance: " in text and provenance.data_sha256() in text


@pytest.mark.parametrize("solver", [{"method": "LSODA", "rtol": 1e-6, "atol": 1e-9}])
def test_report_footer_carries_provenance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, solver: dict):
    from ketasim.report import build

    monkeypatch.setattr(build, "settings", lambda: {"solver": solver})
    index = build.write_report([], tmp_path, 1.0)
    page = index.read_text()
    m = re.search(r"Provenance: (\{.*?\})</p>", page)
    assert m is not None
    rec = json.loads(m.group(1).replace("&quot;", '"'))
    assert rec["data_sha256"] == provenance.data_sha256() and rec["solver"] == "LSODA" and rec["rtol"] == 1e-6
