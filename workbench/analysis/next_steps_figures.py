"""The next steps page's figures: each scenario's time to the last answer and emulator launches
against emulators installed, a line per strategy (workbench.analysis.next_steps computes the
rows; the page shows the figures)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from workbench.analysis import plots
from workbench.analysis.next_steps import SCENARIOS


def last_answer_figure(q: pd.DataFrame, labels: list[str], colors: dict[str, str]) -> plt.Figure:
    """Per scenario: median and IQR band per strategy label (q: quartiles by case, label, n)."""
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
    return fig


def launches_figure(launches: pd.DataFrame, labels: list[str], colors: dict[str, str]) -> plt.Figure:
    """Per scenario: launches counted against emulators installed (launches: next_steps.launches)."""
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
    return fig


def show_teardown_saving(df: pd.DataFrame, sc: pd.DataFrame, output_dir) -> pd.DataFrame:
    """The scenarios' saving table and a figure per scenario under each teardown (or a note that
    the run measured one teardown); returns the saving rows."""
    from IPython.display import display

    from workbench.analysis import next_steps as ns
    from workbench.analysis import tables
    from workbench.analysis import teardown as td

    saving = ns.scenario_saving(td.teardown_saving(df))
    if saving.empty:
        plots.note("This run measured the scenarios under one teardown only: `workbench sweep "
                   "--benchmarks scenarios --teardowns libvirt9,pidfd` measures what the fix saves.")
        return saving
    kind, source = ns.provenance(ns.model_rows(sc))
    display(tables.show_table(saving, output_dir, "teardown_saving",
                              "Time to the client's last answer per teardown, and the pidfd fix's saving",
                              kind, source, max_rows=30, formats={"saving_share": lambda v: f"{v:.0%}"},
                              names={"saving_share": "saving (share)"}))
    for case in [c for c in SCENARIOS if c in set(saving["case"])]:
        fig = td.saving_figure(saving, "scenario", case, tables.provenance_label(kind, source))
        plots.show_figure(fig, output_dir, f"teardown_{case}", f"{case.replace('_', ' ')}: time to the last "
                          "answer against emulators installed under each teardown", kind, source)
    return saving
