"""Notebooks -> HTML report: jupytext (py:percent -> ipynb), papermill (execute), nbconvert (HTML).

Layout of a report directory:

    index.html               the answer (one sentence, the headline figure, the headline table),
                             then every notebook's page with its one-line description
    index/                   the headline figure (PNG) and table (CSV)
    <name>.html              the executed notebook without code cells, figures embedded
    <name>/                  the figures (PNG) and tables (CSV) the notebook wrote (output_dir)
    executed/<name>.ipynb    the executed notebook (kept, with the error, when a cell fails)

The .ipynb made from a .py notebook is written into the report directory, never beside the
notebook (notebooks/*.ipynb must not land in the repository).

Several runs (`results` a list: machines, QEMU versions) go to every notebook as a list in
`results_dir` and are drawn side by side; a `reference` run goes as `reference_dir` and is drawn
beside them (and judged against in the summary).
"""
from __future__ import annotations

import html
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from workbench.paths import NOTEBOOKS_DIR

KERNEL = "python3"
# Report order; a notebook not listed here follows, alphabetically.
ORDER = ("summary", "startup_scaling", "apis", "parse_path", "probe_anatomy", "model_vs_reality", "next_steps",
         "host_api")


# Notebooks that measure while they run (live exploration): opened in JupyterLab, run with
# papermill by hand, never rendered into a report (a report reads results only).
LIVE = ("explore",)


@dataclass(frozen=True)
class NotebookInfo:
    name: str         # file stem: <name>.py, <name>.html, <name>/
    title: str        # the first markdown heading
    description: str  # the first paragraph after it
    path: Path


@dataclass
class Outcome:
    notebook: NotebookInfo
    html: Path | None
    executed: Path
    error: str | None = None  # names the notebook and the failing cell
    seconds: float = 0.0


def describe_notebooks(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[NotebookInfo]:
    """Every py:percent notebook in the dir, in report order, with title and description taken
    from its first markdown cell (so a new notebook needs no registration here)."""
    import jupytext

    infos = []
    for path in Path(notebooks_dir).glob("*.py"):
        if path.stem in LIVE:
            continue
        nb = jupytext.read(path, fmt="py:percent")
        md = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
        lines = [ln.strip() for ln in md.splitlines()]
        title = next((ln.lstrip("# ") for ln in lines if ln.startswith("#")), path.stem)
        start = next((i for i, ln in enumerate(lines) if ln and not ln.startswith("#")), len(lines))
        end = next((i for i in range(start, len(lines)) if not lines[i]), len(lines))
        desc = " ".join(lines[start:end]).replace("**", "").replace("`", "")  # first paragraph, as text
        infos.append(NotebookInfo(path.stem, title, desc, path))
    rank = {n: i for i, n in enumerate(ORDER)}
    return sorted(infos, key=lambda i: (rank.get(i.name, len(ORDER)), i.name))


def ensure_kernel(name: str = KERNEL) -> None:
    """papermill runs every notebook on the kernel `python3`: install it for this interpreter
    (ipykernel install --user) when Jupyter cannot find it."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        print(f"workbench: no Jupyter kernel named {name!r}; installing one for {sys.executable} "
              f"(python -m ipykernel install --user --name {name})", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--user", "--name", name],
                       check=True)


def kernel_manager_class() -> type:
    """A kernel manager for a kernel on this very interpreter (whatever kernelspecs the user has
    installed: a venv's report must not run on another Python), over IPC sockets. IPC, not TCP:
    ipykernel warns on every start that TCP without CurveZMQ keys is unencrypted, and local
    sockets need no port. -Xfrozen_modules=off: the debugger's warning about frozen modules
    (Python 3.11) is moot here. A class, not an instance, so that nbclient owns the kernel and
    shuts it down after the notebook."""
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    class ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            spec = get_kernel_dict()  # argv: [sys.executable, -m, ipykernel_launcher, -f, ...]
            spec["argv"] = [spec["argv"][0], "-Xfrozen_modules=off", *spec["argv"][1:]]
            return KernelSpec(resource_dir=RESOURCES, **spec)

    class ThisPythonOverIPC(AsyncKernelManager):
        def __init__(self, **kwargs) -> None:
            # Each kernel its own socket prefix: the default ("kernel-ipc" in the working
            # directory) is shared by kernels started side by side, which then pick the same
            # socket files and read each other's messages (invalid signatures).
            import tempfile
            import uuid

            ip = str(Path(tempfile.gettempdir()) / f"wb-kernel-{uuid.uuid4().hex[:12]}")
            super().__init__(transport="ipc", ip=ip, kernel_spec_manager=ThisPython(), **kwargs)

    return ThisPythonOverIPC


def _cell_error(e: Exception, executed: Path) -> str:
    """'cell N (In [K]: `first source line`) failed: Ename: message'. The source line is taken from
    the executed copy's cell that holds the error output (papermill adds a banner cell on top)."""
    import nbformat

    where = f"cell {getattr(e, 'cell_index', '?')} (In [{getattr(e, 'exec_count', '?')}]"
    try:
        cells = nbformat.read(executed, as_version=4).cells
        bad = next(c for c in cells if c.cell_type == "code"
                   and any(o.get("output_type") == "error" for o in c.get("outputs", [])))
        first = next((ln for ln in bad.source.splitlines() if ln.strip()), "")
        where += f": `{first.strip()[:80]}`"
    except (OSError, StopIteration, ValueError):
        pass
    what = f"{getattr(e, 'ename', type(e).__name__)}: {getattr(e, 'evalue', e)}"
    return f"{where}) failed: {what}"


# Every page says what it may load: its own files, inline styles and data: images (the embedded
# figures); no script at all, so whatever slipped past escaping (a run name, a path, metadata
# in Markdown) stays inert. nbconvert's own scripts (MathJax, require.js) are not needed.
CONTENT_SECURITY_POLICY = ("default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                           "font-src 'self' data:; base-uri 'none'; form-action 'none'")
CSP_META = f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'


def with_csp(page: str) -> str:
    """The page with the policy as the first element of its <head> (before anything it governs)."""
    m = re.search(r"<head(\s[^>]*)?>", page, re.I)
    if m is None:
        raise ValueError("page without <head>")
    return page[:m.end()] + "\n" + CSP_META + page[m.end():]


def to_html(executed: Path, dest: Path, title: str) -> Path:
    """HTML without code cells or prompts; matplotlib's PNG outputs stay embedded as data: URIs."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4),
                                          resources={"metadata": {"name": title}})
    dest.write_text(with_csp(body), encoding="utf-8")
    return dest


def run_notebook(info: NotebookInfo, out: Path, parameters: dict) -> Outcome:
    """Execute one notebook with papermill and render it; a failing cell is reported, not raised."""
    import jupytext
    import papermill as pm

    work = out / "executed"
    work.mkdir(parents=True, exist_ok=True)
    source = work / f".{info.name}.source.ipynb"
    executed = work / f"{info.name}.ipynb"
    jupytext.write(jupytext.read(info.path, fmt="py:percent"), source, fmt="ipynb")
    # Pass only the parameters the notebook declares (papermill would inject any name).
    declared = pm.inspect_notebook(str(source))
    params = {k: v for k, v in parameters.items() if k in declared}
    params["output_dir"] = str(out / info.name)
    error = None
    started = time.monotonic()
    try:
        pm.execute_notebook(str(source), str(executed), parameters=params, kernel_name=KERNEL,
                            cwd=str(info.path.parent), progress_bar=False,
                            kernel_manager_class=kernel_manager_class())
    except pm.PapermillExecutionError as e:
        error = f"notebook {info.name} ({info.path}): {_cell_error(e, executed)}"
    except Exception as e:  # kernel died, bad notebook: still one notebook's failure
        error = f"notebook {info.name} ({info.path}): {type(e).__name__}: {e}"
    finally:
        source.unlink(missing_ok=True)
    seconds = time.monotonic() - started
    page = None
    if executed.exists():
        page = to_html(executed, out / f"{info.name}.html", info.title)
    return Outcome(info, page, executed, error, seconds)


def _answer_html(out: Path, results: Sequence[Path], reference: Path | None) -> str:
    """The index's top: the answer sentence, the headline figure and the headline table, computed
    from the runs here (not from a notebook, so the answer shows even if a notebook fails)."""
    from workbench.analysis import headline, plots, tables

    runs = list(results) + ([reference] if reference and reference not in results else [])
    frames = []
    for run, label in zip(runs, plots.run_labels(runs)):
        if any(Path(run).glob("*.json")):
            from workbench.analysis.results import load_run
            frames.append(plots.with_run_machine(load_run(run), run).assign(
                run=label + (" (reference)" if reference and run == reference and len(runs) > 1
                             and "reference" not in label else "")))
    if not frames:
        return "<p>No results to answer from.</p>"
    import pandas as pd

    from workbench.analysis.teardown import at_default_teardown

    whole = pd.concat(frames, ignore_index=True)  # compare tests every benchmark: the detectable change too
    df = at_default_teardown(whole)
    several = df["run"].nunique() > 1
    if not several:
        df["run"] = ""
        whole["run"] = ""
    ans = headline.answer(df)
    parts = [f'<p class="answer">{ans.sentence()}</p>']
    if ans.lines:
        fig = headline.figure(df, ans)
        (out / "index").mkdir(parents=True, exist_ok=True)
        fig.savefig(out / "index" / "headline.png", dpi=100, bbox_inches="tight")
        import matplotlib.pyplot as plt
        plt.close(fig)
        caption = ("Left: cold daemon startup against the number of emulators installed, every "
                   "strategy, log axes: median line, interquartile band, every value as a dot; the "
                   "cover letter's ratio at the largest count as a bracket with its 95% CI across "
                   "worker processes. Right: a cold container's client (spawn to last answer) at the "
                   "largest count, every strategy and real libvirt 9.0 where measured: geometric mean "
                   "of the process medians with its 95% CI")
        label = tables.provenance_label(ans.kind, ans.source)
        parts.append(f'<figure id="headline-figure"><img src="index/headline.png" '
                     f'alt="{html.escape(caption + " (" + label + ")", quote=True)}" style="max-width:100%">'
                     f'<figcaption>{html.escape(caption)}.<br><em>{html.escape(label)}</em></figcaption></figure>')
    ref_label = None
    if reference and reference not in results and len(runs) > 1:  # the last frame is the reference's
        ref_label = frames[-1]["run"].iloc[0] if len(frames[-1]) else None
    ratios = headline.show_ratios_table(df, out / "index", ref_label, whole)
    if ratios is not None:
        parts.append(ratios.html)
    table = headline.show_headline_table(df, out / "index", several)
    if table is not None:
        parts.append(table.html)
    return "\n".join(parts)


def write_index(out: Path, outcomes: list[Outcome], results: Path | Sequence[Path],
                reference: Path | None = None) -> Path:
    results = [Path(results)] if isinstance(results, (str, Path)) else [Path(r) for r in results]
    items = []
    for o in outcomes:
        n = o.notebook
        link = (f'<a href="{html.escape(o.html.name)}">{html.escape(n.title)}</a>' if o.html
                else html.escape(n.title))
        status = (f' <strong style="color:#b00">FAILED: {html.escape(o.error)}</strong>'
                  if o.error else "")
        items.append(f"<li>{link}: {html.escape(n.description)}{status}</li>")
    try:
        answer = _answer_html(out, results, reference)
    except Exception as e:  # the pages below still help: say what failed, do not hide it
        answer = (f'<p><strong style="color:#b00">FAILED to compute the headline: '
                  f'{html.escape(type(e).__name__)}: {html.escape(str(e))}</strong></p>')
    runs = ", ".join(f"<code>{html.escape(str(r))}</code>" for r in results)
    ref = f"; reference <code>{html.escape(str(reference))}</code>" if reference else ""
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8">{CSP_META}<title>virtcaps-workbench report</title>
<style>body{{font-family:sans-serif;max-width:72em;margin:2em auto;padding:0 1em;line-height:1.5}}
p.answer{{font-size:1.15em}} figure{{margin:1em 0}} figcaption{{font-size:13px}}</style></head>
<body><h1>What does probing every QEMU emulator at startup cost?</h1>
{answer}
<h2>Pages</h2>
<ul>
{chr(10).join(items)}
</ul>
<p>Results: {runs}{ref}. Figures (PNG) and tables (CSV) of each page are in the folder of the same name.</p>
</body></html>
"""
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def render_workers() -> int:
    """Notebooks rendered side by side: one per core, at most 4 (each holds a kernel in memory)."""
    import os

    return max(1, min(4, len(os.sched_getaffinity(0))))


def render_report(results: Path | Sequence[Path], out: Path, notebooks_dir: Path = NOTEBOOKS_DIR,
                  parameters: dict | None = None, reference: Path | None = None,
                  progress: Callable[[str], None] | None = None, workers: int | None = None) -> list[Outcome]:
    """Run every notebook of notebooks_dir on the run(s) `results` (and the `reference` run) into
    `out`, `workers` at a time (default: render_workers()); write index.html. progress gets one
    line per notebook as it finishes: '[3/6] apis 5.5 s'."""
    out = Path(out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    runs = [Path(results)] if isinstance(results, (str, Path)) else [Path(r) for r in results]
    runs = [r.absolute() for r in runs]
    reference = Path(reference).absolute() if reference else None
    params = {"results_dir": str(runs[0]) if len(runs) == 1 else [str(r) for r in runs],
              "link_suffix": ".html", "index_link": "index.html"}
    if reference:
        params["reference_dir"] = str(reference)
    params |= parameters or {}
    infos = describe_notebooks(notebooks_dir)
    outcomes: list[Outcome | None] = [None] * len(infos)

    def finished(i: int, o: Outcome) -> None:
        outcomes[i] = o
        if progress:  # numbered by report order (notebooks side by side finish in any order)
            progress(f"[{i + 1}/{len(infos)}] {o.notebook.name} {o.seconds:.1f} s" + (" FAILED" if o.error else ""))

    workers = max(1, min(workers or render_workers(), len(infos)))
    if workers == 1:
        for i, info in enumerate(infos):
            finished(i, run_notebook(info, out, params))
    else:  # notebooks only read results: they can run side by side once nothing is measured
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(run_notebook, info, out, params): i for i, info in enumerate(infos)}
            for f in as_completed(futures):
                finished(futures[f], f.result())
    outcomes = [o for o in outcomes if o is not None]
    write_index(out, outcomes, runs, reference)
    return outcomes
