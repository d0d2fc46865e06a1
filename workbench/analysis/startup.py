"""What the startup page shows besides the scaling plot: its tables of medians, the growth
figure, the cover letter's headline in a sentence and the summary of a run's startup traces."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from workbench.analysis import plots

SUMMED = ("driver.startup", "probe.launch", "qmp")


def trace_summary(traces: Sequence[Path]) -> pd.DataFrame:
    """Per trace (its file stem): the total time (s) and the number of spans of the driver's
    startup, of the probe launches and of the QMP commands."""
    spans = pd.concat([plots.trace_spans(t).assign(trace=Path(t).stem) for t in traces])
    spans = spans[spans["name"].isin(SUMMED)]
    g = spans.groupby(["trace", "name"])["dur_ms"]
    total = (g.sum() / 1e3).unstack("name").reindex(columns=list(SUMMED))
    count = g.size().unstack("name").reindex(columns=list(SUMMED)).fillna(0).astype(int)
    out = pd.concat([total.add_suffix(" total_s"), count.add_suffix(" count")], axis=1)
    return out[[c for s in SUMMED for c in (f"{s} total_s", f"{s} count")]]


PATHS = ("daemon_startup", "driver_startup")


@dataclass(frozen=True)
class MedianTable:
    """One cache state and startup path: the medians per count, a strategy (and run) per column."""
    name: str              # the CSV's name
    caption: str
    wide: pd.DataFrame
    rows: pd.DataFrame     # the quartile rows it comes from (the CSV)


def median_tables(q: pd.DataFrame, several_runs: bool) -> list[MedianTable]:
    """Per (cache, benchmark) of plots.quartiles' rows, cold first: a table a page wide (a
    strategy per column fits; a column per (cache, strategy) would not)."""
    by = ["strategy"] + (["run"] if several_runs else [])
    out = []
    for cache in ["cold", "warm"]:
        for bench in sorted(q["benchmark"].unique()):
            part = q[(q["cache"] == cache) & (q["benchmark"] == bench)]
            if not part.empty:
                out.append(MedianTable(f"startup_{cache}_{bench}", f"Median {bench}, {cache} cache",
                                       part.pivot_table(index="n_emulators", columns=by, values="median_s"), part))
    return out


def growth_figure(q: pd.DataFrame, startup: pd.DataFrame):
    """Cold medians and IQR bands per path on log-log axes, a line per strategy and run."""
    import matplotlib.pyplot as plt

    cold = q[q["cache"] == "cold"]
    style = plots.series_style(startup)
    fig, axes = plt.subplots(1, len(PATHS), figsize=(10, 3.6), squeeze=False)
    for ax, path in zip(axes[0], PATHS):
        for (s, run), g in cold[cold["benchmark"] == path].groupby(["strategy", "run"]):
            st = style[(s, run)]
            plots.band(ax, g, "n_emulators", st["label"], st["color"], ls=st["ls"], marker=st["marker"])
        ax.set_title(f"{path} · cold", fontsize=10)
        plots.style_axes(ax, "startup time (s, log)", log=True)
    plots.legend_beside(fig)
    return fig


def headline_text(h, kind: str) -> str:
    """The cover letter's comparison in a sentence, from one plots.startup_headline row: both
    medians, the ratio, the replayed QEMU's share where the run says it, and the count."""
    from workbench.analysis import tables

    text = (f"With {h.n_emulators} emulators on a cold cache, {plots.md_literal(h.benchmark)} takes "
            f"**{tables.fmt_duration(h.before_s)}** with {h.before} and "
            f"**{tables.fmt_duration(h.after_s)}** with {h.after}: "
            f"**{tables.fmt_ratio(h.ratio)} faster** ({kind}).")
    if h.before_qemu_share == h.before_qemu_share:  # not NaN: the run replayed and says its KVM
        text += (f" Of the {h.before} startup, {h.before_qemu_share:.0%} is the replayed QEMU's own "
                 f"time (start-up and commands, computed from the transcripts), the rest the "
                 f"workbench's own work.")
    if h.n_emulators < 30:
        text += (f" (The cover letter speaks of 30 emulators; this run's largest count is "
                 f"{h.n_emulators}.)")
    return text


def timeline_panels(traces: Sequence[Path], emulators: int) -> list[tuple[str, Path]]:
    """(title, trace) per strategy's startup trace (files named startup-STRATEGY-nNN.json)."""
    return [(f"{Path(t).stem.split('-n')[0].removeprefix('startup-')}, cold cache, "
             f"{emulators} emulators: startup and one domain parse", t) for t in traces]


def show_headline(startup: pd.DataFrame, kind: str, source: str, output_dir) -> pd.DataFrame:
    """The cover letter's comparison from a run's startup rows: a sentence for the first row and
    the table (or a note that no count was measured cold under both); returns the rows."""
    from IPython.display import Markdown, display

    from workbench.analysis import tables

    headline = plots.startup_headline(startup)
    if headline.empty:
        plots.note("No emulator count was measured cold under both full-caps and per-emulator.")
        return headline
    display(Markdown(headline_text(headline.iloc[0], kind)))
    shown = headline if plots.n_runs(startup) > 1 else headline.drop(columns="run")
    display(tables.show_table(shown, output_dir, "headline", "Cold startup before and after the series, largest "
                              "count measured", kind, source, csv_frame=headline,
                              names={"before_s": "full caps", "after_s": "per-emulator", "ratio": "ratio (×)"}))
    return headline
