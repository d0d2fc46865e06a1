"""The report's answer, computed from the runs: cold startup against the number of emulators per
strategy (seconds per emulator, the ratio at the largest count), as one sentence, one figure and
a short table of the other headline numbers. The index page and the summary notebook use it.
"""
from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from workbench.analysis import plots, tables
from workbench.qemu.strategy_names import BASELINE, PER_EMULATOR

BENCHMARK = "daemon_startup"  # spawn to first answered API call: the closest to libvirtd's startup
AFTER = PER_EMULATOR


@dataclass(frozen=True)
class Line:
    """One strategy of one run: cold startup against emulators installed."""
    run: str
    strategy: str
    slope_s: float          # least-squares slope of the medians: seconds per added emulator
    n_max: int
    median_s: float         # at n_max
    q1_s: float
    q3_s: float


@dataclass(frozen=True)
class Ratio:
    run: str
    strategy: str           # BASELINE / strategy
    n: int
    ratio: float
    low: float              # the range the two IQRs allow
    high: float


@dataclass(frozen=True)
class Answer:
    benchmark: str
    lines: list[Line]
    ratios: list[Ratio]
    kind: str
    source: str

    n_min: int = 1
    qemu_share: float = float("nan")  # of the first ratio's full-caps median: replayed QEMU time

    def n_range(self, run: str) -> str:
        return f"{self.n_min}–{max(ln.n_max for ln in self.lines if ln.run == run)}"

    def sentence(self) -> str:
        """The answer in one sentence (HTML-safe text with <strong> around the numbers)."""
        import html

        if not self.ratios:
            return "The results have no cold startup measured under both full-caps and another strategy."
        r = self.ratios[0]
        base = next(ln for ln in self.lines if ln.run == r.run and ln.strategy == BASELINE)
        after = next(ln for ln in self.lines if ln.run == r.run and ln.strategy == r.strategy)
        e = html.escape
        return (f"With {r.n} emulators installed, a cold daemon start (spawn to first answered call) "
                f"takes <strong>{e(tables.fmt_duration(base.median_s))}</strong> when every emulator is "
                f"probed at startup ({e(BASELINE)}) and <strong>{e(tables.fmt_duration(after.median_s))}"
                f"</strong> with the {e(r.strategy)} cache: <strong>{e(tables.fmt_ratio(r.ratio))} faster</strong>"
                f" (IQR range {e(tables.sig(r.low))}–{e(tables.sig(r.high))}×); each emulator adds "
                f"{e(tables.fmt_duration(base.slope_s))} to a {e(BASELINE)} startup and "
                f"{e(tables.fmt_duration(after.slope_s))} to a {e(r.strategy)} one (least-squares "
                f"slope of the medians over {self.n_range(r.run)} emulators; {e(self.kind)}{', run ' + e(r.run) if r.run else ''})."
                + ("" if self.qemu_share != self.qemu_share else
                   f" Of the {e(BASELINE)} startup, {self.qemu_share:.0%} is the replayed QEMU's own time "
                   f"(start-up and commands, computed from the transcripts), the rest the workbench's own work."))


def _cold(df: pd.DataFrame, benchmark: str) -> pd.DataFrame:
    df = df if "run" in df else df.assign(run="")
    return df[(df["benchmark"] == benchmark) & (df["cache"] == "cold") & (df["phase"] == "total")
              & df["strategy"].notna()]


def answer(df: pd.DataFrame, benchmark: str = BENCHMARK) -> Answer:
    cold = _cold(df, benchmark)
    q = plots.quartiles(cold, ["run", "strategy", "n_emulators"])
    lines, ratios = [], []
    for (run, s), g in q.groupby(["run", "strategy"], sort=False):
        g = g.sort_values("n_emulators")
        ns, ms = g["n_emulators"].astype(float).to_numpy(), g["median_s"].to_numpy()
        slope = float(np.polyfit(ns, ms, 1)[0]) if len(g) > 1 else float("nan")
        last = g.iloc[-1]
        lines.append(Line(run, s, slope, int(last.n_emulators), float(last.median_s),
                          float(last.q1_s), float(last.q3_s)))
    for run, by_run in q.groupby("run", sort=False):
        base = by_run[by_run["strategy"] == BASELINE]
        for s, g in by_run[by_run["strategy"] != BASELINE].groupby("strategy", sort=False):
            ri = plots.ratio_interval(base, g)
            if len(ri):
                last = ri.sort_values("n_emulators").iloc[-1]
                ratios.append(Ratio(run, s, int(last.n_emulators), float(last.ratio),
                                    float(last.ratio_low), float(last.ratio_high)))
    # the per-emulator cache (the series' strategy) first: it is the sentence's comparison
    ratios.sort(key=lambda r: (r.strategy != AFTER, r.run))
    share = float("nan")
    if ratios:
        r = ratios[0]
        base = next(ln for ln in lines if ln.run == r.run and ln.strategy == BASELINE)
        share = plots.replayed_qemu_s(cold[cold["run"] == r.run], r.n) / base.median_s
    return Answer(benchmark, lines, ratios, plots.kind(cold),
                  plots.provenance(cold) if len(cold) else "no data",
                  int(q["n_emulators"].min()) if len(q) else 1, share)


def figure(df: pd.DataFrame, ans: Answer) -> plt.Figure:
    """Cold startup against emulators installed, every strategy (and run): median line, IQR band,
    every value as a dot; each line's seconds per emulator at its end; the ratio at the largest
    count as a bracket between full-caps and each other strategy. Linear axes from 0: a slope
    reads as a slope."""
    cold = _cold(df, ans.benchmark)
    q = plots.quartiles(cold, ["run", "strategy", "n_emulators"])
    style = plots.series_style(cold)
    fig, ax = plt.subplots(figsize=(9, 4.8))
    for (s, run), g in q.groupby(["strategy", "run"], sort=False):
        st = style[(s, run)]
        plots.band(ax, g, "n_emulators", st["label"], st["color"], ls=st["ls"], marker=st["marker"])
        plots.points(ax, cold[(cold["strategy"] == s) & (cold["run"] == run)], "n_emulators", st["color"])
    n_top = max((ln.n_max for ln in ans.lines), default=1)
    for ln in ans.lines:
        ax.annotate(f"{tables.fmt_duration(ln.slope_s)} per emulator",
                    (ln.n_max, ln.median_s), xytext=(8, 0), textcoords="offset points", va="center",
                    fontsize=9, color=style[(ln.strategy, ln.run)]["color"])
    for k, r in enumerate(ans.ratios):
        base = next(ln for ln in ans.lines if ln.run == r.run and ln.strategy == BASELINE)
        other = next(ln for ln in ans.lines if ln.run == r.run and ln.strategy == r.strategy)
        x = r.n + 0.6 + 1.2 * k
        ax.annotate("", (x, other.median_s), (x, base.median_s),
                    arrowprops={"arrowstyle": "<->", "color": "black", "lw": 1})
        ax.text(x + 0.3, (base.median_s + other.median_s) / 2,
                f"{tables.fmt_ratio(r.ratio)} at {r.n}\n(IQR range {tables.sig(r.low)}–{tables.sig(r.high)}×)"
                + (f"\n{r.strategy}" if len(ans.ratios) > 1 else ""), fontsize=9, va="center")
    ax.set_xlim(0, n_top * 1.45)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("emulators installed (count)")
    ax.set_ylabel("cold startup time (s)")
    ax.grid(alpha=0.3)
    ax.set_title(f"Cold {ans.benchmark}: spawn to first answered API call")
    plots.legend_beside(fig, title="strategy")
    fig.text(0.01, 0.0, tables.provenance_label(ans.kind, ans.source), fontsize=8, ha="left",
             va="top", style="italic", wrap=True)
    fig.tight_layout()
    return fig


def headline_table(df: pd.DataFrame) -> pd.DataFrame:
    """The other headline numbers, per run: medians under full-caps and per-emulator and their
    ratio (full-caps / per-emulator; below 1: per-emulator is the slower one)."""
    rows = []
    df = df if "run" in df else df.assign(run="")
    for h in plots.startup_headline(df).itertuples():
        share = "" if h.before_qemu_share != h.before_qemu_share else \
            f" ({h.before_qemu_share:.0%} of full-caps replayed QEMU time)"
        rows.append({"run": h.run, "what": f"startup ({h.benchmark}), cold cache, {h.n_emulators} emulators{share}",
                     "full-caps": h.before_s, "per-emulator": h.after_s, "ratio": h.ratio})
    api = df[(df["benchmark"] == "api") & (df["cache"] == "cold")]
    for run, a in api.groupby("run", sort=False):
        n = a["n_emulators"].max()
        m = a[a["n_emulators"] == n].groupby(["case", "strategy"])["time_s"].median().unstack()
        for case, r in m.iterrows():
            rows.append({"run": run, "what": f"{case}, cold cache, {n} emulators",
                         "full-caps": r.get("full-caps"), "per-emulator": r.get("per-emulator"),
                         "ratio": r.get("full-caps") / r.get("per-emulator")})
    first = df[(df["benchmark"] == "parse.first") & (df["phase"] == "total") & (df["cache"] == "cold")]
    for run, f in first.groupby("run", sort=False):
        m = f.groupby("strategy")["time_s"].median()
        rows.append({"run": run, "what": "first domain parse after a cold startup (all counts)",
                     "full-caps": m.get("full-caps"), "per-emulator": m.get("per-emulator"),
                     "ratio": m.get("full-caps") / m.get("per-emulator")})
    return pd.DataFrame(rows, columns=["run", "what", "full-caps", "per-emulator", "ratio"])


def faster_column(ratio: pd.Series) -> pd.Series:
    """One direction per row: 'per-emulator, 27.7×' or 'full-caps, 29,000×'."""
    return ratio.map(lambda r: tables.DASH if pd.isna(r) else
                     f"{AFTER}, {tables.fmt_ratio(r)}" if r >= 1 else
                     f"{BASELINE}, {tables.fmt_ratio(1 / r)}")


def show_headline_table(df: pd.DataFrame, output_dir, several: bool) -> tables.Formatted | None:
    heads = headline_table(df)
    if heads.empty:
        return None
    grid = df[df["benchmark"] != "replay_fidelity"]
    shown = heads.drop(columns="ratio").assign(faster=faster_column(heads["ratio"]))
    shown = shown if several else shown.drop(columns="run")
    return tables.show_table(shown, output_dir, "headline", "Headline numbers (medians)",
                             plots.kind(grid), plots.provenance(grid),
                             formats={"full-caps": tables.fmt_duration, "per-emulator": tables.fmt_duration},
                             names={"faster": "faster, by"}, csv_frame=heads)
