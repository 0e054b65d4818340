"""Population runs: N virtual subjects of one scenario, simulated in chunks, summarized per subject.

`run_population(scenario, n=100_000, seed=1, out="pop.parquet")` draws each subject from the population
module (covariates and log-normal variability, one random stream per (seed, subject index)), integrates chunks
of subjects with the batched solver, and reduces every subject to one row of summaries on the fly:

- per compound: Cmax, Tmax (h after the first dose) and AUC0-24, as `nca.summarize` defines them;
- per mechanism node: baseline, peak and trough with their times, as `Result.node_summary` defines them;
- MADRS at standard days (1, 7, 14, 21, 28, 42, 56, 84 after the first dose, within the duration).

Why chunks: memory stays bounded (a chunk's events and summaries, never a time course of 10^5 subjects), chunks
can run on Dask workers (`parallel.py`), and a large run written to a file is resumable: each finished chunk is
written atomically to FILE.parts/ next to a manifest that hashes the run's inputs; running the same command again
skips the chunks already there. A subject's row depends only on (seed, its index, the scenario): never on chunk
size, worker count or which chunks were resumed, so every way of running gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__, provenance
from .errors import ScenarioError
from .model.build import Prepared, prepare
from .model.reporting import summary_compounds, summary_nodes, summary_variables
from .parallel import available_cores, solver_pool
from .population import PopulationSettings, individual_parameters, sample_subjects
from .scenario import Scenario, make_scenario
from .solver.batched import POPULATION_ATOL, POPULATION_RTOL, model_for, run_batch

Array = np.ndarray

#: subjects per chunk: large enough to amortize preparing the model (~0.1 s), small enough to bound memory
#: (~2 kB per subject) and to give a progress bar and resumable output a useful granularity
DEFAULT_CHUNK_SIZE = 5_000
#: days after the first dose at which MADRS is reported (those within the simulated duration)
STANDARD_DAYS = (1, 7, 14, 21, 28, 42, 56, 84)
#: population group key of `streams.subject_rng` for runs of one scenario (trials use one per arm)
POPULATION_GROUP = 0
#: output grid of the summaries: after each dose, `step` hours until `until` hours after it, then a background
#: grid. Coarser than the single-subject grid (timegrid.yaml) because every point costs every subject an
#: observation; still every 2 minutes for 2 h after a dose, where Tmax (0.3-1.5 h) and the dissociation peak lie
GRID_AFTER_DOSE: tuple[tuple[float, float], ...] = ((2.0, 2.0 / 60.0), (6.0, 10.0 / 60.0), (24.0, 0.5), (48.0, 2.0))
GRID_BACKGROUND_H = 6.0
HOURS_PER_DAY = 24.0
AUC_WINDOW_H = 24.0
#: identity and covariate columns, in order
ID_COLUMNS = ("subject", "weight", "age", "female", "asian", "japanese", "baseline_madrs")
#: parquet writer options of the part files and the output file: no dictionary encoding, which pyarrow tries
#: first for every column and gives up on for float summaries (almost all distinct); the writes take half the
#: time (~0.4 s of CPU per 100,000 subjects) and the files are ~5% smaller
PARQUET_OPTIONS: dict[str, Any] = {"use_dictionary": False}
#: run files
PARTS_SUFFIX = ".parts"
MANIFEST = "manifest.json"
#: tolerances a population run accepts: tighter than 1e-12 is below double-precision round-off over weeks of
#: dosing, looser than 1e-2 no longer resolves the cascade's transients
RTOL_RANGE = (1e-12, 1e-2)
ATOL_RANGE = (1e-15, 1e-2)
CHUNK_NAME = "chunk-{:06d}.parquet"
#: rows per row group of the output file (a fixed count, so that the file does not depend on the chunk size)
ROW_GROUP_ROWS = 16_384
#: chunks a single-process run works on at once: two, so that one chunk's serial Python overlaps the other's
#: integration (measured: docs/performance.md); more would only hold more memory
CHUNKS_IN_FLIGHT = 2


@dataclass(frozen=True)
class PopulationSpec:
    """Everything that determines a population run's output (hashed into the resume manifest)."""

    scenario: dict[str, Any]
    n: int
    seed: int = 0
    chunk_size: int = DEFAULT_CHUNK_SIZE
    settings: dict[str, Any] = field(default_factory=dict)  # PopulationSettings fields
    rtol: float = POPULATION_RTOL
    atol: float = POPULATION_ATOL

    def digest(self) -> str:
        payload = {
            "scenario": self.scenario, "n": self.n, "seed": self.seed, "chunk_size": self.chunk_size,
            "settings": self.settings, "rtol": self.rtol, "atol": self.atol, "ketasim": __version__,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    def chunks(self) -> list[tuple[int, int]]:
        return [(a, min(a + self.chunk_size, self.n)) for a in range(0, self.n, self.chunk_size)]

    def make_scenario(self) -> Scenario:
        return make_scenario(dict(self.scenario), source="population run")

    def population_settings(self) -> PopulationSettings:
        return PopulationSettings(**self.settings)


def summary_grid(prep: Prepared, extra: Sequence[float] = ()) -> Array:
    """Output times of the summaries: dense after each dose, GRID_BACKGROUND_H elsewhere, plus `extra`."""
    pieces = [np.arange(prep.t_start, prep.t_end, GRID_BACKGROUND_H)]
    for td in prep.dose_times:
        lo = td
        for until, step in GRID_AFTER_DOSE:
            hi = min(td + until, prep.t_end)
            pieces.append(np.arange(lo, hi, step))
            lo = td + until
    pieces.append(np.array([prep.t_start, prep.t_end, *extra]))
    grid = np.unique(np.round(np.concatenate(pieces), 9)) + 0.0  # + 0.0: no -0.0 in reported times
    return grid[(grid >= prep.t_start - 1e-12) & (grid <= prep.t_end + 1e-12)]


def _prepare_chunk(spec: PopulationSpec, start: int, stop: int) -> tuple[Prepared, Any]:
    """The chunk's subjects (population module) and the model prepared with their individual parameters."""
    scenario = spec.make_scenario()
    subjects = sample_subjects(spec.population_settings(), spec.seed, POPULATION_GROUP, range(start, stop))

    def individual(ids: list[str], typical: Array) -> dict[str, Array]:
        overrides = individual_parameters(ids, typical, subjects.etas)
        if "madrs_baseline" in ids:
            overrides["madrs_baseline"] = subjects.baseline
        return overrides

    prep = prepare(scenario, n=subjects.n, covariates=subjects.covariates, individualize=individual)
    return prep, subjects


def simulate_chunk(spec: PopulationSpec, start: int, stop: int, threads: int | None = None,
                   pool: Executor | None = None) -> pd.DataFrame:
    """Summaries of subjects [start, stop): one row each. Pure function of its arguments (Dask task); `threads`
    and `pool` say where the subjects integrate (batched.run_batch), never what they give."""
    prep, subjects = _prepare_chunk(spec, start, stop)
    t0 = float(min(prep.dose_times)) + 0.0 if prep.dose_times else 0.0
    days = [d for d in STANDARD_DAYS if t0 + d * HOURS_PER_DAY <= prep.t_end + 1e-9]
    sample_times = {"auc0": t0, "auc24": t0 + AUC_WINDOW_H, **{f"day{d}": t0 + d * HOURS_PER_DAY for d in days}}
    grid = summary_grid(prep, [t for t in sample_times.values() if prep.t_start <= t <= prep.t_end])
    index = {round(float(t), 9): k for k, t in enumerate(grid)}

    def at(t: float) -> int | None:
        return index.get(round(t, 9))

    system = prep.compiled.system
    compounds = summary_compounds(system)
    nodes = summary_nodes(system)
    variables = summary_variables(system)
    samples: list[tuple[str, int]] = []
    keys: list[str] = []
    for c in compounds:
        for label in ("auc0", "auc24"):
            k = at(sample_times[label])
            if k is not None:
                samples.append((f"auc_{c}", k))
                keys.append(f"{c}:{label}")
    has_madrs = "madrs" in prep.compiled.system.assignments or "madrs" in prep.compiled.system.states
    if has_madrs:
        for d in days:
            k = at(sample_times[f"day{d}"])
            if k is not None:
                samples.append(("madrs", k))
                keys.append(f"madrs:day{d}")
    model = model_for(prep.compiled)
    res = run_batch(
        model, prep.params, prep.events, grid, prep.t_start, variables=variables, store=False, t_ref=t0,
        samples=samples, rtol=spec.rtol, atol=spec.atol, threads=threads, peak_relative=True, pool=pool,
    )
    assert res.peak is not None and res.t_peak is not None and res.trough is not None
    assert res.t_trough is not None and res.baseline is not None
    pos = {v: i for i, v in enumerate(res.variables)}
    sampled = {key: res.samples[m] for m, key in enumerate(keys)} if res.samples is not None else {}
    cols: dict[str, Array] = {"subject": subjects.index.astype(np.int64)}
    for name in ID_COLUMNS[1:-1]:
        cols[name] = np.asarray(subjects.covariates[name], dtype=float)
    cols["baseline_madrs"] = np.asarray(subjects.baseline, dtype=float)
    for c in compounds:
        i = pos[c]
        peak = res.peak[i]
        positive = peak > 0
        cols[f"{c}_cmax_ng_per_ml"] = np.where(positive, peak, 0.0)
        cols[f"{c}_tmax_h"] = np.where(positive, res.t_peak[i], np.nan)
        if f"{c}:auc24" in sampled and f"{c}:auc0" in sampled:
            cols[f"{c}_auc_0_24_ng_h_per_ml"] = sampled[f"{c}:auc24"] - sampled[f"{c}:auc0"]
        else:
            cols[f"{c}_auc_0_24_ng_h_per_ml"] = np.full(prep.n, np.nan)
    for node in nodes:
        i = pos[node]
        cols[f"{node}_baseline"] = res.baseline[i]
        cols[f"{node}_peak"] = res.peak[i]
        cols[f"{node}_t_peak_h"] = res.t_peak[i]
        cols[f"{node}_min"] = res.trough[i]
        cols[f"{node}_t_min_h"] = res.t_trough[i]
    for d in days:
        if f"madrs:day{d}" in sampled:
            cols[f"madrs_day{d}"] = sampled[f"madrs:day{d}"]
    cols["solver_steps"] = res.steps.astype(np.int64)
    return pd.DataFrame(cols)


# ---------------------------------------------------------------------------------------------- files
def parts_dir(out: Path) -> Path:
    """Folder of a run's finished chunks: FILE.parquet.parts next to the output file."""
    return out.with_name(out.name + PARTS_SUFFIX)


def _write_atomic(table: pa.Table, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp, **PARQUET_OPTIONS)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _FinalFile:
    """The output file, written while the run goes: the finished chunks' tables, in chunk order as soon as every
    chunk before them is there, are written in row groups of ROW_GROUP_ROWS rows (the last one shorter), so the
    file's bytes depend on the rows alone: not on the chunk size, the workers, or whether the run was resumed.
    A chunk computed by this run is handed over as the table its part file was written from; one finished by an
    earlier run is read from its part file (the same table: parquet gives back the columns and the schema it was
    given). `close` moves the file into place. (Assembled at the end instead, reading, joining and writing
    100,000 rows again took ~0.8 s with the cores idle.)"""

    def __init__(self, folder: Path, out: Path, n_chunks: int, metadata: dict[bytes, bytes] | None = None) -> None:
        self.folder, self.out, self.n_chunks = folder, out, n_chunks
        self.metadata = metadata or {}
        self.next = 0
        self.tables: list[pa.Table] = []
        self.pending: list[pa.Table] = []
        self.handed: dict[int, pa.Table] = {}
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=folder)
        os.close(fd)
        self.tmp = Path(tmp)
        self.writer: pq.ParquetWriter | None = None

    def add(self, k: int, table: pa.Table) -> None:
        """Chunk k, just stored in its part file, then every chunk that is ready."""
        self.handed[k] = table
        self.append_ready()

    def append_ready(self) -> None:
        """Take every chunk, in chunk order, that is handed over or on disk and not taken yet; write the full row
        groups."""
        while self.next < self.n_chunks:
            table = self.handed.pop(self.next, None)
            if table is None:
                part = self.folder / CHUNK_NAME.format(self.next)
                if not part.is_file():
                    break
                table = pq.read_table(part)
            self.tables.append(table)
            self.pending.append(table)
            self.next += 1
        self._write(final=False)

    def _write(self, final: bool) -> None:
        rows = sum(t.num_rows for t in self.pending)
        if not self.pending or (rows < ROW_GROUP_ROWS and not final):
            return
        # contiguous columns: the encoder sees the same arrays whatever the chunks were
        table = pa.concat_tables(self.pending).combine_chunks()
        if self.writer is None:
            # the run's provenance joins the schema's key-value metadata (deterministic: no clock in it)
            schema = table.schema.with_metadata({**(table.schema.metadata or {}), **self.metadata})
            self.writer = pq.ParquetWriter(self.tmp, schema, **PARQUET_OPTIONS)
        full = rows if final else rows - rows % ROW_GROUP_ROWS
        for start in range(0, full, ROW_GROUP_ROWS):
            self.writer.write_table(table.slice(start, min(ROW_GROUP_ROWS, full - start)))
        self.pending = [table.slice(full)] if full < rows else []

    def close(self) -> pd.DataFrame:
        """Finish the file, move it into place, and return its rows as one frame."""
        self.append_ready()
        if self.next < self.n_chunks:
            raise ScenarioError(f"population run: only {self.next} of {self.n_chunks} chunks were written")
        self._write(final=True)
        assert self.writer is not None
        self.writer.close()
        os.replace(self.tmp, self.out)
        return pa.concat_tables(self.tables).to_pandas()


def _open_parts(spec: PopulationSpec, out: Path) -> tuple[Path, set[int]]:
    """Create or reuse the parts folder; chunks already finished by an identical earlier run."""
    folder = parts_dir(out)
    manifest = {"digest": spec.digest(), "n": spec.n, "chunk_size": spec.chunk_size, "n_chunks": len(spec.chunks())}
    mpath = folder / MANIFEST
    if folder.is_dir():
        try:
            old = json.loads(mpath.read_text())
        except (OSError, ValueError):
            old = None
        if old != manifest:
            # chunks of a different run (other options, seed or version): they cannot be reused
            shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not mpath.exists():
        fd, tmp = tempfile.mkstemp(prefix=".manifest.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w") as fh:
            json.dump(manifest, fh, indent=2, sort_keys=True)
        os.replace(tmp, mpath)
    done = {k for k in range(len(spec.chunks())) if (folder / CHUNK_NAME.format(k)).is_file()}
    return folder, done


# ---------------------------------------------------------------------------------------------- running
class Progress:
    """Progress of a population run; the default reports nothing."""

    def start(self, total_subjects: int, already_done: int) -> None:
        """The run starts with `already_done` subjects resumed from disk."""

    def advance(self, subjects: int) -> None:
        """`subjects` more subjects are finished."""

    def stop(self) -> None:
        """The run ended (finished or failed)."""


class RichProgress(Progress):
    """A rich progress bar on stderr: subjects done, rate, elapsed and remaining time."""

    def __init__(self, label: str = "subjects") -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as _Progress,
        )

        self._bar = _Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False,
        )
        self._label = label
        self._task: Any = None
        self._resumed = 0

    def start(self, total_subjects: int, already_done: int) -> None:
        self._bar.start()
        self._resumed = already_done
        desc = self._label + (f" (resumed {already_done})" if already_done else "")
        self._task = self._bar.add_task(desc, total=total_subjects, completed=already_done, rate="")

    def advance(self, subjects: int) -> None:
        self._bar.advance(self._task, subjects)
        task = self._bar.tasks[0]
        elapsed = task.elapsed or 0.0
        fresh = task.completed - self._resumed
        if elapsed > 0 and fresh > 0:
            self._bar.update(self._task, rate=f"{fresh / elapsed:,.0f} subjects/s")

    def stop(self) -> None:
        self._bar.stop()


def _run_chunks(
    spec: PopulationSpec, todo: list[int], workers: int, scheduler: str | None,
) -> Iterator[tuple[int, pd.DataFrame]]:
    """Finished chunks (index, frame) in completion order, in this process or on a Dask cluster."""
    chunks = spec.chunks()
    if workers <= 1 and scheduler is None:
        # CHUNKS_IN_FLIGHT chunks at once, whose groups of subjects queue on one pool of solver threads (one per
        # core): while one chunk integrates, the next draws its subjects, prepares its model and packs its
        # events (Python; the solver releases the GIL) and queues its groups behind, so the cores neither wait
        # for that Python nor for a chunk's last group; the chunks finish in any order
        with solver_pool(available_cores()) as solver, \
                ThreadPoolExecutor(max_workers=CHUNKS_IN_FLIGHT, thread_name_prefix="ketasim-chunk") as pool:
            pending: dict[Future[pd.DataFrame], int] = {}
            queue = iter(todo)
            while True:
                for k in queue:
                    pending[pool.submit(simulate_chunk, spec, *chunks[k], pool=solver)] = k
                    if len(pending) >= CHUNKS_IN_FLIGHT:
                        break
                if not pending:
                    return
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in sorted(finished, key=pending.__getitem__):
                    yield pending.pop(fut), fut.result()
    from .parallel import dask_client

    with dask_client(workers=workers, scheduler=scheduler) as (client, threads):
        from distributed import as_completed

        tag = spec.digest()[:8]
        futures = {
            client.submit(
                simulate_chunk, spec, chunks[k][0], chunks[k][1], threads, pure=False, key=f"chunk-{k}-{tag}"
            ): k
            for k in todo
        }
        for fut in as_completed(futures):
            yield futures[fut], fut.result()


def run_population(
    scenario: Scenario | dict[str, Any],
    n: int,
    *,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    out: str | Path | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    settings: PopulationSettings | None = None,
    rtol: float = POPULATION_RTOL,
    atol: float = POPULATION_ATOL,
    progress: Progress | None = None,
    on_chunk: Callable[[int], None] | None = None,
    source: str | Path | None = None,
) -> pd.DataFrame:
    """Simulate `n` virtual subjects of a scenario; one row of summaries per subject, in subject order.

    With `out` (a .parquet path) finished chunks go to OUT.parts/ as they complete and a rerun of the same
    call resumes from them; the file is written (atomically) once every chunk is there, and the parts folder
    is then removed. `workers` > 1 starts a local Dask cluster; `scheduler` uses an existing one.
    `on_chunk(k)` is called after chunk k is stored (tests use it to interrupt a run). The file's metadata
    (key `ketasim_provenance`) records the version, data hash, scenario (and `source` file) hash, seed, solver
    and tolerances.
    """
    if n < 1:
        raise ScenarioError(f"--n {n} must be at least 1")
    if chunk_size < 1:
        raise ScenarioError(f"--chunk-size {chunk_size} must be at least 1")
    if workers < 1:
        raise ScenarioError(f"--workers {workers} must be at least 1")
    if not RTOL_RANGE[0] <= rtol <= RTOL_RANGE[1]:
        raise ScenarioError(
            f"--rtol {rtol:g} is outside {RTOL_RANGE[0]:g}..{RTOL_RANGE[1]:g}; the default {POPULATION_RTOL:g} keeps "
            "99.9% of summary values within 7e-5 of a tight run"
        )
    if not ATOL_RANGE[0] <= atol <= ATOL_RANGE[1]:
        raise ScenarioError(f"--atol {atol:g} is outside {ATOL_RANGE[0]:g}..{ATOL_RANGE[1]:g} (in each state's unit)")
    scen = scenario if isinstance(scenario, Scenario) else make_scenario(dict(scenario))
    set_fields = {k: v for k, v in (settings.__dict__ if settings else {}).items() if v is not None}
    spec = PopulationSpec(
        scenario=scen.model_dump(mode="json"), n=int(n), seed=int(seed), chunk_size=int(chunk_size),
        settings=set_fields, rtol=float(rtol), atol=float(atol),
    )
    spec.make_scenario()  # the scenario must survive its own JSON round trip (workers rebuild it)
    progress = progress or Progress()
    chunks = spec.chunks()
    folder: Path | None = None
    done: set[int] = set()
    out_path = Path(out) if out is not None else None
    if out_path is not None:
        if out_path.suffix.lower() != ".parquet":
            raise ScenarioError(f"--out {str(out_path)!r} must end in .parquet for a population run")
        if not (out_path.parent if str(out_path.parent) else Path(".")).is_dir():
            raise ScenarioError(f"folder {str(out_path.parent)!r} for the output file does not exist; create it first")
        folder, done = _open_parts(spec, out_path)
    frames: dict[int, pd.DataFrame] = {}
    todo = [k for k in range(len(chunks)) if k not in done]
    # the result is always built from the stored parts (handed over or read back), so a resumed run and a straight one
    # give the same file
    final = None
    if folder is not None and out_path is not None:
        rec = provenance.record(
            inputs=spec.scenario, source=source, seed=spec.seed, solver=provenance.solver_label("batched"),
            rtol=spec.rtol, atol=spec.atol, extra={"n": spec.n, "population_settings": spec.settings},
        )
        final = _FinalFile(folder, out_path, len(chunks), {provenance.KEY.encode(): provenance.to_json(rec).encode()})
    progress.start(spec.n, sum(chunks[k][1] - chunks[k][0] for k in done))
    try:
        if final is not None:
            final.append_ready()
        for k, frame in _run_chunks(spec, todo, workers, scheduler):
            if folder is not None and final is not None:
                table = pa.Table.from_pandas(frame, preserve_index=False)
                _write_atomic(table, folder / CHUNK_NAME.format(k))
                final.add(k, table)
            else:
                frames[k] = frame
            progress.advance(chunks[k][1] - chunks[k][0])
            if on_chunk is not None:
                on_chunk(k)
    finally:
        progress.stop()
    if folder is not None and final is not None:
        result = final.close()
        shutil.rmtree(folder, ignore_errors=True)
        return result
    return pd.concat([frames[k] for k in range(len(chunks))], ignore_index=True)


# ---------------------------------------------------------------------------------------------- CLI
#: columns summarized on the terminal and in --json after a population run (those present)
HEADLINE_COLUMNS = ("esketamine_cmax_ng_per_ml", "ketamine_cmax_ng_per_ml", "madrs_min", "madrs_day1",
                    "madrs_day28", "dissociation_peak")
HEADLINE_QUANTILES = (0.05, 0.5, 0.95)


def cli_run(
    scenario: Scenario, n: int | None, out: Path | None, *, seed: int, chunk_size: int | None, workers: int,
    scheduler: str | None, quiet: bool, as_json: bool, rtol: float | None = None, atol: float | None = None,
    source: Path | None = None,
) -> None:
    """`ketasim simulate ... --n N --out FILE.parquet`: run, then print a short summary (or JSON)."""
    import time

    import typer

    if n is None:
        raise ScenarioError(
            "--workers, --scheduler, --chunk-size, --rtol and --atol belong to population runs; add --n N"
        )
    if out is None or out.suffix.lower() != ".parquet":
        raise ScenarioError("a population run writes one row per subject; add --out FILE.parquet")
    if scenario.at:
        raise ScenarioError("--at reports one subject's values; population runs report MADRS at standard days")
    start = time.perf_counter()
    frame = run_population(
        scenario, n, seed=seed, chunk_size=chunk_size or DEFAULT_CHUNK_SIZE, out=out, workers=workers,
        scheduler=scheduler, progress=None if quiet else RichProgress(),
        rtol=POPULATION_RTOL if rtol is None else rtol, atol=POPULATION_ATOL if atol is None else atol,
        source=source,
    )
    seconds = time.perf_counter() - start
    headline = {
        c: {f"p{round(q * 100)}": float(frame[c].quantile(q)) for q in HEADLINE_QUANTILES}
        for c in HEADLINE_COLUMNS if c in frame.columns
    }
    if as_json:
        typer.echo(json.dumps({
            "n": len(frame), "seed": seed, "out": str(out), "seconds": seconds,
            "subjects_per_second": len(frame) / seconds if seconds > 0 else None,
            "columns": list(frame.columns), "summary": headline,
        }, indent=2))
        return
    if not quiet:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{len(frame)} subjects -> {out} ({seconds:.1f} s)")
        table.add_column("column")
        for q in HEADLINE_QUANTILES:
            table.add_column(f"p{round(q * 100)}", justify="right")
        for c, qs in headline.items():
            table.add_row(c, *[f"{v:.3g}" for v in qs.values()])
        Console(stderr=True).print(table)
