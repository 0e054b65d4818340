"""No silent waits (issue 15, item 6): the cold-cache notice, `ketasim warmup`, `--version`, `python -m ketasim`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ketasim
from ketasim import warmup as warmup_mod
from ketasim.cli.app import app
from ketasim.pk import catalog
from ketasim.solver.batched import jit

TRIVIAL_SOURCE = "VALUE = 1\n"  # a generated module with nothing to compile: _load_module without numba's cost


@pytest.fixture
def cold_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """An empty solver cache and a notice collector."""
    monkeypatch.setenv(jit.CACHE_ENV, str(tmp_path))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    said: list[str] = []
    monkeypatch.setattr(jit, "compile_notice", said.append)
    monkeypatch.setattr(jit, "_LOADED", {})
    return said


def test_cold_cache_says_one_line_then_nothing(cold_cache: list[str], tmp_path: Path):
    source = TRIVIAL_SOURCE + f"# {tmp_path.name}\n"
    module, key = jit._load_module(source)
    assert module.VALUE == 1
    assert cold_cache == [jit.COMPILE_NOTICE]
    jit._load_module(source)  # loaded in this process: no notice
    assert cold_cache == [jit.COMPILE_NOTICE]
    # another process finds numba's index of the module on disk: no notice either
    (tmp_path / "__pycache__").mkdir(exist_ok=True)
    (tmp_path / "__pycache__" / f"ketasim_jit_{key}._rhs-1.py311.nbi").write_bytes(b"")
    jit._LOADED.clear()
    jit._load_module(source)
    assert cold_cache == [jit.COMPILE_NOTICE]


def test_cached_on_disk_reads_numba_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(jit.CACHE_ENV, str(tmp_path / "jit"))
    numba_dir = tmp_path / "numba"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(numba_dir))
    assert not jit.cached_on_disk("abc")
    (numba_dir / "deep" / "folder").mkdir(parents=True)
    (numba_dir / "deep" / "folder" / "ketasim_jit_abc._kernel-10.py311.nbi").write_bytes(b"")
    assert jit.cached_on_disk("abc")
    assert not jit.cached_on_disk("abd")


def test_notice_is_one_line_on_stderr(capsys: pytest.CaptureFixture[str]):
    jit._print_notice(jit.COMPILE_NOTICE)
    out, err = capsys.readouterr()
    assert out == "" and err == jit.COMPILE_NOTICE + "\n"
    assert "once" in jit.COMPILE_NOTICE and "25 s" in jit.COMPILE_NOTICE


# ---------------------------------------------------------------------------------------------- warmup
def test_shipped_models_cover_every_drug_and_species():
    models = warmup_mod.shipped_models()
    labels = {m.label for m in models}
    assert len(labels) == len(models)
    for species in catalog.SPECIES:
        assert f"placebo ({species})" in labels
        for did, drug in catalog.drugs().items():
            if drug.components and species in drug.pk:
                assert f"{did} ({species})" in labels


def test_distinct_groups_share_their_equations():
    from ketasim.model.build import prepare
    from ketasim.scenario import make_scenario

    models = warmup_mod.shipped_models()
    groups = warmup_mod.distinct(models)
    assert sorted(m.label for g in groups for m in g) == sorted(m.label for m in models)
    keys = []
    for g in groups:
        ks = {jit.equations_key(prepare(make_scenario(m.scenario(), source="t"), n=1).compiled) for m in g}
        assert len(ks) == 1
        keys.append(ks.pop())
    assert len(set(keys)) == len(groups)


def test_compile_model_leaves_the_model_cached():
    from ketasim.model.build import prepare
    from ketasim.scenario import make_scenario
    from ketasim.solver.batched import model_for

    model = next(m for m in warmup_mod.shipped_models() if m.label == "esketamine (human)")
    warmup_mod.compile_model(model)
    prep = prepare(make_scenario(model.scenario(), source="t"), n=1)
    assert jit.cached_on_disk(model_for(prep.compiled).key)
    assert not warmup_mod.compile_model(model)  # second time: nothing to compile
    assert jit.compile_notice is jit._print_notice  # restored after the warmup silenced it


def test_warmup_command_reports_each_group(monkeypatch: pytest.MonkeyPatch):
    fake = [[warmup_mod.ShippedModel("a", "human", "iv", "1 mg")],
            [warmup_mod.ShippedModel("b", "rat", None, None), warmup_mod.ShippedModel("c", "rat", None, None)]]
    monkeypatch.setattr(warmup_mod, "distinct", lambda models: fake)
    monkeypatch.setattr(warmup_mod, "compile_model", lambda m: m.drug == "a")
    res = CliRunner().invoke(app, ["warmup"])
    assert res.exit_code == 0, res.output
    assert "compiled a (human)" in res.output
    assert "cached   b (rat), c (rat)" in res.output
    assert "2 models ready" in res.output and "1 compiled now, 1 already cached" in res.output
    bad = CliRunner().invoke(app, ["warmup", "--workers", "0"])
    assert bad.exit_code == 2


# ---------------------------------------------------------------------------------------------- entry points
def test_version_and_python_dash_m():
    for cmd in ([sys.executable, "-m", "ketasim", "--version"], [str(Path(sys.executable).parent / "ketasim"),
                                                                "--version"]):
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        assert res.stdout.strip() == f"ketasim {ketasim.__version__}"
    res = subprocess.run([sys.executable, "-m", "ketasim", "simulate", "--drug", "nope"], capture_output=True,
                         text=True)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
