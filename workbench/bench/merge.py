"""Join the shards of one grid (`workbench sweep --shard I/N`, run on one machine or several) into
one run directory.

Shards join only when they are shares of the same grid measured the same way: the same grid
(`grid_sha256`: every job of the plan, the mode and the latency), the same workbench code
(`code_sha256`), and distinct shards. Anything else is refused with the reason. The merged
`machine.json` keeps each shard's own machine and provenance under `shards`, and `machines`
names which machine measured which job files, so a report keeps machines apart.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Sequence

from workbench.analysis import rundir
from workbench.errors import ResultsError, UsageError
from workbench.analysis.results import write_results_csv

_MACHINE_KEYS = ("cpu_model", "cores", "memory_gib", "kernel", "os", "python", "qemu", "kvm_usable", "hostname")


class MergeRefused(ResultsError):
    """The runs are not shards of one grid measured with the same code and settings."""


def machine_name(info: dict) -> str:
    """A short label of the machine a run was made on."""
    host = info.get("hostname") or "?"
    return f"{host} ({info.get('cpu_model') or '?'}, {info.get('cores') or '?'} cores)"


def merge_runs(runs: Sequence[Path], out: Path) -> dict:
    """Copy the result files of every shard into `out` with one machine.json; returns it."""
    runs = [Path(r) for r in runs]
    if len(runs) < 2:
        raise UsageError("merge needs at least two shard run directories")
    out = Path(out)
    infos = []
    for run in runs:
        if not (run / rundir.MACHINE_FILE).is_file():
            raise UsageError(f"{run}: not a run directory (no {rundir.MACHINE_FILE})")
        infos.append(rundir.read_run_info(run))
    first = infos[0]
    for run, info in zip(runs, infos):
        if not info.sweep.get("grid_sha256"):
            raise MergeRefused(f"{run}: made before shards existed (no grid_sha256 in machine.json)")
        for key, what in (("grid_sha256", "grids"), ("mode", "modes"), ("latency", "latencies")):
            if info.sweep.get(key) != first.sweep.get(key):
                raise MergeRefused(f"{runs[0]} and {run} are shares of different {what} "
                                   f"({first.sweep.get(key)} vs {info.sweep.get(key)}): not shards of one grid")
        if info.code_sha256 != first.code_sha256:
            raise MergeRefused(f"{runs[0]} and {run} were measured with different workbench code "
                               f"(code_sha256 {first.code_sha256[:12]} vs {(info.code_sha256 or '?')[:12]})")
    shards = [i.sweep.get("shard") for i in infos]
    if len(set(shards)) != len(shards):
        raise MergeRefused(f"the same shard appears twice ({', '.join(str(s) for s in shards)})")
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} exists and is not empty: merge into a new directory")
    out.mkdir(parents=True, exist_ok=True)
    owner: dict[str, Path] = {}
    machines: dict[str, list[str]] = {}
    for run, info in zip(runs, infos):
        label = machine_name(info.data)
        for f in rundir.result_files(run):
            if f.name in owner:
                raise MergeRefused(f"{f.name} is in both {owner[f.name]} and {run}")
            owner[f.name] = run
            shutil.copy2(f, out / f.name)
            machines.setdefault(label, []).append(f.name)
        traces = run / "traces"
        if traces.is_dir() and not (out / "traces").exists():
            shutil.copytree(traces, out / "traces")
    merged = {k: v for k, v in first.data.items() if k not in ("jobs", "sessions", "skipped_parts")}
    merged["sweep"] = dict(first.sweep, shard=None, merged_from=[str(r) for r in runs],
                           shards=sorted(s for s in shards if s),
                           benchmarks=list(dict.fromkeys(b for i in infos for b in i.sweep.get("benchmarks", []))),
                           strategies=list(dict.fromkeys(s for i in infos for s in i.sweep.get("strategies", []))))
    merged["shards"] = [{"run": str(r), "shard": i.sweep.get("shard"),
                         "machine": {k: i.data.get(k) for k in _MACHINE_KEYS},
                         "git_commit": i.git_commit, "sessions": i.data.get("sessions", []),
                         "skipped_parts": i.data.get("skipped_parts", [])} for r, i in zip(runs, infos)]
    merged["jobs"] = {k: v for i in infos for k, v in i.data.get("jobs", {}).items()}
    merged["skipped_parts"] = [p for i in infos for p in i.data.get("skipped_parts", [])]
    merged["machines"] = {label: sorted(files) for label, files in machines.items()}
    if len(machines) > 1:  # the files differ by machine: no single host line is true
        for key in _MACHINE_KEYS:
            merged.pop(key, None)
    rundir.write_run_info(out, merged)
    write_results_csv(out)
    return merged
