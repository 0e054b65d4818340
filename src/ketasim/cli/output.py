"""Writing result files atomically: a failed run never leaves a half-written file behind."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .. import provenance as prov
from ..errors import ScenarioError


def write_text_atomic(text: str, path: Path) -> None:
    """Write a text file through a temporary file in the same folder."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table_atomic(frame: pd.DataFrame, path: Path, provenance: Mapping[str, Any] | None = None) -> None:
    """Write CSV or Parquet to a temporary file in the same folder, then rename it into place.

    `provenance` (provenance.record) goes into a Parquet file's key-value metadata, or next to a CSV file as
    FILE.csv.provenance.json.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ScenarioError(f"output {str(path)!r} must end in .csv or .parquet")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ScenarioError(f"folder {str(folder)!r} for the output file does not exist; create it first")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if provenance is not None:
                table = table.replace_schema_metadata(
                    {**(table.schema.metadata or {}), prov.KEY.encode(): prov.to_json(provenance).encode()}
                )
            pq.write_table(table, tmp)
        if suffix == ".csv" and provenance is not None:
            write_text_atomic(json.dumps(dict(provenance), indent=2, sort_keys=True) + "\n", prov.sidecar_path(path))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
