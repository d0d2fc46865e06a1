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
import gzip
import json
import statistics
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import HTML, Markdown

from workbench.analysis import plots, tables
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
checks = []
for path in sorted(data.glob("validate_*.json")):
    rep = json.loads(path.read_text())
    rows = pd.DataFrame(rep["rows"])
    for check, g in rows.groupby("check", sort=False):
        agree = g["agree"].astype(str)
        checks.append({"file": path.name, "check": check, "agree": int((agree == "yes").sum()),
                       "deliberate": int(agree.str.startswith("deliberate").sum()),
                       "differ": int((agree == "NO").sum())})
checks = pd.DataFrame(checks)
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
both = pd.DataFrame()
if real.empty:
    plots.note("This run has no real libvirt rows (`libvirt_real`): libvirt 9.0 was not installed "
               "where it was made, or the sweep was asked for other benchmarks.")
else:
    keys = ["benchmark", "case", "n_emulators", "cache"]
    model = df[(df["system"] == MODEL) & (df["strategy"] == model_strategy)
               & (df["benchmark"].isin(real["benchmark"].unique()))
               & (df["phase"].isin(["total", "last_answer"]))]
    lv = real.groupby(keys, dropna=False)["time_s"].median().rename("libvirt_s")
    md = model.groupby(keys, dropna=False)["time_s"].median().rename("model_s")
    both = pd.concat([lv, md], axis=1, join="inner").reset_index()
    both["libvirt_over_model"] = both["libvirt_s"] / both["model_s"]
    both = both.sort_values(["cache", "benchmark", "case", "n_emulators"])
    source = f"{plots.provenance(real)} (libvirt 9.0) and {model_strategy} (model)"
    display(tables.show_table(
        both, output_dir, "same_install", "libvirt 9.0 and the model on the same install (medians)",
        plots.kind(real), source, time_columns=["libvirt_s", "model_s"], max_rows=30,
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
                          "(medians, log axis)", plots.kind(real), source)

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
phases = pd.DataFrame()
if not facts_path.exists():
    plots.note(f"No {facts_path}: run `python -m workbench.libvirt9.facts` to measure libvirt 9.0's probes.")
else:
    facts = json.loads(facts_path.read_text())
    lv_launches = [p["phases"] for p in facts["probes"] if p.get("phases")]
    model_launches = []
    for path in sorted(TRANSCRIPTS_DIR.glob("*.json.gz")):
        t = json.loads(gzip.decompress(path.read_bytes()))
        for ln in t.get("launches") or []:
            model_launches.append({"setup": ln["spawn_s"], "daemonize": ln["ready_s"] - ln["spawn_s"],
                                   "connect_greeting": ln["greeting_s"] - ln["ready_s"],
                                   "commands": sum(e["latency_s"] for e in ln["exchanges"])})
    fid = df[(df["benchmark"] == "replay_fidelity") & (df["emulators"] == "real")] if not df.empty else df
    whole = fid.groupby("case")["time_s"].median() if not fid.empty else pd.Series(dtype=float)
    names = ["setup", "daemonize", "connect_greeting", "commands", "close", "kill_wait"]

    def med(launches, k):
        vals = [ln[k] for ln in launches if ln.get(k) is not None]
        return statistics.median(vals) if vals else float("nan")

    rows = [{"phase": k, "libvirt_s": med(lv_launches, k), "model_s": med(model_launches, k)} for k in names]
    recorded = sum(r["model_s"] for r in rows if r["model_s"] == r["model_s"])
    lv_total = med(lv_launches, "total")
    model_total = float(whole.median()) if len(whole) else float("nan")
    rows.append({"phase": "prober's own work and kill (whole minus recorded)", "libvirt_s": float("nan"),
                 "model_s": model_total - recorded})
    rows.append({"phase": "whole probe launch", "libvirt_s": lv_total, "model_s": model_total})
    phases = pd.DataFrame(rows)
    # the model records no close or kill phase (its kill is in "its own work"): 0 for the gap
    phases["gap_s"] = phases["libvirt_s"] - phases["model_s"].where(
        phases["model_s"].notna() | ~phases["phase"].isin(names), 0.0)
    display(tables.show_table(
        phases, output_dir, "probe_phases",
        "One probe launch, median per phase: libvirt 9.0 against the model's prober",
        "measured", f"libvirt 9.0 debug log ({facts.get('measured_at')}, {len(lv_launches)} launches); "
        f"model: data/transcripts ({len(model_launches)} launches) and replay_fidelity in this run",
        time_columns=["libvirt_s", "model_s", "gap_s"],
        names={"libvirt_s": "libvirt 9.0", "model_s": "model", "gap_s": "libvirt minus model"}))
    lines = []
    if model_total == model_total:
        ratio = model_total / lv_total
        within = abs(ratio - 1) <= tolerance
        lines.append(f"- A whole probe launch: model {tables.fmt_duration(model_total)}, libvirt 9.0 "
                     f"{tables.fmt_duration(lv_total)} (model / libvirt {tables.fmt_ratio(ratio)}): "
                     f"**{'within' if within else 'outside'} {tolerance:.0%}**.")
        if not within:
            named = phases[phases["phase"].isin(names)].dropna(subset=["gap_s"])
            named = named.reindex(named["gap_s"].abs().sort_values(ascending=False).index)
            gap = lv_total - model_total
            for r in named.head(3).itertuples():
                lines.append(f"  - {r.phase}: libvirt {tables.fmt_duration(r.libvirt_s)}, model "
                             f"{tables.fmt_duration(r.model_s)}: {r.gap_s / gap:.0%} of the gap.")
    else:
        lines.append("- This run has no `replay_fidelity` on real binaries: the model's whole probe is "
                     "not measured here (real QEMU absent where it ran).")
    lines.append(f"- libvirt 9.0's `kill_wait` is the time from its kill of QEMU to the probing thread's "
                 f"next log line: {tables.fmt_duration(med(lv_launches, 'kill_wait'))} per launch, nearly the "
                 "same for every binary (a wait, not work: where it comes from inside libvirt is not "
                 "measured here); the model kills the process group and waits on its pidfd.")
    display(Markdown("\n".join(lines)))
