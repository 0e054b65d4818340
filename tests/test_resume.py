"""A killed population run resumes from its finished chunks and ends with the same file as a straight run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from ketasim import population_run
from ketasim.population_run import CHUNK_NAME, MANIFEST, parts_dir, run_population

SCENARIO = {"drug": "esketamine", "route": "intranasal", "dose": "84 mg", "regimen": "spravato", "duration": "8d"}
N, CHUNK, SEED = 240, 6, 11
#: how long the killed run may take to write its first chunks (it starts Python and loads the compiled model)
START_TIMEOUT_S = 120.0
POLL_S = 0.02
CHUNKS_BEFORE_KILL = 3

SCRIPT = (
    "import sys\n"
    "from ketasim.population_run import run_population\n"
    f"run_population({SCENARIO!r}, {N}, seed={SEED}, chunk_size={CHUNK}, out=sys.argv[1])\n"
)


def _chunks(folder: Path) -> set[int]:
    return {int(p.stem.split("-")[1]) for p in folder.glob("chunk-*.parquet")}


def test_killed_run_resumes_and_matches_a_straight_run(tmp_path: Path) -> None:
    straight = tmp_path / "straight.parquet"
    run_population(SCENARIO, N, seed=SEED, chunk_size=CHUNK, out=straight)
    assert not parts_dir(straight).exists()  # removed once the file is written

    out = tmp_path / "resumed.parquet"
    folder = parts_dir(out)
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(out)], env={**os.environ},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            if folder.is_dir() and len(_chunks(folder)) >= CHUNKS_BEFORE_KILL:
                break
            time.sleep(POLL_S)
        if proc.poll() is not None:
            pytest.fail("the run finished (or died) before it could be interrupted; raise N")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists()
    before = _chunks(folder)
    assert CHUNKS_BEFORE_KILL <= len(before) < N // CHUNK
    assert (folder / MANIFEST).is_file()

    computed: list[int] = []
    run_population(SCENARIO, N, seed=SEED, chunk_size=CHUNK, out=out, on_chunk=computed.append)
    assert not set(computed) & before, "finished chunks were computed again"
    assert sorted(computed + sorted(before)) == list(range(N // CHUNK))
    assert out.read_bytes() == straight.read_bytes()
    assert not folder.exists()


def test_parts_of_another_run_are_not_reused(tmp_path: Path) -> None:
    out = tmp_path / "pop.parquet"
    folder = parts_dir(out)
    computed: list[int] = []

    def stop_after_first(k: int) -> None:
        computed.append(k)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_population(SCENARIO, 8, seed=1, chunk_size=4, out=out, on_chunk=stop_after_first)
    # chunks run two at a time and are stored as they finish, in either order
    assert computed and (folder / CHUNK_NAME.format(computed[0])).is_file()
    again: list[int] = []
    run_population(SCENARIO, 8, seed=2, chunk_size=4, out=out, on_chunk=again.append)  # another seed
    assert sorted(again) == [0, 1]


@pytest.mark.parametrize("chunk", [5, 7, 64])
def test_output_file_bytes_do_not_depend_on_the_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       chunk: int) -> None:
    """The output file is written in fixed row groups while the run goes: cut into other chunks, in any order of
    arrival, the same rows give the same bytes (and the same frame)."""
    monkeypatch.setattr(population_run, "ROW_GROUP_ROWS", 8)
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"subject": np.arange(45), "a": rng.standard_normal(45), "b": rng.random(45)})

    def write(chunk_rows: int, name: str, order: list[int] | None = None) -> tuple[bytes, pd.DataFrame]:
        folder = tmp_path / name
        folder.mkdir()
        starts = list(range(0, len(frame), chunk_rows))
        final = population_run._FinalFile(folder, tmp_path / f"{name}.parquet", len(starts))
        for k in order or range(len(starts)):
            part = frame.iloc[starts[k]:starts[k] + chunk_rows].reset_index(drop=True)
            part.to_parquet(folder / CHUNK_NAME.format(k), index=False)
            final.append_ready()
        got = final.close()
        return (tmp_path / f"{name}.parquet").read_bytes(), got

    reference, whole = write(len(frame), "whole")
    n_chunks = -(-len(frame) // chunk)
    data, got = write(chunk, f"by{chunk}", order=list(reversed(range(n_chunks))))
    assert data == reference
    pd.testing.assert_frame_equal(got, frame)
    pd.testing.assert_frame_equal(whole, frame)
    assert pq.ParquetFile(tmp_path / f"by{chunk}.parquet").metadata.num_row_groups == 6
