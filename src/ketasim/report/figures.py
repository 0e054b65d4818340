"""One function per report figure: data in (from `scenarios`), a matplotlib Figure out.

Why plain `Figure` objects with the Agg canvas rather than pyplot: the report builds figures in a loop (and
tests in parallel), and pyplot's global state would leak memory and backends between them. Every colour comes
from one `Style`, so an arm or hypothesis looks the same in every figure. Axes carry units; time axes switch
from hours to days past `figure.days_after_h` of data/report.yaml.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any, cast

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

from .config import Band, Style, bands, figure_setting, settings
from .scenarios import (
    CascadeData,
    DiagramData,
    DoseResponseData,
    PKData,
    PretreatmentData,
    ScorecardData,
    TrialData,
    edges_on,
)

Array = np.ndarray

#: readable names for node ids on axes and legends
NODE_NAMES = {
    "nmda_occupancy_interneuron": "NMDA occupancy, interneurons",
    "nmda_occupancy_pyramidal": "NMDA occupancy, pyramidal",
    "interneuron_activity": "interneuron activity",
    "glutamate": "glutamate release",
    "ampa_activation": "AMPA activation",
    "bdnf": "BDNF",
    "vegf": "VEGF",
    "mtorc1": "mTORC1",
    "synaptic_proteins": "synaptic proteins",
    "spine_density": "spine density",
    "gbc": "prefrontal GBC",
    "madrs": "MADRS",
    "dissociation": "dissociation (CADSS)",
    "mu_opioid_occupancy": "mu-opioid occupancy",
    "blood_pressure": "blood pressure",
}


def node_name(node: str) -> str:
    """A node id as words."""
    return NODE_NAMES.get(node, node.replace("_", " "))


def unit_label(unit: str, node: str = "") -> str:
    """An axis unit: occupancies are fractions; other nodes in 1 are fold of the untreated baseline."""
    if unit == "1" and "occupancy" in node:
        return "fraction"
    return {"1": "fold of baseline", "points": "points", "mmHg": "mmHg change"}.get(unit, unit)


# ------------------------------------------------------------------------------------------ common
def new_figure(height_in: float, width_in: float | None = None) -> Figure:
    """A Figure with the Agg canvas attached and constrained layout."""
    fig = Figure(figsize=(width_in or float(figure_setting("width_in")), height_in), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _fonts() -> Any:
    size = float(figure_setting("font_size"))
    return mpl.rc_context({"font.size": size, "axes.titlesize": size + 1, "axes.labelsize": size,
                           "legend.fontsize": size - 1, "xtick.labelsize": size - 1, "ytick.labelsize": size - 1})


def time_scale(span_h: float) -> tuple[float, str]:
    """(hours per unit, unit name): days for spans over `days_after_h`, hours otherwise."""
    return (24.0, "days") if span_h > float(figure_setting("days_after_h")) else (1.0, "h")


def shade_bands(ax: Axes, band_list: Sequence[Band], horizontal: bool = True) -> None:
    """Shade the concentration bands on a concentration axis (y if horizontal, else x), with labels."""
    for b in band_list:
        if horizontal:
            ax.axhspan(b.low, b.high, color=b.color, alpha=0.55, lw=0, zorder=0)
            ax.text(0.995, (b.low * b.high) ** 0.5, b.label, transform=ax.get_yaxis_transform(), ha="right",
                    va="center", fontsize="x-small", color="#555555", zorder=1)
        else:
            ax.axvspan(b.low, b.high, color=b.color, alpha=0.55, lw=0, zorder=0)
            ax.text((b.low * b.high) ** 0.5, 0.99, b.label.split(" (")[0], transform=ax.get_xaxis_transform(),
                    ha="center", va="top", fontsize="x-small", color="#555555", rotation=90, zorder=1)


def to_bytes(fig: Figure, fmt: str = "png", dpi: float | None = None) -> bytes:
    """Render a figure as PNG or SVG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi or float(figure_setting("dpi")), metadata=_metadata(fmt))
    return buf.getvalue()


def _metadata(fmt: str) -> dict[str, Any]:
    # no timestamps or software versions in the files, so that a rebuilt report is byte-identical
    if fmt == "svg":
        return {"Date": None, "Creator": None}
    if fmt == "png":
        return {"Software": None}
    return {}


def unavailable_figure(title: str, message: str) -> Figure:
    """A panel saying why a figure could not be drawn (a section whose engine is missing)."""
    with _fonts():
        fig = new_figure(1.6)
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.62, title, ha="center", va="center", fontsize="large", weight="bold")
        ax.text(0.5, 0.32, message, ha="center", va="center", wrap=True, color="#8a3b12")
    return fig


# ------------------------------------------------------------------------------------------ PK
def pk_figure(data: PKData, style: Style | None = None) -> Figure:
    """Plasma concentration over the whole schedule (a, linear) and after one dose (b, log), bands shaded.

    Panel (a) is linear so that peaks of different doses stay distinguishable; bands above its range are named
    in a note. Panel (b) is logarithmic so that both the dissociative and the anesthetic band are in view.
    """
    style = style or Style()
    lo, hi = (float(v) for v in settings()["pk"]["y_range"])
    peak = max(float(np.nanmax(c.values)) for c in data.curves)
    top_log = max(hi, 1.5 * peak)
    band_list = bands()
    top_lin = max(1.25 * peak, *[1.15 * b.high for b in band_list if b.low < 1.25 * peak])
    with _fonts():
        fig = new_figure(4.2)
        ax_a, ax_b = fig.subplots(1, 2, width_ratios=[1.5, 1.0])
        span = max(float(c.times_h[-1] - c.times_h[0]) for c in data.curves)
        per, unit = time_scale(span)
        zoomed_later = False
        for c in data.curves:
            color = style.arm(c.id)
            ax_a.plot(c.times_h / per, c.values, color=color, lw=1.0, label=c.label)
            k = min(c.zoom_dose, len(c.dose_times) - 1) if c.dose_times else 0
            zoomed_later = zoomed_later or k > 0
            t0 = c.dose_times[k] if c.dose_times else 0.0
            m = (c.times_h >= t0) & (c.times_h <= t0 + data.zoom_h)
            y = np.where(c.values[m] > 0, c.values[m], np.nan)
            ax_b.plot(c.times_h[m] - t0, y, color=color, lw=1.6)
        ax_a.set_ylim(0, top_lin)
        shade_bands(ax_a, [b for b in band_list if b.low < top_lin])
        above = [b for b in band_list if b.low >= top_lin]
        if above:
            ax_a.text(0.99, 0.98, "off scale above: " + "; ".join(b.label for b in above), ha="right", va="top",
                      transform=ax_a.transAxes, fontsize="x-small", color="#555555")
        ax_b.set_yscale("log")
        ax_b.set_ylim(lo, top_log)
        shade_bands(ax_b, band_list)
        for ax in (ax_a, ax_b):
            ax.set_ylabel("plasma concentration (ng/mL)")
            ax.grid(True, which="major", alpha=0.3)
        ax_a.set_xlabel(f"time since first dose ({unit})")
        ax_a.set_title("(a) the whole course")
        which = " (esketamine: its 2nd dose)" if zoomed_later else ""
        ax_b.set_xlabel(f"time since the dose{which} (h)")
        ax_b.set_xlim(0, data.zoom_h)
        ax_b.set_title("(b) after one dose, log scale")
        handles, labels = ax_a.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(4 if data.title else 3, len(labels)),
                   frameon=False)
        if data.title:
            fig.suptitle(data.title)
    return fig


# ------------------------------------------------------------------------------------------ cascade
def _peak_text(node: str, y: Array, y0: float, t: Array, unit: str) -> str:
    d = y - y0
    i = int(np.argmax(np.abs(d)))
    when = t[i]
    when_txt = f"{when * 60:.0f} min" if when < 1 else (f"{when:.1f} h" if when < 48 else f"{when / 24:.1f} d")
    if unit == "1" and abs(y0) > 1e-9 and not node.startswith(("nmda_", "mu_")):
        return f"{'peak' if d[i] > 0 else 'trough'} x{y[i]:.2f} at {when_txt}"
    return f"{'peak' if d[i] > 0 else 'trough'} {y[i]:.3g} {'' if unit == '1' else unit} at {when_txt}".replace(
        "  ", " ")


def cascade_figure(data: CascadeData, style: Style | None = None) -> Figure:
    """Every node after one dose, in causal order, each scaled to its own largest change from baseline."""
    style = style or Style()
    cfg = settings()["cascade"]
    rise, fall = style.get("rise"), style.get("fall")
    t = data.times_h - data.dose_time
    keep = t >= float(cfg["t_min_h"])
    t = t[keep]
    n = len(data.nodes)
    with _fonts():
        fig = new_figure(0.42 * n + 1.3)
        ax = fig.add_subplot()
        for row, node in enumerate(data.nodes):
            y_all = data.values[node]
            y0 = float(np.interp(data.dose_time, data.times_h, y_all))
            y = y_all[keep]
            d = y - y0
            scale = float(np.max(np.abs(d))) or 1.0
            base = n - 1 - row
            z = base + 0.45 * d / scale
            ax.fill_between(t, base, z, where=d >= 0, color=rise, alpha=0.55, lw=0, interpolate=True)
            ax.fill_between(t, base, z, where=d < 0, color=fall, alpha=0.55, lw=0, interpolate=True)
            ax.plot(t, z, color="#333333", lw=0.7)
            ax.axhline(base, color="#999999", lw=0.4)
            ax.text(1.005, base, _peak_text(node, y, y0, t, data.units[node]), transform=ax.get_yaxis_transform(),
                    va="center", ha="left", fontsize="x-small")
        ax.set_yticks(range(n), [f"{node_name(nd)} ({unit_label(data.units[nd], nd)})"
                                 for nd in reversed(data.nodes)])
        ax.set_xscale("log")
        ax.set_xticks([float(v) for v in cfg["ticks_h"]], [str(v) for v in cfg["tick_labels"]])
        ax.set_xlim(float(cfg["t_min_h"]), float(t[-1]))
        ax.set_ylim(-0.7, n - 0.3)
        ax.set_xlabel("time since the start of the dose (log scale)")
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_title(f"Cascade after {data.label}: change from baseline, each row scaled to its largest change")
        fig.legend([Patch(color=rise, alpha=0.55), Patch(color=fall, alpha=0.55)],
                   ["above baseline", "below baseline"], loc="outside lower center", ncols=2, frameon=False)
    return fig


# ------------------------------------------------------------------------------------------ dose response
def dose_response_figure(data: DoseResponseData, style: Style | None = None) -> Figure:
    """NMDA occupancy on each cell type (a) and glutamate release (b) against peak plasma concentration."""
    style = style or Style()
    with _fonts():
        fig = new_figure(4.2)
        ax_a, ax_b = fig.subplots(1, 2, sharex=True)
        compounds = " / ".join(dict.fromkeys(s.compound for s in data.series))
        for s in data.series:
            for node in data.readouts:
                ax = ax_b if node == "glutamate" else ax_a
                ax.plot(s.cmax, s.readouts[node], marker=s.marker, ms=4.5, lw=1.4, color=style.node(node),
                        mfc="white" if s.marker != "o" else style.node(node))
            if s.observed:
                _observed_marks(ax_b, s.doses, s.cmax, s.readouts["glutamate"], s.observed)
        for ax in (ax_a, ax_b):
            ax.set_xscale("log")
            shade_bands(ax, bands(), horizontal=False)
            ax.grid(True, alpha=0.3)
            ax.set_xlabel(f"peak plasma {compounds} (ng/mL, log scale)")
        ax_a.set_ylim(0, 1)
        ax_a.set_ylabel("NMDA receptor occupancy (fraction)")
        ax_a.set_title("(a) NMDA block: interneurons first")
        ax_b.axhline(1.0, color="#555555", lw=0.8, ls=":")
        ax_b.set_ylabel(f"glutamate release (fold of baseline,\nmean of the first {data.window_h:g} h)")
        ax_b.set_title("(b) glutamate release: an inverted U")
        node_handles = [Line2D([], [], color=style.node(nd), lw=2) for nd in data.readouts]
        series_handles = [Line2D([], [], color="#444444", marker=s.marker, lw=0, mfc="white" if s.marker != "o"
                                 else "#444444") for s in data.series]
        fig.legend(node_handles + series_handles, [node_name(nd) for nd in data.readouts]
                   + [s.label for s in data.series], loc="outside lower center", ncols=3, frameon=False)
    return fig


def _observed_marks(ax: Axes, doses: list[str], cmax: Array, glu: Array, observed: dict[str, Any]) -> None:
    """Moghaddam-style observations at the doses they were made: up, unchanged or down arrows."""
    symbols = {"up": ("^", "#1a9850"), "none": ("o", "#555555"), "down": ("v", "#d73027")}
    for kind, (marker, color) in symbols.items():
        for d in observed.get(kind, []):
            if d in doses:
                i = doses.index(d)
                ax.plot([cmax[i]], [glu[i]], marker=marker, ms=9, mfc="none", mec=color, mew=1.5, lw=0)
    src = observed.get("source", "")
    ax.plot([], [], marker="^", mfc="none", mec=symbols["up"][1], lw=0, label=f"observed up ({src})")
    ax.plot([], [], marker="o", mfc="none", mec=symbols["none"][1], lw=0, label="observed unchanged")
    ax.plot([], [], marker="v", mfc="none", mec=symbols["down"][1], lw=0, label="observed down")
    ax.legend(loc="lower left", frameon=False, fontsize="x-small")


# ------------------------------------------------------------------------------------------ pretreatments
def pretreatment_figure(data: PretreatmentData, style: Style | None = None) -> Figure:
    """Each experiment (row) under each hypothesis (column): control dashed, pretreated solid."""
    style = style or Style()
    rows, cols = len(data.experiments), len(data.hypotheses)
    with _fonts():
        fig = new_figure(1.9 * rows + 0.6)
        subs = cast(Array, fig.subfigures(rows, 1, squeeze=False)).ravel()
        for sub, exp in zip(subs, data.experiments, strict=True):
            axes = np.atleast_1d(sub.subplots(1, cols, sharey=True, squeeze=False)).ravel()
            source = f"  [{exp.source}]" if exp.source else ""
            sub.suptitle(f"{exp.title}{source}", x=0.01, ha="left", fontsize="medium", weight="bold")
            for c, arm in enumerate(exp.arms):
                ax = axes[c]
                color = style.hypothesis(arm.hypothesis)
                per, unit = time_scale(float(arm.times_h[-1] - arm.times_h[0]))
                ax.plot(arm.times_h / per, arm.control, color=color, lw=1.2, ls="--", alpha=0.8)
                ax.plot(arm.times_h / per, arm.treated, color=color, lw=1.7)
                ax.axvline(exp.at_h / per, color="#777777", lw=0.7, ls=":")
                base = float(np.interp(0.0, arm.times_h, arm.control))
                dc = float(np.interp(exp.at_h, arm.times_h, arm.control)) - base
                dt = float(np.interp(exp.at_h, arm.times_h, arm.treated)) - base
                ax.set_title(f"{arm.hypothesis}: change at {_fmt_time(exp.at_h)} {dc:+.2f} -> {dt:+.2f}",
                             color=color, fontsize="small")
                ax.grid(True, alpha=0.3)
                ax.set_xlabel(f"time since ketamine dose ({unit})", fontsize="x-small")
                if c == 0:
                    ax.set_ylabel(f"{node_name(exp.readout)}\n({unit_label(exp.unit, exp.readout)})",
                                  fontsize="small")
        fig.legend([Line2D([], [], color="#444444", ls="--"), Line2D([], [], color="#444444")],
                   ["control: ketamine alone", "with the pretreatment (or the alternative drug instead)"],
                   loc="outside lower center", ncols=2, frameon=False)
    return fig


def _fmt_time(hours: float) -> str:
    return f"{hours / 24:g} d" if hours >= 48 else f"{hours:g} h"


# ------------------------------------------------------------------------------------------ trials
def trials_figure(trials: Sequence[TrialData], style: Style | None = None) -> Figure:
    """Mean observed MADRS per arm over the trial, with 95% confidence bands (one panel per trial)."""
    style = style or Style()
    n = max(1, len(trials))
    with _fonts():
        fig = new_figure(3.8 * ((n + 1) // 2), None)
        axes = np.atleast_1d(fig.subplots(1 if n == 1 else (n + 1) // 2, 1 if n == 1 else 2, squeeze=False)).ravel()
        for ax, tr in zip(axes, trials, strict=False):
            for arm in tr.arms:
                color = style.arm(arm.name)
                ax.fill_between(arm.days, arm.lo, arm.hi, color=color, alpha=0.22, lw=0)
                ax.plot(arm.days, arm.mean, color=color, marker="o", ms=3.5, lw=1.6,
                        label=f"{arm.name} (n = {arm.n})")
            ax.set_xlabel("day since first dose")
            ax.set_ylabel("MADRS (points), mean and 95% CI")
            ax.set_title(tr.name)
            ax.grid(True, alpha=0.3)
            ax.legend(frameon=False, loc="upper right")
        for ax in axes[len(trials):]:
            ax.axis("off")
    return fig


# ------------------------------------------------------------------------------------------ scorecard
def scorecard_figure(data: ScorecardData, style: Style | None = None) -> Figure:
    """The findings the hypotheses disagree on (rows) under each hypothesis (columns): pass or fail."""
    style = style or Style()
    colors: dict[str, str] = dict(settings()["scorecard"]["verdict_colors"])
    rows = data.discriminating()
    cols = data.hypotheses
    n = max(1, len(rows))
    with _fonts():
        fig = new_figure(0.24 * n + 1.5)
        ax = fig.add_subplot()
        for i, f in enumerate(rows):
            y = n - 1 - i
            for j, h in enumerate(cols):
                verdict = f.verdicts.get(h, "")
                ax.add_patch(FancyBboxPatch((j + 0.05, y + 0.1), 0.9, 0.8, boxstyle="round,pad=0,rounding_size=0.1",
                                            fc=colors.get(verdict, "#eeeeee"), ec="white", alpha=0.85))
                ax.text(j + 0.5, y + 0.5, verdict, ha="center", va="center", fontsize="x-small", color="white")
        ax.set_xlim(0, len(cols))
        ax.set_ylim(0, n)
        ax.set_xticks([j + 0.5 for j in range(len(cols))], cols)
        ax.xaxis.tick_top()
        for tick, h in zip(ax.xaxis.get_major_ticks(), cols, strict=True):
            tick.label2.set_color(style.hypothesis(h))
            tick.label2.set_fontweight("bold")
        ax.set_yticks([n - 1 - i + 0.5 for i in range(len(rows))],
                      [f"{f.id}  (weight {f.weight:.2f})" for f in rows], fontsize="x-small")
        ax.tick_params(length=0)
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        agree = len(data.findings) - len(rows)
        fig.suptitle(f"Findings the hypotheses disagree on: {len(rows)} of {len(data.findings)} "
                     f"(the other {agree} are passed, or failed, by all)")
    return fig


def hypothesis_comparison_figure(data: ScorecardData, style: Style | None = None) -> Figure:
    """Evidence-weighted score of each hypothesis (a) and the weight of findings only it explains (b)."""
    style = style or Style()
    hyps = data.hypotheses
    colors = [style.hypothesis(h) for h in hyps]
    x = np.arange(len(hyps))
    with _fonts():
        fig = new_figure(3.4)
        ax_a, ax_b = fig.subplots(1, 2)
        bars = ax_a.bar(x, [data.scores[h] for h in hyps], color=colors)
        for b, h in zip(bars, hyps, strict=True):
            ax_a.text(b.get_x() + b.get_width() / 2, b.get_height() + 0.01,
                      f"{data.scores[h]:.2f}\n{data.passed[h]}/{data.total[h]} passed", ha="center", va="bottom",
                      fontsize="x-small")
        ax_a.set_ylim(0, 1.15)
        ax_a.set_ylabel("evidence-weighted share reproduced (0-1)")
        ax_a.set_title("(a) score: weight of findings passed / all")
        ax_b.bar(x, [data.exclusive[h] for h in hyps], color=colors)
        ax_b.set_ylabel("summed weight of the findings")
        ax_b.set_title("(b) findings only this hypothesis reproduces")
        for ax in (ax_a, ax_b):
            ax.set_xticks(x, hyps)
            ax.grid(True, axis="y", alpha=0.3)
    return fig


# ------------------------------------------------------------------------------------------ diagram
def diagram_figure(data: DiagramData, style: Style | None = None) -> Figure:
    """The causal chain as boxes and arrows; arrow width and colour show the strength of each edge's claim."""
    style = style or Style()
    cfg = settings()["diagram"]
    cmap = mpl.colormaps[str(style.get("strength_cmap"))]
    norm = Normalize(0.0, 1.0)
    bw, bh = float(cfg["box"]["width"]), float(cfg["box"]["height"])
    curved: dict[str, float] = {k: float(v) for k, v in cfg.get("curved", {}).items()}
    on = edges_on(data.highlight) if data.highlight else None
    pos = data.positions
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    with _fonts():
        fig = new_figure(5.6)
        ax = fig.add_subplot()
        patches: dict[str, FancyBboxPatch] = {}
        for node, (x, y) in pos.items():
            box = FancyBboxPatch((x - bw / 2, y - bh / 2), bw, bh, boxstyle="round,pad=0.02,rounding_size=0.12",
                                 fc=style.get("box_face"), ec=style.get("box_edge"), lw=0.9, zorder=3)
            ax.add_patch(box)
            patches[node] = box
            ax.text(x, y, data.labels.get(node, node), ha="center", va="center", fontsize="x-small", zorder=4)
        for e in data.edges:
            if e.source not in pos or e.target not in pos:
                continue
            faded = on is not None and not e.id.startswith("input_") and e.id not in on
            color = cmap(norm(e.strength)) if e.strength is not None else style.get("no_claim")
            width = float(cfg["width_min"]) + float(cfg["width_per_strength"]) * (e.strength or 0.0)
            arrow = FancyArrowPatch(
                pos[e.source], pos[e.target], patchA=patches[e.source], patchB=patches[e.target],
                connectionstyle=f"arc3,rad={curved.get(e.id, 0.0)}", arrowstyle="-|>",
                mutation_scale=9 + 2 * width, lw=width, color=color, alpha=0.2 if faded else 0.95,
                linestyle="--" if e.strength is None else "-", zorder=2,
            )
            ax.add_patch(arrow)
            if e.hypotheses:
                # the midpoint of matplotlib's arc3 curve: chord midpoint + rad/2 * (dy, -dx)
                (x1, y1), (x2, y2) = pos[e.source], pos[e.target]
                rad = curved.get(e.id, 0.0)
                mx = (x1 + x2) / 2 + 0.5 * rad * (y2 - y1)
                my = (y1 + y2) / 2 - 0.5 * rad * (x2 - x1)
                for k, h in enumerate(e.hypotheses):
                    ax.plot([mx + 0.16 * (k - (len(e.hypotheses) - 1) / 2)], [my], "o", ms=5,
                            color=style.hypothesis(h), mec="white", mew=0.6, zorder=5,
                            alpha=0.25 if faded else 1.0)
        ax.set_xlim(min(xs) - bw, max(xs) + bw)
        ax.set_ylim(min(ys) - bh, max(ys) + bh)
        ax.set_aspect("equal")
        ax.axis("off")
        sm = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
        fig.colorbar(sm, ax=ax, orientation="horizontal", fraction=0.04, pad=0.02, shrink=0.45,
                     label="evidence strength of the edge's claim (0-1; width too)")
        handles = [Line2D([], [], marker="o", lw=0, color=style.hypothesis(h)) for h in data.hypotheses]
        handles.append(Line2D([], [], color=style.get("no_claim"), ls="--"))
        labels = [f"switched on only under {h}" for h in data.hypotheses] + ["no claim linked"]
        title = "Causal chain and the strength of the evidence for each step"
        if data.highlight:
            title += f" (edges off under {data.highlight} faded)"
        fig.suptitle(title)
        fig.legend(handles, labels, loc="outside lower center", frameon=False, fontsize="x-small",
                   ncols=len(labels))
    return fig
