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
import pandas as pd
from IPython.display import HTML, Markdown

from workbench.analysis import plots, qemu_versions, tables
from workbench.analysis import model_vs_reality as mvr
from workbench.paths import TRANSCRIPTS_DIR
from workbench.qemu.deviations import MODELLED, deviations_table
from workbench.sim.libvirt_replies import default_tests_dir

if index_link:
    display(HTML(f'<p><a href="{index_link}">← report index</a></p>'))
data = plots.resolve(libvirt_data)
df, machine = plots.load(results_dir, [], [], reference_dir)
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
checks = mvr.show_validate(data, output_dir)

# %% [markdown]
# ## The same calls on both systems, on the same replaying install (measured in this run)
# libvirt 9.0's value is the binding call inside its worker (a fresh connection per value);
# the model's is the same call on the `per-emulator` strategy, the one libvirt 9.0 ships. A
# cold container's client is open/spawn to the last answer (libvirt's leaves out its process
# start, which favours libvirt).

# %%
both = mvr.show_same_install(df, model_strategy, output_dir)

# %% [markdown]
# ## Ending a probe: libvirt 9.0's teardown against the pidfd fix (the model, measured here)
# The same cold calls under each teardown the run measured (`--teardowns`): libvirt 9.0's
# (SIGTERM, then an existence check every 200 ms), libvirt 5.x's (SIGKILL, no wait) and the fix
# (SIGTERM, wait on a pidfd); and a cold get_capabilities per probe launch beside libvirt 9.0's.

# %%
saving, per_launch = mvr.show_api_teardowns(df, bool((machine or {}).get("kvm_usable")), output_dir)

# %% [markdown]
# ## One probe, phase by phase (both measured on the real binaries)
# libvirt 9.0: its debug log while probing every real binary (`facts.json`; setup, daemonize,
# greeting, the commands from first request to last reply, close, and the wait after killing
# QEMU). The model: its prober's own timestamps when the transcripts were recorded from the same
# binaries (`data/transcripts`), and its whole probe per target measured in this run
# (`replay_fidelity`, real side); what the whole has beyond the recorded phases is the
# prober's own work (reading the replies as JSON, building the capabilities) and the kill.

# %%
phases = mvr.show_probe_phases(data, df, TRANSCRIPTS_DIR, tolerance, output_dir)

# %% [markdown]
# ## libvirt 9.0's own test data as the oracle (QEMU 4.2 to 8.0, six architectures)
# Each `tests/qemucapabilitiesdata/caps_<qemu>.<arch>.replies` of libvirt 9.0's source replayed
# to the workbench's probe and compared with libvirt's `caps_*.xml` and `domaincapsdata/*.xml`
# (`workbench validate --libvirt-tests DIR`; docs/model.md). Then, from the same files: how much of
# what schema-reuse keeps per QEMU build (query-qmp-schema and the other build-constant replies)
# stays the same from one QEMU version to the next.

# %%
# `workbench validate --libvirt-tests DIR --json` made it (about half a minute): this page reads it
oracle = qemu_versions.show_oracle(data / "libvirt_tests.json", output_dir)
shares = qemu_versions.show_schema_change(default_tests_dir(), output_dir)

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
