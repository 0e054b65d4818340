"""Regenerate the generated parts of docs/pk.md: parameter tables from the PK data files, and exposures.

Run:   .venv/bin/python scripts/gen_pk_tables.py           (rewrites docs/pk.md between its markers)
       .venv/bin/python scripts/gen_pk_tables.py --check   (exit 1 if docs/pk.md is stale)

Two kinds of block are generated:
- `params`: every PK set in src/ketasim/data/pk/*.yaml, the compounds, drugs and regimens, from the data;
- `exposure` and `derived`: simulated exposures of the contract commands and the apparent F, CL, Vss and
  half-lives computed from the model (AUC after IV vs intranasal, AUMC/AUC, slowest eigenvalue), set beside
  the published values of FACTS.md. Nothing is tuned here: the numbers are what the data files give.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ketasim import data
from ketasim.model.build import prepare
from ketasim.pk import catalog
from ketasim.results import Result
from ketasim.scenario import make_scenario
from ketasim.simulate import run_prepared, simulate
from ketasim.solver import SolverOptions

DOC = Path(__file__).resolve().parents[1] / "docs" / "pk.md"
OPTIONS = SolverOptions(rtol=1e-10, atol=1e-12)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _fmt(x: float, digits: int = 3) -> str:
    if x is None or not np.isfinite(x):
        return "-"
    return f"{x:.{digits}g}"


# --- parameter tables ---------------------------------------------------------------------------------------


def _pkset_tables(name: str) -> list[str]:
    rec = data.load(f"pk/{name}")
    sid = rec.get("id", name[:-5])
    out = [f"#### `{sid}`", "", _cell(rec.get("description", "")), ""]
    if rec.get("derive_from"):
        out += [
            f"Derived from `{rec['derive_from']}`: everything below is added to (or replaces) that set.",
            "",
        ]
    if rec.get("reference_weight"):
        rw = rec["reference_weight"]
        out += [
            f"Reference weight {rw['value']} {rw['unit']} ({rw['source']}; {_cell(rw.get('note', ''))}).",
            "",
        ]
    if rec.get("weight_exponents"):
        out += ["| parameter kind | weight exponent | source | note |", "|---|---|---|---|"]
        for kind, r in rec["weight_exponents"].items():
            out.append(f"| {kind} | {r['value']} | {r['source']} | {_cell(r.get('note', ''))} |")
        out.append("")
    if rec.get("parameters"):
        out += ["| parameter | value | unit | scales as | source | note |", "|---|---|---|---|---|---|"]
        for pid, r in rec["parameters"].items():
            out.append(
                f"| `{pid}` | {r['value']} | {r['unit']} | {r.get('scale', '-')} | {r['source']} "
                f"| {_cell(r.get('note', ''))} |"
            )
        out.append("")
    if rec.get("covariates"):
        out += ["| covariate model | expression |", "|---|---|"]
        for pid, expr in rec["covariates"].items():
            out.append(f"| `{pid}` | `{_cell(expr)}` |")
        out.append("")
    if rec.get("compartments"):
        out += ["| compartment | compound | volume | plasma |", "|---|---|---|---|"]
        for cname, c in rec["compartments"].items():
            vol = f"`{c['volume']}`" if c.get("volume") else "- (depot)"
            out.append(f"| `{cname}` | {c['compound']} | {vol} | {'yes' if c.get('plasma') else ''} |")
        out.append("")
    if rec.get("flows"):
        out += ["| flow | rate (mg/h) |", "|---|---|"]
        for f in rec["flows"]:
            if "between" in f:
                a, b = f["between"]
                what = f"`{a}` <-> `{b}`"
            else:
                what = f"`{f['from']}` -> `{f.get('to') or 'eliminated'}`"
            rate = f"{f['k']} x amount" if "k" in f else f"{f['cl']} / V x amount"
            if "fraction" in f:
                rate = f"({f['fraction']}) x {rate}"
            out.append(f"| {what} | `{_cell(rate)}` |")
        out.append("")
    if rec.get("routes"):
        out += ["| route | compound | into | fraction | over | devices / lag |", "|---|---|---|---|---|---|"]
        for route, r in rec["routes"].items():
            extra = []
            if r.get("devices"):
                d = r["devices"]
                extra.append(f"{d['size_mg']} mg devices {d['interval']} apart ({d.get('source', '')})")
            if r.get("lag"):
                extra.append(f"lag `{r['lag']}`")
            for comp, parts in (r.get("parts") or {}).items():
                for p in parts:
                    over = (
                        f"`{p['over']}`" if p.get("over") else ("brain" if p.get("brain_volume") else "bolus")
                    )
                    out.append(
                        f"| {route} | {comp} | `{p['target']}` | `{_cell(p.get('fraction', 1))}` | {over} "
                        f"| {'; '.join(extra)} |"
                    )
        out.append("")
    return out


def params_block() -> str:
    out = ["## Parameter tables (generated from `src/ketasim/data`)", ""]
    out += ["### Compounds (`compounds.yaml`)", ""]
    out += [
        "| compound | molar mass g/mol | fu plasma | Kp,uu brain | ke0 1/h (70 kg) | sources |",
        "|---|---|---|---|---|---|",
    ]
    for cid, c in catalog.compounds().items():
        r = c.record
        srcs = ", ".join(sorted({r[k]["source"] for k in ("molar_mass", "fu_plasma", "kp_uu_brain", "ke0")}))
        out.append(f"| {cid} | {c.molar_mass} | {c.fu_plasma} | {c.kp_uu_brain} | {c.ke0} | {srcs} |")
    out += ["", "### Drugs (`drugs.yaml`)", ""]
    out += [
        "| drug | contains | PK set per species | highest studied dose (10x refused) |",
        "|---|---|---|---|",
    ]
    for did, d in catalog.drugs().items():
        comps = ", ".join(f"{k} {v:g}" for k, v in d.components.items()) or "-"
        sets = ", ".join(f"{s}: `{v}`" for s, v in d.pk.items()) or "-"
        caps = (
            ", ".join(f"{s} {v['value']} {v['unit']} ({v['source']})" for s, v in d.max_studied_dose.items())
            or "-"
        )
        out.append(f"| {did} | {comps} | {sets} | {caps} |")
    out += ["", "### Regimens (`regimens.yaml`)", ""]
    reg = data.load("regimens.yaml")
    out += ["| item | value | unit | source | note |", "|---|---|---|---|---|"]
    tw = reg["twice_weekly_days"]
    out.append(
        f"| twice_weekly_days | {tw['value']} | {tw['unit']} | {tw['source']} | {_cell(tw.get('note', ''))} |"
    )
    for key, r in reg["spravato"].items():
        out.append(
            f"| spravato.{key} | {r['value']} | {r['unit']} | {r['source']} | {_cell(r.get('note', ''))} |"
        )
    out += ["", "### Species defaults (`species.yaml`)", ""]
    out += ["| species | item | value | unit | source |", "|---|---|---|---|---|"]
    for sp, recs in data.load("species.yaml").items():
        for key, r in recs.items():
            out.append(f"| {sp} | {key} | {r['value']} | {r['unit']} | {r['source']} |")
    out += ["", "### PK sets (`pk/*.yaml`)", ""]
    for name in data.listdir("pk"):
        out += _pkset_tables(name)
    return "\n".join(out).rstrip() + "\n"


# --- exposures --------------------------------------------------------------------------------------------

CONTRACT: list[tuple[str, dict[str, Any]]] = [
    ("esketamine 28 mg intranasal", {"drug": "esketamine", "route": "intranasal", "dose": "28 mg"}),
    ("esketamine 56 mg intranasal", {"drug": "esketamine", "route": "intranasal", "dose": "56 mg"}),
    (
        "esketamine 84 mg intranasal (contract)",
        {"drug": "esketamine", "route": "intranasal", "dose": "84 mg"},
    ),
    (
        "esketamine 28 mg IV over 40 min",
        {"drug": "esketamine", "route": "iv", "dose": "28 mg", "over": "40 min"},
    ),
    (
        "ketamine 0.5 mg/kg IV over 40 min, 70 kg (contract)",
        {"drug": "ketamine", "route": "iv", "dose": "0.5 mg/kg", "over": "40 min", "weight": 70},
    ),
]


def exposure_block() -> tuple[str, dict[str, Result]]:
    out = [
        "Computed as `ketasim simulate ... --json` reports them (human, 70 kg, 45 years, default 7-day run;",
        "AUC from the integrated AUC state, t1/2 from a log-linear fit over the second half of the run).",
        "",
        "| scenario | compound | Cmax ng/mL | Tmax h | AUC0-24 ng h/mL | AUC0-inf ng h/mL | t1/2 h |",
        "|---|---|---|---|---|---|---|",
    ]
    results = {}
    for label, scn in CONTRACT:
        res = simulate(scn, with_mechanism=False, options=OPTIONS)
        results[label] = res
        for cid in res.compounds:
            e = res.exposure(cid)
            out.append(
                f"| {label} | {cid} | {_fmt(e.cmax_ng_per_ml)} | {_fmt(e.tmax_h)} "
                f"| {_fmt(e.auc_0_24_ng_h_per_ml)} | {_fmt(e.auc_inf_ng_h_per_ml)} | {_fmt(e.half_life_h)} |"
            )
    return "\n".join(out) + "\n", results


def _long_run(scn: dict[str, Any], days: float = 28.0) -> tuple[Result, np.ndarray]:
    """A run long enough that the AUC state at its end is AUC0-inf (to well under 1e-6)."""
    prep = prepare(make_scenario({**scn, "duration": f"{days} d"}), with_mechanism=False)
    t = np.unique(np.concatenate([[0.0], np.geomspace(1e-4, days * 24.0, 6000)]))
    return run_prepared(prep, times=t, options=OPTIONS), t


def _auc_mrt(res: Result, t: np.ndarray, cid: str) -> tuple[float, float]:
    c = res.values[cid][:, 0]
    auc = float(res.values[f"auc_{cid}"][-1, 0])
    aumc = float(np.trapezoid(t * c, t))
    return auc, aumc / auc


def _terminal_half_life(scn: dict[str, Any], compound: str) -> float:
    """ln 2 / the slowest eigenvalue of the compound's own linear PK block (its disposition half-life)."""
    prep = prepare(make_scenario(scn), with_mechanism=False)
    comp = prep.compiled
    idx = [
        i
        for i, s in enumerate(comp.state_ids)
        if prep.system.states[s].kind == "amount" and prep.system.states[s].compound == compound
    ]
    n = len(comp.state_ids)
    jac = np.zeros((len(idx), len(idx)))
    for col, j in enumerate(idx):
        y = np.zeros((n, 1))
        y[j] = 1.0
        jac[:, col] = comp.rhs(0.0, y, prep.params)[idx, 0]
    rates = -np.linalg.eigvals(jac).real
    return float(np.log(2) / np.min(rates[rates > 1e-12]))


def derived_block(results: dict[str, Result]) -> str:
    w = 70.0
    iv_scn = {"drug": "esketamine", "route": "iv", "dose": "28 mg"}
    iv, t = _long_run(iv_scn)
    auc_iv, mrt_iv = _auc_mrt(iv, t, "esketamine")
    cl_esk = 28.0 / auc_iv * 1000.0  # mg / (ng h/mL) = 1000 L/h
    vss_esk = cl_esk * mrt_iv
    f_in = {}
    for dose in (28, 56, 84):
        res, _ = _long_run({"drug": "esketamine", "route": "intranasal", "dose": f"{dose} mg"})
        f_in[dose] = (float(res.values["auc_esketamine"][-1, 0]) / dose) / (auc_iv / 28.0)
    in84 = results["esketamine 84 mg intranasal (contract)"]
    tmax_last = in84.exposure("esketamine").tmax_h - 10 / 60  # third device at 10 min
    e84 = in84.exposure("esketamine")
    n84 = in84.exposure("noresketamine")
    auc_ratio_84_28 = (
        results["esketamine 84 mg intranasal (contract)"].exposure("esketamine").auc_inf_ng_h_per_ml
        / results["esketamine 28 mg intranasal"].exposure("esketamine").auc_inf_ng_h_per_ml
    )
    t_half_esk = _terminal_half_life(iv_scn, "esketamine")
    t_half_nesk = _terminal_half_life(iv_scn, "noresketamine")

    rac_scn = {"drug": "ketamine", "route": "iv", "dose": "0.5 mg/kg", "weight": w}
    rac, t2 = _long_run(rac_scn)
    dose_enant = 0.25 * w  # mg of each enantiomer
    auc_s, mrt_s = _auc_mrt(rac, t2, "esketamine")
    auc_r, mrt_r = _auc_mrt(rac, t2, "arketamine")
    cl_s, cl_r = dose_enant / auc_s * 1000, dose_enant / auc_r * 1000
    auc_tot, mrt_tot = _auc_mrt(rac, t2, "ketamine")
    cl_tot = 2 * dose_enant / auc_tot * 1000
    v_tot = cl_tot * mrt_tot
    t_half_s = _terminal_half_life(rac_scn, "esketamine")
    t_half_r = _terminal_half_life(rac_scn, "arketamine")
    ket = results["ketamine 0.5 mg/kg IV over 40 min, 70 kg (contract)"]
    cmax_tot, cmax_s = ket.exposure("ketamine").cmax_ng_per_ml, ket.exposure("esketamine").cmax_ng_per_ml

    rows = [
        (
            "Esketamine systemic CL (28 mg IV bolus: dose / AUC0-inf)",
            f"{cl_esk:.0f} L/h",
            "114 L/h (summary)",
            "perezruixo2021",
        ),
        ("Esketamine Vss (CL x MRT, IV)", f"{vss_esk:.0f} L", "752 L", "perezruixo2021"),
        ("Apparent F, 28 mg intranasal (AUC/dose vs IV)", f"{100 * f_in[28]:.0f}%", "-", "-"),
        ("Apparent F, 56 mg intranasal", f"{100 * f_in[56]:.0f}%", "54%", "perezruixo2021"),
        ("Apparent F, 84 mg intranasal", f"{100 * f_in[84]:.0f}%", "51%", "perezruixo2021"),
        (
            "Esketamine Tmax after the last spray, 84 mg",
            f"{60 * tmax_last:.0f} min",
            "20-40 min",
            "spravato_label",
        ),
        ("Esketamine terminal t1/2 (slowest eigenvalue)", f"{t_half_esk:.1f} h", "7-12 h", "spravato_label"),
        (
            "Esketamine t1/2, NCA fit of the 84 mg profile",
            f"{e84.half_life_h:.1f} h",
            "7-12 h",
            "spravato_label",
        ),
        (
            "Noresketamine own disposition t1/2 (slowest eigenvalue)",
            f"{t_half_nesk:.1f} h",
            "about 8 h",
            "spravato_label",
        ),
        (
            "Noresketamine apparent t1/2 after 84 mg (NCA)",
            f"{n84.half_life_h:.1f} h",
            "about 8 h",
            "spravato_label",
        ),
        (
            "Noresketamine / esketamine AUC0-inf, 84 mg",
            f"{n84.auc_inf_ng_h_per_ml / e84.auc_inf_ng_h_per_ml:.2f}",
            "literal coding over-predicts noresketamine AUC 1.4-1.6x",
            "nlmixr2lib",
        ),
        (
            "AUC0-inf 84 mg / 28 mg (dose ratio 3)",
            f"{auc_ratio_84_28:.2f}",
            "roughly dose-proportional 28-84 mg",
            "spravato_label",
        ),
        (
            "Esketamine Cmax, 84 mg intranasal",
            f"{e84.cmax_ng_per_ml:.0f} ng/mL",
            "dissociation 100-250; psychedelic effects 50-200 ng/mL",
            "zanos2018 (krystal1994, bowdle1998)",
        ),
        ("Racemic ketamine CL (total, 70 kg)", f"{cl_tot:.0f} L/h", "79 L/h (95% CI 69-90)", "kamp2020"),
        ("Racemic ketamine Vss (total, CL x MRT)", f"{v_tot:.0f} L", "Vd 252 L (200-304)", "kamp2020"),
        (
            "S-ketamine CL in the racemate",
            f"{cl_s:.0f} L/h ({cl_s / w * 1000 / 60:.1f} mL/min/kg)",
            "18.4 mL/min/kg",
            "wang2019",
        ),
        (
            "R-ketamine CL",
            f"{cl_r:.0f} L/h ({cl_r / w * 1000 / 60:.1f} mL/min/kg)",
            "15.8 mL/min/kg",
            "wang2019",
        ),
        ("S-ketamine Vss", f"{cl_s * mrt_s / w:.1f} L/kg", "6.6 L/kg", "anesthesiology2021"),
        ("R-ketamine Vss", f"{cl_r * mrt_r / w:.1f} L/kg", "5.6 L/kg", "anesthesiology2021"),
        ("S-ketamine terminal t1/2 (slowest eigenvalue)", f"{t_half_s:.1f} h", "5.2 h", "anesthesiology2021"),
        ("R-ketamine terminal t1/2 (slowest eigenvalue)", f"{t_half_r:.1f} h", "6.1 h", "anesthesiology2021"),
        (
            "Total ketamine Cmax, 0.5 mg/kg over 40 min",
            f"{cmax_tot:.0f} ng/mL",
            "dissociation 100-250 ng/mL",
            "zanos2018 (krystal1994)",
        ),
        (
            "S-ketamine Cmax, 0.5 mg/kg racemate over 40 min",
            f"{cmax_s:.0f} ng/mL",
            "sub-anesthetic S-ketamine 159 +/- 21 ng/mL",
            "zanos2018 (langsjo2005)",
        ),
    ]
    out = ["| quantity | ketasim | published | source |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(out) + "\n"


# --- writing ----------------------------------------------------------------------------------------------


def _replace(text: str, name: str, body: str) -> str:
    begin, end = f"<!-- BEGIN GENERATED: {name} -->", f"<!-- END GENERATED: {name} -->"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"docs/pk.md has no {begin} ... {end} block")
    return pattern.sub(lambda _: f"{begin}\n{body}{end}", text)


def render(text: str) -> str:
    exposure, results = exposure_block()
    text = _replace(text, "exposure", exposure)
    text = _replace(text, "derived", derived_block(results))
    return _replace(text, "params", params_block())


def main(argv: list[str]) -> int:
    current = DOC.read_text(encoding="utf-8")
    new = render(current)
    if "--check" in argv:
        if new != current:
            print("docs/pk.md is stale: run .venv/bin/python scripts/gen_pk_tables.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
