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
from IPython.display import HTML, Markdown

from workbench.analysis import anatomy, plots, tables, transcripts
from workbench.analysis.results import parallel_fidelity

if index_link:
    display(HTML(f'<p><a href="{index_link}">← report index</a></p>'))
rec = transcripts.read(plots.resolve(transcripts_dir))
if anatomy.recorded_note(rec, plots.resolve(transcripts_dir)):
    plots.note(anatomy.recorded_note(rec, plots.resolve(transcripts_dir)))

# %% [markdown]
# ## Per QMP command, over all targets

# %%
if not rec.exchanges.empty:
    per_cmd = transcripts.per_command(rec.exchanges)
    top = per_cmd.head(top_commands)
    plots.show_figure(anatomy.per_command_figure(top, rec.exchanges["target"].nunique()), output_dir, "per_command",
                      f"Share of all recorded QMP time per command, the {len(top)} largest", "recorded", plots.RECORDED)
    display(tables.show_table(per_cmd, output_dir, "per_command", "Recorded QMP time per command, all targets",
                              "recorded", plots.RECORDED, names={"median_s": "median per call"}))

# %% [markdown]
# ## Per target
# Each probe launch: start to QMP socket ready, the QMP commands (largest by name), quit.
# Host-native targets are probed twice (KVM probe, then a TCG-only one): both launches are summed.

# %%
if not rec.exchanges.empty:
    table = transcripts.per_target(rec, list(top["command"].head(5)))
    plots.show_figure(anatomy.per_target_figure(table), output_dir, "per_target", "Recorded time of one probe per "
                      "target, split into start-up, QMP commands and quit", "recorded", plots.RECORDED)
    shown, out = anatomy.per_target_rows(table)
    display(tables.show_table(shown, output_dir, "per_target", "Recorded time per probe, slowest targets first",
                              "recorded", plots.RECORDED, time_columns=["start to ready", "quit", "total_s"], csv_frame=out))
    display(Markdown(anatomy.all_targets_line(table)))

# %% [markdown]
# ## Replay fidelity: simulated against real
# One probe per target, measured on the real binary and on the replaying emulator
# (the run's `replay_fidelity` benchmark); the recorded total is shown for comparison.

# %%
df, machine = plots.load(results_dir)
if not (df["benchmark"] == "replay_fidelity").any():
    plots.note("This run has no `replay_fidelity` benchmark: simulated and real cannot be compared here.")
else:
    rf = anatomy.replay_fidelity(df, None if rec.exchanges.empty else table.sum(axis=1))
    if not rf.has_real:
        plots.note(anatomy.NO_REAL_SIDE)
    plots.show_figure(anatomy.fidelity_figure(rf), output_dir, "replay_fidelity", "One probe per target on the real "
                      "binary and on the replaying emulator (median, IQR bar), the recorded time, and simulated / real",
                      rf.kind, rf.source)
    if rf.lines:
        display(Markdown("\n".join(rf.lines)))
    display(tables.show_table(rf.shown(), output_dir, "replay_fidelity", "One probe per target: real, simulated "
                              "(medians) and recorded, targets sorted by simulated / real", rf.kind, rf.source,
                              time_columns=["real", "simulated", "recorded"], csv_frame=rf.frame))

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
    par = parallel_fidelity(df)
    source, kind = plots.provenance(par_rows), plots.kind(par_rows)
    plots.show_figure(anatomy.parallel_figure(par, (machine or {}).get("cores")), output_dir, "parallel_fidelity",
                      "Cold get_capabilities against probe workers, replays and real binaries, "
                      "and each side's speed-up over one worker", kind, source)
    line = anatomy.parallel_ratio_line(par, kind, source)
    if line:
        display(Markdown(line))
    else:
        plots.note("No real binaries where this run was made: only the replays' scaling is shown.")
    display(tables.show_table(par, output_dir, "parallel_fidelity", "Cold get_capabilities per pool size: real and "
                              "simulated medians, simulated / real, and speed-ups", kind, source,
                              time_columns=["real", "simulated"]))
