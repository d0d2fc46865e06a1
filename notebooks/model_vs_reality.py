# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Model against reality: libvirt 9.0
#
# The model follows one libvirt version, 9.0, outside the places the 2019 series changed. Here
# it stands beside the real libvirt 9.0 (Debian 12's, embedded driver): what `workbench validate`
# found on the same binaries, the same APIs timed on both over the same replaying install, and
# one probe's cost phase by phase.

# %% tags=["parameters"]
results_dir = "data/results/reference"  # run directory, or a list of them; relative paths are relative to the repository
reference_dir = ""  # a run to draw beside them as the reference (empty: none)
output_dir = "reports/model_vs_reality"  # figures (PNG) and tables (CSV) are written here
libvirt_data = "data/libvirt9"  # validate_*.json and facts.json (committed measurements of libvirt 9.0)
model_strategy = "per-emulator"  # the model's strategy that libvirt 9.0 ships
tolerance = 0.25  # per-probe cost: the model within this fraction of libvirt 9.0's, or the gap named
index_link = ""  # link back to the report's index page (set by `workbench report`)

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import HTML, Markdown

from workbench.analysis import plots, tables
from workbench.analysis import model_vs_reality as mvr
from workbench.paths import REPO_ROOT, TRANSCRIPTS_DIR
from workbench.qemu.deviations import MODELLED, deviations_table
from workbench.analysis.results import MODEL

if index_link:
    display(HTML(f'<p><a href="{index_link}">← report index</a></p>'))
data = Path(libvirt_data) if Path(libvirt_data).is_absolute() else REPO_ROOT / libvirt_data
df, machine = plots.load(results_dir, [], [], reference_dir)
real = df[df["system"] != MODEL] if not df.empty else df
display(Markdown(f"Modelled: **{MODELLED}**. Every deliberate deviation is listed below "
                 "(`workbench/qemu/deviations.py`, mirrored in `docs/model.md`)."))

# %% [markdown]
# ## Deliberate deviations from libvirt 9.0

# %%
dev = pd.DataFrame(deviations_table())
display(tables.show_table(dev[["id", "aspect"]], output_dir, "deviations",
                          "Where the model deliberately differs from libvirt 9.0 (what each does, and why: "
                          "docs/model.md and the CSV)", csv_frame=dev, kind="modelled (the model's own documented choices)",
                          source="workbench/qemu/deviations.py", time_columns=[], max_rows=30))

# %% [markdown]
# ## Differential checks: `workbench validate` on the same binaries
# Guests, default machines, probe command sequences and corpus verdicts, from the model and from
# libvirt 9.0 on one install. "deliberate" rows are covered by a deviation above.

# %%
checks = mvr.validate_checks(data)
if checks.empty:
    plots.note(f"No validate results in {data}: run `workbench validate --install DIR --json`.")
else:
    display(tables.show_table(checks, output_dir, "validate", "workbench validate: model against libvirt 9.0, per check",
                              "measured", f"{data}/validate_*.json", time_columns=[], max_rows=20))
    differ = int(checks["differ"].sum())
    display(Markdown(f"**{int(checks['agree'].sum())} checks agree, {int(checks['deliberate'].sum())} differ "
                     f"deliberately, {differ} differ without a deviation that explains them.**"))

# %% [markdown]
# ## The same calls on both systems, on the same replaying install (measured in this run)
# libvirt 9.0's value is the binding call inside its worker (a fresh connection per value);
# the model's is the same call on the `per-emulator` strategy, the one libvirt 9.0 ships. A
# cold container's client is open/spawn to the last answer (libvirt's leaves out its process
# start, which favours libvirt).

# %%
both = mvr.same_install(df, model_strategy)
if real.empty:
    plots.note("This run has no real libvirt rows (`libvirt_real`): libvirt 9.0 was not installed "
               "where it was made, or the sweep was asked for other benchmarks.")
else:
    shown_rows = df[df["name"].isin(real["name"]) | ((df["system"] == MODEL) & (df["strategy"] == model_strategy)
                                                     & df["benchmark"].isin(both["benchmark"]))]
    source = f"{plots.provenance(shown_rows)}; libvirt 9.0 and the model's {model_strategy}"
    display(tables.show_table(
        both, output_dir, "same_install", "libvirt 9.0 and the model on the same install (medians)",
        plots.kind(shown_rows), source, time_columns=["libvirt_s", "model_s"], max_rows=30,
        names={"libvirt_s": "libvirt 9.0", "model_s": f"model ({model_strategy})",
               "libvirt_over_model": "libvirt / model"},
        formats={"libvirt_over_model": tables.fmt_ratio}))
    cold = both[(both["cache"] == "cold") & (both["n_emulators"] == both["n_emulators"].max())]
    if not cold.empty:
        labels = [c if c else b for b, c in zip(cold["benchmark"], cold["case"])]
        fig, ax = plt.subplots(figsize=(8, 3.6))
        y = range(len(cold))
        ax.barh([i + 0.2 for i in y], cold["libvirt_s"], height=0.4, color="C8", label="libvirt 9.0")
        ax.barh([i - 0.2 for i in y], cold["model_s"], height=0.4, color="C1", label=f"model ({model_strategy})")
        ax.set_yticks(list(y), labels)
        ax.set_xscale("log")
        ax.set_xlabel("seconds (log)")
        ax.set_title(f"Cold cache, {int(cold['n_emulators'].iloc[0])} replaying emulators")
        plots.legend_beside(fig)
        plots.show_figure(fig, output_dir, "same_install",
                          "The same calls on libvirt 9.0 and on the model, cold cache, largest install "
                          "(medians, log axis)", plots.kind(shown_rows), source)

# %% [markdown]
# ## Ending a probe: libvirt 9.0's teardown against the pidfd fix (the model, measured here)
# The same cold calls under each teardown the run measured (`--teardowns`): libvirt 9.0's
# (SIGTERM, then an existence check every 200 ms), libvirt 5.x's (SIGKILL, no wait) and the fix
# (SIGTERM, wait on a pidfd); and a cold get_capabilities per probe launch beside libvirt 9.0's.

# %%
from workbench.analysis import teardown as td

saving = td.teardown_saving(df)
if saving.empty:
    plots.note("This run measured one teardown only (or was made before the teardown axis): "
               "`workbench sweep --teardowns libvirt9,pidfd ...` measures what the fix saves.")
else:
    td_rows = df[df["benchmark"].isin(saving["benchmark"]) & (df["cache"] == "cold") & (df["system"] == MODEL)]
    td_kind, td_source = plots.kind(td_rows), plots.provenance(td_rows)
    display(tables.show_table(saving, output_dir, "teardown_saving",
                              "Cold medians per teardown and what the pidfd fix saves against libvirt 9.0's",
                              td_kind, td_source, max_rows=30,
                              formats={"saving_share": lambda v: f"{v:.0%}"}, names={"saving_share": "saving (share)"}))
    api = saving[saving["benchmark"] == "api"]
    if len(api):
        fig = td.saving_figure(saving, "api", "get_capabilities", tables.provenance_label(td_kind, td_source))
        plots.show_figure(fig, output_dir, "teardown_saving", "Cold get_capabilities against emulators "
                          "installed under each teardown, and the fix's saving", td_kind, td_source)
per_launch = td.seconds_per_launch(df, bool((machine or {}).get("kvm_usable")))
if len(per_launch):
    display(tables.show_table(per_launch, output_dir, "seconds_per_launch",
                              "A cold get_capabilities per probe launch: the model per teardown beside libvirt 9.0",
                              plots.kind(df[df["benchmark"] == "api"]), plots.provenance(df[df["benchmark"] == "api"]),
                              max_rows=20))

# %% [markdown]
# ## One probe, phase by phase (both measured on the real binaries)
# libvirt 9.0: its debug log while probing every real binary (`facts.json`; setup, daemonize,
# greeting, the commands from first request to last reply, close, and the wait after killing
# QEMU). The model: its prober's own timestamps when the transcripts were recorded from the same
# binaries (`data/transcripts`), and its whole probe per target measured in this run
# (`replay_fidelity`, real side); what the whole has beyond the recorded phases is the
# prober's own work (reading the replies as JSON, building the capabilities) and the kill.

# %%
facts_path = data / "facts.json"
if not facts_path.exists():
    plots.note(f"No {facts_path}: run `python -m workbench.libvirt9.facts` to measure libvirt 9.0's probes.")
else:
    ph = mvr.probe_phases(json.loads(facts_path.read_text()), mvr.recorded_launches(TRANSCRIPTS_DIR), df)
    display(tables.show_table(
        ph.table, output_dir, "probe_phases",
        "One probe launch, median per phase: libvirt 9.0 against the model's prober",
        "measured", f"libvirt 9.0 debug log ({ph.measured_at}, {ph.libvirt_launches} launches); "
        f"model: data/transcripts ({ph.model_launches} launches) and replay_fidelity in this run",
        time_columns=["libvirt_s", "model_s", "gap_s"],
        names={"libvirt_s": "libvirt 9.0", "model_s": "model", "gap_s": "libvirt minus model"}))
    display(Markdown("\n".join(mvr.phase_conclusions(ph, tolerance))))

# %% [markdown]
# ## libvirt 9.0's own test data as the oracle (QEMU 4.2 to 8.0, six architectures)
# Each `tests/qemucapabilitiesdata/caps_<qemu>.<arch>.replies` of libvirt 9.0's source replayed
# to the workbench's probe and compared with libvirt's `caps_*.xml` and `domaincapsdata/*.xml`
# (`workbench validate --libvirt-tests DIR`; docs/model.md). Then, from the same files: how much of
# what schema-reuse keeps per QEMU build (query-qmp-schema and the other build-constant replies)
# stays the same from one QEMU version to the next.

# %%
from workbench.analysis import qemu_versions
from workbench.sim.libvirt_replies import default_tests_dir

# `workbench validate --libvirt-tests DIR --json` made it (about half a minute): this page reads it
oracle_path = data / "libvirt_tests.json"
libvirt_tests = default_tests_dir()
if not oracle_path.is_file():
    plots.note(f"No {oracle_path}: `workbench validate --libvirt-tests DIR --json > {oracle_path}` "
               "(DIR: libvirt 9.0's tests/, from scripts/fetch-libvirt-source.sh) makes it.")
else:
    oracle_report = json.loads(oracle_path.read_text())
    per_file = qemu_versions.oracle_per_file(oracle_report)
    display(tables.show_table(per_file, output_dir, "libvirt_tests",
                              "The workbench's probe on libvirt 9.0's test data, per file and check "
                              "(aspects compared; deliberate = a deviation above)",
                              "recorded (libvirt's replies and what libvirt 9.0 derived from them)",
                              f"data/libvirt9/{oracle_path.name}, from {oracle_report['tests_dir']}", time_columns=[], max_rows=15))
    c = oracle_report["counts"]
    display(Markdown(f"**{c['yes']} aspects agree, {c['deliberate']} differ deliberately, {c['NO']} differ "
                     f"without a deviation.** The workbench derives {oracle_report['derived_flags']} of "
                     f"libvirt 9.0's {oracle_report['libvirt_flags']} live capability flags (only those are compared)."))
if not (libvirt_tests / "qemucapabilitiesdata").is_dir():
    plots.note(f"libvirt 9.0's test data is not at {libvirt_tests}: scripts/fetch-libvirt-source.sh "
               "fetches it (the schema comparison below reads it).")
else:
    shares = qemu_versions.schema_change_shares(libvirt_tests)
    display(tables.show_table(shares, output_dir, "schema_change",
                              "Between consecutive QEMU versions of one architecture: the share of query-qmp-schema "
                              "entries and of the build-constant replies (by count and bytes) left unchanged",
                              "recorded (libvirt 9.0's test data)", str(libvirt_tests), time_columns=[], max_rows=25))
    display(Markdown(
        "Between releases almost all of the build-constant bytes change (median share unchanged "
        f"{shares['build_constant_bytes_unchanged_share'].median():.0%}; the schema reply itself was identical in "
        f"{int(shares['schema_identical'].sum())} of {len(shares)} pairs). Schema entries are compared as whole JSON "
        "objects, so QEMU's renumbered implicit type names count as changes. For schema-reuse this means "
        "a store keyed on anything coarser than the build (the version number alone, or the architecture) "
        "would hand out wrong replies after nearly every upgrade; keyed on the binary's bytes, version, package "
        "and module directory, an upgrade is a miss, never a stale hit: its staleness risk lies only in "
        "what the key does not see (docs: workbench/qemu/designs/schema_store.py)."))

# %% [markdown]
# ### An upgrade from one QEMU version to the next (runs made with `--qemus`)
# `version_upgrade` replaces each emulator replaying libvirt's data by the next QEMU version's
# (7.1.0 to 7.2.0, 7.2.0 to 8.0.0): new bytes and replies. Beside it `package_upgrade`: the same
# bytes with a new ctime. Times borrowed from the 7.2 recordings: modelled.

# %%
upg = qemu_versions.upgrade_table(df)
if upg.empty:
    plots.note("This run has no version_upgrade rows: `workbench sweep --benchmarks scenarios "
               "--qemus x86_64=7.1.0,x86_64=7.2.0 ...` makes them.")
else:
    display(tables.show_table(upg, output_dir, "version_upgrade",
                              "Package upgrade (same bytes) and version upgrade (next QEMU), per strategy: "
                              "median seconds to the client's last answer and the emulator launches",
                              "modelled (libvirt's replies, times borrowed from the 7.2 recordings)",
                              "scenario rows of this run", time_columns=["last_answer_s"], max_rows=30))
