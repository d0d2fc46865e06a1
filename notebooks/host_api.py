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
results_dir = ""              # empty: the committed run, data/results/host_api; relative: to the repository
output_dir = "reports/host_api"  # figures (PNG) and tables (CSV); relative: to the repository

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pyperf

from workbench.paths import REPO_ROOT, RESULTS_DIR
from workbench.results import load_run, result_files

COMMITTED = RESULTS_DIR / "host_api"
run = REPO_ROOT / results_dir if results_dir else COMMITTED
out = REPO_ROOT / output_dir
if not load_run(run)["benchmark"].isin(["host_api", "host_probe"]).any():
    # The report hands every notebook the same run; host_api results live in their own run.
    print(f"No host_api results in {run}: using the committed run {COMMITTED}")
    run = COMMITTED
out.mkdir(parents=True, exist_ok=True)
HOST_ORDER = ["vm-2cpu", "desktop-16", "server-2s-64", "server-4s-192", "server-8s-448", "real"]
QUESTIONS = ["cpu", "numa", "cpu_numa", "cache_banks", "everything", "mix"]
DESIGNS = ["get_capabilities", "node_caps", "node_caps_flags", "per_part"]
COLORS = dict(zip(DESIGNS, ["tab:red", "tab:gray", "tab:blue", "tab:green"]))

# %%
# The tidy table (one row per value), joined with the wb_* metadata load_run does not keep.
df = load_run(run)
meta = {}
for f in result_files(run):
    for b in pyperf.BenchmarkSuite.load(str(f)).get_benchmarks():
        md = b.get_metadata()
        meta[b.get_name()] = {k[3:]: md[k] for k in md if k.startswith("wb_") and
                              k[3:] in ("host", "question", "design", "memo", "round_trips", "probe")}
df = df.join(pd.DataFrame.from_dict(meta, orient="index"), on="name")
hosts = [h for h in HOST_ORDER if h in set(df["host"].dropna())]
print(f"{len(df)} values, {df['name'].nunique()} benchmarks, hosts: {', '.join(hosts)}")
machine = run / "machine.json"
if machine.exists():
    print(json.loads(machine.read_text()))

# %% [markdown]
# ## Every sub-probe's cost per host shape (measured: trace span `host.<probe>`)
# `nodes` is the node-dir count the CPU part needs for `<topology>`; `power` is measured with
# conf.host's once-per-process memo cleared (libvirt, too, computes it once per process).

# %%
sp = df[df["benchmark"] == "host_probe"]
probe_cost = (sp.groupby(["probe", "host"])["time_s"].median() * 1e6).unstack("host").reindex(columns=hosts)
probe_cost = probe_cost.loc[probe_cost.max(axis=1).sort_values(ascending=False).index]
probe_cost.loc["all (sum)"] = probe_cost.sum()
probe_cost.round(1).assign(provenance="measured").to_csv(out / "sub_probe_cost.csv", index_label="probe (median µs)")
display_cost = probe_cost.round(1)
display_cost

# %%
fig, ax = plt.subplots(figsize=(10, 5))
pc = probe_cost.drop(index="all (sum)")
width = 0.8 / len(hosts)
for i, h in enumerate(hosts):
    ax.bar([j + i * width for j in range(len(pc))], pc[h], width, label=h)
ax.set_xticks([j + 0.4 - width / 2 for j in range(len(pc))], pc.index)
ax.set_yscale("log")
ax.set_xlabel("host sub-probe (trace span host.<name>)")
ax.set_ylabel("median cost per call (µs, log scale)")
ax.set_title("Host sub-probe cost per host shape — measured (in-process, trace spans)")
ax.legend(title="host")
fig.tight_layout()
fig.savefig(out / "sub_probe_cost.png", dpi=120)

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
lat.round(4).to_csv(out / "question_latency.csv", index=False)
lat.pivot_table(index=["question", "memo", "host"], columns="design", values="median_ms", observed=True).round(3)


# %%
def latency_figure(memo: str, path: Path) -> None:
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
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"Latency per client question and design, memo {memo} — measured over the daemon "
                 "socket (median, IQR bars); get_capabilities with 30 emulators, warm caps cache")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


latency_figure("off", out / "question_latency.png")
latency_figure("on", out / "question_latency_memo.png")

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
ratio.round(5).to_csv(out / "ratio_to_get_capabilities.csv", index=False)
ratio.round(4)

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
axes[0].legend(title="question")
fig.suptitle("Best fine-grained design relative to get_capabilities with 30 emulators — measured")
fig.tight_layout()
fig.savefig(out / "ratio_to_get_capabilities.png", dpi=120)

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
flag_value = share.round(4).add_prefix("share_")
for h in hosts:
    flag_value[f"speedup_alone_{h}"] = pd.Series({p: s.get(h) for p, s in speedup.items()})
flag_value["max_share"] = share.max(axis=1)
flag_value["worth_a_flag"] = flag_value["max_share"] >= 0.05
flag_value["provenance"] = "measured"
flag_value.to_csv(out / "flag_value.csv", index_label="part")
flag_value

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
                     + f"; margin over the runner-up {runner.min():.0%}–{runner.max():.0%}"
                     + f"; best fine-grained / get_capabilities = {r['ratio_to_warm'].min():.3f}–"
                       f"{r['ratio_to_warm'].max():.3f} warm, {r['ratio_to_cold'].min():.5f}–"
                       f"{r['ratio_to_cold'].max():.5f} cold.")
big = hosts[-2] if hosts[-1] == "real" and len(hosts) > 1 else hosts[-1]
worth = [p for p in flag_value.index if flag_value.loc[p, "worth_a_flag"]]
cheap = [p for p in flag_value.index if not flag_value.loc[p, "worth_a_flag"]]
cpu_numa = lat[(lat["question"] == "cpu_numa") & (lat["memo"] == "off") & (lat["host"] == big)]
cn = cpu_numa.set_index("design")["median_ms"]
lines.append(f"- Flags worth having (a part is >= 5% of the host probe on some shape): {', '.join(worth)}. "
             f"Not worth a flag of their own (always cheap): {', '.join(cheap)}.")
lines.append(f"- Round trips: for cpu_numa on {big}, per_part needs 2 calls "
             f"({cn.get('per_part', float('nan')):.3f} ms) against 1 with flags "
             f"({cn.get('node_caps_flags', float('nan')):.3f} ms).")
conclusion = "\n".join(lines)
(out / "conclusion.md").write_text("# Conclusion (measured; mix weights are a model)\n\n" + conclusion + "\n")
pd.DataFrame({"line": lines, "provenance": "measured"}).to_csv(out / "conclusion.csv", index=False)
print(conclusion)
