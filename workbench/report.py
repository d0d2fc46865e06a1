"""Notebooks -> HTML report: jupytext (py:percent -> ipynb), papermill (execute), nbconvert (HTML).

Layout of a report directory:

    index.html               links to every notebook's page with its one-line description
    <name>.html              the executed notebook without code cells, figures embedded
    <name>/                  the figures (PNG) and tables (CSV) the notebook wrote (output_dir)
    executed/<name>.ipynb    the executed notebook (kept, with the error, when a cell fails)

The .ipynb made from a .py notebook is written into the report directory, never beside the
notebook (notebooks/*.ipynb must not land in the repository).
"""
from __future__ import annotations

import html
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from workbench.paths import NOTEBOOKS_DIR

KERNEL = "python3"
# Report order; a notebook not listed here follows, alphabetically.
ORDER = ("summary", "startup_scaling", "apis", "parse_path", "probe_anatomy")


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


def describe_notebooks(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[NotebookInfo]:
    """Every py:percent notebook in the dir, in report order, with title and description taken
    from its first markdown cell (so a new notebook needs no registration here)."""
    import jupytext

    infos = []
    for path in Path(notebooks_dir).glob("*.py"):
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


def to_html(executed: Path, dest: Path, title: str) -> Path:
    """HTML without code cells or prompts; matplotlib's PNG outputs stay embedded as data: URIs."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4),
                                          resources={"metadata": {"name": title}})
    dest.write_text(body, encoding="utf-8")
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
    try:
        pm.execute_notebook(str(source), str(executed), parameters=params, kernel_name=KERNEL,
                            cwd=str(info.path.parent), progress_bar=False)
    except pm.PapermillExecutionError as e:
        error = f"notebook {info.name} ({info.path}): {_cell_error(e, executed)}"
    except Exception as e:  # kernel died, bad notebook: still one notebook's failure
        error = f"notebook {info.name} ({info.path}): {type(e).__name__}: {e}"
    finally:
        source.unlink(missing_ok=True)
    page = None
    if executed.exists():
        page = to_html(executed, out / f"{info.name}.html", info.title)
    return Outcome(info, page, executed, error)


def write_index(out: Path, outcomes: list[Outcome], results: Path) -> Path:
    items = []
    for o in outcomes:
        n = o.notebook
        link = (f'<a href="{html.escape(o.html.name)}">{html.escape(n.title)}</a>' if o.html
                else html.escape(n.title))
        status = (f' <strong style="color:#b00">FAILED: {html.escape(o.error)}</strong>'
                  if o.error else "")
        items.append(f"<li>{link}: {html.escape(n.description)}{status}</li>")
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>virtcaps-workbench report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.5}}</style></head>
<body><h1>virtcaps-workbench report</h1>
<p>Results: <code>{html.escape(str(results))}</code></p>
<ul>
{chr(10).join(items)}
</ul>
<p>Figures (PNG) and tables (CSV) of each page are in the folder of the same name.</p>
</body></html>
"""
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def render_report(results: Path, out: Path, notebooks_dir: Path = NOTEBOOKS_DIR,
                  parameters: dict | None = None) -> list[Outcome]:
    """Run every notebook of notebooks_dir on the run `results` into `out`; write index.html."""
    ensure_kernel()
    out = Path(out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    params = {"results_dir": str(Path(results).absolute()), "link_suffix": ".html"} | (parameters or {})
    outcomes = [run_notebook(info, out, params) for info in describe_notebooks(notebooks_dir)]
    write_index(out, outcomes, Path(results))
    return outcomes
