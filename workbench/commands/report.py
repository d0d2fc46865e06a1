"""Report commands: report (notebooks -> HTML), run (the main job: sweep + report), lab (JupyterLab)."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workbench.errors import UsageError
from workbench.paths import NOTEBOOKS_DIR, RESULTS_DIR

REFERENCE_RUN = RESULTS_DIR / "reference"
# `workbench run`: the emulator counts of the sweep. Both use the sweep's quick mode (pyperf
# 5 worker processes x 2 values per cold benchmark, x 4 per warm one), so a --quick run directory is resumed, not refused, by a
# later full `workbench run` on the same -o. --quick keeps the ends (1 and the cover letter's 30)
# and one point between: a few minutes on 2 cores. The full grid takes about 15 to 20 minutes.
QUICK_EMULATORS = (1, 8, 30)
FULL_EMULATORS = (1, 2, 4, 8, 12, 16, 20, 24, 30)
SWEEP_MODE = "quick"


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("report", help="run the notebooks with papermill on a results run; write HTML reports",
                       description="Run every notebook on a results run and write an HTML report.")
    s.add_argument("--results", type=Path, action="append", default=None, metavar="RUN",
                   help="results run directory; repeat it to show several runs side by side "
                        "(default: the committed reference run, data/results/reference)")
    s.add_argument("--reference", type=Path, default=None, metavar="RUN",
                   help="a run drawn beside the others as the reference, and judged against")
    s.add_argument("-o", "--output", type=Path, default=Path("reports"), help="report directory (default reports/)")
    s.set_defaults(func=report)

    s = sub.add_parser("run", help="the main job: simulated installs, the benchmark sweep (1..30 emulators, "
                                   "quick mode, roughly 15-20 min; resumes an existing -o) and the report; "
                                   "prints the path of index.html",
                       description=run.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--quick", action="store_true", help="sweep 1, 8 and 30 emulators only (a few minutes)")
    s.add_argument("-o", "--output", type=Path, default=Path("runs/latest"), help="run directory (default runs/latest)")
    s.add_argument("--reports", type=Path, default=Path("reports"), help="report directory (default reports/)")
    s.set_defaults(func=run)

    s = sub.add_parser("lab", help="open JupyterLab on notebooks/ (.py notebooks open as notebooks via jupytext)",
                       description=lab.__doc__)
    s.add_argument("--port", type=int, default=8888, help="port to serve JupyterLab on (default 8888)")
    s.add_argument("--no-browser", action="store_true", help="do not open a browser")
    s.set_defaults(func=lab)


def make_report(results: Path | list[Path], output: Path, notebooks_dir: Path = NOTEBOOKS_DIR,
                parameters: dict | None = None, reference: Path | None = None) -> int:
    """Render the report, printing one line per notebook; print where it is and every failing
    notebook. 1 if any failed."""
    from workbench.report import render_report

    runs = [results] if isinstance(results, (str, Path)) else list(results)
    for run in runs + ([reference] if reference else []):
        if not Path(run).is_dir():
            raise UsageError(f"no results run directory {run}")
    outcomes = render_report(runs, output, notebooks_dir, parameters, reference,
                             progress=lambda line: print(line, flush=True))
    for o in outcomes:
        if o.error:
            print(f"workbench: {o.error}; executed copy: {o.executed}", file=sys.stderr)
    failed = sum(o.error is not None for o in outcomes)
    print(f"report: {(Path(output) / 'index.html').absolute()} ({len(outcomes) - failed} of "
          f"{len(outcomes)} notebooks rendered without error)")
    return 1 if failed else 0


def report(args: argparse.Namespace) -> int:
    """Run every notebook on --results (default: the committed reference run; several runs are
    shown side by side) and --reference (drawn beside them, judged against) into -o."""
    results = args.results or [REFERENCE_RUN]
    if not isinstance(results, list):
        results = [results]
    return make_report(results, args.output, reference=getattr(args, "reference", None))


def run(args: argparse.Namespace) -> int:
    """The main job: a simulated install of every emulator count (made by the sweep, replaying
    recorded QEMU 7.2 timings), the benchmark sweep into -o, then the report into --reports.

    --quick sweeps 1, 8 and 30 emulators (a few minutes); without it, the full grid 1..30
    (about 15 to 20 minutes on 2 cores). Both use the sweep's quick mode (5 pyperf worker
    processes x 2 values per cold benchmark, x 4 per warm one); `workbench sweep --rigorous` is the slow, careful one.
    An existing -o made with the same code is resumed: only missing benchmarks run.
    """
    from workbench.sweep import run_sweep

    started = time.monotonic()
    emulators = QUICK_EMULATORS if args.quick else FULL_EMULATORS
    print(f"sweep: {len(emulators)} emulator counts {list(emulators)}, simulated emulators "
          f"(recorded latency), into {args.output}", flush=True)
    res = run_sweep(args.output, emulators, None, "recorded", SWEEP_MODE)
    for name, err in res.failed.items():
        print(f"workbench: {name} failed:\n{err}", file=sys.stderr)
    print(f"sweep: {len(res.ran)} benchmarks run, {len(res.skipped)} kept from before, "
          f"{len(res.failed)} failed", flush=True)
    from workbench.startup_traces import TRACES_DIR, TraceError, make_traces

    try:  # the startup timeline of the report: a few seconds
        traces = make_traces(Path(args.output) / TRACES_DIR)
        print(f"traces: {', '.join(str(p) for p in traces)}", flush=True)
    except TraceError as e:
        print(f"workbench: {e}", file=sys.stderr)
        res.failed["startup traces"] = str(e)
    status = make_report(args.output, args.reports)
    took = int(time.monotonic() - started)
    print(f"run: took {took // 60} min {took % 60} s (sweep and report)", flush=True)
    return 1 if res.failed else status


def _lab_settings() -> Path:
    """A copy of JupyterLab's app settings dir whose overrides open .py files as notebooks
    (jupytext's 'Jupytext Notebook' viewer): the user's own settings still win, and nothing of
    theirs is written to. JupyterLab finds its built app beside the settings dir, so we link it."""
    from jupyterlab.commands import get_app_dir

    app = Path(get_app_dir())
    root = Path(tempfile.mkdtemp(prefix="workbench-lab-"))
    settings = root / "settings"
    if (app / "settings").is_dir():
        shutil.copytree(app / "settings", settings)
    settings.mkdir(exist_ok=True)
    for entry in app.iterdir():
        if entry.name != "settings":
            (root / entry.name).symlink_to(entry)
    overrides = settings / "overrides.json"
    data = json.loads(overrides.read_text()) if overrides.exists() else {}
    viewers = data.setdefault("@jupyterlab/docmanager-extension:plugin", {}).setdefault("defaultViewers", {})
    viewers.setdefault("python", "Jupytext Notebook")
    overrides.write_text(json.dumps(data, indent=2))
    return settings


def lab_command(port: int, no_browser: bool, settings: Path) -> list[str]:
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={NOTEBOOKS_DIR}",
           f"--port={port}", f"--LabApp.app_settings_dir={settings}"]
    if os.geteuid() == 0:  # containers run as root; JupyterLab refuses root unless told
        cmd.append("--allow-root")
    return cmd + (["--no-browser"] if no_browser else [])


def lab(args: argparse.Namespace) -> int:
    """JupyterLab on notebooks/, .py notebooks opening as notebooks (jupytext), kernel python3."""
    from workbench.report import ensure_kernel

    ensure_kernel()
    settings = _lab_settings()
    try:
        return subprocess.run(lab_command(args.port, args.no_browser, settings)).returncode
    except KeyboardInterrupt:
        return 0
    finally:
        shutil.rmtree(settings.parent, ignore_errors=True)
