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
# # What libvirt could do next
#
# Strategies libvirt never shipped, measured beside the two it did, in three scenarios a
# daemon meets: a **cold container** (a KubeVirt pod's daemon: empty cache, then get_version,
# domain capabilities for the host arch and one define), a **package upgrade** (every cache
# entry invalidated by a new QEMU ctime, then the same client) and a **steady host** (warm
# cache). Every time is **measured** by `python -m workbench.bench.scenarios` (pyperf, daemon
# spawn to the client's last answer, over its socket) on replaying emulators; launches, startup,
# first answer, worst call and the daemon's CPU seconds come from one untimed counting run per
# (scenario, strategy, n) and are **counted** by the daemon, not estimated (each worker process
# records them beside its value; the tables show the median over processes). The staleness column
# is each strategy's own **assessment** (its `staleness` text), not a measurement.
# Rows of real libvirt 9.0 (a `system` column in the run) are shown beside them when present.

# %% tags=["parameters"]
results_dir = "data/results/reference"  # run directory, or a list of them (shown side by side); relative paths are relative to the repository
reference_dir = ""  # a run to draw beside them as the reference (empty: none)
output_dir = "reports/next_steps"  # figures (PNG) and tables (CSV) are written here
emulators = []  # emulator counts to show (empty: every count in the run)
strategies = []  # strategies to show (empty: every strategy in the run)
baseline = "per-emulator"  # today's libvirt: speed-ups are baseline / strategy
target_speedup = 10.0  # the bar for the best new strategy against the baseline, cold container, largest n
index_link = ""  # link back to the report's index page (set by `workbench report`)

# %%
import matplotlib.pyplot as plt
from IPython.display import HTML, Markdown

from workbench.analysis import plots, tables
from workbench.analysis import next_steps as ns
from workbench.qemu.strategies import STRATEGIES

if index_link:
    display(HTML(f'<p><a href="{index_link}">← report index</a></p>'))
runs = plots.as_list(results_dir) + plots.as_list(reference_dir or None)
df, machine = plots.load(results_dir, emulators, strategies, reference_dir)
# the scenario values with their worker process's counted metadata; real libvirt labelled by name
sc = ns.scenario_rows(df, [r for r in runs if r.is_dir()])
if sc.empty:
    plots.note("No `scenario` benchmark in this run: run "
               "`workbench sweep --benchmarks scenarios -o DIR` and pass it as `results_dir`.")
labels = ns.labels(sc, STRATEGIES)
kind, source = ns.provenance(sc) if not sc.empty else ("replayed", "no data")
print(f"{len(sc)} values; strategies: {', '.join(labels)}; emulator counts: "
      f"{sorted(sc['n_emulators'].dropna().unique().tolist()) if not sc.empty else []}")

# %% [markdown]
# ## Time to the client's last answer, 1 to 30 emulators (measured; median and quartiles)

# %%
if not sc.empty:
    q = plots.quartiles(sc, ["case", "label", "n_emulators"])
    colors = plots.strategy_colors(labels)
    fig, axes = plt.subplots(1, len(ns.SCENARIOS), figsize=(5.2 * len(ns.SCENARIOS), 4.2), squeeze=False)
    for ax, name in zip(axes[0], ns.SCENARIOS):
        for lab in labels:
            g = q[(q["case"] == name) & (q["label"] == lab)]
            if not g.empty:
                plots.band(ax, g, "n_emulators", lab, colors[lab])
        ax.set_title(name.replace("_", " "))
        plots.style_axes(ax, "spawn to last answer (s, log)", log=True)
    fig.suptitle("Scenarios: time to the client's last answer per strategy")
    plots.legend_beside(fig)
    plots.show_figure(fig, output_dir, "last_answer",
                      "Daemon spawn to the client's last answer against emulators installed, per "
                      "scenario and strategy (median and IQR band; log axis)", kind, source)
    plots.save_table(q.rename(columns={"label": "strategy"}), output_dir, "last_answer", source)

# %% [markdown]
# ## Emulator launches per scenario (counted by the daemon at the client's last answer)

# %%
if not sc.empty:
    launches = (sc.groupby(["case", "label", "n_emulators"])["launches"].first()
                .unstack("label").reindex(columns=labels))
    fig, axes = plt.subplots(1, len(ns.SCENARIOS), figsize=(5.2 * len(ns.SCENARIOS), 4.0), squeeze=False)
    for ax, name in zip(axes[0], ns.SCENARIOS):
        if name in launches.index.get_level_values(0):
            t = launches.loc[name]
            for lab in labels:
                if lab in t and t[lab].notna().any():
                    ax.plot(t.index.astype(float), t[lab], "o-", ms=4, color=colors[lab], label=lab)
        ax.set_title(name.replace("_", " "))
        plots.style_axes(ax, "emulator processes launched (count)", log=False)
    fig.suptitle("Emulator launches until the client's last answer (counted)")
    plots.legend_beside(fig)
    plots.show_figure(fig, output_dir, "launches",
                      "Emulator processes launched until the client's last answer, per scenario and "
                      "strategy (counted by the daemon)", kind, source)
    plots.save_table(launches.reset_index().rename(columns={"case": "scenario"}), output_dir,
                     "launches", source)

# %% [markdown]
# ## What the pidfd teardown saves, 1 to 30 emulators (where the run measured several teardowns)

# %%
from workbench.analysis import teardown as td

saving = td.teardown_saving(df)
saving = saving[saving["benchmark"] == "scenario"]
if saving.empty:
    plots.note("This run measured the scenarios under one teardown only: `workbench sweep "
               "--benchmarks scenarios --teardowns libvirt9,pidfd` measures what the fix saves.")
else:
    td_rows = sc[sc["system"].isna() | (sc["system"] == "model")]
    display(tables.show_table(saving, output_dir, "teardown_saving",
                              "Time to the client's last answer per teardown, and the pidfd fix's saving",
                              *ns.provenance(td_rows), max_rows=30,
                              formats={"saving_share": lambda v: f"{v:.0%}"}, names={"saving_share": "saving (share)"}))
    for case in [c for c in ns.SCENARIOS if c in set(saving["case"])]:
        k, src = ns.provenance(td_rows)
        fig = td.saving_figure(saving, "scenario", case, tables.provenance_label(k, src))
        plots.show_figure(fig, output_dir, f"teardown_{case}", f"{case.replace('_', ' ')}: time to the last "
                          "answer against emulators installed under each teardown", k, src)

# %% [markdown]
# ## The trade-offs, at the largest emulator count measured
# Time to last answer is the median of the timed values; startup (spawn to `ready`), first
# answer, worst single call, the daemon's CPU seconds (its own process; the emulators' CPU is
# not in it) and launches come from the counting run (one sample each).

# %%
trade = ns.tradeoffs(sc, baseline, {s: STRATEGIES[s].staleness for s in STRATEGIES}, labels)
if not trade.empty:
    n_max = int(trade["n_emulators"].iloc[0])
    at = sc[sc["n_emulators"] == n_max]
    t_kind, t_source = ns.provenance(at)
    shown = trade.drop(columns=["staleness_risk", "n_emulators", "source"])
    display(tables.show_table(
        shown, output_dir, "tradeoffs",
        f"Trade-offs at {n_max} emulators: time to the last answer, startup, first answer, worst call, "
        f"daemon CPU, launches and probes (medians over worker processes), speed-up against {baseline}",
        t_kind, t_source, max_rows=30, csv_frame=trade,
        formats={"launches": lambda v: f"{int(v)}", "probes": lambda v: f"{int(v)}",
                 "speedup_vs_" + baseline: tables.fmt_ratio}))
    missing = ns.missing_note(ns.missing_reasons(trade, STRATEGIES))
    if missing:
        display(Markdown(missing))
    display(Markdown("**Staleness risk** (each strategy's own assessment, not a measurement):\n\n"
                     + "\n".join(f"- **{plots.md_text(s)}**: {r}" for s, r in trade.drop_duplicates("strategy")
                                  [["strategy", "staleness_risk"]].itertuples(index=False))))

# %% [markdown]
# ## Conclusions (computed from the table above by `workbench.analysis.next_steps.conclusions`)

# %%
display(Markdown(ns.conclusions(trade, baseline, STRATEGIES, target_speedup).markdown()))
