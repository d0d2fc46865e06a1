"""What `workbench sweep`, `compare` and `trace` do; cli.py only parses. Each returns the exit status."""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def _fail(message: str, status: int = 1) -> int:
    print(f"workbench: {message}", file=sys.stderr)
    return status


def _int_list(text: str) -> list[int]:
    from workbench.emulators.catalog import MAX_SIMULATED

    values = [int(x) for x in text.split(",") if x.strip()]
    bad = [v for v in values if not 1 <= v <= MAX_SIMULATED]
    if not values or bad:
        raise ValueError(f"emulator counts must be 1..{MAX_SIMULATED}, got {text!r}")
    return values


def sweep(args: argparse.Namespace) -> int:
    from workbench.sweep import SweepMismatch, resolve_strategies, run_sweep

    try:
        emulators = _int_list(args.emulators)
        strategies = resolve_strategies(args.strategies)
    except ValueError as e:
        return _fail(str(e), 2)
    mode = "quick" if args.quick else "rigorous" if args.rigorous else "default"
    try:
        res = run_sweep(args.output, emulators, strategies, args.latency, mode)
    except SweepMismatch as e:
        return _fail(str(e), 2)
    print(f"{len(res.ran)} runs made, {len(res.skipped)} kept from before, {len(res.failed)} failed; "
          f"results in {args.output}")
    for name, err in res.failed.items():
        print(f"workbench: {name} failed:\n{err}", file=sys.stderr)
    return 1 if res.failed else 0


def compare(args: argparse.Namespace) -> int:
    import json

    import pandas as pd

    from workbench.errors import ResultsError
    from workbench.results import compare as do_compare, load_run
    from workbench.rundir import read_run_info
    from workbench.stats import METHOD

    for run in (args.run_a, args.run_b):
        if not run.is_dir():
            return _fail(f"no run directory {run}", 2)
    min_change = args.min_change if args.min_change is not None else args.threshold - 1
    if not (0 <= min_change < 10 and 0 < args.alpha < 1):
        return _fail(f"need 0 <= min-change < 10 and 0 < alpha < 1, got {min_change}, {args.alpha}", 2)
    try:
        ia, ib = read_run_info(args.run_a), read_run_info(args.run_b)
        table = do_compare(load_run(args.run_a), load_run(args.run_b), min_change, args.alpha)
    except ResultsError as e:
        return _fail(str(e), 2)
    if ia.code_sha256 != ib.code_sha256:
        print("workbench: warning: the runs were made with different workbench code "
              f"(format {ia.format_version} vs {ib.format_version})", file=sys.stderr)
    for name, info in (("A", ia), ("B", ib)):
        if info.data.get("injected"):
            print(f"workbench: note: run {name} has an injected slowdown: {info.data['injected']}",
                  file=sys.stderr)
    if table.empty:
        return _fail("the runs have no benchmark in common", 2)
    n_tests = len(table)
    counts = table["verdict"].value_counts()
    footer = (f"{counts.get('regression', 0)} regression(s), {counts.get('improvement', 0)} "
              f"improvement(s), {counts.get('underpowered', 0)} underpowered, out of {n_tests} tests; "
              f"method: {METHOD}; alpha {args.alpha}, minimum relevant change {min_change:.0%}")
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
            t = shown.drop(columns=["regression", "min_p"]).copy()
            for col in ("median_a_s", "median_b_s"):
                t[col] = t[col].map(lambda v: f"{v:.4g}")
            for col in ("ratio", "ci_low", "ci_high"):
                t[col] = t[col].map(lambda v: f"{v:.3f}")
            for col in ("p", "p_adj"):
                t[col] = t[col].map(lambda v: f"{v:.3g}")
            if not t.empty:
                print(t.to_string(index=False))
        print(f"\n{footer}")
    return 1 if counts.get("regression", 0) else 0


def trace(args: argparse.Namespace) -> int:
    """One driver startup plus one parse, on a fresh install and an empty cache, as Chrome JSON."""
    from workbench import trace as tr
    from workbench.bench.common import pick, x86_64_domains
    from workbench.emulators.install import install
    from workbench.qemu.domain_parse import format_domain_xml, parse_domain_xml
    from workbench.qemu.driver import DriverOptions, QemuDriver

    domains = x86_64_domains()
    if not domains:
        return _fail("no x86_64 domain in the corpus (data/domains)")
    dom = pick(domains, 1)[0]
    with tempfile.TemporaryDirectory(prefix="vct-") as tmp:
        inst = install(Path(tmp) / "inst", args.emulators, latency=args.latency)
        tr.TRACER.reset()
        tr.TRACER.enabled = True
        driver = QemuDriver(DriverOptions(str(inst.dest), args.strategy, Path(tmp) / "cache")).startup()
        format_domain_xml(parse_domain_xml(driver, dom.xml, source=dom.name, validate=True))
    meta = [{"name": "process_name", "ph": "M", "pid": p, "args": {"name": f"workbench ({args.strategy})"}}
            for p in {r.pid for r in tr.TRACER.records()}]
    path = tr.TRACER.write_chrome_trace(args.output, extra_events=meta)
    spans = [r.name for r in tr.TRACER.records()]
    print(f"wrote {path}: {len(spans)} spans ({spans.count('probe')} probes, {spans.count('qmp')} QMP "
          f"commands), {args.strategy}, {len(inst.targets)} emulators, latency {args.latency}; "
          f"open it in https://ui.perfetto.dev")
    return 0
