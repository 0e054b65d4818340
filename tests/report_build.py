"""Build the HTML report once per test process, shared by test_report.py and test_report_browser.py.

Why a cached function rather than a fixture: the two test modules each import it, and a session fixture
defined in a plain module would be registered (and run) once per importing module. Few virtual patients per
trial arm keep the build short; what the tests check (sections, figures, files) does not depend on them.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from ketasim.report import ReportSummary, build_report

#: virtual patients per trial arm in the tests' build (the report's default is in data/report.yaml)
TEST_N_PER_ARM = 12

_BUILT: dict[str, ReportSummary] = {}


def built_report() -> ReportSummary:
    """The report, built into a temporary folder on first use."""
    if "report" not in _BUILT:
        root = Path(tempfile.mkdtemp(prefix="ketasim-report-test-"))
        atexit.register(shutil.rmtree, root, True)
        folder = root / "report"
        _BUILT["report"] = build_report(folder, trials_n=TEST_N_PER_ARM)
    return _BUILT["report"]
