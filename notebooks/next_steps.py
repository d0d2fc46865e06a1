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
# # What libvirt could do next (issue 13)
#
# Strategies libvirt never shipped, measured beside the two it did, in three scenarios a
# daemon meets: a **cold container** (a KubeVirt pod's daemon: empty cache, then get_version,
# domain capabilities for the host arch and one define), a **package upgrade** (every cache
# entry invalidated by a new QEMU ctime, then the same client) and a **steady host** (warm
# cache). Every time is **measured** by `python -m workbench.bench.scenarios` (pyperf, daemon
# spawn to the client's last answer, over its socket) on replaying emulators; launches, startup,
# first answer, worst call and the daemon's CPU seconds come from one untimed counting run per
# (scenario, strategy, n) and are **counted** by the daemon, not estimated. The staleness column
# is each strategy's own **assessment** (its `staleness` text), not a measurement.
# Rows of real libvirt 9.0 (a `system` column in the run) are shown beside them when present.

# %% tags=["parameters"]
results_dir = "data/results/reference"  # run directory, or a list of them (shown side by side); relative paths are relative to the repository
reference_dir = ""  # a run to draw beside them as the reference (empty: none)
output_dir = "reports/next_steps"  # figures (PNG) and tables (CSV) are written here
emulators = []  # emulator counts to show (empty: every count in the run)
strategies = []  # strategies to show (empty: every strategy in the run)
baseline = "per-emulator"  # today's libvirt: speed-ups are baseline / strategy
target_speedup = 10.0  # issue 13's bar for the best new strategy, cold container, largest n
index_link = ""  # link back to the report's index page (set by `workbench report`)

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import HTML, Markdown

from workbench.analysis import plots, tables
from workbench.qemu.strategies import STRATEGIES
from workbench.analysis.results import MODEL

if index_link:
    display(HTML(f'<p><a href="{index_link}">← report index</a></p>'))

SCENARIOS = ["cold_container", "package_upgrade", "steady_host"]
COUNTED = ["launches", "probes", "ready_s", "first_answer_s", "worst_call_s", "daemon_cpu_s"]
runs = plots.as_list(results_dir) + plots.as_list(reference_dir or None)
df, machine = plots.load(results_dir, emulators, strategies, reference_dir)
sc = df[df["benchmark"] == "scenario"].copy()
if sc.empty:
    plots.note("No `scenario` benchmark in this run: run "
               "`workbench sweep --benchmarks scenarios -o DIR` and pass it as `results_dir`.")

# %%
# The counted metadata are columns of the tidy rows (absent where no benchmark counted them);
# real libvirt rows (a `system` column other than the workbench's) are labelled by their system.
sc = sc.reindex(columns=list(sc.columns) + [k for k in COUNTED if k not in sc.columns])
if not sc.empty:
    own = sc["system"].isna() | (sc["system"] == MODEL)
    sc["label"] = sc["strategy"].where(own, sc["system"].astype(str))  # real libvirt: its name
labels = [s for s in STRATEGIES if s in set(sc.get("label", []))] + \
    sorted(set(sc.get("label", [])) - set(STRATEGIES))
source = plots.provenance(sc) if not sc.empty else "no data"
kind = plots.kind(sc) if not sc.empty else "replayed"
print(f"{len(sc)} values; strategies: {', '.join(labels)}; emulator counts: "
      f"{sorted(sc['n_emulators'].dropna().unique().tolist()) if not sc.empty else []}")

# %% [markdown]
# ## Time to the client's last answer, 1 to 30 emulators (measured; median and quartiles)

# %%
if not sc.empty:
    q = plots.quartiles(sc, ["case", "label", "n_emulators"])
    colors = plots.strategy_colors(labels)
    fig, axes = plt.subplots(1, len(SCENARIOS), figsize=(5.2 * len(SCENARIOS), 4.2), squeeze=False)
    for ax, name in zip(axes[0], SCENARIOS):
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
    fig, axes = plt.subplots(1, len(SCENARIOS), figsize=(5.2 * len(SCENARIOS), 4.0), squeeze=False)
    for ax, name in zip(axes[0], SCENARIOS):
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
# ## The trade-offs, at the largest emulator count measured
# Time to last answer is the median of the timed values; startup (spawn to `ready`), first
# answer, worst single call, the daemon's CPU seconds (its own process; the emulators' CPU is
# not in it) and launches come from the counting run (one sample each).

# %%
trade = pd.DataFrame()
if not sc.empty:
    n_max = int(sc["n_emulators"].max())
    at = sc[sc["n_emulators"] == n_max]
    g = at.groupby(["case", "label"])
    trade = pd.DataFrame({"last_answer_s": g["time_s"].median(), "startup_s": g["ready_s"].first(),
                          "first_answer_s": g["first_answer_s"].first(),
                          "worst_call_s": g["worst_call_s"].first(), "cpu_s": g["daemon_cpu_s"].first(),
                          "launches": g["launches"].first()}).reset_index()
    base = trade[trade["label"] == baseline].set_index("case")["last_answer_s"]
    trade["speedup_vs_" + baseline] = trade["case"].map(base) / trade["last_answer_s"]
    trade["staleness_risk"] = trade["label"].map(
        lambda s: STRATEGIES[s].staleness if s in STRATEGIES else "real libvirt: as per-emulator")
    trade.insert(0, "n_emulators", n_max)
    trade["order"] = trade["label"].map({s: i for i, s in enumerate(labels)})
    trade = trade.sort_values(["case", "order"]).drop(columns="order").rename(
        columns={"case": "scenario", "label": "strategy"})
    shown = trade.drop(columns=["staleness_risk", "n_emulators"])
    display(tables.show_table(
        shown, output_dir, "tradeoffs",
        f"Trade-offs at {n_max} emulators: time to the last answer (median), startup, first answer, "
        "worst call, daemon CPU and launches (counted run), speed-up against " + baseline,
        kind, source, max_rows=30, csv_frame=trade,
        formats={"launches": lambda v: "not counted" if pd.isna(v) else f"{int(v)}", "speedup_vs_" + baseline: tables.fmt_ratio}))
    display(Markdown("**Staleness risk** (each strategy's own assessment, not a measurement):\n\n"
                     + "\n".join(f"- **{s}**: {STRATEGIES[s].staleness if s in STRATEGIES else 'real libvirt: as per-emulator'}"
                                  for s in labels)))

# %% [markdown]
# ## Conclusions (computed from the table above)

# %%
lines = []
fmt = tables.fmt_duration
if not trade.empty:
    sp = "speedup_vs_" + baseline
    newer = [s for s in labels if s in STRATEGIES and s not in ("full-caps", "per-emulator")]
    for name in SCENARIOS:
        t = trade[(trade["scenario"] == name)].set_index("strategy")
        if t.empty or baseline not in t.index:
            continue
        cand = t.loc[[s for s in newer if s in t.index]]
        if cand.empty:
            continue
        best = cand["last_answer_s"].idxmin()
        b = t.loc[best]
        lines.append(f"- **{name.replace('_', ' ')}** at {n_max} emulators: fastest new strategy "
                     f"**{best}**, {fmt(b['last_answer_s'])} to the last answer against "
                     f"{fmt(t.loc[baseline, 'last_answer_s'])} for {baseline} (**{b[sp]:.1f}x**), "
                     f"{int(b['launches'])} emulator launches against {int(t.loc[baseline, 'launches'])}.")
        slower = [s for s in cand.index if cand.loc[s, sp] < 1 / 1.1]
        if slower:
            lines.append(f"  - slower than {baseline} here (by more than 10 %): {', '.join(slower)}.")
        if name == "cold_container":
            ok = b[sp] >= target_speedup
            lines.append(f"  - issue 13's bar ({target_speedup:g}x for the best new strategy): "
                         f"**{'met' if ok else 'not met'}**.")
            for real in [s for s in t.index if s not in STRATEGIES]:  # real libvirt, measured beside
                r = t.loc[real, "last_answer_s"]
                lines.append(f"  - against **{real}** itself on the same install ({fmt(r)}, open to the "
                             f"last answer, process start left out): {best} is **{r / b['last_answer_s']:.1f}x** faster.")
    cpu = pd.to_numeric(trade["cpu_s"], errors="coerce").groupby(trade["strategy"]).sum(min_count=1).dropna()
    if len(cpu):
        lines.append(f"- Daemon CPU over the three scenarios: least **{cpu.idxmin()}** "
                     f"({cpu.min():.2f} s), most **{cpu.idxmax()}** ({cpu.max():.2f} s).")
    counted = trade.assign(worst_call_s=pd.to_numeric(trade["worst_call_s"], errors="coerce")).dropna(
        subset=["worst_call_s"])  # real libvirt's rows have no counting run
    worst = counted.loc[counted["worst_call_s"].idxmax()] if len(counted) else None
    if worst is not None:
        lines.append(f"- Worst single call: {fmt(worst['worst_call_s'])} ({worst['strategy']}, "
                     f"{worst['scenario'].replace('_', ' ')}).")
display(Markdown("\n".join(lines) if lines else "No scenario data: no conclusions."))
