"""The host API page's figures: every sub-probe's cost per host shape, client latency per
question and design, and the best fine-grained design against get_capabilities. Each takes a
table computed by workbench.analysis.host_api and returns the figure; the page shows it."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from workbench.analysis import plots
from workbench.analysis.host_api import DESIGNS, QUESTIONS

COLORS = dict(zip(DESIGNS, ["tab:red", "tab:gray", "tab:blue", "tab:green"]))


def sub_probe_figure(probe_cost: pd.DataFrame, hosts: list[str]) -> plt.Figure:
    """Grouped bars: per sub-probe (host_api.probe_cost's rows but the sum), one bar per host (µs, log)."""
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
    return fig


def latency_figure(lat: pd.DataFrame, hosts: list[str], memo: str) -> plt.Figure:
    """One panel per question: per host, a bar per design (median, IQR bars; ms, log)."""
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), sharey=True)
    for ax, q in zip(axes.flat, QUESTIONS):
        d = lat[(lat["question"] == q) & (lat["memo"] == memo)]
        width = 0.8 / len(DESIGNS)
        for i, des in enumerate(DESIGNS):
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
    return fig


def ratio_figure(ratio: pd.DataFrame, hosts: list[str]) -> plt.Figure:
    """Per memo setting: best design / get_capabilities warm against host shape, a line per question."""
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
    return fig
