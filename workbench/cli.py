"""`workbench`: the command line. Parsing only; the actions live in workbench/actions.py,
workbench/bench_actions.py (sweep, compare, trace) and workbench/report_actions.py (report, run, lab).

Exit codes: 0 success, 1 the operation failed (probe, daemon, call), 2 bad input (usage, XML).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.emulators.catalog import MAX_SIMULATED

DESCRIPTION = """\
Measure what QEMU capability probing costs: libvirt's full capabilities object (virCaps, every
emulator probed at startup) against the per-emulator capabilities cache of libvirt >= 6.0.
Simulated emulators are real processes that speak QMP and replay recordings of Debian 12's
QEMU 7.2; real ones are the host's qemu-system-* binaries."""


BENCH_COMMANDS = {"sweep", "compare", "trace"}
REPORT_COMMANDS = {"report", "run", "lab"}


def _emulator_count(text: str) -> int | str:
    if text == "all":
        return text
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 1 to {MAX_SIMULATED} or 'all', got {text!r}") from None
    if not 1 <= n <= MAX_SIMULATED:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_SIMULATED} (or 'all' for 33), got {n}")
    return n


def _latency(text: str) -> str:
    if text in ("recorded", "none"):
        return text
    try:
        if float(text) < 0:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected recorded, none or a factor >= 0, got {text!r}") from None
    return text


def build_parser() -> argparse.ArgumentParser:
    from workbench.qemu.strategies import STRATEGIES

    p = argparse.ArgumentParser(prog="workbench", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    strategies = list(STRATEGIES)

    def add(name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=description or help)

    s = add("record", help="record probe transcripts from the real qemu-system-* binaries")
    s.add_argument("--qemu-dir", type=Path, default=Path("/usr/bin"), help="where the real binaries are (default: /usr/bin)")
    s.add_argument("-o", "--output", type=Path, required=True, help="directory for the .json.gz transcripts")

    s = add("install", help="write a simulated install of N replaying emulators")
    s.add_argument("dir", type=Path, help="directory to write qemu-system-<target> executables into")
    s.add_argument("--emulators", type=_emulator_count, default=MAX_SIMULATED,
                   help=f"how many, 1 to {MAX_SIMULATED}, in the fixed order starting with x86_64 ('all': 33; default {MAX_SIMULATED})")
    s.add_argument("--latency", type=_latency, default="recorded",
                   help="recorded: replay recorded timings (default); none: answer at once; FACTOR: scale them")

    s = add("probe", help="probe binaries with libvirt's QMP sequence (through the cache if --cache-dir)")
    s.add_argument("binaries", nargs="+", help="emulator executables, real or simulated")
    s.add_argument("--cache-dir", type=Path, help="use and fill this capabilities cache directory")
    s.add_argument("--json", action="store_true", help="print one JSON record per binary")
    s.add_argument("--timeout", type=float, default=10.0, help="time limit per probe step, seconds (default 10)")

    s = add("capabilities", help="print the full <capabilities> XML for an install")
    s.add_argument("--install", type=Path, required=True, help="directory holding the emulators")
    s.add_argument("--cache-dir", type=Path, help="capabilities cache directory (default: memory only)")

    s = add("parse", help="parse, post-parse and validate a domain XML; print the result")
    s.add_argument("file", type=Path)
    s.add_argument("--install", type=Path, required=True, help="directory holding the emulators")
    s.add_argument("--strategy", choices=strategies, default="per-emulator")
    s.add_argument("--cache-dir", type=Path, help="capabilities cache directory (default: memory only)")
    s.add_argument("--trace", action="store_true", help="also print the spans of the parse to stderr")

    s = add("daemon", help="serve the driver APIs as JSON-RPC 2.0 on a UNIX socket")
    s.add_argument("--socket", type=Path, required=True)
    s.add_argument("--install", type=Path, required=True, help="directory holding the emulators")
    s.add_argument("--strategy", choices=strategies, default="per-emulator")
    s.add_argument("--cache-dir", type=Path, help="capabilities cache directory (default: memory only)")
    s.add_argument("--config-dir", type=Path, help="persistent domain configs to load at startup")
    s.add_argument("--host-root", default="/", help="procfs/sysfs root for host probes (default /)")

    s = add("call", help="call one daemon API: workbench call --socket S METHOD key=value ...")
    s.add_argument("--socket", type=Path, required=True)
    s.add_argument("method")
    s.add_argument("params", nargs="*", metavar="key=value")

    s = add("sweep", help="run the pyperf benchmark grid over installs of 1..30 emulators",
            description="Run the pyperf benchmark grid. Modes (values per benchmark, so that "
                        "`workbench compare` can reach significance over ~1,100 benchmarks: it needs "
                        ">= 9 a side): --quick 10 cold / 20 warm, in-process; default (neither flag) "
                        "4 worker processes: 12 cold / 24 warm, roughly 2x quick's time; --rigorous "
                        "8 processes x 2 rounds: 48 cold / 96 warm, several hours on the full grid.")
    s.add_argument("--emulators", default="1,2,4,8,12,16,20,24,30",
                   help="comma-separated emulator counts (default 1,2,4,8,12,16,20,24,30)")
    s.add_argument("--strategies", default="all", help=f"comma-separated, or all ({', '.join(strategies)})")
    s.add_argument("--latency", type=_latency, default="recorded", help="emulator latency mode (default recorded)")
    speed = s.add_mutually_exclusive_group()
    speed.add_argument("--quick", action="store_true",
                       help="pyperf in-process: 10 values per cold-cache benchmark, 20 per warm one "
                            "(what `workbench run` uses; full grid roughly 20-25 min on 2 quiet cores)")
    speed.add_argument("--rigorous", action="store_true",
                       help="8 worker processes x 2 rounds: 48 values per cold benchmark, 96 per warm "
                            "(several hours on the full grid)")
    s.add_argument("-o", "--output", type=Path, required=True, help="run directory (resumed if it exists)")

    s = add("compare", help="compare two runs; exit 1 if a regression is flagged")
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

    s = add("trace", help="write one driver startup plus one parse as a Chrome trace (Perfetto)")
    s.add_argument("--strategy", choices=strategies, default="full-caps")
    s.add_argument("--emulators", type=_emulator_count, default=MAX_SIMULATED)
    s.add_argument("--latency", type=_latency, default="recorded")
    s.add_argument("-o", "--output", type=Path, default=Path("trace.json"))

    s = add("report", help="run the notebooks with papermill on a results run; write HTML reports")
    s.add_argument("--results", type=Path, default=None,
                   help="results run directory (default: the committed reference run, data/results/reference)")
    s.add_argument("-o", "--output", type=Path, default=Path("reports"), help="report directory (default reports/)")

    s = add("run", help="the main job: simulated installs, the benchmark sweep (1..30 emulators, "
                       "quick mode, roughly 15-20 min; resumes an existing -o) and the report; "
                       "prints the path of index.html")
    s.add_argument("--quick", action="store_true", help="sweep 1, 8 and 30 emulators only (a few minutes)")
    s.add_argument("-o", "--output", type=Path, default=Path("runs/latest"), help="run directory (default runs/latest)")
    s.add_argument("--reports", type=Path, default=Path("reports"), help="report directory (default reports/)")

    s = add("lab", help="open JupyterLab on notebooks/ (.py notebooks open as notebooks via jupytext)")
    s.add_argument("--port", type=int, default=8888)
    s.add_argument("--no-browser", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import importlib

    module = ("workbench.bench_actions" if args.command in BENCH_COMMANDS else
              "workbench.report_actions" if args.command in REPORT_COMMANDS else "workbench.actions")
    try:
        return getattr(importlib.import_module(module), args.command)(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
