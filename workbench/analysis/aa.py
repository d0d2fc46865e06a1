"""The A/A check: is `workbench compare` quiet when nothing changed and loud when something did?

`inject_slowdown` makes the "something changed" case from a real run (a copy with one
benchmark's values scaled, labelled as such in the copy). Above rundir and results (it uses both).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pyperf

from workbench.errors import UsageError
from workbench.analysis.results import load_suite, write_results_csv
from workbench.analysis.rundir import read_run_info, result_files, write_run_info


def inject_slowdown(run_in: Path, run_out: Path, benchmark: str, factor: float,
                    file: str | None = None) -> Path:
    """Copy run_in to run_out with every value of one benchmark multiplied by `factor`.

    `benchmark` is a pyperf benchmark name (with its parameters, e.g.
    'driver_startup[n=8,cache=cold,...]'); legacy runs repeat bare names across files, so
    `file` picks one. The copy says what was done: wb_injected on the benchmark's runs and
    `injected` in machine.json; results.csv is rewritten. Used to show the test's power on real
    data, never to make a result.
    """
    run_in, run_out = Path(run_in), Path(run_out)
    if run_out.exists():
        raise UsageError(f"{run_out}: exists; inject_slowdown writes a new run directory")
    files = [p for p in result_files(run_in) if file is None or p.name == file]
    hits = [p for p in files if benchmark in load_suite(p).get_benchmark_names()]
    if len(hits) != 1:
        where = ", ".join(p.name for p in hits) or "no result file"
        raise UsageError(f"{run_in}: benchmark {benchmark!r} found in {where}; name exactly one "
                         f"(pass file= to choose)")
    info = read_run_info(run_in)
    shutil.copytree(run_in, run_out)
    target = run_out / hits[0].name
    suite = load_suite(target)
    label = f"values x{factor} (injected by workbench.analysis.aa.inject_slowdown)"
    benches = []
    for b in suite.get_benchmarks():
        if b.get_name() == benchmark:
            b = pyperf.Benchmark([
                r._replace(values=tuple(v * factor for v in r.values), metadata=dict(r._metadata, wb_injected=label))
                if r.values else r for r in b.get_runs()])
        benches.append(b)
    pyperf.BenchmarkSuite(benches).dump(str(target), replace=True)
    data = dict(info.data) | {"injected": {"benchmark": benchmark, "file": target.name, "factor": factor,
                                           "from_run": str(run_in)}}
    write_run_info(run_out, data)
    write_results_csv(run_out)
    return run_out
