"""Provenance of an output: which ketasim, which data, which input file, seed, solver and tolerances made it.

Every writer (population Parquet metadata, trial summary.json, CSV side-cars, the HTML report, SBML notes)
calls `record` so that a file found later says how to make it again. The record is deterministic (no clock, no
host name): a resumed population run and a straight one must write the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from . import __version__

#: key of the record in Parquet key-value metadata and in JSON outputs
KEY = "ketasim_provenance"
#: suffix of the side-car written next to a CSV file (CSV has no place for metadata)
SIDECAR_SUFFIX = ".provenance.json"
#: libraries whose versions can change a number (solver, linear algebra, JIT)
LIBRARIES = ("numpy", "scipy", "numba")


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@cache
def data_sha256() -> str:
    """One hash of every packaged data file (ketasim/data/**/*.yaml): names and bytes, in sorted order."""
    root = resources.files("ketasim") / "data"
    h = hashlib.sha256()
    files: list[tuple[str, bytes]] = []

    def walk(node: Any, prefix: str) -> None:
        for child in node.iterdir():
            name = f"{prefix}{child.name}"
            if child.is_dir():
                if child.name != "__pycache__":
                    walk(child, name + "/")
            elif child.name.endswith((".yaml", ".yml")):
                files.append((name, child.read_bytes()))

    walk(root, "")
    for name, blob in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(blob).digest())
    return h.hexdigest()


@cache
def _libraries() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:
            out[lib] = "absent"
    return out


def content_sha256(obj: Any) -> str:
    """SHA-256 of an input's canonical JSON (key-sorted): the same scenario or trial always gives the same hash."""
    return hashlib.sha256(to_json(obj).encode()).hexdigest()


def solver_label(method: str) -> str:
    """'batched' -> the batched RODAS4 solver; any other SolverOptions method is scipy's (auto: LSODA for small
    systems, BDF above, batched for large batches: solver/piecewise.py)."""
    return "batched RODAS4 (numba)" if method == "batched" else f"scipy {method}"


def record(
    *,
    inputs: Any = None,
    source: str | Path | None = None,
    seed: int | None = None,
    solver: str | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance record of one output: `inputs` is the validated scenario or trial (hashed), `source` the file
    it came from, if any."""
    out: dict[str, Any] = {
        "ketasim_version": __version__,
        "data_sha256": data_sha256(),
        "inputs_sha256": None if inputs is None else content_sha256(inputs),
        "source_file": None,
        "source_sha256": None,
        "seed": seed,
        "solver": solver,
        "rtol": rtol,
        "atol": atol,
        "libraries": _libraries(),
    }
    add_source(out, source)
    out.update(extra or {})
    return out


def add_source(rec: dict[str, Any] | None, source: str | Path | None) -> None:
    """Record the file an output came from (its name and SHA-256) in an existing record."""
    if rec is not None and source is not None:
        rec["source_file"] = Path(source).name
        rec["source_sha256"] = file_sha256(source)


def to_json(rec: Mapping[str, Any]) -> str:
    """The record as one compact, key-sorted JSON line (the same record always gives the same bytes)."""
    return json.dumps(rec, sort_keys=True, separators=(",", ":"), default=str)


def lines(rec: Mapping[str, Any]) -> list[str]:
    """Human-readable lines ("key: value") for notes and footers."""
    return [f"{k}: {to_json(v) if isinstance(v, dict) else v}" for k, v in rec.items()]


def sidecar_path(path: str | Path) -> Path:
    """Where the provenance of a CSV file goes: FILE.csv.provenance.json."""
    p = Path(path)
    return p.with_name(p.name + SIDECAR_SUFFIX)
