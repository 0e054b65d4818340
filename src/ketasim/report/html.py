"""Render the report as one self-contained HTML file: figures inline (base64 PNG), CSS inline, no scripts.

Why no JavaScript and no external resources: the report must open from a file on a machine without network
(a lecture hall, a clean clone) and pass a browser test with no console errors; static HTML and CSS make both
certain. Every text is escaped here, so labels from data files cannot break the page.
"""

from __future__ import annotations

import base64
import html
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

#: the page's style sheet; plain CSS, inline, readable when printed
CSS = """
:root { --ink: #1f2328; --muted: #59636e; --rule: #d1d9e0; --accent: #0072B2; --warn: #8a3b12; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
       color: var(--ink); background: #fff; }
header { padding: 1.4rem 2rem 0.8rem; border-bottom: 1px solid var(--rule); background: #f6f8fa; }
header h1 { margin: 0 0 0.2rem; font-size: 1.6rem; }
header p { margin: 0.2rem 0; color: var(--muted); }
nav { margin-top: 0.6rem; display: flex; flex-wrap: wrap; gap: 0.4rem 1rem; }
nav a { color: var(--accent); text-decoration: none; font-size: 0.95rem; }
nav a:hover { text-decoration: underline; }
main { max-width: 1120px; margin: 0 auto; padding: 0 2rem 3rem; }
section { padding-top: 1.2rem; border-bottom: 1px solid var(--rule); padding-bottom: 1.2rem; }
section h2 { font-size: 1.25rem; margin: 0.4rem 0 0.4rem; }
section p.intro { margin: 0.2rem 0 0.8rem; max-width: 80ch; }
figure { margin: 0.6rem 0 1rem; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--rule); }
figcaption { color: var(--muted); font-size: 0.9rem; margin-top: 0.35rem; max-width: 90ch; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.88rem; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
th, td { border: 1px solid var(--rule); padding: 0.25rem 0.55rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.unavailable { border: 1px dashed var(--warn); color: var(--warn); padding: 0.8rem 1rem; background: #fff8f1; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 2px; margin-right: 0.35em;
          vertical-align: -0.05em; }
footer { max-width: 1120px; margin: 0 auto; padding: 1rem 2rem 2rem; color: var(--muted); font-size: 0.85rem; }
"""


@dataclass
class FigureBlock:
    """One figure: an id (for the file name), PNG bytes, a caption and a short alt text."""

    id: str
    png: bytes
    caption: str
    alt: str


@dataclass
class Table:
    """A plain table: caption, header cells and rows (already formatted strings); `numeric` columns align right."""

    caption: str
    header: list[str]
    rows: list[list[str]]
    numeric: set[int] = field(default_factory=set)


@dataclass
class Section:
    """A report section: id (HTML anchor), title, intro text, figures and tables, or why it is unavailable."""

    id: str
    title: str
    intro: str
    figures: list[FigureBlock] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    unavailable: str | None = None
    headline: str = ""


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels from a PNG header (so the page reserves the space before decoding)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or len(png) < 24:
        return (0, 0)
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)


def render_table(t: Table) -> str:
    """A Table as HTML."""
    head = "".join(f"<th scope=\"col\">{_e(h)}</th>" for h in t.header)
    body = []
    for row in t.rows:
        cells = "".join(
            f"<td class=\"num\">{_e(c)}</td>" if i in t.numeric else f"<td>{_e(c)}</td>" for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return (f"<table><caption>{_e(t.caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def render_figure(f: FigureBlock) -> str:
    """A FigureBlock as an inline base64 PNG with its caption."""
    w, h = png_size(f.png)
    data = base64.b64encode(f.png).decode("ascii")
    return (f"<figure id=\"fig-{_e(f.id)}\"><img src=\"data:image/png;base64,{data}\" width=\"{w}\" height=\"{h}\" "
            f"alt=\"{_e(f.alt)}\"><figcaption>{_e(f.caption)}</figcaption></figure>")


def render_section(s: Section) -> str:
    """One section as HTML."""
    parts = [f"<section id=\"{_e(s.id)}\"><h2>{_e(s.title)}</h2>"]
    if s.intro:
        parts.append(f"<p class=\"intro\">{_e(s.intro)}</p>")
    if s.unavailable is not None:
        parts.append(f"<div class=\"unavailable\" role=\"note\"><strong>Not available in this build.</strong> "
                     f"{_e(s.unavailable)}</div>")
    parts.extend(render_figure(f) for f in s.figures)
    parts.extend(render_table(t) for t in s.tables)
    parts.append("</section>")
    return "".join(parts)


def render(title: str, subtitle: Sequence[str], sections: Sequence[Section], footer: Sequence[str]) -> str:
    """The whole page."""
    nav = "".join(f"<a href=\"#{_e(s.id)}\">{_e(s.title)}</a>" for s in sections)
    sub = "".join(f"<p>{_e(line)}</p>" for line in subtitle)
    foot = "".join(f"<p>{_e(line)}</p>" for line in footer)
    body = "\n".join(render_section(s) for s in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<link rel=\"icon\" href=\"data:,\">"
        f"<title>{_e(title)}</title><style>{CSS}</style></head>\n<body>"
        f"<header><h1>{_e(title)}</h1>{sub}<nav aria-label=\"sections\">{nav}</nav></header>\n"
        f"<main>\n{body}\n</main><footer>{foot}</footer></body></html>\n"
    )
