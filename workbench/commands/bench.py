"""Benchmark commands: sweep (the pyperf grid), compare (two runs), trace (one Chrome trace)."""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from workbench.commands.args import (emulator_count, emulator_list, latency, libvirt_option, strategy_list,
                                     strategy_names)
from workbench.errors import ResultsError, UsageError
from workbench.sim.catalog import MAX_SIMULATED

DEFAULT_GRID = "1,2,4,8,12,16,20,24,30"


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("sweep", help="run the pyperf benchmark grid over installs of 1..30 emulators",
                       description="Run every benchmark script for every emulator count, strategy and "
                                   "cache state; resumable; writes pyperf JSON, machine.json and results.csv. "
                                   "`workbench compare` tests per pyperf worker process (values within one "
                                   "process are correlated), so every mode runs several. Modes: --quick: "
                                   "5 processes x 1 value per cold-cache benchmark, x 4 per warm one (what "
                                   "`workbench run` uses; finds a 20% change on benchmarks whose processes "
                                   "agree within a few percent); default (neither flag): 6 processes with one "
                                   "warm-up each, 2 cold / 4 warm values, a little slower than quick; "
                                   "--rigorous: 8 processes x 2 rounds, 3 cold / 6 warm values each, several "
                                   "hours on the full grid.")
    s.add_argument("--emulators", type=emulator_list, default=emulator_list(DEFAULT_GRID),
                   help=f"comma-separated emulator counts, each 1 to {MAX_SIMULATED} (default {DEFAULT_GRID})")
    s.add_argument("--strategies", type=strategy_list, default=None,
                   help=f"comma-separated, or all (default: all: {', '.join(strategy_names())})")
    s.add_argument("--latency", type=latency, default="recorded", help="emulator latency mode (default recorded)")
    speed = s.add_mutually_exclusive_group()
    speed.add_argument("--quick", action="store_true",
                       help="5 worker processes x 1 value per cold-cache benchmark, x 4 per warm one "
                            "(what `workbench run` uses)")
    speed.add_argument("--rigorous", action="store_true",
                       help="8 worker processes x 2 rounds, 3 values per cold benchmark and process, "
                            "6 per warm one (several hours on the full grid)")
    s.add_argument("--benchmarks", type=_benchmark_list, default=None,
                   help="comma-separated benchmark scripts to run (default: all but parallel_scaling and "
                        "libvirt_real, which measure one strategy or system whatever --strategies says), "
                        "e.g. scenarios or libvirt_real")
    libvirt_option(s)
    s.add_argument("-o", "--output", type=Path, required=True, help="run directory (resumed if it exists)")
    s.set_defaults(func=sweep)

    s = sub.add_parser("compare", help="compare two runs; exit 1 if a regression is flagged",
                       description="Per benchmark in both runs: a significance test with a false "
                                   "discovery rate over all benchmarks and a CI of the ratio B/A that "
                                   "must lie beyond the minimum relevant change (method named in the footer).")
    s.add_argument("run_a", type=Path, help="baseline run directory")
    s.add_argument("run_b", type=Path, help="candidate run directory")
    s.add_argument("--threshold", type=float, default=1.05,
                   help="ratio the CI must lie beyond to count as a change (default 1.05; same as --min-change 0.05)")
    s.add_argument("--min-change", type=float, default=None,
                   help="minimum relevant change as a fraction (0.05 = 5%%); overrides --threshold")
    s.add_argument("--alpha", type=float, default=0.05,
                   help="false discovery rate (Benjamini-Hochberg) level (default 0.05)")
    s.add_argument("--only-changed", action="store_true", help="show only regressions and improvements")
    s.add_argument("--sort", choices=["name", "ratio"], default="name",
                   help="row order: by benchmark parameters (numbers numerically) or by ratio, largest first")
    s.add_argument("--format", choices=["table", "csv", "json"], default="table",
                   help="table (with a footer) or csv/json on stdout (method and test count on stderr)")
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
    from workbench.sweep import EXTRA_BENCHMARKS, GRID_BENCHMARKS, SINGLE_BENCHMARKS

    known = GRID_BENCHMARKS + SINGLE_BENCHMARKS + EXTRA_BENCHMARKS
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown benchmarks {bad}; choose from {', '.join(known)}")
    return names


def sweep(args: argparse.Namespace) -> int:
    from workbench.sweep import GRID_BENCHMARKS, SINGLE_BENCHMARKS, run_sweep

    mode = "quick" if args.quick else "rigorous" if args.rigorous else "default"
    res = run_sweep(args.output, args.emulators, args.strategies, args.latency, mode,
                    benchmarks=args.benchmarks or GRID_BENCHMARKS + SINGLE_BENCHMARKS,
                    libvirt=_libvirt_values(args.libvirt))
    print(f"{len(res.ran)} runs made, {len(res.skipped)} kept from before, {len(res.failed)} failed; "
          f"results in {args.output}")
    for name, err in res.failed.items():
        print(f"workbench: {name} failed:\n{err}", file=sys.stderr)
    return 1 if res.failed else 0


def _libvirt_values(values: list[str] | None) -> list[str]:
    """Checked here (a bad prefix is a usage error before the sweep starts), passed on as given."""
    from workbench.libvirt9 import builds

    builds.parse(values)
    return [v if v == builds.SYSTEM_WORD else str(Path(v).expanduser().resolve()) for v in values or ()]


def compare(args: argparse.Namespace) -> int:
    import json

    import pandas as pd

    from workbench.results import compare as do_compare, load_run
    from workbench.rundir import read_run_info
    from workbench.stats import METHOD

    for run in (args.run_a, args.run_b):
        if not run.is_dir():
            raise UsageError(f"no run directory {run}")
    min_change = args.min_change if args.min_change is not None else args.threshold - 1
    if not (0 <= min_change < 10 and 0 < args.alpha < 1):
        raise UsageError(f"need 0 <= min-change < 10 and 0 < alpha < 1, got {min_change}, {args.alpha}")
    ia, ib = read_run_info(args.run_a), read_run_info(args.run_b)
    table = do_compare(load_run(args.run_a), load_run(args.run_b), min_change, args.alpha)
    if ia.code_sha256 != ib.code_sha256:
        print("workbench: warning: the runs were made with different workbench code "
              f"(format {ia.format_version} vs {ib.format_version})", file=sys.stderr)
    for name, info in (("A", ia), ("B", ib)):
        if info.data.get("injected"):
            print(f"workbench: note: run {name} has an injected slowdown: {info.data['injected']}",
                  file=sys.stderr)
    if table.empty:
        raise ResultsError("the runs have no benchmark in common")
    n_tests = len(table)
    counts = table["verdict"].value_counts()
    tested = table[table["verdict"] != "underpowered"]["ratio"]
    footer = (f"{counts.get('regression', 0)} regression(s) flagged, {counts.get('improvement', 0)} "
              f"improvement(s), {counts.get('underpowered', 0)} underpowered, out of {n_tests} tests; "
              f"method: {METHOD} (p_mwu: Mann-Whitney U on the same process medians, shown, not decisive); alpha {args.alpha}, minimum relevant change {min_change:.0%}; "
              f"median ratio over tested benchmarks (drift between the runs) "
              f"{tested.median() if len(tested) else float('nan'):.3f}")
    shown = table[table["verdict"].isin(["regression", "improvement"])] if args.only_changed else table
    if args.sort == "ratio":
        shown = shown.sort_values("ratio", ascending=False, kind="stable")
    if args.format == "json":
        print(json.dumps(json.loads(shown.to_json(orient="records"))))
        print(footer, file=sys.stderr)
    elif args.format == "csv":
        sys.stdout.write(shown.to_csv(index=False))
        print(footer, file=sys.stderr)
    else:
        with pd.option_context("display.max_rows", None, "display.width", 250,
                               "display.max_columns", None):
            t = shown.drop(columns=["regression"]).copy()
            for col in ("median_a_s", "median_b_s"):
                t[col] = t[col].map(lambda v: f"{v:.4g}")
            for col in ("ratio", "ci_low", "ci_high"):
                t[col] = t[col].map(lambda v: f"{v:.3f}")
            for col in ("p", "p_adj", "p_mwu"):
                t[col] = t[col].map(lambda v: f"{v:.3g}")
            if not t.empty:
                print(t.to_string(index=False))
        print(f"\n{footer}")
    return 1 if counts.get("regression", 0) else 0


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
