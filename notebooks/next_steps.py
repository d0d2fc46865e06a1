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
from IPython.display import HTML, Markdown

from workbench.analysis import plots
from workbench.analysis import next_steps as ns
from workbench.analysis import next_steps_figures as figures
from workbench.analysis import teardown as td
from workbench.qemu.strategies import STRATEGIES

if index_link:
    display(HTML(f'<p><a href="{index_link}">← report index</a></p>'))
runs = plots.as_list(results_dir) + plots.as_list(reference_dir or None)
# every teardown for the teardown comparison; the other sections read libvirt 9.0's only
every_teardown, machine = plots.load(results_dir, emulators, strategies, reference_dir, all_teardowns=True)
df = td.at_default_teardown(every_teardown)
# the scenario values with their worker process's counted metadata; real libvirt labelled by name
sc = ns.scenario_rows(df, [r for r in runs if r.is_dir()])
if sc.empty:
    plots.note("No `scenario` benchmark in this run: run "
               "`workbench sweep --benchmarks scenarios -o DIR` and pass it as `results_dir`.")
labels = ns.labels(sc, STRATEGIES)
kind, source = ns.provenance(sc) if not sc.empty else ("replayed", "no data")
print(ns.counts_line(sc, labels))

# %% [markdown]
# ## Time to the client's last answer, 1 to 30 emulators (measured; median and quartiles)

# %%
if not sc.empty:
    q = plots.quartiles(sc, ["case", "label", "n_emulators"])
    colors = plots.strategy_colors(labels)
    fig = figures.last_answer_figure(q, labels, colors)
    plots.show_figure(fig, output_dir, "last_answer",
                      "Daemon spawn to the client's last answer against emulators installed, per "
                      "scenario and strategy (median and IQR band; log axis)", kind, source)
    plots.save_table(q.rename(columns={"label": "strategy"}), output_dir, "last_answer", source)

# %% [markdown]
# ## Emulator launches per scenario (counted by the daemon at the client's last answer)

# %%
if not sc.empty:
    launches = ns.launches(sc, labels)
    fig = figures.launches_figure(launches, labels, colors)
    plots.show_figure(fig, output_dir, "launches",
                      "Emulator processes launched until the client's last answer, per scenario and "
                      "strategy (counted by the daemon)", kind, source)
    plots.save_table(launches.reset_index().rename(columns={"case": "scenario"}), output_dir,
                     "launches", source)

# %% [markdown]
# ## What the pidfd teardown saves, 1 to 30 emulators (where the run measured several teardowns)

# %%
saving = figures.show_teardown_saving(every_teardown, sc, output_dir)

# %% [markdown]
# ## The trade-offs, at the largest emulator count measured
# Time to last answer is the median of the timed values; startup (spawn to `ready`), first
# answer, worst single call, the daemon's CPU seconds (its own process; the emulators' CPU is
# not in it) and launches come from the counting run (one sample each).

# %%
trade = ns.tradeoffs(sc, baseline, {s: STRATEGIES[s].staleness for s in STRATEGIES}, labels)
if not trade.empty:
    display(ns.show_tradeoffs(sc, trade, baseline, output_dir))
    missing = ns.missing_note(ns.missing_reasons(trade, STRATEGIES))
    if missing:
        display(Markdown(missing))
    display(Markdown(ns.staleness_markdown(trade)))

# %% [markdown]
# ## Conclusions (computed from the table above by `workbench.analysis.next_steps.conclusions`)

# %%
display(Markdown(ns.conclusions(trade, baseline, STRATEGIES, target_speedup).markdown()))
