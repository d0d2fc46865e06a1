"""Per-process metadata of a run: what each pyperf worker process recorded beside its values.

pyperf keeps a key in a benchmark's own metadata only when every worker process agrees on it;
values that differ per process (a daemon's startup, its CPU seconds, the load average) stay in
each run's metadata. Reading only the benchmark level therefore loses them: this module reads
both, one row per worker process, benchmark-level keys filled in where a run has none.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

from workbench.analysis.results import load_suite, result_files

INDEX = ["file", "name", "run_index"]


def per_run_metadata(runs: Iterable[Path], keys: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per (file, benchmark name, run_index) of every run directory: the metadata keys
    asked for (default: every key seen), the run's own value first, else the benchmark's.
    run_index is the run's position in the benchmark, as in workbench.analysis.results.load_run."""
    wanted = list(keys) if keys is not None else None
    rows = []
    for run in runs:
        for f in result_files(Path(run)):
            for bench in load_suite(f).get_benchmarks():
                common = bench.get_metadata()
                for index, r in enumerate(bench.get_runs()):
                    if not r.values:
                        continue  # calibration runs hold no values: load_run has no row for them
                    md = common | r.get_metadata()
                    picked = {k: md.get(k) for k in wanted} if wanted is not None else dict(md)
                    rows.append({"file": f.name, "name": bench.get_name(), "run_index": index} | picked)
    cols = INDEX + (wanted if wanted is not None else [])
    out = pd.DataFrame(rows, columns=cols if wanted is not None else None)
    return out if len(out.columns) else pd.DataFrame(columns=INDEX)


def numeric(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """The columns as floats (None -> NaN), so medians ignore what was not recorded."""
    frame = frame.copy()
    for c in columns:
        frame[c] = pd.to_numeric(frame[c], errors="coerce")
    return frame
