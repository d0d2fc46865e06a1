"""What ending a probe costs, from a run's tidy rows: the model's cold calls under each teardown
(libvirt 9.0's 200 ms existence checks, libvirt 5.x's SIGKILL without a wait, the pidfd fix) with
the fix's saving, and seconds per probe launch beside real libvirt 9.0's on the same install.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from workbench.paths import TRANSCRIPTS_DIR
from workbench.qemu.teardown import MODES
from workbench.results import MODEL
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
