"""Report commands: report (notebooks -> HTML), run (the main job: sweep + report), lab (JupyterLab),
readme-figures (the numbers README files quote, regenerated from the run they quote)."""
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

from workbench.args import libvirt_option
from workbench.errors import UsageError
from workbench.paths import NOTEBOOKS_DIR, RESULTS_DIR

REFERENCE_RUN = RESULTS_DIR / "reference"
# `workbench run`: the emulator counts of the main grid (workbench.bench.sweep.main_grid): libvirt's two
# strategies at every count of the first tuple, the newer strategies at the second. Both grids
# use the sweep's quick mode, so a --short run directory is resumed, not refused, by a later full
# `workbench run` on the same -o. Wall times measured on the reference machine (2 cores) are in
# data/results/reference/README.md.
FULL_GRID = ((1, 2, 4, 8, 16, 30), (1, 8, 30))
SHORT_GRID = ((1, 8, 30), (1, 30))
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

    s = sub.add_parser("readme-figures", help="regenerate the numbers README files quote from the run they quote",
                       description="Rewrite the generated sections (<!-- figures:KEY --> ... <!-- /figures:KEY -->) "
                                   "of README files from a results run: its results, pyperf metadata and "
                                   "machine.json. Text outside the markers is left alone. With --check nothing "
                                   "is written; exit 1 when a section differs from what the run gives.")
    s.add_argument("--results", type=Path, default=REFERENCE_RUN, metavar="RUN",
                   help="the run the README quotes (default: data/results/reference)")
    s.add_argument("--readme", type=Path, action="append", default=None, metavar="FILE",
                   help="a README with generated sections; repeatable (default: RUN/README.md, and the "
                        "repository's README.md when RUN is the committed reference)")
    s.add_argument("--check", action="store_true", help="write nothing; exit 1 when a section is stale")
    s.set_defaults(func=readme_figures)

    s = sub.add_parser("run", help="the main job: simulated installs, the benchmark sweep (1..30 emulators, "
                                   "every strategy, about 50 min on 2 cores; resumes an existing -o) "
                                   "and the report; prints the path of index.html",
                       description=run.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--short", "--quick", dest="short", action="store_true",
                   help="the short grid: 1, 8 and 30 emulators (newer strategies 1 and 30), about a third "
                        "of the time; the values per benchmark are the same (--quick is an older name "
                        "for it, unrelated to `sweep --quick`)")
    libvirt_option(s)
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
    from workbench.analysis.report import render_report

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


def readme_figures(args: argparse.Namespace) -> int:
    """Regenerate (or with --check, compare) the generated sections of each README from --results."""
    from workbench.analysis import figures
    from workbench.paths import REPO_ROOT

    run_dir = Path(args.results)
    if not run_dir.is_dir():
        raise UsageError(f"--results {run_dir}: not a run directory")
    readmes = args.readme or ([run_dir / "README.md"] + (
        [REPO_ROOT / "README.md"] if run_dir.resolve() == REFERENCE_RUN.resolve() else []))
    stale_any = False
    for readme in readmes:
        if not Path(readme).is_file():
            raise UsageError(f"--readme {readme}: no such file")
        stale = figures.update(Path(readme), run_dir, check=args.check)
        stale_any |= bool(stale)
        verb = "differ from the run" if args.check else "rewritten"
        print(f"{readme}: {len(stale)} section(s) {verb}" + (f": {', '.join(stale)}" if stale else ""))
    return 1 if args.check and stale_any else 0


def run(args: argparse.Namespace) -> int:
    """The main job: a simulated install of every emulator count (made by the sweep, replaying
    recorded QEMU 7.2 timings), the benchmark sweep into -o, then the report into --reports.

    The grid (workbench.bench.sweep.main_grid): libvirt's two strategies (full-caps, per-emulator) run
    every benchmark on a cold cache at 1, 2, 4, 8, 16 and 30 emulators and on a warm one at 1 and
    30; the newer strategies run startup, the APIs and the scenarios cold at 1, 8 and 30; the
    parallel pool's scaling at 30; real libvirt 9.0 on the same installs where it is installed
    (skipped with the reason where not; --libvirt PREFIX|system, repeatable, picks the builds,
    e.g. the system's and the patched one of scripts/build-libvirt.sh). About 50 minutes on 2 cores; --short (1, 8, 30) about a
    third of that. The sweep's quick mode throughout: 5 pyperf worker processes, 1 value each on a
    cold cache and 4 on a warm one (`workbench sweep --rigorous` is the slow, careful one).
    An existing -o made with the same code is resumed: only missing benchmarks run.
    """
    from workbench.bench.sweep import main_grid, run_sweep
    from workbench.commands.bench import libvirt_values

    libvirt = libvirt_values(args.libvirt)  # a bad prefix stops here, before anything runs

    started = time.monotonic()
    emulators, beyond = SHORT_GRID if args.short else FULL_GRID
    print(f"sweep: libvirt's strategies at {list(emulators)} emulators, the newer ones at {list(beyond)}, "
          f"simulated emulators (recorded latency), into {args.output}", flush=True)
    res = run_sweep(args.output, latency="recorded", mode=SWEEP_MODE, blocks=main_grid(emulators, beyond),
                    libvirt=libvirt)
    for name, err in res.failed.items():
        print(f"workbench: {name} failed:\n{err}", file=sys.stderr)
    print(f"sweep: {len(res.ran)} benchmarks run, {len(res.skipped)} kept from before, "
          f"{len(res.failed)} failed", flush=True)
    from workbench.bench.startup_traces import TRACES_DIR, TraceError, make_traces

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
    from workbench.analysis.report import ensure_kernel

    ensure_kernel()
    settings = _lab_settings()
    try:
        return subprocess.run(lab_command(args.port, args.no_browser, settings)).returncode
    except KeyboardInterrupt:
        return 0
    finally:
        shutil.rmtree(settings.parent, ignore_errors=True)
