"""README truth (issue 15, item 8): every ```bash and ```python block of README.md and docs/*.md runs as written.

Conventions (also in docs/architecture.md):
- a block whose fence is preceded by the line `<!-- docs-test: skip (why) -->` is not run (`make bench`, a Dask
  cluster, commands with `...` placeholders);
- shell blocks run with `set -e` in one scratch folder per page (so a later block may read an earlier block's
  file), with `examples/` and `scripts/` linked in, `K` set to this environment's `ketasim`, `.venv/bin/` resolved
  to this environment and that folder first on PATH; Python blocks run with this interpreter, matplotlib on Agg;
- SUBSTITUTIONS, the only edits, shrink long runs (population and trial sizes); each must match its page.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
SKIP = re.compile(r"^<!--\s*docs-test:\s*skip\b.*-->\s*$")
FENCE = re.compile(r"^```(\w*)\s*$")
#: (page, text, replacement): sizes only, so that the whole page runs in a test's time
SUBSTITUTIONS = [
    ("README.md", "--n 10000 --out pop.parquet", "--n 50 --out pop.parquet"),
    ("README.md", "transform1.yaml --n-per-arm 200", "transform1.yaml --n-per-arm 10"),
    ("README.md", "$K report report/ ", "$K report report/ --n-per-arm 10 "),
    ("README.md", "n=200, seed=1)", "n=20, seed=1)"),
    ("README.md", "n_per_arm=50)", "n_per_arm=5)"),
    ("docs/trials.md", "transform1.yaml                      #", "transform1.yaml --n-per-arm 10         #"),
    ("docs/trials.md", "transform1.yaml --json --quiet", "transform1.yaml --json --quiet --n-per-arm 10"),
    ("docs/trials.md", "--n-per-arm 100 --seed 3", "--n-per-arm 10 --seed 3"),
    ("docs/trials.md", "daly2018.yaml --out runs/daly", "daly2018.yaml --n-per-arm 10 --out runs/daly"),
]


def blocks(page: str) -> list[tuple[str, str, int, bool]]:
    """(language, code, first line, skipped) of every fenced block of a page."""
    lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
    out: list[tuple[str, str, int, bool]] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        start, lang = i, m.group(1)
        skipped = start > 0 and SKIP.match(lines[start - 1].strip()) is not None
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        out.append((lang, "\n".join(lines[i + 1 : j]) + "\n", start + 1, skipped))
        i = j + 1
    return out


def runnable(page: str) -> list[tuple[str, str, int]]:
    text = [(lang, code, line) for lang, code, line, skipped in blocks(page) if lang in ("bash", "python")
            and not skipped]
    for p, old, new in SUBSTITUTIONS:
        if p == page:
            hits = [k for k, (_, code, _) in enumerate(text) if old in code]
            assert hits, f"substitution {old!r} no longer matches {page}: update SUBSTITUTIONS"
            for k in hits:
                lang, code, line = text[k]
                text[k] = (lang, code.replace(old, new), line)
    return text


@pytest.mark.parametrize("page", [p for p in PAGES if runnable(p)])
def test_code_blocks_run(page: str, tmp_path: Path):
    for name in ("examples", "scripts"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "MPLBACKEND": "Agg",
           "K": str(BIN / "ketasim")}
    for lang, code, line in runnable(page):
        if lang == "bash":
            script = "set -e\n" + code.replace(".venv/bin/", f"{BIN}/")
            cmd = ["bash", "-c", script]
        else:
            cmd = [sys.executable, "-c", code]
        res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert res.returncode == 0, f"{page}:{line} failed ({res.returncode}):\n{res.stderr[-3000:]}"


def test_skip_marker_is_recognised():
    found = [(page, line) for page in PAGES for _, _, line, skipped in blocks(page) if skipped]
    assert ("README.md", next(line for lang, code, line, _ in blocks("README.md") if "make bench" in code)) in found
