"""Numbers quoted in README.md and data/results/reference/README.md come from the committed run:
every generated section must equal what `workbench readme-figures` computes from it now, and the
reference README quotes no timing outside its generated sections."""
from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from workbench.analysis import figures
from workbench.errors import ResultsError
from workbench.paths import REPO_ROOT, RESULTS_DIR

REFERENCE = RESULTS_DIR / "reference"
READMES = [REFERENCE / "README.md", REPO_ROOT / "README.md"]
# a timing, a ratio or a share: what a hand-typed result looks like
QUOTED = re.compile(r"\d[\d,.]*\s?(?:s|ms|µs|us|x|×|%)(?![\w-])")


@pytest.fixture(scope="module")
def generated():
    return figures.sections(REFERENCE)


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_generated_sections_match_the_committed_run(readme, generated):
    text = readme.read_text()
    keys = figures.keys_in(text)
    assert keys, f"{readme} has no generated sections"
    stale = figures.stale(text, generated, str(readme))
    assert not stale, (f"{readme}: sections {stale} differ from data/results/reference; run "
                       "`workbench readme-figures --results data/results/reference`")


def test_reference_readme_has_every_section_and_no_hand_typed_result():
    text = (REFERENCE / "README.md").read_text()
    # every section is quoted somewhere: the reference README, or README.md (sweep_time, headline_mdc)
    assert set(figures.SECTIONS) <= set(figures.keys_in(text)) | set(figures.keys_in(READMES[1].read_text()))
    outside = figures.MARKER.sub("", text)
    found = QUOTED.findall(outside)
    assert not found, f"figures outside generated sections of the reference README: {found}"


def test_a_changed_number_is_found(generated):
    text = "intro\n<!-- figures:headline -->\n" + generated["headline"] + "\n<!-- /figures:headline -->\n"
    assert figures.stale(text, generated) == []
    digit = re.search(r"\d", generated["headline"]).start()
    changed = generated["headline"][:digit] + str((int(generated["headline"][digit]) + 1) % 10) \
        + generated["headline"][digit + 1:]
    assert figures.stale(text.replace(generated["headline"], changed), generated) == ["headline"]
    with pytest.raises(ResultsError, match="unknown generated section"):
        figures.render("<!-- figures:nope -->\nx\n<!-- /figures:nope -->", generated)


def test_conditions_come_from_the_run(generated):
    text = generated["conditions"]
    meta = figures.Run(REFERENCE).meta["load_avg_1min"].dropna()
    assert f"{meta.min():g} to {meta.max():g}" in text  # the load the run recorded, not a guess
    machine = json.loads((REFERENCE / "machine.json").read_text())
    assert machine["cpu_model"] in text and machine["git_commit"][:7] in text


def test_parse_names_each_domain_smallest_first():
    """Each corpus domain by its name, smallest first (a run of the full grid has them; the main
    job does not time the parse path, so the rows here are made up for the formatter alone)."""
    import types

    rows = [{"benchmark": "parse.steady", "phase": "total", "n_emulators": 30, "case": case,
             "strategy": strategy, "time_s": t * k}
            for case, t in (("x86_64-devices", 2e-3), ("x86_64-minimal", 2.4e-4), ("x86_64-server", 6.6e-4))
            for strategy, k in (("full-caps", 1.0), ("per-emulator", 1.1))]
    text = figures.parse(types.SimpleNamespace(df=pd.DataFrame(rows)))
    assert text.index("x86_64-minimal") < text.index("x86_64-server") < text.index("x86_64-devices")
    assert "small domain" not in text


def test_readme_figures_check_exit_codes(tmp_path):
    from workbench.cli import main

    assert main(["readme-figures", "--check"]) == 0
    readme = tmp_path / "README.md"
    readme.write_text("<!-- figures:headline -->\nhand-typed 9.9 s\n<!-- /figures:headline -->\n")
    assert main(["readme-figures", "--check", "--readme", str(readme)]) == 1
    assert "hand-typed" in readme.read_text()  # --check writes nothing
    assert main(["readme-figures", "--readme", str(readme)]) == 0
    assert "Cover letter" in readme.read_text()
    assert main(["readme-figures", "--results", str(tmp_path / "missing")]) == 2


def test_fidelity_section_uses_the_verdicts(generated):
    from workbench.analysis.fidelity import fidelity_table
    from workbench.analysis.results import load_run

    ft = fidelity_table(load_run(REFERENCE))
    for verdict, n in ft["verdict"].value_counts().items():
        assert f"**{n} {verdict}**" in generated["fidelity"]
