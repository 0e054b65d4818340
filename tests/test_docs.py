"""Generated documentation must match the data it is generated from."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mechanism_doc_is_current():
    rc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_mechanism_doc.py"), "--check"], cwd=ROOT
    ).returncode
    assert rc == 0, "docs/mechanism.md is stale: run .venv/bin/python scripts/gen_mechanism_doc.py"


def test_readme_states_not_for_clinical_use_and_quick_start():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text
    assert "not for clinical use" in text.lower()


def test_pk_doc_is_current():
    rc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_pk_tables.py"), "--check"], cwd=ROOT).returncode
    assert rc == 0, "docs/pk.md is stale: run .venv/bin/python scripts/gen_pk_tables.py"
