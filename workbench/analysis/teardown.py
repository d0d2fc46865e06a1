"""What ending a probe costs, from a run's tidy rows: the model's cold calls under each teardown
(libvirt 9.0's 200 ms existence checks, libvirt 5.x's SIGKILL without a wait, the pidfd fix) with
the fix's saving, and seconds per probe launch beside real libvirt 9.0's on the same install.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from workbench.paths import TRANSCRIPTS_DIR
from workbench.qemu.teardown import DEFAULT_MODE, MODES
from workbench.analysis.results import MODEL
from workbench.sim.catalog import INSTALL_ORDER
from workbench.sim.transcript import load_raw, transcript_filename

KEYS = ["benchmark", "case", "strategy", "n_emulators", "cache"]
SAVING_COLUMNS = KEYS + [f"{m}_s" for m in MODES] + ["saving_s", "saving_share"]
LAUNCH_COLUMNS = ["system", "strategy", "teardown", "n_emulators", "launches", "median_s",
                  "per_launch_s"]


def _teardown_of(df: pd.DataFrame) -> pd.Series:
    """The teardown of each row; rows of runs before the axis (no column, or empty) are ''."""
    if "teardown" not in df:
        return pd.Series("", index=df.index, dtype=object)
    return df["teardown"].fillna("").astype(str)


def at_default_teardown(df: pd.DataFrame) -> pd.DataFrame:
    """The rows measured with the model's default teardown (libvirt 9.0's), or before the axis
    existed, and every real-libvirt row: what every page but the teardown comparison shows, so
    that no median mixes two teardowns."""
    if df.empty or "teardown" not in df:
        return df
    td = _teardown_of(df)
    return df[(df["system"] != MODEL) | td.isin([DEFAULT_MODE, ""])]


def teardown_saving(df: pd.DataFrame) -> pd.DataFrame:
    """The model's cold medians per teardown, per benchmark, case, strategy and count, and what the
    pidfd fix saves against libvirt 9.0's teardown (seconds, and as a share of libvirt 9.0's).
    Empty (with the columns) when the run measured fewer than two teardowns."""
    if df.empty:
        return pd.DataFrame(columns=SAVING_COLUMNS)
    td = _teardown_of(df)
    rows = df[(df["system"] == MODEL) & (df["cache"] == "cold")
              & df["phase"].isin(["total", "last_answer"]) & td.isin(MODES)].assign(teardown=td)
    if rows["teardown"].nunique() < 2:
        return pd.DataFrame(columns=SAVING_COLUMNS)
    m = rows.groupby(KEYS + ["teardown"], dropna=False)["time_s"].median().unstack("teardown")
    for mode in MODES:
        m[f"{mode}_s"] = m[mode] if mode in m else float("nan")
    m["saving_s"] = m["libvirt9_s"] - m["pidfd_s"]
    m["saving_share"] = m["saving_s"] / m["libvirt9_s"]
    out = m.reset_index()[SAVING_COLUMNS]
    return out.sort_values(["benchmark", "case", "strategy", "n_emulators"]).reset_index(drop=True)


def install_launches(n: int, kvm_usable: bool, transcripts_dir: Path = TRANSCRIPTS_DIR) -> int:
    """Probe launches in probing every emulator of an install of `n` (the first n of the install
    order) once: two where KVM is usable and the recording has a TCG-only second launch."""
    total = 0
    for target in INSTALL_ORDER[:n]:
        launches = load_raw(Path(transcripts_dir) / transcript_filename(target))["launches"]
        total += len(launches) if kvm_usable else 1
    return total


def seconds_per_launch(df: pd.DataFrame, kvm_usable: bool, case: str = "get_capabilities",
                       strategy: str = "per-emulator",
                       transcripts_dir: Path = TRANSCRIPTS_DIR) -> pd.DataFrame:
    """A cold `case` API call (it probes every emulator once) divided by the probe launches it
    makes: per system (the model's `strategy` per teardown, and real libvirt 9.0 on the same
    replaying installs) and count. The call's own work beyond probing is in it too, so this is
    an upper bound on a launch's cost, the same for both systems."""
    api = df[(df["benchmark"] == "api") & (df["case"] == case) & (df["cache"] == "cold")
             & (df["emulators"] == "simulated")] if not df.empty else df
    if api.empty:
        return pd.DataFrame(columns=LAUNCH_COLUMNS)
    api = api.assign(teardown=_teardown_of(api))
    api = api[(api["system"] != MODEL) | (api["strategy"] == strategy)]
    real = api["system"] != MODEL
    # libvirt rows have no model teardown: theirs is whatever that libvirt build does
    api = api.assign(teardown=api["teardown"].where(~real, ""),
                     strategy=api["strategy"].where(~real, ""))
    g = api.groupby(["system", "strategy", "teardown", "n_emulators"], dropna=False)["time_s"]
    out = g.median().rename("median_s").reset_index()
    out["launches"] = [install_launches(int(n), kvm_usable, transcripts_dir) for n in out["n_emulators"]]
    out["per_launch_s"] = out["median_s"] / out["launches"]
    return out[LAUNCH_COLUMNS].sort_values(["n_emulators", "system", "teardown"]).reset_index(drop=True)


def saving_figure(saving: pd.DataFrame, benchmark: str, case: str, provenance: str):
    """The model's cold `benchmark`/`case` against emulators installed, one line per strategy and
    teardown (solid libvirt 9.0's, dashed the pidfd fix, dotted libvirt 5.x's), the fix's saving
    written at the largest count. `provenance`: the caption's source line (tables.provenance_label)."""
    import matplotlib.pyplot as plt

    rows = saving[(saving["benchmark"] == benchmark) & (saving["case"].fillna("") == case)]
    fig, ax = plt.subplots(figsize=(8, 4.2))
    styles = {"libvirt9": "-", "pidfd": "--", "libvirt5": ":"}
    for k, (strategy, g) in enumerate(rows.groupby("strategy", sort=True)):
        g = g.sort_values("n_emulators")
        for mode, ls in styles.items():
            if g[f"{mode}_s"].notna().any():
                ax.plot(g["n_emulators"], g[f"{mode}_s"], ls=ls, marker="o", color=f"C{k}",
                        label=f"{strategy}, {mode}")
        last = g.dropna(subset=["saving_s"]).tail(1)
        for r in last.itertuples():
            ax.annotate(f"pidfd saves {r.saving_s:.2f} s ({r.saving_share:.0%})",
                        (r.n_emulators, r.pidfd_s), xytext=(6, -12), textcoords="offset points",
                        fontsize=8, color=f"C{k}")
    ax.set_xlabel("emulators installed (count)")
    ax.set_ylabel("cold time, median (s)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.set_title(f"Cold {benchmark}{' ' + case if case else ''}: the probe's teardown")
    ax.legend(fontsize=8, loc="upper left")
    fig.text(0.01, 0.0, provenance, fontsize=8, ha="left", va="top", style="italic", wrap=True)
    fig.tight_layout()
    return fig


def saving_rows(df: pd.DataFrame, saving: pd.DataFrame) -> pd.DataFrame:
    """The model's cold rows of the benchmarks a teardown_saving table compares (its provenance)."""
    return df[df["benchmark"].isin(saving["benchmark"]) & (df["cache"] == "cold") & (df["system"] == MODEL)]

