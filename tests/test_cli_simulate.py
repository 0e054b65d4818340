"""`ketasim simulate` as a user runs it: the two contract commands, output files, and every kind of bad input.

Each command runs in its own process; they are started together and waited for once, to keep the suite fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ketasim.errors import KetasimError, UnitError
from ketasim.units import parse_dose

KETASIM = str(Path(sys.executable).with_name("ketasim"))
ESK_84 = ["--drug", "esketamine", "--route", "intranasal", "--dose", "84 mg"]
KET_IV = ["--drug", "ketamine", "--route", "iv", "--dose", "0.5 mg/kg", "--over", "40 min", "--weight", "70"]
SUMMARY_KEYS = {"cmax_ng_per_ml", "tmax_h", "auc_0_24_ng_h_per_ml", "auc_inf_ng_h_per_ml", "half_life_h"}

#: name -> (arguments, words the one-line message must contain); each also asks for an output file that
#: must not appear
BAD: dict[str, tuple[list[str], list[str]]] = {
    "unknown drug": (["--drug", "ketamin", "--dose", "1 mg"], ["drug", "ketamine"]),
    "unknown route": (
        ["--drug", "esketamine", "--route", "nasal", "--dose", "84 mg"],
        ["route", "intranasal"],
    ),
    "route not for drug": (["--drug", "ketamine", "--route", "intranasal", "--dose", "50 mg"], ["route"]),
    "unknown species": (
        ["--drug", "ketamine", "--species", "dog", "--dose", "1 mg/kg"],
        ["species", "mouse"],
    ),
    "drug without species pk": (["--drug", "lanicemine", "--species", "rat", "--dose", "1 mg/kg"], ["rat"]),
    "unknown regimen": ([*ESK_84, "--regimen", "fortnightly"], ["regimen", "spravato"]),
    "malformed repeat": ([*ESK_84, "--regimen", "every 3.5 fortnights x 8"], ["unit"]),
    "zero dose": (["--drug", "esketamine", "--route", "intranasal", "--dose", "0 mg"], ["positive"]),
    "negative dose": (["--drug", "esketamine", "--route", "iv", "--dose=-5 mg"], ["positive"]),
    "unitless dose": (["--drug", "esketamine", "--route", "iv", "--dose", "84"], ["unit"]),
    "absurd dose": (["--drug", "esketamine", "--route", "intranasal", "--dose", "2000 mg"], ["10x", "112"]),
    "absurd mg/kg dose": (["--drug", "ketamine", "--route", "iv", "--dose", "50 mg/kg"], ["10x"]),
    "absurd rodent dose": (
        ["--drug", "ketamine", "--species", "mouse", "--route", "ip", "--dose", "3 g/kg"],
        ["10x"],
    ),
    "no dose": (["--drug", "esketamine", "--route", "iv"], ["dose"]),
    "no drug": (["--route", "iv", "--dose", "1 mg"], ["drug"]),
    "zero weight": (["--drug", "ketamine", "--dose", "0.5 mg/kg", "--weight", "0"], ["weight"]),
    "absurd weight": (["--drug", "ketamine", "--dose", "0.5 mg/kg", "--weight", "7000"], ["weight"]),
    "malformed duration": ([*ESK_84, "--duration", "40 mins x"], ["duration"]),
    "negative duration": ([*ESK_84, "--duration=-2 h"], ["duration"]),
    "malformed over": (
        ["--drug", "ketamine", "--route", "iv", "--dose", "0.5 mg/kg", "--over", "40 mins x"],
        ["40"],
    ),
    "zero over": (
        ["--drug", "ketamine", "--route", "iv", "--dose", "0.5 mg/kg", "--over", "0 min"],
        ["infusion"],
    ),
    "over with non-iv route": ([*ESK_84, "--over", "40 min"], ["--over", "iv"]),
    "implausible age": ([*ESK_84, "--age", "300"], ["age"]),
    "bad at times": ([*ESK_84, "--at", "4h,-1h"], ["time"]),
    "bad pretreatment": ([*ESK_84, "--pretreat", "naltrexone:50 mg"], ["pretreatment"]),
    "missing scenario file": (["{tmp}/nope.yaml"], ["does not exist"]),
    "malformed yaml": (["{tmp}/broken.yaml"], ["yaml"]),
    "yaml not a mapping": (["{tmp}/list.yaml"], ["mapping"]),
    "unknown scenario field": (["{tmp}/extra.yaml"], ["dosage"]),
    "bad dose event": (["{tmp}/events.yaml"], ["dose event"]),
}
SCENARIO_FILES = {
    "broken.yaml": "drug: esketamine\nroute: [intranasal\n",
    "list.yaml": "- esketamine\n- 84 mg\n",
    "extra.yaml": "drug: esketamine\nroute: intranasal\ndosage: 84 mg\n",
    "events.yaml": "drug: esketamine\nroute: iv\nevents:\n  - {time: 0 h}\n",
    "good.yaml": "drug: esketamine\nroute: intranasal\ndose: 56 mg\nduration: 2 d\n",
}
#: bad inputs also run as real processes (the others run in-process through the same entry point, `main`)
IN_SUBPROCESS = ("unknown drug", "malformed yaml")
#: bad --out targets: these must fail before or after simulating, and leave nothing behind
BAD_OUT = {
    "out bad extension": ("{tmp}/result.txt", ["csv"]),
    "out missing folder": ("{tmp}/no/such/folder/result.csv", ["folder"]),
}


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [KETASIM, "simulate", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Start every command at once; return name -> (returncode, stdout, stderr, folder it wrote into)."""
    base = tmp_path_factory.mktemp("cli")
    for name, text in SCENARIO_FILES.items():
        (base / name).write_text(text)
    jobs: dict[str, tuple[subprocess.Popen[str], Path]] = {}
    for name in IN_SUBPROCESS:
        if name not in BAD:
            continue
        args = BAD[name][0]
        folder = base / f"case{len(jobs)}"
        folder.mkdir()
        argv = [a.replace("{tmp}", str(base)) for a in args] + ["--out", str(folder / "result.csv")]
        jobs[name] = (_start(argv, folder), folder)
    for name in IN_SUBPROCESS:
        if name not in BAD_OUT:
            continue
        target = BAD_OUT[name][0]
        folder = base / f"case{len(jobs)}"
        folder.mkdir()
        argv = [*ESK_84, "--duration", "1 d", "--out", target.replace("{tmp}", str(folder))]
        jobs[name] = (_start(argv, folder), folder)
    good = base / "good"
    good.mkdir()
    jobs["esk84"] = (_start([*ESK_84, "--json", "--out", str(good / "esk84.csv")], good), good)
    jobs["ketiv"] = (_start([*KET_IV, "--json", "--out", str(good / "ketiv.parquet")], good), good)
    jobs["table"] = (_start([*ESK_84, "--duration", "2 d"], good), good)
    out = {}
    try:
        for name, (proc, folder) in jobs.items():
            stdout, stderr = proc.communicate(timeout=300)
            out[name] = (proc.returncode, stdout, stderr, folder)
    finally:
        for proc, _ in jobs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return out


def _compounds(runs: dict[str, Any], name: str) -> dict[str, dict[str, float]]:
    rc, stdout, stderr, _ = runs[name]
    assert rc == 0, stderr
    return json.loads(stdout)["compounds"]


# --- the contract commands --------------------------------------------------------------------------------


def test_esketamine_84_mg_intranasal_json(runs: dict[str, Any]) -> None:
    comps = _compounds(runs, "esk84")
    assert {"esketamine", "noresketamine"} <= set(comps)
    for summary in comps.values():
        assert set(summary) == SUMMARY_KEYS
    esk = comps["esketamine"]
    assert 50 <= esk["cmax_ng_per_ml"] <= 250  # label/popPK range for 84 mg (FACTS.md 1a)
    assert 20 / 60 <= esk["tmax_h"] <= 1.0  # 20-40 min after the last of three sprays 5 min apart
    assert 5 <= esk["half_life_h"] <= 15  # label t1/2 7-12 h
    assert 0 < esk["auc_0_24_ng_h_per_ml"] < esk["auc_inf_ng_h_per_ml"]
    # AUC0-inf ~ F x dose / CL with F about 0.5 and CL about 114 L/h: 84 * 0.51 / 114 mg h/L ~ 375 ng h/mL
    assert 200 <= esk["auc_inf_ng_h_per_ml"] <= 700
    assert 5 <= comps["noresketamine"]["half_life_h"] <= 15  # label: about 8 h


def test_ketamine_0_5_mg_per_kg_over_40_min_json(runs: dict[str, Any]) -> None:
    comps = _compounds(runs, "ketiv")
    assert {"ketamine", "esketamine", "arketamine", "norketamine", "noresketamine", "norarketamine"} <= set(
        comps
    )
    for summary in comps.values():
        assert set(summary) == SUMMARY_KEYS
    s, r, total = comps["esketamine"], comps["arketamine"], comps["ketamine"]
    # the total is the sum of the enantiomers: AUCs add exactly; the peak of a sum is at most the sum of peaks
    assert total["auc_0_24_ng_h_per_ml"] == pytest.approx(
        s["auc_0_24_ng_h_per_ml"] + r["auc_0_24_ng_h_per_ml"], rel=1e-6
    )
    assert total["auc_inf_ng_h_per_ml"] == pytest.approx(
        s["auc_inf_ng_h_per_ml"] + r["auc_inf_ng_h_per_ml"], rel=0.02
    )
    assert max(s["cmax_ng_per_ml"], r["cmax_ng_per_ml"]) < total["cmax_ng_per_ml"]
    assert total["cmax_ng_per_ml"] <= s["cmax_ng_per_ml"] + r["cmax_ng_per_ml"] + 1e-9
    # peak at the end of the 40 min infusion; sub-anesthetic band about 70-250 ng/mL (FACTS.md 4)
    assert total["tmax_h"] == pytest.approx(40 / 60, abs=2 / 60)
    assert 70 <= total["cmax_ng_per_ml"] <= 300
    nk = comps["norketamine"]
    assert nk["auc_0_24_ng_h_per_ml"] == pytest.approx(
        comps["noresketamine"]["auc_0_24_ng_h_per_ml"] + comps["norarketamine"]["auc_0_24_ng_h_per_ml"],
        rel=1e-6,
    )
    assert 2 <= s["half_life_h"] <= 15 and 2 <= r["half_life_h"] <= 15  # 5.2 and 6.1 h (Anesthesiology 2021)


def test_csv_output_is_a_tidy_table(runs: dict[str, Any]) -> None:
    _, _, _, folder = runs["esk84"]
    table = pd.read_csv(folder / "esk84.csv")
    _check_tidy(table, runs, "esk84")


def test_parquet_output_is_a_tidy_table(runs: dict[str, Any]) -> None:
    _, _, _, folder = runs["ketiv"]
    table = pd.read_parquet(folder / "ketiv.parquet")
    _check_tidy(table, runs, "ketiv")
    wide = table.pivot(index="time_h", columns="variable", values="value")
    np.testing.assert_allclose(wide["ketamine"], wide["esketamine"] + wide["arketamine"], rtol=1e-12)
    np.testing.assert_allclose(wide["norketamine"], wide["noresketamine"] + wide["norarketamine"], rtol=1e-12)


def _check_tidy(table: pd.DataFrame, runs: dict[str, Any], name: str) -> None:
    assert list(table.columns) == ["time_h", "variable", "value", "unit"]
    assert not table.duplicated(["time_h", "variable"]).any()
    comps = _compounds(runs, name)
    for cid, summary in comps.items():
        rows = table[table.variable == cid]
        assert set(rows.unit) == {"ng/mL"}
        assert rows.value.max() == pytest.approx(summary["cmax_ng_per_ml"], rel=1e-9)
    times = np.sort(table.time_h.unique())
    assert times[0] == 0.0 and times[-1] >= 24.0


def test_readable_table_without_json(runs: dict[str, Any]) -> None:
    rc, stdout, stderr, _ = runs["table"]
    assert rc == 0, stderr
    assert "esketamine" in stdout and "Cmax" in stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(stdout)


def _main(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    """Run the console script's entry point in this process: (exit code, stdout, stderr)."""
    from ketasim.cli import main

    monkeypatch.setattr(sys, "argv", ["ketasim", "simulate", *argv])
    with pytest.raises(SystemExit) as info:
        main()
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out, captured.err


def test_scenario_file_with_option_override(
    runs: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file says 56 mg; --dose 28 mg overrides it: exposure is that of one device."""
    (tmp_path / "good.yaml").write_text(SCENARIO_FILES["good.yaml"])
    rc, stdout, stderr = _main(
        [str(tmp_path / "good.yaml"), "--dose", "28 mg", "--json"], capsys, monkeypatch
    )
    assert rc == 0, stderr
    auc_28 = json.loads(stdout)["compounds"]["esketamine"]["auc_0_24_ng_h_per_ml"]
    assert auc_28 < 0.5 * _compounds(runs, "esk84")["esketamine"]["auc_0_24_ng_h_per_ml"]


# --- bad input: one line, exit 2, no traceback, no file ---------------------------------------------------


def _check_bad(name: str, rc: int, stdout: str, stderr: str, folder: Path) -> None:
    words = BAD[name][1] if name in BAD else BAD_OUT[name][1]
    assert rc == 2, (stdout, stderr)
    lines = stderr.strip("\n").split("\n")
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and stdout == ""
    message = lines[0].lower()
    assert message.startswith("ketasim: error:")
    for w in words:
        assert w.lower() in message, (w, message)
    assert [p.name for p in folder.rglob("*") if p.is_file()] == []  # no output file, complete or partial


@pytest.mark.parametrize("name", IN_SUBPROCESS)
def test_bad_input_process(runs: dict[str, Any], name: str) -> None:
    _check_bad(name, *runs[name])


@pytest.mark.parametrize("name", [n for n in [*BAD, *BAD_OUT] if n not in IN_SUBPROCESS])
def test_bad_input(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad input through the console script's entry point in this process (no start-up cost per case)."""
    for fname, text in SCENARIO_FILES.items():
        (tmp_path / fname).write_text(text)
    folder = tmp_path / "out"
    folder.mkdir()
    if name in BAD:
        argv = [a.replace("{tmp}", str(tmp_path)) for a in BAD[name][0]] + [
            "--out",
            str(folder / "result.csv"),
        ]
    else:
        argv = [*ESK_84, "--duration", "1 d", "--out", BAD_OUT[name][0].replace("{tmp}", str(folder))]
    monkeypatch.chdir(folder)
    _check_bad(name, *_main(argv, capsys, monkeypatch), folder)


def test_weight_based_dose_without_weight_via_api() -> None:
    """The CLI always has a weight (species default); through the API a mg/kg dose needs one."""
    dose = parse_dose("0.5 mg/kg")
    with pytest.raises(UnitError) as info:
        dose.mg(None)
    assert isinstance(info.value, KetasimError) and "--weight" in str(info.value)
