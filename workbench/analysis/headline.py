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
from workbench.analysis.rundir import is_stock_libvirt
from workbench.analysis.precision import Interval, mean_interval, process_medians, ratio_interval
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
    ci_low: float = float("nan")   # 95% CI of the ratio across worker processes (precision.py)
    ci_high: float = float("nan")
    processes: int = 0             # the smaller side's process count


@dataclass(frozen=True)
class HeadRatio:
    """One headline ratio of one run: slower / faster at n emulators, with its 95% CI across
    worker processes (the unit that repeats; values within a process are correlated)."""
    run: str
    key: str                # cover_letter | cold_container | libvirt
    what: str
    slower: str
    faster: str
    n: int
    interval: Interval
    # the minimum detectable change `compare` would give each side's benchmark against a run like
    # this one (results.detectable), a fraction; nan where the side has fewer than 2 processes
    mdc_slower: float = float("nan")
    mdc_faster: float = float("nan")


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
                f" (geometric means of the process medians; {e(fmt_ci(r.ci_low, r.ci_high, r.processes))}); each emulator adds "
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
                n = int(last.n_emulators)
                at = cold[(cold["run"] == run) & (cold["n_emulators"] == n)]
                ci = ratio_interval(process_medians(at[at["strategy"] == plots.BASELINE]),
                                    process_medians(at[at["strategy"] == s]))
                # the estimate is the one the CI is about (geometric means of the process
                # medians), where there are processes; else the ratio of the medians
                est = ci.estimate if ci.processes >= 2 else float(last.ratio)
                ratios.append(Ratio(run, s, n, est, float(last.ratio_low),
                                    float(last.ratio_high), ci.low, ci.high, ci.processes))
    # the per-emulator cache (the series' strategy) first: it is the sentence's comparison
    order = {r: i for i, r in enumerate(dict.fromkeys(q["run"]))}  # the first run is the one answered
    ratios.sort(key=lambda r: (r.strategy != AFTER, order.get(r.run, len(order))))
    share = float("nan")
    if ratios:
        r = ratios[0]
        base = next(ln for ln in lines if ln.run == r.run and ln.strategy == BASELINE)
        share = plots.replayed_qemu_s(cold[cold["run"] == r.run], r.n) / base.median_s
    return Answer(benchmark, lines, ratios, plots.kind(cold),
                  plots.provenance(cold) if len(cold) else "no data",
                  int(q["n_emulators"].min()) if len(q) else 1, share)


def fmt_ci(low: float, high: float, processes: int) -> str:
    """'95% CI 27.9–30.4× across 5 processes', or why there is none."""
    if not (low == low and high == high) or processes < 2 or not np.isfinite(high):
        return "no 95% CI: fewer than 2 worker processes a side"
    return f"95% CI {tables.sig(low)}–{tables.sig(high)}× across {processes} processes a side"


def fmt_mdc(mdc: float) -> str:
    """'9.5%', or '–' where the benchmark has fewer than 2 processes."""
    return f"{mdc:.1%}" if mdc == mdc else "–"


def head_ratios(df: pd.DataFrame, whole: pd.DataFrame | None = None) -> list[HeadRatio]:
    """Page one's ratios per run: the cover letter (cold daemon startup, full-caps / per-emulator
    at the largest count both have), a cold container's client (per-emulator / the fastest newer
    strategy), real libvirt 9.0's cold container / the model's per-emulator one; each with its
    two benchmarks' minimum detectable changes against a like run, computed over every benchmark
    of `whole` (the runs' unfiltered tables, as compare tests them; default df)."""
    from workbench.analysis.results import detectable

    df = df if "run" in df else df.assign(run="")
    whole = df if whole is None else whole if "run" in whole else whole.assign(run="")
    out = []
    for run, d in df.groupby("run", sort=False):
        det = detectable(whole[whole["run"] == run])
        mdc_of = dict(zip(det["name"], det["mdc"].where(det["mdc"] < float("inf"))))

        def head(key: str, what: str, slower: pd.DataFrame, faster: pd.DataFrame, names: tuple[str, str],
                 n: int) -> HeadRatio:
            return HeadRatio(run, key, what, names[0], names[1], n,
                             ratio_interval(process_medians(slower), process_medians(faster)),
                             mdc_of.get(slower["name"].iloc[0], float("nan")),
                             mdc_of.get(faster["name"].iloc[0], float("nan")))

        cold = _cold(d, BENCHMARK)
        both = [n for n, g in cold.groupby("n_emulators") if {plots.BASELINE, AFTER} <= set(g["strategy"])]
        if both:
            at = cold[cold["n_emulators"] == max(both)]
            out.append(head("cover_letter", "cover letter: cold daemon startup", at[at["strategy"] == plots.BASELINE],
                            at[at["strategy"] == AFTER], (plots.BASELINE, AFTER), int(max(both))))
        cc = d[(d["benchmark"] == "scenario") & (d["case"] == "cold_container") & d["strategy"].notna()]
        model = cc[cc["system"] == "model"]
        if len(model) and (model["strategy"] == AFTER).any():
            n = int(model[model["strategy"] == AFTER]["n_emulators"].max())
            at = model[model["n_emulators"] == n]
            per = at[at["strategy"] == AFTER]
            newer = {s: mean_interval(process_medians(g)) for s, g in at.groupby("strategy")
                     if s not in (plots.BASELINE, AFTER)}
            if newer:
                best = min(newer, key=lambda s: newer[s].estimate)
                out.append(head("cold_container", "cold container, best newer strategy", per,
                                at[at["strategy"] == best], (AFTER, best), n))
            lv = cc[is_stock_libvirt(cc["system"]) & (cc["n_emulators"] == n)]
            if len(lv):
                out.append(head("libvirt", "cold container, real libvirt 9.0 against the model", lv, per,
                                (str(lv["strategy"].iloc[0]), AFTER), n))
    return out


def holds(this: HeadRatio, ref: HeadRatio, within: float = 0.10) -> str:
    """Whether a headline holds against the reference: 'holds' when the two ratios are within
    `within` of each other or their 95% CIs overlap, else 'differs'."""
    a, b = this.interval, ref.interval
    close = abs(a.estimate / b.estimate - 1) <= within
    overlap = a.low <= b.high and b.low <= a.high
    return "holds" if close or overlap else "differs"


def ratios_table(df: pd.DataFrame, reference: str | None = None, whole: pd.DataFrame | None = None) -> pd.DataFrame:
    """The headline ratios of every run (times faster), with 95% CIs across processes;
    `reference`: the label of the reference run, against which every other run is judged."""
    heads = head_ratios(df, whole)
    ref = {h.key: h for h in heads if reference is not None and h.run == reference}
    rows = []
    for h in heads:
        iv = h.interval
        row = {"run": h.run, "what": f"{h.what} at {h.n} ({h.slower} / {h.faster})",
               "ratio": iv.estimate, "ci_low": iv.low, "ci_high": iv.high, "processes": iv.processes,
               "mdc_slower": h.mdc_slower, "mdc_faster": h.mdc_faster}
        if ref and h.run != reference:
            r = ref.get(h.key)
            row["vs reference"] = (f"{holds(h, r)} ({tables.fmt_ratio(r.interval.estimate)})"
                                   if r else "not in the reference")
        rows.append(row)
    return pd.DataFrame(rows)


def show_ratios_table(df: pd.DataFrame, output_dir, reference: str | None,
                      whole: pd.DataFrame | None = None) -> tables.Formatted | None:
    t = ratios_table(df, reference, whole)
    if t.empty:
        return None
    shown = t.assign(ci=[fmt_ci(a, b, int(k)).removeprefix("95% CI ").replace(" across ", " · ").replace(
        " processes a side", " proc.") for a, b, k in zip(t["ci_low"], t["ci_high"], t["processes"])],
                     mdc=[f"{fmt_mdc(a)} / {fmt_mdc(b)}" for a, b in zip(t["mdc_slower"], t["mdc_faster"])]
                     ).drop(columns=["ci_low", "ci_high", "processes", "mdc_slower", "mdc_faster"])
    shown = shown if t["run"].nunique() > 1 else shown.drop(columns="run")
    return tables.show_table(shown, output_dir, "headline_ratios",
                             "Headline ratios (times faster), each with its 95% confidence interval across "
                             "worker processes (Welch, log scale), and the minimum detectable change of "
                             "its two benchmarks (slower / faster side): the smallest slowdown `workbench "
                             "compare` would flag with 80% power against a run like this one (same "
                             "processes and spreads, no drift)" + (
                                 "; holds = within 10% of the reference's ratio or the two CIs overlap"
                                 if reference else ""),
                             plots.kind(df), plots.provenance(df), names={"ci": "95% CI", "ratio": "times faster",
                                                                  "mdc": "detectable change"},
                             csv_frame=t)


def figure(df: pd.DataFrame, ans: Answer) -> plt.Figure:
    """Two panels. Left: cold daemon startup against emulators installed, every strategy (and
    run), median line with its IQR band and every value as a dot, on a log axis so that the
    strategies near 0.1 s stay apart; one bracket, the cover letter's ratio at the largest count
    with its 95% CI across processes. Right: a cold container's client at the largest count, every
    strategy and real libvirt 9.0, geometric mean of the process medians with its 95% CI, log axis."""
    cold = _cold(df, ans.benchmark)
    q = plots.quartiles(cold, ["run", "strategy", "n_emulators"])
    style = plots.series_style(cold)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [1.25, 1]})
    for (s, run), g in q.groupby(["strategy", "run"], sort=False):
        st = style[(s, run)]
        plots.band(ax, g, "n_emulators", st["label"], st["color"], ls=st["ls"], marker=st["marker"])
        plots.points(ax, cold[(cold["strategy"] == s) & (cold["run"] == run)], "n_emulators", st["color"])
    n_top = max((ln.n_max for ln in ans.lines), default=1)
    cover = next((r for r in ans.ratios if r.strategy == AFTER), None)
    if cover is not None:
        base = next(ln for ln in ans.lines if ln.run == cover.run and ln.strategy == plots.BASELINE)
        other = next(ln for ln in ans.lines if ln.run == cover.run and ln.strategy == AFTER)
        x = cover.n * 1.12
        ax.annotate("", (x, other.median_s), (x, base.median_s),
                    arrowprops={"arrowstyle": "<->", "color": "black", "lw": 1.2})
        ci = fmt_ci(cover.ci_low, cover.ci_high, cover.processes).replace(" across", "\nacross")
        ax.text(x * 1.06, float(np.sqrt(base.median_s * other.median_s)),
                f"{tables.fmt_ratio(cover.ratio)} faster\n{plots.BASELINE} → {AFTER}\nat {cover.n}\n({ci})",
                fontsize=9, va="center")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ns = sorted(q["n_emulators"].dropna().astype(int).unique())
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.minorticks_off()
    ax.set_xlim(min(ns, default=1) * 0.8, n_top * 2.6)
    ax.set_xlabel("emulators installed (count, log scale)")
    ax.set_ylabel("cold startup time (s, log scale)")
    ax.grid(alpha=0.3, which="both")
    ax.set_title(f"Cold {ans.benchmark}: spawn to first answered API call", fontsize=11)
    several = cold["run"].nunique() > 1
    ax.legend(title="strategy", fontsize=8, title_fontsize=8, ncols=3 if several else 2,
              **({"loc": "upper center", "bbox_to_anchor": (0.5, -0.16)} if several else {"loc": "upper left"}))
    _container_panel(bx, df)
    fig.text(0.01, 0.0, tables.provenance_label(ans.kind, ans.source), fontsize=8, ha="left",
             va="top", style="italic", wrap=True)
    fig.tight_layout()
    return fig


def _container_panel(ax, df: pd.DataFrame) -> None:
    """A cold container's client (spawn to last answer) at the largest count, per strategy."""
    df = df if "run" in df else df.assign(run="")
    cc = df[(df["benchmark"] == "scenario") & (df["case"] == "cold_container") & df["strategy"].notna()]
    if cc.empty:
        ax.text(0.5, 0.5, "no cold-container client in this run", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return
    rows = []
    for (run, s), g in cc.groupby(["run", "strategy"], sort=False):
        at = g[g["n_emulators"] == g["n_emulators"].max()]
        iv = mean_interval(process_medians(at))
        rows.append((run, s, int(at["n_emulators"].iloc[0]), iv))
    rows.sort(key=lambda r: (r[0], -r[3].estimate))
    from workbench.qemu.strategies import STRATEGIES

    colors = plots.strategy_colors(s for _, s, _, _ in rows)
    colors.update({s: "black" for s in colors if s not in STRATEGIES})  # real libvirt 9.0: apart
    several = len({r for r, _, _, _ in rows}) > 1
    for i, (run, s, n, iv) in enumerate(rows):
        lo = iv.estimate - iv.low if np.isfinite(iv.high) else 0
        hi = iv.high - iv.estimate if np.isfinite(iv.high) else 0
        ax.barh(i, iv.estimate, color=colors.get(s, "#777777"), alpha=0.8,
                xerr=[[lo], [hi]], capsize=3, error_kw={"lw": 1})
        ax.text(iv.estimate * 1.15 if not hi else iv.high * 1.1, i, plots.fmt_time(iv.estimate),
                va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [f"{s} · {run}" if several else s for run, s, _, _ in rows], fontsize=9)
    ax.set_xscale("log")
    lo = min(r[3].estimate for r in rows)
    ax.set_xlim(lo / 2, max(r[3].estimate for r in rows) * 4)
    ax.set_xlabel("spawn to last answer (s, log scale); bar: geometric mean, whisker: 95% CI")
    ax.set_title(f"A cold container's client at {rows[0][2]} emulators", fontsize=11)
    ax.grid(alpha=0.3, axis="x", which="both")


def headline_rows(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The other headline numbers, per run: medians under full-caps and per-emulator and their
    ratio (full-caps / per-emulator; below 1: per-emulator is the slower one); and the result
    rows they were computed from (for the table's provenance line).

    An API on a cold daemon is shown with the daemon startup it paid before the call (sum of the
    two medians): full-caps answers get_version from the virCaps its startup built, so the call
    alone would credit it with a speed it paid for at startup."""
    rows, used = [], []
    df = df if "run" in df else df.assign(run="")
    for h in plots.startup_headline(df).itertuples():
        share = "" if h.before_qemu_share != h.before_qemu_share else \
            f" ({h.before_qemu_share:.0%} of full-caps replayed QEMU time)"
        rows.append({"run": h.run, "what": f"startup ({h.benchmark}), cold cache, {h.n_emulators} emulators{share}",
                     "full-caps": h.before_s, "per-emulator": h.after_s, "ratio": h.ratio})
        used.append(_cold(df[df["run"] == h.run], h.benchmark))
    pair = [plots.BASELINE, AFTER]
    api = df[(df["benchmark"] == "api") & (df["cache"] == "cold") & df["strategy"].isin(pair)]
    for run, a in api.groupby("run", sort=False):
        n = a["n_emulators"].max()
        start = _cold(df[df["run"] == run], BENCHMARK)
        start = start[(start["n_emulators"] == n) & start["strategy"].isin(pair)]
        paid = start.groupby("strategy")["time_s"].median()
        m = a[a["n_emulators"] == n].groupby(["case", "strategy"])["time_s"].median().unstack()
        for case, r in m.iterrows():
            fc, pe = r.get(plots.BASELINE) + paid.get(plots.BASELINE, float("nan")), \
                r.get(AFTER) + paid.get(AFTER, float("nan"))
            rows.append({"run": run, "what": f"daemon startup + {case}, cold cache, {n} emulators "
                                             "(sum of the two medians)",
                         "full-caps": fc, "per-emulator": pe, "ratio": fc / pe})
        used += [a[a["n_emulators"] == n], start]
    first = df[(df["benchmark"] == "parse.first") & (df["phase"] == "total") & (df["cache"] == "cold")
               & df["strategy"].isin(pair)]
    for run, f in first.groupby("run", sort=False):
        m = f.groupby("strategy")["time_s"].median()
        rows.append({"run": run, "what": "first domain parse after a cold startup (all counts)",
                     "full-caps": m.get("full-caps"), "per-emulator": m.get("per-emulator"),
                     "ratio": m.get("full-caps") / m.get("per-emulator")})
        used.append(f)
    table = pd.DataFrame(rows, columns=["run", "what", "full-caps", "per-emulator", "ratio"])
    return table, (pd.concat(used) if used else df.iloc[0:0])


def headline_table(df: pd.DataFrame) -> pd.DataFrame:
    return headline_rows(df)[0]


def faster_column(ratio: pd.Series) -> pd.Series:
    """One direction per row: 'per-emulator, 27.7×' or 'full-caps, 29,000×'."""
    return ratio.map(lambda r: tables.DASH if pd.isna(r) else
                     f"{AFTER}, {tables.fmt_ratio(r)}" if r >= 1 else
                     f"{BASELINE}, {tables.fmt_ratio(1 / r)}")


def show_headline_table(df: pd.DataFrame, output_dir, several: bool) -> tables.Formatted | None:
    heads, used = headline_rows(df)
    if heads.empty:
        return None
    shown = heads.drop(columns="ratio").assign(faster=faster_column(heads["ratio"]))
    shown = shown if several else shown.drop(columns="run")
    # one unit per column; the provenance line from the rows the table was computed from
    return tables.show_table(shown, output_dir, "headline", "Headline numbers (medians)",
                             plots.kind(used), plots.provenance(used),
                             time_columns=["full-caps", "per-emulator"],
                             names={"faster": "faster, by"}, csv_frame=heads)
