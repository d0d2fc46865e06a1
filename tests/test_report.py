"""`workbench report`: one HTML page per notebook, figures embedded, no code; a failing notebook
names itself and its cell, exits non-zero, and does not stop the others."""
from __future__ import annotations

import json
import html
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from test_notebooks import small_run
from workbench.commands import report as report_actions
from workbench.cli import main
from workbench.paths import NOTEBOOKS_DIR
from workbench.analysis.report import describe_notebooks


@pytest.fixture(scope="session")
def results_run(tmp_path_factory) -> Path:
    return small_run(tmp_path_factory.getbasetemp())


def _code_sources() -> list[str]:
    """Distinctive code lines of the notebooks, which must not appear in the HTML."""
    return ["plots.load(results_dir", "plots.save_figure(fig"]


def test_report_renders_every_notebook(results_run, tmp_path, capfd):
    out = tmp_path / "reports"
    assert main(["report", "--results", str(results_run), "-o", str(out)]) == 0
    index = (out / "index.html").read_text()
    printed = capfd.readouterr()
    assert str((out / "index.html").absolute()) in printed.out
    infos = describe_notebooks()
    for i, info in enumerate(infos, 1):  # one progress line per notebook, in order
        assert re.search(rf"^\[{i}/{len(infos)}\] {info.name} \d+\.\d s$", printed.out, re.M), printed.out
    assert "Kernel is running over TCP" not in printed.err and "WARNING" not in printed.err, printed.err
    assert 'id="headline-figure"' in index and "× faster" in index
    assert (out / "index" / "headline.png").stat().st_size > 1000
    for info in describe_notebooks():
        page = out / f"{info.name}.html"
        assert f'href="{info.name}.html"' in index and html.escape(info.description[:40]) in index
        text = page.read_text()
        assert not any(s in text for s in _code_sources()), f"code input in {page.name}"
        assert 'href="index.html"' in text, f"{page.name} does not link back to the index"
        assert "<th></th>" not in text, f"an index column in a table of {page.name}"
        assert "nan" not in re.findall(r"<td>([^<]*)</td>", text), f"NaN cell in {page.name}"
        for alt in re.findall(r'<img src="data:image/png[^>]*?alt="([^"]*)"', text):
            assert len(alt) > 20, f"no alt text in {page.name}"
        assert not re.search(r'<img src="data:image/png(?![^>]*alt=)', text), f"image without alt in {page.name}"
        if info.name != "summary":  # summary has tables only; see test_notebooks
            pngs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]{2000,})"', text)
            assert pngs, f"no embedded figure in {page.name}"
    assert "FAILED" not in index
    assert not list(NOTEBOOKS_DIR.glob("*.ipynb"))


def test_failing_notebook_is_named_with_its_cell(results_run, tmp_path, capsys):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    shutil.copy(NOTEBOOKS_DIR / "summary.py", nbdir)
    broken = (NOTEBOOKS_DIR / "startup_scaling.py").read_text() + \
        '\n# %%\nraise RuntimeError("deliberately broken")\n'
    (nbdir / "broken.py").write_text(broken)
    out = tmp_path / "reports"
    status = report_actions.make_report(results_run, out, nbdir)
    err = capsys.readouterr().err
    assert status == 1
    assert "notebook broken" in err and "RuntimeError: deliberately broken" in err
    assert re.search(r"cell \d+ \(In \[\d+\]: `raise RuntimeError", err), err
    assert (out / "executed" / "broken.ipynb").is_file()  # the executed copy is kept
    assert (out / "summary.html").is_file()  # the others still render
    assert "FAILED" in (out / "index.html").read_text()


def test_missing_results_dir_is_a_usage_error(tmp_path):
    assert main(["report", "--results", str(tmp_path / "none"), "-o", str(tmp_path / "r")]) == 2


def test_lab_opens_notebooks_dir_with_py_as_notebooks():
    settings = report_actions._lab_settings()
    try:
        overrides = json.loads((settings / "overrides.json").read_text())
        viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
        assert viewers["python"] == "Jupytext Notebook"
        assert (settings.parent / "static").exists()  # JupyterLab's built app, linked
        cmd = report_actions.lab_command(8899, True, settings)
        assert f"--ServerApp.root_dir={NOTEBOOKS_DIR}" in cmd and "--port=8899" in cmd
        assert "--no-browser" in cmd
        assert "--no-browser" not in report_actions.lab_command(8899, False, settings)
    finally:
        shutil.rmtree(settings.parent)


def test_several_runs_and_a_reference_are_shown_side_by_side(results_run, tmp_path):
    """Two runs (here the same numbers under two names, as two machines would give) and a
    reference: each page draws them as separate series, labelled by run."""
    a, b = tmp_path / "machine-a", tmp_path / "machine-b"
    for d in (a, b):
        shutil.copytree(results_run, d)
    out = tmp_path / "reports"
    status = main(["report", "--results", str(a), "--results", str(b), "--reference", str(results_run),
                   "-o", str(out)])
    assert status == 0
    startup = (out / "startup_scaling.html").read_text()
    for label in ("machine-a", "machine-b", "(reference)"):
        assert label in startup, label
    cold = pd.read_csv(out / "startup_scaling" / "startup_cold_daemon_startup.csv")
    assert set(cold["run"]) == {"machine-a", "machine-b", f"{results_run.name} (reference)"}
    index = (out / "index.html").read_text()
    assert "machine-a" in index and "machine-b" in index



# HTML and Markdown that would be live if shown unescaped: an element with a handler, a link to
# javascript:, a backtick that ends a code span, emphasis, and a pipe that splits a table cell.
HOSTILE = "<img src=x onerror=wbpwn()>[wblink](javascript:wbpwn())`<b>wbbold</b>`*wbem*wbpipe1|wbpipe2"
HOSTILE_NAME = "run" + HOSTILE.replace("/", "\u2215")  # a folder name: no slash (the tag stays open)


def _plant(src: Path, dest: Path) -> None:
    """A copy of run `src` at `dest` with HOSTILE in every metadata string a page may show:
    machine.json's fields (and a hostname and command line), the libvirt build label (wb_system),
    pyperf's hostname, and one extra benchmark whose name, case and phase hold it."""
    shutil.copytree(src, dest)
    (dest / "results.csv").unlink(missing_ok=True)  # derived: rebuilt from the planted files
    machine = json.loads((dest / "machine.json").read_text())
    for k, v in list(machine.items()):
        if isinstance(v, str) and k not in ("code_sha256", "git_commit"):  # those two are checked
            machine[k] = v + HOSTILE
    machine.update(hostname="vm" + HOSTILE, command="workbench run" + HOSTILE)
    (dest / "machine.json").write_text(json.dumps(machine))

    def plant_md(md: dict) -> None:
        if md.get("wb_system", "model") != "model":
            md["wb_system"] += HOSTILE
        if "hostname" in md:
            md["hostname"] += HOSTILE
    files = sorted(p for p in dest.glob("*.json") if p.name != "machine.json")
    for f in files:
        data = json.loads(f.read_text())
        plant_md(data.setdefault("metadata", {}))
        for b in data["benchmarks"]:
            plant_md(b.setdefault("metadata", {}))
            for r in b.get("runs", []):
                plant_md(r.setdefault("metadata", {}))
        f.write_text(json.dumps(data))
    extra = json.loads(next(f for f in files if f.name.startswith("apis--")).read_text())
    for b in extra["benchmarks"]:
        md = b.setdefault("metadata", {})
        md.update(name=md.get("name", "api") + HOSTILE, wb_case=md.get("wb_case", "") + HOSTILE,
                  wb_phase="total" + HOSTILE, wb_extra=HOSTILE)
    (dest / ("apis--hostile--r1.json")).write_text(json.dumps(extra))


class _LiveFinder(HTMLParser):
    """What of HOSTILE a page made live: elements and attributes it would add."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.open: list[str] = []
        self.cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for k, v in attrs:
            if k.startswith("on"):
                self.found.append(f"<{tag} {k}=...>")
            if k in ("href", "src") and v and (v.strip().lower().startswith("javascript:") or v == "x"):
                self.found.append(f"<{tag} {k}={v!r}>")
        self.open.append(tag)
        self.cell = tag in ("td", "th")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag):]

    def handle_data(self, data: str) -> None:
        here = self.open[-1] if self.open else ""
        if (here, data) in (("b", "wbbold"), ("em", "wbem"), ("a", "wblink")):  # the payload's own
            self.found.append(f"<{here}>{data}</{here}>")
        if self.cell and data.lstrip().startswith("wbpipe2"):
            self.found.append("a table cell split at the pipe")
        self.cell = False


def live_parts(page_html: str) -> list[str]:
    finder = _LiveFinder()
    finder.feed(page_html)
    return finder.found


def test_live_parts_finds_what_it_looks_for():
    bad = ('<p><img src=x onerror=wbpwn()><a href="javascript:wbpwn()">wblink</a><b>wbbold</b>'
           '<em>wbem</em></p><table><tr><td>wbpipe1</td><td>wbpipe2</td></tr></table>')
    assert len(live_parts(bad)) == 7
    assert live_parts(f"<p><code>{html.escape(HOSTILE)}</code></p><td>{html.escape(HOSTILE)}</td>") == []


@pytest.mark.timeout(900)  # every notebook rendered once more, on a loaded machine
def test_metadata_with_html_or_markdown_is_never_live(results_run, tmp_path):
    """HTML and Markdown in the run folder's name and in every metadata string a page may show
    (machine.json, the libvirt build label, pyperf's hostname, a benchmark's name, case and
    phase): every page shows them as text only, and every page carries the Content Security
    Policy (a second line of defence, not the first)."""
    run = tmp_path / HOSTILE_NAME
    _plant(results_run, run)
    out = tmp_path / "reports"
    assert main(["report", "--results", str(run), "-o", str(out)]) == 0
    pages = sorted(out.glob("*.html"))
    assert len(pages) == len(describe_notebooks()) + 1
    live = {page.name: live_parts(page.read_text()) for page in pages}
    assert {k: v for k, v in live.items() if v} == {}, "live HTML or Markdown"
    for page in pages:
        text = page.read_text()
        assert text.count("Content-Security-Policy") == 1, page.name
        head = text[:text.index("Content-Security-Policy")]
        assert "<script" not in head, f"a script before the policy in {page.name}"
    assert "&lt;img src=x" in (out / "index.html").read_text()
