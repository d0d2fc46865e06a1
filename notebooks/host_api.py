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
import matplotlib.pyplot as plt
from IPython.display import HTML, Markdown

from workbench.analysis import plots, tables
from workbench.analysis import host_api as ha
from workbench.paths import RESULTS_DIR
from workbench.analysis.results import load_run
from workbench.analysis.rundir import read_run_info

if index_link:
    display(HTML(f'<p><a href="{index_link}">← report index</a></p>'))
COMMITTED = RESULTS_DIR / "host_api"
asked = plots.as_list(results_dir)
# The report hands every notebook the same run(s); host_api results live in a run of their own.
with_host_api = [r for r in asked if r.is_dir() and
                 load_run(r)["benchmark"].isin(["host_api", "host_probe"]).any()]
run = with_host_api[0] if with_host_api else COMMITTED
if asked and not with_host_api:
    plots.note(f"The run(s) given ({', '.join(plots.md_literal(r) for r in asked)}) have no host_api results "
               f"(they come from `python -m workbench.bench.host_api`, not the sweep). **This page "
               f"shows the committed run `{COMMITTED.relative_to(RESULTS_DIR.parent.parent)}` instead.**")
out = plots.resolve(output_dir)
out.mkdir(parents=True, exist_ok=True)
COLORS = dict(zip(ha.DESIGNS, ["tab:red", "tab:gray", "tab:blue", "tab:green"]))
SOURCE = f"over the daemon socket, run {run.name}"
df = ha.with_parameters(load_run(run), run)
hosts = ha.hosts_in(df)
big_host = ha.largest_simulated(hosts)
m = read_run_info(run).data
display(Markdown(f"Run {plots.md_literal(run.name)}: {len(df):,} values of {df['name'].nunique()} benchmarks; host "
                 f"shapes {', '.join(hosts)}" + (f"; made on {m.get('cpu_model')} ({m.get('cores')} cores), "
                 f"{m.get('os')}, Python {m.get('python')}" if m.get("cpu_model") else "") + "."))

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
fig, ax = plt.subplots(figsize=(10, 4.5))
pc = probe_cost.drop(index="all (sum)") * 1e6
width = 0.8 / len(hosts)
for i, h in enumerate(hosts):
    ax.bar([j + i * width for j in range(len(pc))], pc[h], width, label=h)
ax.set_xticks([j + 0.4 - width / 2 for j in range(len(pc))], pc.index)
ax.set_yscale("log")
ax.set_xlabel("host sub-probe (trace span host.<name>)")
ax.set_ylabel("median cost per call (µs, log scale)")
ax.set_title("Host sub-probe cost per host shape")
plots.legend_beside(fig, title="host")
plots.show_figure(fig, out, "sub_probe_cost", "Median cost of each host sub-probe per host shape (log scale)",
                  "measured", "in-process trace spans, run " + run.name)

# %% [markdown]
# ## Client questions: latency per design, per host (measured, warm caps cache)
# `get_capabilities` and `node_caps` answer every question with the same call; they were measured
# once per host (question `any`) and are repeated under each question. `mix` is per question,
# averaged over the assumed mix. Latency is the client's: all round trips on one connection.

# %%
lat = ha.question_latency(df, hosts)
lat.to_csv(out / "question_latency.csv", index=False)
wide = lat[lat["host"] == big_host].pivot_table(index=["question", "memo"], columns="design",
                                                values="median_s", observed=True)
display(tables.show_table(wide, out, "question_latency_" + big_host,
                          f"Median client latency per question and design on {big_host} (all hosts: "
                          "question_latency.csv)", "measured", SOURCE + "; mix weights: model",
                          time_columns="values"))


# %%
def latency_figure(memo: str, path: str) -> None:
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), sharey=True)
    for ax, q in zip(axes.flat, ha.QUESTIONS):
        d = lat[(lat["question"] == q) & (lat["memo"] == memo)]
        width = 0.8 / len(ha.DESIGNS)
        for i, des in enumerate(ha.DESIGNS):
            s = d[d["design"] == des].set_index("host").reindex(hosts)
            x = [j + i * width for j in range(len(hosts))]
            ax.bar(x, s["median_s"] * 1e3, width, color=COLORS[des], label=des,
                   yerr=[(s["median_s"] - s["q1_s"]) * 1e3, (s["q3_s"] - s["median_s"]) * 1e3], capsize=2)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(hosts))], hosts, rotation=30, ha="right")
        ax.set_yscale("log")
        ax.set_title(f"question: {q}")
        ax.set_ylabel("client latency per question (ms, log)")
    fig.suptitle(f"Latency per client question and design, memo {memo}")
    plots.legend_beside(fig, title="design")
    plots.show_figure(fig, out, path, f"Client latency per question and design, memo {memo} (median, "
                      "IQR bars, log scale); get_capabilities with 30 emulators, warm caps cache",
                      "measured", SOURCE + "; mix weights: model")


latency_figure("off", "question_latency")
latency_figure("on", "question_latency_memo")

# %% [markdown]
# ## The best fine-grained design against get_capabilities (30 emulators installed)
# Ratio = best design's median / get_capabilities' median, same memo setting; below 1 is faster.
# Against both the warm get_capabilities (every call rebuilds virCaps from cached emulators) and
# the cold one (first call of a fresh daemon: ~25 emulator probes).

# %%
ratio = ha.best_against_today(lat)
ratio.to_csv(out / "ratio_to_get_capabilities.csv", index=False)
wide = ratio[ratio["host"] == big_host].set_index(["question", "memo"])[
    ["best_design", "best_s", "get_capabilities_warm_s", "ratio_to_warm", "ratio_to_cold"]]
display(tables.show_table(wide, out, "ratio_to_get_capabilities_" + big_host,
                          f"Best fine-grained design against get_capabilities on {big_host} (all hosts: "
                          "ratio_to_get_capabilities.csv)", "measured", SOURCE + "; mix weights: model",
                          names={"best_design": "best design", "best_s": "its latency",
                                 "get_capabilities_warm_s": "get_capabilities, warm",
                                 "ratio_to_warm": "best / warm", "ratio_to_cold": "best / cold"}))

# %%
fig, axes = plt.subplots(1, 2, figsize=(14, 5), sharey=True)
for ax, memo in zip(axes, ("off", "on")):
    for q in ha.QUESTIONS:
        d = ratio[(ratio["question"] == q) & (ratio["memo"] == memo)].set_index("host").reindex(hosts)
        ax.plot(hosts, d["ratio_to_warm"], marker="o", label=q)
    ax.axhline(1, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("host shape")
    ax.set_ylabel("best design / get_capabilities warm (ratio, log)")
    ax.set_title(f"memo {memo}")
    ax.tick_params(axis="x", rotation=30)
fig.suptitle("Best fine-grained design relative to get_capabilities with 30 emulators")
plots.legend_beside(fig, title="question")
plots.show_figure(fig, out, "ratio_to_get_capabilities",
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
(out / "recommendation.md").write_text("# Recommendation (measured; mix weights are a model)\n\n"
                                       + rec.markdown() + "\n")
rec.savings.assign(design=rec.design, provenance="measured (mix weights: model)").to_csv(
    out / "recommendation_savings.csv", index=False)
display(Markdown(f"Measured (over the daemon socket, run {plots.md_literal(run.name)}; the weights of the mix are a model):\n\n" + rec.markdown()))
