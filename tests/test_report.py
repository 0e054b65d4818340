"""`ketasim report` and `ketasim plot`: every section and figure present, atomic writes, one-line errors.

The full report is built once (tests/report_build.py) and inspected from its HTML; command-line cases each
run in their own process, started together and waited for once, to keep the suite fast.
"""

from __future__ import annotations

import base64
import re
import struct
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ketasim.cli.app import app
from ketasim.errors import ScenarioError
from ketasim.report import SECTION_IDS, build
from ketasim.report.config import Style, settings
from ketasim.report.html import Section
from ketasim.report.scenarios import simulate_many
from ketasim.simulate import simulate
from report_build import built_report

KETASIM = str(Path(sys.executable).with_name("ketasim"))
#: sections built by this package; trials and scorecard may be marked unavailable when their engines fail
OWN_SECTIONS = {"pk", "cascade", "dose-response", "pretreatments", "diagram"}


class _Page(HTMLParser):
    """Collects section ids, images (per section) and anything that would load from the network."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: dict[str, list[str]] = {}
        self.external: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and a.get("id"):
            self.sections.append(str(a["id"]))
        if tag == "img":
            self.images.setdefault(self.sections[-1] if self.sections else "", []).append(str(a.get("src")))
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            v = a.get(key)
            if v and re.match(r"(https?:)?//", v):
                self.external.append(v)


def png_dims(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    w, h = struct.unpack(">II", png[16:24])
    return int(w), int(h)


@pytest.fixture(scope="module")
def page() -> tuple[_Page, str]:
    summary = built_report()
    text = summary.index.read_text(encoding="utf-8")
    parser = _Page()
    parser.feed(text)
    return parser, text


def test_every_section_is_present_in_order(page):
    parser, _ = page
    assert parser.sections == SECTION_IDS


def test_every_section_has_a_non_empty_figure(page):
    parser, _ = page
    for sid in SECTION_IDS:
        images = parser.images.get(sid, [])
        assert images, f"section {sid} has no figure"
        for src in images:
            assert src.startswith("data:image/png;base64,"), f"{sid}: figure not embedded"
            png = base64.b64decode(src.split(",", 1)[1])
            w, h = png_dims(png)
            assert w > 200 and h > 100, f"{sid}: figure {w}x{h} px"
            assert len(png) > 5000, f"{sid}: figure suspiciously small ({len(png)} bytes)"


def test_page_is_self_contained(page):
    parser, text = page
    assert parser.external == []
    assert parser.scripts == 0
    assert "<style>" in text and "not clinical advice" in text


def test_own_sections_are_built_and_summarised():
    summary = built_report()
    status = {sid: (st, head) for sid, st, head in summary.sections}
    assert [sid for sid, _, _ in summary.sections] == SECTION_IDS
    for sid in OWN_SECTIONS:
        assert status[sid][0] == "ok", sid
        assert status[sid][1], f"{sid}: no headline"


def test_figure_files_and_marker_are_written():
    summary = built_report()
    folder = summary.path
    assert (folder / build.MARKER).is_file()
    for sid in OWN_SECTIONS:
        f = folder / "figures" / f"{sid}.png"
        assert f.is_file() and f.stat().st_size > 5000, f
    leftovers = [p.name for p in folder.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == [], f"temporary folders left behind: {leftovers}"


def test_bands_and_hypothesis_colours_come_from_the_data_file():
    cfg = settings()
    assert {b["id"] for b in cfg["bands"]} >= {"dissociation", "anesthesia"}
    for b in cfg["bands"]:
        assert b["source"] and b["low"] < b["high"]
    style = Style()
    assert style.hypothesis("opioid") == cfg["colors"]["hypotheses"]["opioid"]
    first, second = style.arm("some_new_arm"), style.arm("another_arm")
    assert first != second and style.arm("some_new_arm") == first
    assert first not in cfg["colors"]["arms"].values()


# ------------------------------------------------------------------------------------------ batching
def test_batched_scenarios_match_single_simulations():
    """simulate_many stacks scenarios of equal structure into one batch; it must change no number."""
    fields = [
        {"drug": "ketamine", "route": "iv", "dose": "0.5 mg/kg", "over": "40 min", "duration": "2 d",
         "hypothesis": "glutamate_mtor"},
        {"drug": "ketamine", "route": "iv", "dose": "1 mg/kg", "over": "20 min", "duration": "2 d",
         "hypothesis": "opioid"},
    ]
    batched = simulate_many(fields)
    assert batched[0].times is batched[1].times or np.array_equal(batched[0].times, batched[1].times)
    for f, r in zip(fields, batched, strict=True):
        single = simulate(f, times=r.times)
        for var in ("ketamine", "nmda_occupancy_interneuron", "glutamate", "madrs"):
            np.testing.assert_allclose(r.series(var), single.series(var), rtol=2e-4, atol=1e-6, err_msg=var)


def test_batches_split_by_structure_and_keep_order():
    fields = [
        {"drug": "ketamine", "route": "iv", "dose": "0.5 mg/kg", "over": "40 min", "duration": "1 d"},
        {"drug": "lanicemine", "route": "iv", "dose": "150 mg", "over": "60 min", "duration": "1 d"},
        {"drug": "ketamine", "route": "iv", "dose": "0.25 mg/kg", "over": "40 min", "duration": "1 d"},
    ]
    r = simulate_many(fields)
    assert "ketamine" in r[0].compounds and "lanicemine" in r[1].compounds and "ketamine" in r[2].compounds
    assert r[0].series("ketamine").max() == pytest.approx(2 * r[2].series("ketamine").max(), rel=1e-3)


# ------------------------------------------------------------------------------------------ atomic writes
def _tiny_sections(progress=None, *, trials_n=None):
    return [Section(sid, sid, "") for sid in SECTION_IDS]


def test_rebuild_replaces_an_old_report_and_a_failure_keeps_it(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "build_sections", _tiny_sections)
    out = tmp_path / "rep"
    build.build_report(out)
    (out / "stale.txt").write_text("old")
    build.build_report(out)
    assert not (out / "stale.txt").exists() and (out / "index.html").is_file()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    (out / "keep.txt").write_text("previous report")
    monkeypatch.setattr(build, "write_report", broken)
    with pytest.raises(RuntimeError):
        build.build_report(out)
    assert (out / "keep.txt").read_text() == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_refuses_to_replace_a_folder_that_is_not_a_report(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "build_sections", _tiny_sections)
    (tmp_path / "precious.txt").write_text("data")
    with pytest.raises(ScenarioError, match="not empty"):
        build.build_report(tmp_path)
    assert (tmp_path / "precious.txt").is_file()
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ScenarioError, match="not a folder"):
        build.build_report(afile)


def test_report_command_prints_path_and_summary(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "build_sections", _tiny_sections)
    out = tmp_path / "r"
    result = CliRunner().invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert "index.html" in result.output and "pk" in result.output
    quiet = CliRunner().invoke(app, ["report", str(out), "--quiet"])
    assert quiet.exit_code == 0 and quiet.output.strip().endswith("index.html")


# ------------------------------------------------------------------------------------------ ketasim plot
KET = ["--drug", "ketamine", "--route", "iv", "--dose", "0.5 mg/kg", "--over", "40 min"]
GOOD = {
    "diagram.png": ["diagram", "--hypothesis", "opioid"],
    "cascade.svg": ["cascade", *KET, "--duration", "3 d"],
    "pk.png": ["pk", *KET],
    "pre.png": ["pretreatments", *KET, "--duration", "2 d", "--pretreat", "naltrexone:50 mg:oral:45 min",
                "--hypothesis", "opioid"],
}
#: name -> (arguments after `plot`, words the one-line message must contain)
BAD = {
    "unknown figure": (["heatmap", "-o", "{d}/x.png"], ["figure", "diagram"]),
    "bad extension": (["pk", "-o", "{d}/x.pdf"], [".png", ".svg"]),
    "missing folder": (["pk", "-o", "{d}/nowhere/x.png"], ["does not exist"]),
    "options for a fixed figure": (["trials", "--drug", "ketamine", "-o", "{d}/x.png"], ["no scenario options"]),
    "options without drug": (["pk", "--dose", "5 mg", "-o", "{d}/x.png"], ["--drug"]),
    "unknown hypothesis": (["diagram", "--hypothesis", "serotonin", "-o", "{d}/x.png"], ["hypothesis"]),
    "bad dose": (["pk", "--drug", "ketamine", "--dose", "lots", "-o", "{d}/x.png"], ["dose"]),
    "pretreatments without --pretreat": (["pretreatments", *KET, "-o", "{d}/x.png"], ["--pretreat"]),
}


@pytest.fixture(scope="module")
def plot_runs(tmp_path_factory) -> tuple[Path, dict[str, subprocess.CompletedProcess[str]]]:
    d = tmp_path_factory.mktemp("plots")
    procs = {}
    for name, args in GOOD.items():
        procs[name] = subprocess.Popen([KETASIM, "plot", *args, "-o", str(d / name)], text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for name, (args, _) in BAD.items():
        procs[name] = subprocess.Popen([KETASIM, "plot", *[a.format(d=d) for a in args]], text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done = {}
    for name, p in procs.items():
        out, err = p.communicate(timeout=300)
        done[name] = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    return d, done


@pytest.mark.parametrize("name", sorted(GOOD))
def test_plot_writes_png_or_svg(plot_runs, name):
    d, runs = plot_runs
    r = runs[name]
    assert r.returncode == 0, r.stderr
    data = (d / name).read_bytes()
    if name.endswith(".png"):
        w, h = png_dims(data)
        assert w > 200 and h > 100
    else:
        assert b"<svg" in data[:2000] and len(data) > 10000
    assert [p.name for p in d.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("name", sorted(BAD))
def test_plot_bad_input_is_one_line_and_exit_2(plot_runs, name):
    d, runs = plot_runs
    r = runs[name]
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ketasim: error:"), r.stderr
    for word in BAD[name][1]:
        assert word.lower() in lines[0].lower(), (word, lines[0])
    assert not (d / "x.png").exists() and not (d / "x.pdf").exists()


def test_report_command_rejects_bad_options(tmp_path):
    (tmp_path / "mine.txt").write_text("x")
    runs = [
        subprocess.run([KETASIM, "report", str(tmp_path), "--quiet"], capture_output=True, text=True, timeout=120),
        subprocess.run([KETASIM, "report", str(tmp_path / "new"), "--n-per-arm", "1"], capture_output=True,
                       text=True, timeout=120),
    ]
    for r in runs:
        assert r.returncode == 2, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "new").exists()
