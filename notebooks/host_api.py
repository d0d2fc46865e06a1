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
# # Fine-grained host capabilities: which API design?
#
# An app that wants the host CPU should not pay for probing the cache and NUMA topology, and
# vice versa: individual APIs, one call with flags, or host-only capabilities? Every number here
# is **measured** by `python -m workbench.bench.host_api` (pyperf, over a real daemon socket, one
# client connection); the only **model** input is the weights of the client mix (`MIX` in the
# benchmark), which are assumed, not observed traffic. The page ends in the recommendation,
# computed from the data by `workbench.analysis.host_api.recommend`.
#
# Designs: `get_capabilities` (today's virConnectGetCapabilities: host + every guest, 30 simulated
# emulators installed), `node_caps` (host-only `<host>`), `node_caps_flags` (host-only, the parts
# asked for), `per_part` (one `node_get_<part>` call per part). Each with and without memoised
# sub-probes.

# %% tags=["parameters"]
results_dir = ""              # empty: the committed run, data/results/host_api; a run or a list of runs; relative: to the repository
output_dir = "reports/host_api"  # figures (PNG) and tables (CSV); relative: to the repository
index_link = ""  # link back to the report's index page (set by `workbench report`)

# %%
from IPython.display import HTML, Markdown

from workbench.analysis import plots, tables
from workbench.analysis import host_api as ha
from workbench.analysis import host_api_figures as figures
from workbench.paths import RESULTS_DIR
from workbench.analysis.results import load_run
from workbench.analysis.rundir import read_run_info

if index_link:
    display(HTML(f'<p><a href="{index_link}">← report index</a></p>'))
# The report hands every notebook the same run(s); host_api results live in a run of their own.
run, instead = ha.run_with_host_api(plots.as_list(results_dir), RESULTS_DIR / "host_api")
if instead:
    plots.note(instead)
out = plots.resolve(output_dir)
out.mkdir(parents=True, exist_ok=True)
SOURCE = f"over the daemon socket, run {run.name}"
df = ha.with_parameters(load_run(run), run)
hosts = ha.hosts_in(df)
big_host = ha.largest_simulated(hosts)
display(Markdown(ha.run_line(run, df, hosts, read_run_info(run).data)))

# %% [markdown]
# ## Every sub-probe's cost per host shape (measured: trace span `host.<probe>`)
# `nodes` is the node-dir count the CPU part needs for `<topology>`; `power` is measured with
# conf.host's once-per-process memo cleared (libvirt, too, computes it once per process).

# %%
probe_cost = ha.probe_cost(df, hosts)
display(tables.show_table(probe_cost, out, "sub_probe_cost",
                          "Median cost of each host sub-probe per host shape", "measured",
                          "in-process trace spans host.<probe>, run " + run.name, time_columns="values"))

# %%
plots.show_figure(figures.sub_probe_figure(probe_cost, hosts), out, "sub_probe_cost", "Median cost of each host "
                  "sub-probe per host shape (log scale)", "measured", "in-process trace spans, run " + run.name)

# %% [markdown]
# ## Client questions: latency per design, per host (measured, warm caps cache)
# `get_capabilities` and `node_caps` answer every question with the same call; they were measured
# once per host (question `any`) and are repeated under each question. `mix` is per question,
# averaged over the assumed mix. Latency is the client's: all round trips on one connection.

# %%
lat = ha.question_latency(df, hosts)
lat.to_csv(out / "question_latency.csv", index=False)
display(tables.show_table(ha.latency_on(lat, big_host), out, "question_latency_" + big_host,
                          f"Median client latency per question and design on {big_host} (all hosts: "
                          "question_latency.csv)", "measured", SOURCE + "; mix weights: model",
                          time_columns="values"))

# %%
for memo, name in (("off", "question_latency"), ("on", "question_latency_memo")):
    plots.show_figure(figures.latency_figure(lat, hosts, memo), out, name, f"Client latency per question and design, "
                      f"memo {memo} (median, IQR bars, log scale); get_capabilities with 30 emulators, warm caps cache",
                      "measured", SOURCE + "; mix weights: model")

# %% [markdown]
# ## The best fine-grained design against get_capabilities (30 emulators installed)
# Ratio = best design's median / get_capabilities' median, same memo setting; below 1 is faster.
# Against both the warm get_capabilities (every call rebuilds virCaps from cached emulators) and
# the cold one (first call of a fresh daemon: ~25 emulator probes).

# %%
ratio = ha.best_against_today(lat)
ratio.to_csv(out / "ratio_to_get_capabilities.csv", index=False)
display(tables.show_table(ha.ratio_on(ratio, big_host), out, "ratio_to_get_capabilities_" + big_host,
                          f"Best fine-grained design against get_capabilities on {big_host} (all hosts: "
                          "ratio_to_get_capabilities.csv)", "measured", SOURCE + "; mix weights: model",
                          names={"best_design": "best design", "best_s": "its latency",
                                 "get_capabilities_warm_s": "get_capabilities, warm",
                                 "ratio_to_warm": "best / warm", "ratio_to_cold": "best / cold"}))

# %%
plots.show_figure(figures.ratio_figure(ratio, hosts), out, "ratio_to_get_capabilities",
                  "Best fine-grained design's latency / get_capabilities' (warm, 30 emulators) per host "
                  "shape and question (log scale; below 1 is faster)", "measured", SOURCE + "; mix weights: model")

# %% [markdown]
# ## Which flags are worth having
# A flag pays when leaving its part out saves a visible share of the host probe. From the
# measured sub-probe table: each part's share of the sum of all sub-probes, per host; and the
# measured speed-up of asking for that part alone with flags over the whole `<host>` (memo off).

# %%
flag_value = ha.flag_value(probe_cost, lat, hosts)
shown = ha.flag_value_shown(flag_value, hosts)
display(tables.show_table(shown.rename_axis("part"), out, "flag_value",
                          "Each part's share of the host probe per host shape, and the best measured "
                          "speed-up of asking for it alone with flags (memo off)", "measured", SOURCE,
                          names={f"{h}_pct": f"{h} (%)" for h in hosts} | {"worth_a_flag": "worth a flag",
                                 "best_speedup_alone_ratio": "best speed-up alone"},
                          csv_frame=flag_value.rename_axis("part")))

# %% [markdown]
# ## Recommendation (computed from the data above)

# %%
rec = ha.recommend(lat, flag_value)
ha.write_recommendation(rec, out)
display(Markdown(f"Measured (over the daemon socket, run {plots.md_literal(run.name)}; the weights of the mix are a model):\n\n" + rec.markdown()))
