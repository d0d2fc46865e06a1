"""Benchmark commands: sweep (the pyperf grid), compare (two runs), trace (one Chrome trace)."""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from workbench.args import (checked, emulator_count, emulator_list, latency, libvirt_option,
                            name_list, strategy_list, strategy_names)
from workbench.errors import ResultsError, UsageError
from workbench.params import Spec, sweep_axes
from workbench.sim.catalog import MAX_SIMULATED

DEFAULT_GRID = "1,2,4,8,12,16,20,24,30"


COMPARE_HELP = """\
Per benchmark in both runs: the ratio B/A of the runs' per-process medians with its 95% CI, a
moderated t with a false discovery rate over all benchmarks (method named in the footer), and one
of four verdicts:
  regression    BH-adjusted p < alpha and the whole CI above 1 + min-change
  improvement   BH-adjusted p < alpha and the whole CI below 1 / (1 + min-change)
  unchanged     the whole CI inside [1 / (1 + min-change), 1 + min-change]
  inconclusive  neither: the runs cannot tell; read the benchmark's mdc
(underpowered: fewer than 2 worker processes a side, old runs only.)
mdc, the minimum detectable change, is the smallest slowdown this pair of runs would flag with
80% power were it the only change: it follows each benchmark's spread between worker processes
and the number of processes. What the sweep modes can detect, by the spread (sd of log time) of
a benchmark's process medians, for ~700 tests (the full grid) and runs that do not drift:
  spread of process medians      2%     5%    10%
  quick (5 processes a side)     9%    21%    46%   (1 value per process cold, median of 4 warm)
  rigorous (16 a side)           7%    10%    21%   (8 processes x 2 rounds, median of 3 / 6)
A cold benchmark's single value keeps its process's outliers, so its spread is the larger one;
a loaded machine's drift between the runs widens every CI (footer: the runs' median ratio).
The mdc column says it per benchmark for the runs at hand. `workbench run` prints, for its
headline benchmarks, the mdc this command would give against a run like it (the same function:
workbench.analysis.results.detectable), and adds processes until each is at most 10%."""


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
    s.add_argument("--shard", type=_shard, default=None, metavar="I/N",
                   help="run only the I-th of N deterministic shares of the grid (job k of the grid's "
                        "plan goes to shard k mod N + 1), e.g. one CI job per shard; join the shards "
                        "with `workbench merge`")
    for name, spec in sweep_axes():  # every further axis of the parameter record
        s.add_argument(spec.axis, type=_value_list(spec), default=None, dest=f"axis_{name}", metavar="VALUE,...",
                       help=f"comma-separated values of {spec.flag} ({spec.help}), one job each "
                            f"(default: the scripts' default)")
    libvirt_option(s)
    s.add_argument("-o", "--output", type=Path, required=True, help="run directory (resumed if it exists)")
    s.set_defaults(func=sweep)

    s = sub.add_parser("merge", help="join the shards of one grid (sweep --shard I/N) into one run directory",
                       description="Copy the result files of every shard into OUT with one machine.json "
                                   "that keeps each shard's machine and provenance. Refused (exit 1) when "
                                   "the runs are not shares of the same grid (grid, mode, latency), were "
                                   "measured with different workbench code, or repeat a shard. Shards made "
                                   "on several machines stay apart: machine.json names which machine "
                                   "measured which job, and the report says so.")
    s.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="shard run directories")
    s.add_argument("-o", "--output", type=Path, required=True, help="the merged run directory (new)")
    s.set_defaults(func=merge)

    s = sub.add_parser("compare", help="compare two runs; exit 1 if a regression is flagged",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description=COMPARE_HELP)
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

    s = sub.add_parser("aa", help="A/A check: the same runs twice plus an injected slowdown, compared",
                       description="Sweep the same small grid --runs times (quick mode: a few minutes), copy "
                                   "the last run with driver_startup (per-emulator, cold cache, largest emulator "
                                   "count) slowed by --factor (workbench.bench.aa.inject_slowdown, labelled in the copy), "
                                   "and compare run1 with every other run and with the injected copy. Writes "
                                   "OUT/run1.., OUT/injected, OUT/compare-*.csv and OUT/aa-summary.json; resumes "
                                   "finished runs. --main-job: the same check with the main job's settings "
                                   "(`workbench run`'s sweep and stop rule, no report) made twice, or once beside "
                                   "--run1, a finished main-job run; the cover letter's per-emulator daemon "
                                   "startup at 30 is slowed in run2's copy, and the summary holds each run's "
                                   "headline minimum detectable changes. Exit 1 when an A/A pair flags more "
                                   "than 1% regressions or the injected benchmark is unchanged (or "
                                   "inconclusive with an mdc below the injected change).")
    s.add_argument("--main-job", action="store_true",
                   help="the main job's settings (workbench run) instead of a quick sweep of a small grid")
    s.add_argument("--run1", type=Path, default=None, metavar="DIR",
                   help="with --main-job: a finished main-job run to compare against (else one is made)")
    s.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                   help="with --main-job: each run's budget as in `workbench run --budget` (default: its default)")
    s.add_argument("--runs", type=int, default=None, help="sweeps of the same grid (default 2)")
    s.add_argument("--emulators", type=emulator_list, default=None,
                   help="comma-separated emulator counts (default 1,8)")
    s.add_argument("--strategies", type=strategy_list, default=None,
                   help="comma-separated strategies (default full-caps,per-emulator; per-emulator is injected)")
    s.add_argument("--benchmarks", type=_benchmark_list, default=None,
                   help="benchmark scripts (default driver_startup,parse; driver_startup is injected)")
    s.add_argument("--rigorous", action="store_true", help="sweep in rigorous mode instead of quick")
    s.add_argument("--factor", type=float, default=1.2, help="injected slowdown (default 1.2: 20%%)")
    libvirt_option(s)
    s.add_argument("-o", "--output", type=Path, required=True, help="directory for the runs and compare outputs")
    s.set_defaults(func=aa)

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


def _value_list(spec: Spec):
    def parse(text: str) -> tuple:
        values = []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            if spec.choices is not None and part not in spec.choices:
                raise argparse.ArgumentTypeError(f"unknown value {part!r}; choose from {', '.join(spec.choices)}")
            values.append(spec.type(part) if spec.type is not None else part)
        if not values:
            raise argparse.ArgumentTypeError(f"expected comma-separated values, got {text!r}")
        return tuple(values)
    return parse


def _benchmark_list(text: str) -> tuple[str, ...]:
    from workbench.bench.sweep import EXTRA_BENCHMARKS, GRID_BENCHMARKS, SINGLE_BENCHMARKS

    return tuple(name_list(text, "benchmarks", GRID_BENCHMARKS + SINGLE_BENCHMARKS + EXTRA_BENCHMARKS))


@checked
def _shard(text: str):
    from workbench.bench.sweep import Shard

    return Shard.parse(text)


def sweep(args: argparse.Namespace) -> int:
    from workbench.bench.sweep import GRID_BENCHMARKS, SINGLE_BENCHMARKS, run_sweep

    mode = "quick" if args.quick else "rigorous" if args.rigorous else "default"
    axes = {name: getattr(args, f"axis_{name}") for name, _ in sweep_axes()
            if getattr(args, f"axis_{name}") is not None}
    res = run_sweep(args.output, args.emulators, args.strategies, args.latency, mode,
                    benchmarks=args.benchmarks or GRID_BENCHMARKS + SINGLE_BENCHMARKS, axes=axes,
                    shard=args.shard, libvirt=libvirt_values(args.libvirt))
    print(f"{len(res.ran)} runs made, {len(res.skipped)} kept from before, {len(res.failed)} failed; "
          f"results in {args.output}")
    for name, err in res.failed.items():
        print(f"workbench: {name} failed:\n{err}", file=sys.stderr)
    return 1 if res.failed else 0


def merge(args: argparse.Namespace) -> int:
    from workbench.bench.merge import merge_runs

    merged = merge_runs(args.runs, args.output)
    files = sum(len(f) for f in merged["machines"].values())
    print(f"merged {len(args.runs)} shards ({', '.join(merged['sweep']['shards'])} of "
          f"{merged['sweep']['grid_jobs']} jobs' grid): {files} result files into {args.output}")
    for label, names in merged["machines"].items():
        print(f"  {label}: {len(names)} files")
    return 0


def libvirt_values(values: list[str] | None) -> list[str]:
    """Checked here (a bad prefix is a usage error before the sweep starts), passed on as given."""
    from workbench.libvirt9 import builds

    builds.parse(values)
    for v in values or ():
        if "," in v:
            raise UsageError(f"--libvirt {v!r}: a prefix with a comma cannot be passed to the benchmarks")
    return [v if v == builds.SYSTEM_WORD else str(Path(v).expanduser().resolve()) for v in values or ()]


def compare(args: argparse.Namespace) -> int:
    import json

    from workbench.analysis.results import compare as do_compare, load_run
    from workbench.analysis.rundir import read_run_info
    from workbench.analysis.stats import METHOD

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
    tested = table[table["verdict"] != "underpowered"]
    footer = (f"{counts.get('regression', 0)} regression(s) flagged, {counts.get('improvement', 0)} "
              f"improvement(s), {counts.get('unchanged', 0)} unchanged, {counts.get('inconclusive', 0)} "
              f"inconclusive, {counts.get('underpowered', 0)} underpowered, out of {n_tests} tests; "
              f"minimum detectable change (mdc) median {tested['mdc'].median():.1%}, "
              f"{(tested['mdc'] <= 0.2).sum()} of {len(tested)} benchmarks can detect 20%; "
              f"method: {METHOD} (p_mwu: Mann-Whitney U on the same process medians, shown, not decisive); "
              f"alpha {args.alpha}, minimum relevant change {min_change:.0%}; "
              f"median ratio over tested benchmarks (drift between the runs) "
              f"{tested['ratio'].median() if len(tested) else float('nan'):.3f}")
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
        print(format_compare_table(shown))
        print(f"\n{footer}")
    return 1 if counts.get("regression", 0) else 0


def aa(args: argparse.Namespace) -> int:
    from workbench.bench import aa as check

    if not 1.0 < args.factor < 10:
        raise UsageError(f"--factor must lie between 1 and 10, got {args.factor}")
    if args.main_job:
        grid = [f for f in ("runs", "emulators", "strategies", "benchmarks", "rigorous") if getattr(args, f)]
        if grid:
            raise UsageError(f"--main-job measures the main job's benchmarks: drop --{', --'.join(grid)}")
        if args.budget is not None and not args.budget > 0:
            raise UsageError(f"--budget must be a number of seconds > 0, got {args.budget}")
        pairs = check.run_aa_main(args.output, args.run1, args.factor, args.budget, libvirt_values(args.libvirt))
    else:
        if args.run1 is not None or args.budget is not None or args.libvirt:
            raise UsageError("--run1, --budget and --libvirt go with --main-job")
        pairs = check.run_aa(args.output, 2 if args.runs is None else args.runs,
                             args.emulators or check.AA_EMULATORS, args.strategies or check.AA_STRATEGIES,
                             args.benchmarks or check.AA_BENCHMARKS, "rigorous" if args.rigorous else "quick",
                             args.factor)
    for p in pairs:
        line = (f"{p.output}: {p.tests} tests, " + ", ".join(f"{n} {v}" for v, n in sorted(p.verdicts.items()))
                + f"; regressions {p.regression_share:.1%}; median mdc {p.mdc_median:.1%}")
        if p.injected:
            v = p.injected
            line += (f"; injected x{args.factor} into {v['benchmark']}: {v['verdict']}, ratio {v['ratio']:.3f} "
                     f"[{v['ci_low']:.3f}, {v['ci_high']:.3f}], mdc {v['mdc']:.1%}")
        print(line)
    if args.main_job:
        import json

        for run, rows in json.loads((args.output / check.SUMMARY_FILE).read_text())["headline_mdc"].items():
            shown = ", ".join(f"{r['file'].rsplit('--r', 1)[0]} "
                              f"{'unknown' if r['mdc'] is None else format(r['mdc'], '.1%')}" for r in rows)
            print(f"{run}: headline benchmarks' minimum detectable change against a like run: {shown}")
    bad = check.check_failures(pairs, args.factor)
    for b in bad:
        print(f"workbench: aa: {b}", file=sys.stderr)
    print(f"summary in {args.output / check.SUMMARY_FILE}")
    return 1 if bad else 0


def format_compare_table(table) -> str:
    """The compare table as text: ratios and CI bounds to 3 decimals, mdc in percent."""
    import pandas as pd

    if table.empty:
        return ""
    t = table.drop(columns=["regression"]).copy()
    for col in ("median_a_s", "median_b_s"):
        t[col] = t[col].map(lambda v: f"{v:.4g}")
    for col in ("ratio", "ci_low", "ci_high"):
        t[col] = t[col].map(lambda v: f"{v:.3f}")
    t["mdc"] = t["mdc"].map(lambda v: f"{v:.1%}" if v < float("inf") else "-")
    for col in ("p", "p_adj", "p_mwu"):
        t[col] = t[col].map(lambda v: f"{v:.3g}")
    with pd.option_context("display.max_rows", None, "display.width", 250, "display.max_columns", None):
        return t.to_string(index=False)


def trace(args: argparse.Namespace) -> int:
    """One driver startup plus one parse, on a fresh install and an empty cache, as Chrome JSON."""
    from workbench import trace as tr
    from workbench.sim.corpus_picks import pick, x86_64_domains
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
