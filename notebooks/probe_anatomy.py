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
# reply line read, before JSON parsing. It includes QEMU's work and one socket round trip. Every
# recorded time is the median of several probes of the binary (the transcript's `repeats`); a
# replay answers after the recorded latency less one round trip that the recorder measured
# against an echo server, doing QEMU's work at the recording machine's speed, and holds the
# real QEMU's resident memory so that killing it costs the same (`workbench/sim/replay_timing.py`).

# %% tags=["parameters"]
results_dir = "data/results/reference"  # run directory (for replay fidelity); relative paths are relative to the repository
output_dir = "reports/probe_anatomy"  # figures (PNG) and tables (CSV) are written here
transcripts_dir = "data/transcripts"  # recorded probe conversations (*.json.gz)
top_commands = 8  # QMP commands shown by name; the rest are summed as "other"
index_link = ""  # link back to the report's index page (set by `workbench report`)

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import HTML, Markdown

from workbench.analysis import plots, tables, transcripts

if index_link:
    display(HTML(f'<p><a href="{index_link}">← report index</a></p>'))

RECORDED = plots.RECORDED
rec = transcripts.read(plots.resolve(transcripts_dir))
exchanges = rec.exchanges
if exchanges.empty:
    plots.note(f"No transcripts in {plots.md_literal(plots.resolve(transcripts_dir))}: nothing recorded to show.")
elif rec.refused:
    plots.note(f"Refused the probe command line when recorded (no launches): {', '.join(rec.refused)}.")

# %% [markdown]
# ## Per QMP command, over all targets

# %%
if not exchanges.empty:
    per_cmd = transcripts.per_command(exchanges)
    top = per_cmd.head(top_commands)
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(top) + 1.5))
    ax.barh(top["command"][::-1], top["share_pct"][::-1], color="C4")
    for y, (pct, calls) in enumerate(zip(top["share_pct"][::-1], top["calls"][::-1])):
        ax.text(pct, y, f" {pct:.1f}% ({calls} calls)", va="center", fontsize=8)
    ax.set_xlabel(f"share of all QMP time over {exchanges['target'].nunique()} targets (%)")
    ax.set_xlim(0, top["share_pct"].max() * 1.3)
    ax.set_title("QMP time per command")
    plots.show_figure(fig, output_dir, "per_command",
                      f"Share of all recorded QMP time per command, the {len(top)} largest", "recorded", RECORDED)
    display(tables.show_table(per_cmd, output_dir, "per_command", "Recorded QMP time per command, all targets",
                              "recorded", RECORDED, names={"median_s": "median per call"}))

# %% [markdown]
# ## Per target
# Each probe launch: start to QMP socket ready, the QMP commands (largest by name), quit.
# Host-native targets are probed twice (KVM probe, then a TCG-only one): both launches are summed.

# %%
if not exchanges.empty:
    table = transcripts.per_target(rec, list(top["command"].head(5)))
    fig, ax = plt.subplots(figsize=(9, 0.25 * len(table) + 1.5))
    left = pd.Series(0.0, index=table.index)
    for i, col in enumerate(table.columns):
        ax.barh(table.index, table[col] * 1e3, left=left * 1e3, label=col, color=f"C{i}")
        left += table[col]
    ax.set_xlabel("recorded time per probe (ms)")
    ax.set_xlim(left=0)
    ax.set_title("Probe time per target")
    plots.legend_beside(fig, title="part of the probe")
    plots.show_figure(fig, output_dir, "per_target",
                      "Recorded time of one probe per target, split into start-up, QMP commands and quit",
                      "recorded", RECORDED)
    out = table.assign(total_s=table.sum(axis=1)).reset_index()
    shown = out.sort_values("total_s", ascending=False)[["target", "start to ready", "quit", "total_s"]]
    display(tables.show_table(shown, output_dir, "per_target", "Recorded time per probe, slowest targets first",
                              "recorded", RECORDED, time_columns=["start to ready", "quit", "total_s"],
                              csv_frame=out))
    display(Markdown(f"All {len(table)} targets probed one after another: "
                     f"**{tables.fmt_duration(table.values.sum())}** (computed from the recordings; {RECORDED})."))

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
    from workbench.analysis.fidelity import fidelity_table
    from workbench.analysis.results import fidelity
    from workbench.analysis.transcripts import fidelity_lines

    fid = fidelity(df)
    if exchanges.empty:
        fid["recorded"] = float("nan")
    else:
        fid["recorded"] = fid["target"].map(table.sum(axis=1))
    source = plots.provenance(fid_rows) + f"; recorded: {RECORDED}"
    kind = plots.kind(fid_rows) + " (recorded column: recorded)"
    # The spread per side: each target's interquartile range over its values.
    spread = plots.quartiles(fid_rows, ["case", "emulators"])
    has_real = fid["real"].notna().any()
    if not has_real:
        plots.note("The run has no real-QEMU side (no /usr/bin/qemu-system-* where it ran): "
                   "only simulated and recorded are shown.")
    fid = fid.sort_values("simulated")
    fig, (ax, axr) = plt.subplots(1, 2, figsize=(12, 0.28 * len(fid) + 1.8), sharey=True,
                                  gridspec_kw={"width_ratios": [3, 1]})
    y = range(len(fid))
    for k, (col, color) in enumerate([("real", "C0"), ("simulated", "C1"), ("recorded", "C7")]):
        ys = [i + (k - 1) * 0.27 for i in y]
        err = None
        if col != "recorded":
            sp = spread[spread["emulators"] == col].set_index("case").reindex(fid["target"])
            err = [(fid[col].values - sp["q1_s"].values) * 1e3, (sp["q3_s"].values - fid[col].values) * 1e3]
        ax.barh(ys, fid[col] * 1e3, height=0.27, label=col + (" (median, IQR bar)" if err else ""),
                color=color, xerr=err, error_kw={"lw": 0.8, "capsize": 1.5})
    ax.set_yticks(list(y), fid["target"])
    ax.set_xlabel("time per probe (ms)")
    ax.set_xlim(left=0)
    ax.set_title("One probe per target")
    if has_real:
        axr.barh(list(y), fid["ratio"], color="C1")
        axr.axvline(1, color="grey", lw=0.8)
        axr.set_xlim(left=0)
    axr.set_xlabel("simulated / real (×)")
    axr.set_title("ratio of medians")
    plots.legend_beside(fig)
    plots.show_figure(fig, output_dir, "replay_fidelity",
                      "One probe per target on the real binary and on the replaying emulator "
                      "(median, IQR bar), the recorded time, and simulated / real",
                      kind, source)
    if has_real:
        # per target: Welch CI on process medians, a verdict, and a cause only where evidence
        # independent of the replay names one (workbench.analysis.fidelity)
        ft = fidelity_table(df, fid.set_index("target")["recorded"].dropna().to_dict())
        fid = fid.merge(ft[["target", "ci_low", "ci_high", "verdict", "real_pace", "cause"]], on="target", how="left")
        display(Markdown("\n".join(fidelity_lines(ft))))
    shown = fid.sort_values("ratio")[["target", "real", "simulated", "recorded", "ratio"]
                                     + [c for c in ("verdict", "cause") if c in fid]]
    display(tables.show_table(shown, output_dir, "replay_fidelity",
                              "One probe per target: real, simulated (medians) and recorded, "
                              "targets sorted by simulated / real", kind, source,
                              time_columns=["real", "simulated", "recorded"], csv_frame=fid))

# %% [markdown]
# ## Replay fidelity under parallel probing
# The `parallel` strategy's pool (`parallel_scaling`: a cold get_capabilities at the largest
# emulator count, 1 to 8 probe workers) on the replaying emulators and, where the host has them,
# on the real binaries of the same targets. A replay does QEMU's work at the recording machine's
# speed; how far the two speed-ups agree says how far the replays can stand in for QEMU when
# probes run side by side. Known cause where the replays gain beyond the core count: a replay
# counts its work from a wall-clock deadline, so time it spends waiting for a core before it
# starts working is not made up (`workbench/sim/replay_timing.py: work_until`); budgeting the
# work in CPU time closed the gap in a trial (branch experiment/replay-cpu-budget).

# %%
par_rows = df[df["benchmark"] == "parallel_scaling"]
if par_rows.empty:
    plots.note("This run has no `parallel_scaling` benchmark.")
else:
    from workbench.analysis.results import parallel_fidelity

    par = parallel_fidelity(df)
    source, kind = plots.provenance(par_rows), plots.kind(par_rows)
    cores = (machine or {}).get("cores")  # the machine the run was made on
    fig, (ax, axs) = plt.subplots(1, 2, figsize=(11, 3.6))
    for side, color in (("real", "C0"), ("simulated", "C1")):
        if par[side].notna().any():
            ax.plot(par["workers"], par[side], "o-", color=color, label=side)
            axs.plot(par["workers"], par[f"speedup_{side}"], "o-", color=color, label=side)
    ax.set_xlabel("probe workers")
    ax.set_ylabel("cold get_capabilities (s)")
    ax.set_ylim(bottom=0)
    axs.set_xlabel("probe workers")
    axs.set_ylabel("speed-up over 1 worker (×)")
    if cores:
        axs.axhline(cores, color="grey", lw=0.8, ls="--")
        axs.annotate(f"{cores} cores", (par["workers"].max(), cores), ha="right", va="bottom", fontsize=8)
    axs.set_ylim(bottom=0)
    for a in (ax, axs):
        a.set_xticks(list(par["workers"]))
    plots.legend_beside(fig)
    plots.show_figure(fig, output_dir, "parallel_fidelity",
                      "Cold get_capabilities against probe workers, replays and real binaries, "
                      "and each side's speed-up over one worker", kind, source)
    if par["real"].notna().any():
        display(Markdown(
            "Simulated / real per pool size: "
            + ", ".join(f"{w} worker{'s' if w > 1 else ''} **{tables.fmt_ratio(r)}**"
                        for w, r in zip(par["workers"], par["ratio"]))
            + f" ({kind}; {source})."))
    else:
        plots.note("No real binaries where this run was made: only the replays' scaling is shown.")
    display(tables.show_table(par, output_dir, "parallel_fidelity",
                              "Cold get_capabilities per pool size: real and simulated medians, "
                              "simulated / real, and speed-ups", kind, source,
                              time_columns=["real", "simulated"]))
