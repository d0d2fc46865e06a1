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
# # Fine-grained host capabilities: which API design? (issue #6)
#
# The cover letter's open question: an app that wants the host CPU should not pay for probing
# the cache and NUMA topology, and vice versa. Individual APIs, or one `virNodeGetCapabilities`
# with flags? Every number here is **measured** by `python -m workbench.bench.host_api` (pyperf,
# over a real daemon socket, one client connection); the only **model** input is the weights of
# the client mix (`MIX` in the benchmark), which are assumed, not observed traffic.
#
# Designs: `get_capabilities` (libvirt's: host + every guest, 30 simulated emulators installed),
# `node_caps` (host-only `<host>`), `node_caps_flags` (host-only, the parts asked for),
# `per_part` (one `node_get_<part>` call per part). Each with and without memoised sub-probes.

# %% tags=["parameters"]
results_dir = ""              # empty: the committed run, data/results/host_api; a run or a list of runs; relative: to the repository
output_dir = "reports/host_api"  # figures (PNG) and tables (CSV); relative: to the repository
index_link = ""  # link back to the report's index page (set by `workbench report`)

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import HTML, Markdown

from workbench.analysis import plots, tables
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
    plots.note(f"The run(s) given ({', '.join(f'`{r}`' for r in asked)}) have no host_api results "
               f"(they come from `python -m workbench.bench.host_api`, not the sweep). **This page "
               f"shows the committed run `{COMMITTED.relative_to(RESULTS_DIR.parent.parent)}` instead.**")
out = plots.resolve(output_dir)
out.mkdir(parents=True, exist_ok=True)
HOST_ORDER = ["vm-2cpu", "desktop-16", "server-2s-64", "server-4s-192", "server-8s-448", "real"]
QUESTIONS = ["cpu", "numa", "cpu_numa", "cache_banks", "everything", "mix"]
DESIGNS = ["get_capabilities", "node_caps", "node_caps_flags", "per_part"]
COLORS = dict(zip(DESIGNS, ["tab:red", "tab:gray", "tab:blue", "tab:green"]))
SOURCE = f"over the daemon socket, run {run.name}"

# %%
# The tidy table (one row per value), with every wb_* parameter as a column.
df = load_run(run)
df = df.reindex(columns=list(df.columns) + [k for k in ("host", "question", "design", "memo", "round_trips",
                                                         "probe") if k not in df.columns])
hosts = [h for h in HOST_ORDER if h in set(df["host"].dropna())]
m = read_run_info(run).data
display(Markdown(f"Run `{run.name}`: {len(df):,} values of {df['name'].nunique()} benchmarks; host "
                 f"shapes {', '.join(hosts)}" + (f"; made on {m.get('cpu_model')} ({m.get('cores')} cores), "
                 f"{m.get('os')}, Python {m.get('python')}" if m.get("cpu_model") else "") + "."))

# %% [markdown]
# ## Every sub-probe's cost per host shape (measured: trace span `host.<probe>`)
# `nodes` is the node-dir count the CPU part needs for `<topology>`; `power` is measured with
# conf.host's once-per-process memo cleared (libvirt, too, computes it once per process).

# %%
sp = df[df["benchmark"] == "host_probe"]
probe_cost = sp.groupby(["probe", "host"])["time_s"].median().unstack("host").reindex(columns=hosts)
probe_cost = probe_cost.loc[probe_cost.max(axis=1).sort_values(ascending=False).index]
probe_cost.loc["all (sum)"] = probe_cost.sum()
display(tables.show_table(probe_cost.rename_axis("sub-probe"), out, "sub_probe_cost",
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
api = df[(df["benchmark"] == "host_api")]
warm = api[api["cache"] == "warm"]
g = warm.groupby(["host", "question", "design", "memo"])["time_s"]
lat = pd.DataFrame({"median_ms": g.median() * 1e3, "q1_ms": g.quantile(0.25) * 1e3,
                    "q3_ms": g.quantile(0.75) * 1e3,
                    "round_trips": warm.groupby(["host", "question", "design", "memo"])["round_trips"].first()}
                   ).reset_index()
same = lat[lat["question"] == "any"]
rows = [lat[lat["question"] != "any"].assign(same_call_for_every_question=False)]
for q in QUESTIONS:
    rows.append(same.assign(question=q, round_trips=1.0, same_call_for_every_question=True))
lat = pd.concat(rows, ignore_index=True)
cold = (api[api["cache"] == "cold"].groupby("host")["time_s"].median() * 1e3).rename("get_capabilities_cold_ms")
lat = lat.join(cold, on="host")
lat["host"] = pd.Categorical(lat["host"], hosts, ordered=True)
lat = lat.sort_values(["question", "memo", "host", "design"])
lat["provenance"] = ["measured (mix weights: model)" if q == "mix" else "measured" for q in lat["question"]]
lat.to_csv(out / "question_latency.csv", index=False)
big_host = hosts[-2] if hosts[-1] == "real" and len(hosts) > 1 else hosts[-1]
wide = (lat[lat["host"] == big_host].pivot_table(index=["question", "memo"], columns="design",
                                                  values="median_ms", observed=True) / 1e3)
display(tables.show_table(wide, out, "question_latency_" + big_host,
                          f"Median client latency per question and design on {big_host} (all hosts: "
                          "question_latency.csv)", "measured", SOURCE + "; mix weights: model",
                          time_columns="values"))


# %%
def latency_figure(memo: str, path: str) -> None:
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), sharey=True)
    for ax, q in zip(axes.flat, QUESTIONS):
        d = lat[(lat["question"] == q) & (lat["memo"] == memo)]
        width = 0.8 / len(DESIGNS)
        for i, des in enumerate(DESIGNS):
            s = d[d["design"] == des].set_index("host").reindex(hosts)
            x = [j + i * width for j in range(len(hosts))]
            ax.bar(x, s["median_ms"], width, color=COLORS[des], label=des,
                   yerr=[s["median_ms"] - s["q1_ms"], s["q3_ms"] - s["median_ms"]], capsize=2)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(hosts))], hosts, rotation=30, ha="right")
        ax.set_yscale("log")
        ax.set_title(f"question: {q}")
        ax.set_ylabel("client latency per question (ms, log)")
    fig.suptitle(f"Latency per client question and design, memo {memo}")
    plots.legend_beside(fig, title="design")
    plots.show_figure(fig, out, path, f"Client latency per question and design, memo {memo} (median, "
                      "IQR bars, log scale); get_capabilities with 30 emulators, warm caps cache",
                      "measured", SOURCE + ("" if memo == "off" else "") + "; mix weights: model")


latency_figure("off", "question_latency")
latency_figure("on", "question_latency_memo")

# %% [markdown]
# ## The best fine-grained design against get_capabilities (30 emulators installed)
# Ratio = best design's median / get_capabilities' median, same memo setting; below 1 is faster.
# Against both the warm get_capabilities (every call rebuilds virCaps from cached emulators) and
# the cold one (first call of a fresh daemon: ~25 emulator probes).

# %%
fine = lat[lat["design"] != "get_capabilities"]
best = fine.loc[fine.groupby(["question", "memo", "host"], observed=True)["median_ms"].idxmin()]
gc = lat[lat["design"] == "get_capabilities"].set_index(["question", "memo", "host"])["median_ms"]
ratio = best.set_index(["question", "memo", "host"])[["design", "median_ms", "round_trips",
                                                       "get_capabilities_cold_ms"]]
ratio = ratio.rename(columns={"design": "best_design", "median_ms": "best_ms"})
ratio["get_capabilities_warm_ms"] = gc
ratio["ratio_to_warm"] = ratio["best_ms"] / ratio["get_capabilities_warm_ms"]
ratio["ratio_to_cold"] = ratio["best_ms"] / ratio["get_capabilities_cold_ms"]
ratio = ratio.reset_index()
ratio["provenance"] = ["measured (mix weights: model)" if q == "mix" else "measured" for q in ratio["question"]]
ratio.to_csv(out / "ratio_to_get_capabilities.csv", index=False)
wide = ratio[ratio["host"] == big_host].set_index(["question", "memo"])[
    ["best_design", "best_ms", "get_capabilities_warm_ms", "ratio_to_warm", "ratio_to_cold"]]
display(tables.show_table(wide, out, "ratio_to_get_capabilities_" + big_host,
                          f"Best fine-grained design against get_capabilities on {big_host} (all hosts: "
                          "ratio_to_get_capabilities.csv)", "measured", SOURCE + "; mix weights: model",
                          time_columns=[], formats={"best_ms": lambda v: tables.fmt_duration(v / 1e3),
                                                    "get_capabilities_warm_ms": lambda v: tables.fmt_duration(v / 1e3)},
                          names={"best_design": "best design", "best_ms": "its latency",
                                 "get_capabilities_warm_ms": "get_capabilities, warm",
                                 "ratio_to_warm": "best / warm", "ratio_to_cold": "best / cold"}))

# %%
fig, axes = plt.subplots(1, 2, figsize=(14, 5), sharey=True)
for ax, memo in zip(axes, ("off", "on")):
    for q in QUESTIONS:
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
PART_PROBES = {"cpu": ["cpu", "nodes"], "numa": ["numa"], "caches": ["cache"], "resctrl": ["resctrl"],
               "pages": ["pages"], "iommu": ["iommu"], "power": ["power"], "uuid": ["uuid"],
               "secmodel": ["secmodel"]}
total = probe_cost.loc["all (sum)"]
share = pd.DataFrame({p: probe_cost.reindex(ps).sum() / total for p, ps in PART_PROBES.items()}).T.reindex(columns=hosts)
speedup = {}
node_caps_off = lat[(lat["design"] == "node_caps") & (lat["memo"] == "off") & (lat["question"] == "cpu")]
node_caps_off = node_caps_off.set_index("host")["median_ms"]
for q, p in (("cpu", "cpu"), ("numa", "numa"), ("cache_banks", "caches")):
    f = lat[(lat["design"] == "node_caps_flags") & (lat["memo"] == "off") & (lat["question"] == q)]
    speedup[p] = node_caps_off / f.set_index("host")["median_ms"]
flag_value = share.add_prefix("share_")
for h in hosts:
    flag_value[f"speedup_alone_{h}"] = pd.Series({p: s.get(h) for p, s in speedup.items()})
flag_value["max_share"] = share.max(axis=1)
flag_value["worth_a_flag"] = flag_value["max_share"] >= 0.05
# On the page: the share per host (%), the largest speed-up of asking for the part alone, and
# the verdict; every column per host is in flag_value.csv.
speed_cols = [c for c in flag_value if c.startswith("speedup_alone_")]
shown = pd.DataFrame({f"{h}_pct": share[h] * 100 for h in hosts})
shown["best speed-up alone"] = flag_value[speed_cols].max(axis=1)
shown["worth_a_flag"] = flag_value["worth_a_flag"]
display(tables.show_table(shown.rename_axis("part"), out, "flag_value",
                          "Each part's share of the host probe per host shape, and the best measured "
                          "speed-up of asking for it alone with flags (memo off)", "measured", SOURCE,
                          names={f"{h}_pct": h for h in hosts} | {"worth_a_flag": "worth a flag"},
                          formats={"best speed-up alone": tables.fmt_ratio},
                          csv_frame=flag_value.rename_axis("part")))

# %% [markdown]
# ## Conclusion (computed from the data above)

# %%
lines = []
for memo in ("off", "on"):
    for q in QUESTIONS:
        d = lat[(lat["question"] == q) & (lat["memo"] == memo)]
        winners = d.loc[d.groupby("host", observed=True)["median_ms"].idxmin()]
        counts = winners["design"].value_counts()
        # margin over the runner-up per host: under ~10% is within this machine's noise
        runner = d.groupby("host", observed=True)["median_ms"].apply(lambda s: s.nsmallest(2).iloc[-1] / s.min() - 1)
        top = counts.index[0]
        r = ratio[(ratio["question"] == q) & (ratio["memo"] == memo)]
        lines.append(f"- memo {memo}, **{q}**: {top} wins on {counts.iloc[0]} of {len(winners)} hosts"
                     + (f" (others: {', '.join(f'{k} {v}' for k, v in counts.iloc[1:].items())})"
                        if len(counts) > 1 else "")
                     + f"; margin over the runner-up {tables.sig(runner.min() * 100, 2)}–{tables.sig(runner.max() * 100, 2)}%"
                     + f"; best fine-grained / get_capabilities = {tables.sig(r['ratio_to_warm'].min())}–"
                       f"{tables.sig(r['ratio_to_warm'].max())} warm, {tables.sig(r['ratio_to_cold'].min())}–"
                       f"{tables.sig(r['ratio_to_cold'].max())} cold.")
big = hosts[-2] if hosts[-1] == "real" and len(hosts) > 1 else hosts[-1]
worth = [p for p in flag_value.index if flag_value.loc[p, "worth_a_flag"]]
cheap = [p for p in flag_value.index if not flag_value.loc[p, "worth_a_flag"]]
cpu_numa = lat[(lat["question"] == "cpu_numa") & (lat["memo"] == "off") & (lat["host"] == big)]
cn = cpu_numa.set_index("design")["median_ms"]
lines.append(f"- Flags worth having (a part is >= 5% of the host probe on some shape): {', '.join(worth)}. "
             f"Not worth a flag of their own (always cheap): {', '.join(cheap)}.")
lines.append(f"- Round trips: for cpu_numa on {big}, per_part needs 2 calls "
             f"({tables.fmt_duration(cn.get('per_part', float('nan')) / 1e3)}) against 1 with flags "
             f"({tables.fmt_duration(cn.get('node_caps_flags', float('nan')) / 1e3)}).")
conclusion = "\n".join(lines)
(out / "conclusion.md").write_text("# Conclusion (measured; mix weights are a model)\n\n" + conclusion + "\n")
pd.DataFrame({"line": lines, "provenance": "measured"}).to_csv(out / "conclusion.csv", index=False)
display(Markdown(f"Measured ({SOURCE}; the weights of the mix are a model):\n\n" + conclusion))
