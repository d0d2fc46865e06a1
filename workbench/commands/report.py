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
from workbench.bench.stop_rule import BUDGET_S, TARGET_MDC
from workbench.errors import UsageError
from workbench.paths import NOTEBOOKS_DIR, RESULTS_DIR

REFERENCE_RUN = RESULTS_DIR / "reference"


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

    s = sub.add_parser("run", help="the main job: the answer on page one with a 95%% CI beside each headline "
                                   "ratio, in about 5 min on 2 cores (--full: the whole grid); then the report",
                       description=run.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--full", action="store_true",
                   help="the full grid (every benchmark; libvirt's strategies at 1, 2, 4, 8, 16, 30 "
                        "emulators, the newer ones at 1, 8, 30; 5 processes each), as the committed "
                        "reference run; resumable")
    s.add_argument("--budget", type=_seconds, default=None, metavar="SECONDS",
                   help="the main job's wall-time budget, report included, that the adaptive part plans "
                        f"for (default {BUDGET_S:g}); the first pass always runs whole")
    s.add_argument("--reference", type=Path, default=None, metavar="RUN",
                   help="a run the report draws beside this one and judges each headline against "
                        "(e.g. data/results/reference)")
    libvirt_option(s)
    s.add_argument("-o", "--output", type=Path, default=None,
                   help="run directory (default runs/latest, or runs/full with --full); resumed if it exists")
    s.add_argument("--reports", type=Path, default=Path("reports"), help="report directory (default reports/)")
    s.set_defaults(func=run)

    s = sub.add_parser("lab", help="open JupyterLab on notebooks/ (.py notebooks open as notebooks via jupytext)",
                       description=lab.__doc__)
    s.add_argument("--port", type=int, default=8888, help="port to serve JupyterLab on (default 8888)")
    s.add_argument("--no-browser", action="store_true", help="do not open a browser")
    s.add_argument("--open", default="explore", metavar="NOTEBOOK",
                   help="the notebook opened first (default explore: measure a question live; "
                        "'' opens none)")
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


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = -1
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return v


def run(args: argparse.Namespace) -> int:
    """The main job, then the report into --reports; prints its duration at the end.

    workbench run: what the index page says, with a 95% confidence interval across worker
    processes beside each headline ratio: cold daemon startup under full-caps and per-emulator at
    1, 8 and 30 emulators (the cover letter), a cold container's client (spawn, get_version,
    domcapabilities, define) under every strategy at 30, and real libvirt 9.0's cold container on
    the same install where libvirt is installed (skipped with the reason where not). Simulated
    emulators replaying recorded QEMU 7.2 timings. About 5 minutes on 2 cores, report included;
    the expected duration is printed first. Adaptive: {rule}.

    workbench run --full: the full grid (workbench.bench.sweep.main_grid): libvirt's two strategies on
    every benchmark cold at 1, 2, 4, 8, 16 and 30 emulators and warm at 1 and 30; the newer
    strategies on startup, the APIs and the scenarios cold at 1, 8 and 30; the parallel pool's
    scaling at 30; replay fidelity on the host's real QEMU; real libvirt 9.0 where installed; the
    startup traces. The sweep's quick mode: 5 processes, 1 value each on a cold cache, 4 warm.

    An existing -o made with the same code and job is resumed: only what is missing runs.
    """
    from workbench.commands.bench import libvirt_values

    libvirt = libvirt_values(args.libvirt)  # a bad prefix stops here, before anything runs
    started = time.monotonic()
    if args.full:
        out = args.output or Path("runs/full")
        status = _run_full(out, libvirt)
    else:
        from workbench.bench import mainjob

        out = args.output or Path("runs/latest")
        budget = args.budget or BUDGET_S
        from workbench.bench.sweep import resolve_strategies

        jobs = mainjob.answer_jobs(resolve_strategies("all"), True)
        first = mainjob.expected_first_pass_s(jobs)
        print(f"run: the answer (cover letter, cold container at {mainjob.N} for every strategy, real "
              f"libvirt 9.0 where installed) into {out}; expected about {_minutes(first + mainjob.REPORT_S)} "
              f"(first pass {_minutes(first)} from the reference run's job times, report "
              f"{_minutes(mainjob.REPORT_S)}), then more processes until each headline benchmark can detect "
              f"a {TARGET_MDC:.0%} change and where the CIs are wide, up to "
              f"{_minutes(budget)} in all", flush=True)
        res = mainjob.run_answer(out, budget, started=started, libvirt=libvirt)
        status = _sweep_status(res)
    status = max(status, make_report(out, args.reports, reference=args.reference))
    took = time.monotonic() - started
    if not args.full:
        from workbench.bench import mainjob

        for line in mainjob.summary_lines(out):
            print(f"answer: {line}", flush=True)
        mainjob.record_duration(out, took)
    print(f"run: took {_minutes(took)} (sweep and report)", flush=True)
    return status


def _minutes(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def _sweep_status(res) -> int:
    for name, err in res.failed.items():
        print(f"workbench: {name} failed:\n{err}", file=sys.stderr)
    print(f"sweep: {len(res.ran)} benchmarks run, {len(res.skipped)} kept from before, "
          f"{len(res.failed)} failed", flush=True)
    return 1 if res.failed else 0


def _run_full(out: Path, libvirt: list[str]) -> int:
    from workbench.bench.sweep import FULL_GRID, SWEEP_MODE, main_grid, run_sweep

    emulators, beyond = FULL_GRID
    print(f"sweep: libvirt's strategies at {list(emulators)} emulators, the newer ones at {list(beyond)}, "
          f"simulated emulators (recorded latency), into {out}", flush=True)
    res = run_sweep(out, latency="recorded", mode=SWEEP_MODE, blocks=main_grid(emulators, beyond),
                    libvirt=libvirt)
    status = _sweep_status(res)
    from workbench.bench.startup_traces import TRACES_DIR, TraceError, make_traces

    try:  # the startup timeline of the report: a few seconds
        traces = make_traces(Path(out) / TRACES_DIR)
        print(f"traces: {', '.join(str(p) for p in traces)}", flush=True)
    except TraceError as e:
        print(f"workbench: {e}", file=sys.stderr)
        status = 1
    return status


def _fill_run_doc() -> None:
    from workbench.bench.stop_rule import stop_rule

    import textwrap

    rule = textwrap.fill(f"Adaptive: {stop_rule()}.", 96, initial_indent="    ", subsequent_indent="    ")
    run.__doc__ = run.__doc__.replace("    the expected duration is printed first. Adaptive: {rule}.",
                                      "    the expected duration is printed first.\n" + rule)


_fill_run_doc()


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


def lab_command(port: int, no_browser: bool, settings: Path, notebook: str = "explore") -> list[str]:
    """JupyterLab on notebooks/, opening `notebook` (default: explore, the live one) first."""
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={NOTEBOOKS_DIR}",
           f"--port={port}", f"--LabApp.app_settings_dir={settings}"]
    if notebook:
        cmd.append(str(NOTEBOOKS_DIR / f"{notebook}.py"))
    if os.geteuid() == 0:  # containers run as root; JupyterLab refuses root unless told
        cmd.append("--allow-root")
    return cmd + (["--no-browser"] if no_browser else [])


def lab(args: argparse.Namespace) -> int:
    """JupyterLab on notebooks/, .py notebooks opening as notebooks (jupytext), kernel python3;
    explore.py (live measurement: strategies, counts, benchmark and cache state in its parameter
    cell) open first."""
    from workbench.analysis.report import ensure_kernel

    ensure_kernel()
    settings = _lab_settings()
    try:
        return subprocess.run(lab_command(args.port, args.no_browser, settings, args.open)).returncode
    except KeyboardInterrupt:
        return 0
    finally:
        shutil.rmtree(settings.parent, ignore_errors=True)
