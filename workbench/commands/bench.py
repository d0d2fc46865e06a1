"""Benchmark commands: sweep (the pyperf grid), compare (two runs), trace (one Chrome trace)."""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from workbench.commands.args import emulator_count, emulator_list, latency, strategy_list, strategy_names
from workbench.errors import ResultsError, UsageError
from workbench.sim.catalog import MAX_SIMULATED

DEFAULT_GRID = "1,2,4,8,12,16,20,24,30"


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("sweep", help="run the pyperf benchmark grid over installs of 1..30 emulators",
                       description="Run every benchmark script for every emulator count, strategy and "
                                   "cache state; resumable; writes pyperf JSON, machine.json and results.csv.")
    s.add_argument("--emulators", type=emulator_list, default=emulator_list(DEFAULT_GRID),
                   help=f"comma-separated emulator counts, each 1 to {MAX_SIMULATED} (default {DEFAULT_GRID})")
    s.add_argument("--strategies", type=strategy_list, default=None,
                   help=f"comma-separated, or all (default: all: {', '.join(strategy_names())})")
    s.add_argument("--latency", type=latency, default="recorded", help="emulator latency mode (default recorded)")
    speed = s.add_mutually_exclusive_group()
    speed.add_argument("--quick", action="store_true", help="fewer values per benchmark: minutes, not hours")
    speed.add_argument("--rigorous", action="store_true", help="more processes and values")
    s.add_argument("--benchmarks", type=_benchmark_list, default=None,
                   help="comma-separated benchmark scripts to run (default: all), e.g. scenarios")
    s.add_argument("-o", "--output", type=Path, required=True, help="run directory (resumed if it exists)")
    s.set_defaults(func=sweep)

    s = sub.add_parser("compare", help="compare two runs; exit 1 if a regression is flagged",
                       description="Per benchmark in both runs: ratio of medians and a significance test.")
    s.add_argument("run_a", type=Path, help="baseline run directory")
    s.add_argument("run_b", type=Path, help="candidate run directory")
    s.add_argument("--threshold", type=float, default=1.10, help="ratio that counts as slower (default 1.10)")
    s.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    s.set_defaults(func=compare)

    s = sub.add_parser("trace", help="write one driver startup plus one parse as a Chrome trace (Perfetto)",
                       description="On a fresh install and an empty cache: one driver startup and one "
                                   "parse, traced, written as Chrome trace event JSON.")
    s.add_argument("--strategy", choices=strategy_names(), default="full-caps",
                   help="capabilities strategy (default full-caps)")
    s.add_argument("--emulators", type=emulator_count, default=MAX_SIMULATED,
                   help=f"emulators in the install, 1 to {MAX_SIMULATED} or all (default {MAX_SIMULATED})")
    s.add_argument("--latency", type=latency, default="recorded", help="emulator latency mode (default recorded)")
    s.add_argument("-o", "--output", type=Path, default=Path("trace.json"), help="trace file (default trace.json)")
    s.set_defaults(func=trace)


def _benchmark_list(text: str) -> tuple[str, ...]:
    from workbench.sweep import GRID_BENCHMARKS, SINGLE_BENCHMARKS

    known = GRID_BENCHMARKS + SINGLE_BENCHMARKS
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown benchmarks {bad}; choose from {', '.join(known)}")
    return names


def sweep(args: argparse.Namespace) -> int:
    from workbench.sweep import GRID_BENCHMARKS, SINGLE_BENCHMARKS, run_sweep

    mode = "quick" if args.quick else "rigorous" if args.rigorous else "default"
    res = run_sweep(args.output, args.emulators, args.strategies, args.latency, mode,
                    benchmarks=args.benchmarks or GRID_BENCHMARKS + SINGLE_BENCHMARKS)
    print(f"{len(res.ran)} runs made, {len(res.skipped)} kept from before, {len(res.failed)} failed; "
          f"results in {args.output}")
    for name, err in res.failed.items():
        print(f"workbench: {name} failed:\n{err}", file=sys.stderr)
    return 1 if res.failed else 0


def compare(args: argparse.Namespace) -> int:
    import pandas as pd

    from workbench.results import compare as do_compare, load_run, machine_info

    for run in (args.run_a, args.run_b):
        if not run.is_dir():
            raise UsageError(f"no run directory {run}")
    ha = machine_info(args.run_a).get("bench_code_sha256")
    hb = machine_info(args.run_b).get("bench_code_sha256")
    if ha != hb:
        print("workbench: warning: the runs were made with different benchmark code", file=sys.stderr)
    table = do_compare(load_run(args.run_a), load_run(args.run_b), args.threshold, args.alpha)
    if table.empty:
        raise ResultsError("the runs have no benchmark in common")
    with pd.option_context("display.max_rows", None, "display.width", 200,
                           "display.max_columns", None):
        shown = table.copy()
        for col in ("median_a_s", "median_b_s"):
            shown[col] = shown[col].map(lambda v: f"{v:.4g}")
        shown["ratio"] = shown["ratio"].map(lambda v: f"{v:.3f}")
        shown["p_value"] = shown["p_value"].map(lambda v: f"{v:.3g}")
        print(shown.to_string(index=False))
    flagged = table[table["regression"]]
    print(f"\n{len(flagged)} regression(s) flagged (ratio > {args.threshold} and p < {args.alpha}) "
          f"out of {len(table)} benchmarks")
    return 1 if len(flagged) else 0


def trace(args: argparse.Namespace) -> int:
    """One driver startup plus one parse, on a fresh install and an empty cache, as Chrome JSON."""
    from workbench import trace as tr
    from workbench.bench.common import pick, x86_64_domains
    from workbench.qemu.domain_parse import format_domain_xml, parse_domain_xml
    from workbench.qemu.driver import DriverOptions, QemuDriver
    from workbench.sim.install import install

    domains = x86_64_domains()
    if not domains:
        raise UsageError("no x86_64 domain in the corpus (data/domains)")
    dom = pick(domains, 1)[0]
    with tempfile.TemporaryDirectory(prefix="vct-") as tmp:
        inst = install(Path(tmp) / "inst", args.emulators, latency=args.latency)
        tr.TRACER.reset()
        tr.TRACER.enabled = True
        driver = QemuDriver.startup(DriverOptions(str(inst.dest), args.strategy, Path(tmp) / "cache"))
        try:
            format_domain_xml(parse_domain_xml(driver.parse_context, dom.xml, source=dom.name, validate=True))
        finally:
            driver.stop()  # before the install goes: a background warm-up probes it
    meta = [{"name": "process_name", "ph": "M", "pid": p, "args": {"name": f"workbench ({args.strategy})"}}
            for p in {r.pid for r in tr.TRACER.records()}]
    path = tr.TRACER.write_chrome_trace(args.output, extra_events=meta)
    spans = [r.name for r in tr.TRACER.records()]
    print(f"wrote {path}: {len(spans)} spans ({spans.count('probe')} probes, {spans.count('qmp')} QMP "
          f"commands), {args.strategy}, {len(inst.targets)} emulators, latency {args.latency}; "
          f"open it in https://ui.perfetto.dev")
    return 0
