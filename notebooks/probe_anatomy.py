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
# # Probe anatomy
#
# Where the time of one capability probe goes, per QMP command and per target, from the
# conversations recorded on real QEMU 7.2 (`data/transcripts`), and how faithfully the
# simulated emulators replay them.
#
# Recorded latency is measured client-side by the prober: request written to the socket ->
# reply line read, before JSON parsing. It includes QEMU's work and one socket round trip.

# %% tags=["parameters"]
results_dir = "data/results/reference"  # run directory (for replay fidelity); relative paths are relative to the repository
output_dir = "reports/probe_anatomy"  # figures (PNG) and tables (CSV) are written here
transcripts_dir = "data/transcripts"  # recorded probe conversations (*.json.gz)
top_commands = 8  # QMP commands shown by name; the rest are summed as "other"

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown

from workbench import plots
from workbench.sim.transcript import load

RECORDED = plots.RECORDED
paths = sorted(plots.resolve(transcripts_dir).glob("*.json.gz"))
rows, launches, refused = [], [], []
for p in paths:
    t = load(p)
    if t.launch_failure:
        refused.append(t.target)
    for ln in t.launches:
        launches.append({"target": t.target, "accel": ln.accel, "ready_s": ln.ready_s,
                         "qmp_s": sum(e.latency_s for e in ln.exchanges), "quit_s": ln.quit_s or 0.0,
                         "commands": len(ln.exchanges)})
        rows += [{"target": t.target, "accel": ln.accel, "command": e.execute, "latency_s": e.latency_s}
                 for e in ln.exchanges]
exchanges = pd.DataFrame(rows, columns=["target", "accel", "command", "latency_s"])
launches = pd.DataFrame(launches)
if exchanges.empty:
    plots.note(f"No transcripts in `{plots.resolve(transcripts_dir)}`: nothing recorded to show.")
elif refused:
    plots.note(f"Refused the probe command line when recorded (no launches): {', '.join(refused)}.")

# %% [markdown]
# ## Per QMP command, over all targets

# %%
if not exchanges.empty:
    per_cmd = exchanges.groupby("command")["latency_s"].agg(calls="size", total_s="sum", median_s="median")
    per_cmd["share_pct"] = 100 * per_cmd["total_s"] / per_cmd["total_s"].sum()
    per_cmd = per_cmd.sort_values("total_s", ascending=False).reset_index()
    plots.save_table(per_cmd, output_dir, "per_command", RECORDED)
    top = per_cmd.head(top_commands)
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(top) + 1.5))
    ax.barh(top["command"][::-1], top["share_pct"][::-1], color="C4")
    for y, (pct, calls) in enumerate(zip(top["share_pct"][::-1], top["calls"][::-1])):
        ax.text(pct, y, f" {pct:.1f}% ({calls} calls)", va="center", fontsize=8)
    ax.set_xlabel(f"share of all QMP time over {exchanges['target'].nunique()} targets (%)")
    ax.set_xlim(0, top["share_pct"].max() * 1.3)
    ax.set_title("QMP time per command")
    plots.save_figure(fig, output_dir, "per_command", RECORDED)
    display(per_cmd.head(15).round(5))

# %% [markdown]
# ## Per target
# Each probe launch: start to QMP socket ready, the QMP commands (largest by name), quit.
# Host-native targets are probed twice (KVM probe, then a TCG-only one): both launches are summed.

# %%
if not exchanges.empty:
    named = list(top["command"].head(5))
    ex = exchanges.assign(part=exchanges["command"].where(exchanges["command"].isin(named), "other QMP"))
    parts = ex.pivot_table(index="target", columns="part", values="latency_s", aggfunc="sum").fillna(0)
    parts = parts.reindex(columns=named + ["other QMP"])
    per_target = launches.groupby("target")[["ready_s", "quit_s"]].sum()
    table = pd.concat([per_target[["ready_s"]].rename(columns={"ready_s": "start to ready"}),
                       parts, per_target[["quit_s"]].rename(columns={"quit_s": "quit"})], axis=1)
    table = table.loc[table.sum(axis=1).sort_values().index]
    fig, ax = plt.subplots(figsize=(9, 0.25 * len(table) + 1.5))
    left = pd.Series(0.0, index=table.index)
    for i, col in enumerate(table.columns):
        ax.barh(table.index, table[col] * 1e3, left=left * 1e3, label=col, color=f"C{i}")
        left += table[col]
    ax.set_xlabel("recorded time per probe (ms)")
    ax.set_xlim(left=0)
    ax.set_title("Probe time per target")
    ax.legend(fontsize=7, loc="lower right")
    plots.save_figure(fig, output_dir, "per_target", RECORDED)
    out = table.assign(total_s=table.sum(axis=1)).reset_index()
    plots.save_table(out, output_dir, "per_target", RECORDED)
    display(Markdown(f"All {len(table)} targets probed one after another: "
                     f"**{table.values.sum():.2f} s** (computed from the recordings; {RECORDED})."))

# %% [markdown]
# ## Replay fidelity: simulated against real
# One probe per target, measured on the real binary and on the replaying emulator
# (the run's `replay_fidelity` benchmark); the recorded total is shown for comparison.

# %%
df, machine = plots.load(results_dir)
fid_rows = df[df["benchmark"] == "replay_fidelity"]
if fid_rows.empty:
    plots.note("This run has no `replay_fidelity` benchmark: simulated and real cannot be compared here.")
else:
    from workbench.results import fidelity

    fid = fidelity(df)
    if exchanges.empty:
        fid["recorded"] = float("nan")
    else:
        fid["recorded"] = fid["target"].map(table.sum(axis=1))
    source = plots.provenance(fid_rows) + f"; recorded: {RECORDED}"
    plots.save_table(fid, output_dir, "replay_fidelity", source)
    has_real = fid["real"].notna().any()
    if not has_real:
        plots.note("The run has no real-QEMU side (no /usr/bin/qemu-system-* where it ran): "
                   "only simulated and recorded are shown.")
    fid = fid.sort_values("simulated")
    fig, (ax, axr) = plt.subplots(1, 2, figsize=(12, 0.28 * len(fid) + 1.8), sharey=True,
                                  gridspec_kw={"width_ratios": [3, 1]})
    y = range(len(fid))
    for k, (col, color) in enumerate([("real", "C0"), ("simulated", "C1"), ("recorded", "C7")]):
        ax.barh([i + (k - 1) * 0.27 for i in y], fid[col] * 1e3, height=0.27, label=col, color=color)
    ax.set_yticks(list(y), fid["target"])
    ax.set_xlabel("median time per probe (ms)")
    ax.set_xlim(left=0)
    ax.legend(fontsize=8)
    ax.set_title("One probe per target")
    if has_real:
        axr.barh(list(y), fid["ratio"], color="C1")
        axr.axvline(1, color="grey", lw=0.8)
        axr.set_xlim(left=0)
    axr.set_xlabel("simulated / real (×)")
    axr.set_title("ratio")
    plots.save_figure(fig, output_dir, "replay_fidelity", source)
    if has_real:
        display(Markdown(f"Simulated / real, median over targets: **{fid['ratio'].median():.2f}×** "
                         f"(range {fid['ratio'].min():.2f} to {fid['ratio'].max():.2f})."))
    display(fid.round(4))
