"""The HTML report and single figures: `ketasim report` and `ketasim plot`.

`build_report(out_dir)` runs the canonical scenarios (data/report.yaml), draws every figure (`figures`), and
writes a self-contained `index.html` (`html`). `scenarios` holds the batched simulations behind the figures.
"""

from .build import SECTION_IDS, ReportSummary, build_report, build_sections
from .config import Style, settings

__all__ = ["SECTION_IDS", "ReportSummary", "Style", "build_report", "build_sections", "settings"]
