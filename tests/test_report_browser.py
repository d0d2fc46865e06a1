"""The report as a reader sees it: rendered from the committed reference run, opened in headless
Chromium at 1,400 px. The index shows the headline figure and the ratio at 30 emulators; no
table on any page is wider than the page or than the column it sits in.

A small script is added to a copy of each page; it measures the laid-out page on `load` and
writes what it found into the DOM, which `--dump-dom` prints. Skips without Chromium.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from test_notebooks import FULL_GRID_RUN
from workbench.analysis.report import CSP_META

from workbench.paths import RESULTS_DIR
from workbench.analysis.report import render_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH = 1400
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

CHECK = """<script>
window.addEventListener("load", () => {
  const page = document.documentElement.clientWidth;
  const wide = [];
  document.querySelectorAll("table").forEach((t, i) => {
    const r = t.getBoundingClientRect();
    const room = t.parentElement.clientWidth;
    if (r.right > page + 1 || r.width > room + 1)
      wide.push({table: i, width: Math.round(r.width), right: Math.round(r.right), room: room,
                 caption: (t.caption ? t.caption.innerText : "").slice(0, 80)});
  });
  const img = document.querySelector("#headline-figure img");
  const answer = document.querySelector("p.answer");
  const out = {page: page, scroll: document.documentElement.scrollWidth, wide: wide,
               tables: document.querySelectorAll("table").length,
               figure: img ? {w: img.naturalWidth, shown: Math.round(img.getBoundingClientRect().width),
                              alt: img.alt} : null,
               answer: answer ? answer.innerText : null};
  const pre = document.createElement("pre");
  pre.id = "wb-check";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={tmp / 'profile'}", f"--window-size={WIDTH},1000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def measure(page: Path, tmp: Path) -> dict:
    probe = page.with_name(f".check-{page.name}")
    # the page's Content Security Policy allows no script: the measuring copy (only) leaves it out
    text = page.read_text()
    probe.write_text(text.replace(CSP_META, "", 1).replace("</body>", CHECK + "</body>", 1))
    done = chromium(["--virtual-time-budget=5000", "--dump-dom", probe.as_uri()], tmp)
    m = re.search(r'<pre id="wb-check">(.*?)</pre>', done.stdout, re.S)
    assert m, f"no measurement from chromium for {page.name}: {done.stderr[-800:]}"
    import html
    return json.loads(html.unescape(m.group(1)))


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "reports"
    outcomes = render_report(FULL_GRID_RUN, out)  # a full-grid run: every page has its tables
    assert not [o.error for o in outcomes if o.error]
    return out


def test_index_shows_the_headline_figure_and_the_ratio_at_30(report, tmp_path):
    found = measure(report / "index.html", tmp_path)
    fig = found["figure"]
    assert fig and fig["w"] > 300, f"headline figure missing or not loaded: {fig}"
    assert fig["shown"] <= found["page"] and "emulators" in fig["alt"]
    assert re.search(r"With 30 emulators installed.*\d[\d.,]*× faster", found["answer"]), found["answer"]
    assert found["scroll"] <= found["page"], "the index scrolls sideways"
    shot = tmp_path / "index.png"
    chromium([f"--screenshot={shot}", (report / "index.html").as_uri()], tmp_path)
    assert shot.is_file() and shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_no_table_is_wider_than_the_page(report, tmp_path):
    pages = sorted(report.glob("*.html"))
    assert len(pages) >= 9  # the index and every notebook's page
    for page in pages:
        found = measure(page, tmp_path)
        assert found["wide"] == [], f"{page.name}: tables wider than the page at {WIDTH} px: {found['wide']}"
        if page.name != "index.html":
            assert found["tables"] > 0, f"{page.name} shows no table"
