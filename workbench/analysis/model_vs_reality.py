"""The model beside the real libvirt 9.0: `workbench validate`'s checks per file, the same calls
timed on both over one install, and one probe launch phase by phase (libvirt's debug log
against the model's recordings and its whole probe measured in a run).
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from workbench.analysis import tables
from workbench.errors import ResultsError
from workbench.analysis.results import MODEL

PHASES = ("setup", "daemonize", "connect_greeting", "commands", "close", "kill_wait")
OWN_WORK = "prober's own work and kill (whole minus recorded)"
WHOLE = "whole probe launch"


def validate_checks(data: Path) -> pd.DataFrame:
    """Per validate_*.json file and check: how many rows agree, differ deliberately (a
    documented deviation) or differ without one."""
    rows = []
    for path in sorted(Path(data).glob("validate_*.json")):
        try:
            rep = json.loads(path.read_text())
            found = pd.DataFrame(rep["rows"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ResultsError(f"{path}: not a `workbench validate --json` report ({e})") from None
        for check, g in found.groupby("check", sort=False):
            agree = g["agree"].astype(str)
            rows.append({"file": path.name, "check": check, "agree": int((agree == "yes").sum()),
                         "deliberate": int(agree.str.startswith("deliberate").sum()),
                         "differ": int((agree == "NO").sum())})
    return pd.DataFrame(rows, columns=["file", "check", "agree", "deliberate", "differ"])


def same_install(df: pd.DataFrame, model_strategy: str) -> pd.DataFrame:
    """The calls real libvirt made in the run beside the model's `model_strategy` on the same
    benchmark, case, count and cache: medians and libvirt / model."""
    if df.empty:
        return pd.DataFrame(columns=["benchmark", "case", "n_emulators", "cache", "libvirt_s", "model_s",
                                     "libvirt_over_model"])
    real = df[df["system"] != MODEL]
    keys = ["benchmark", "case", "n_emulators", "cache"]
    model = df[(df["system"] == MODEL) & (df["strategy"] == model_strategy)
               & df["benchmark"].isin(real["benchmark"].unique()) & df["phase"].isin(["total", "last_answer"])]
    lv = real.groupby(keys, dropna=False)["time_s"].median().rename("libvirt_s")
    md = model.groupby(keys, dropna=False)["time_s"].median().rename("model_s")
    both = pd.concat([lv, md], axis=1, join="inner").reset_index()
    both["libvirt_over_model"] = both["libvirt_s"] / both["model_s"]
    return both.sort_values(["cache", "benchmark", "case", "n_emulators"]).reset_index(drop=True)


def _median(launches: list[dict], key: str) -> float:
    vals = [ln[key] for ln in launches if ln.get(key) is not None]
    return statistics.median(vals) if vals else float("nan")


def recorded_launches(transcripts: Path) -> list[dict]:
    """The model prober's phases of every recorded launch in the transcripts (seconds)."""
    from workbench.analysis.transcripts import read

    cols = ["setup", "daemonize", "connect_greeting", "commands"]
    return read(transcripts).launches[cols].to_dict("records")


@dataclass(frozen=True)
class ProbePhases:
    table: pd.DataFrame      # phase, libvirt_s, model_s, gap_s
    libvirt_launches: int
    model_launches: int
    libvirt_total_s: float
    model_total_s: float     # NaN: the run has no replay_fidelity on real binaries
    kill_wait_s: float
    measured_at: str
    model_teardown: str = ""  # how the run's model ended its probes; "": a run before the axis


def probe_phases(facts: dict, launches: list[dict], df: pd.DataFrame) -> ProbePhases:
    """One probe launch per phase: libvirt 9.0's (facts.json, from its debug log) against the
    model's recorded phases, plus the model's whole probe measured on the real binaries in this
    run (replay_fidelity, real side); what the whole has beyond the recorded phases is the
    prober's own work and the kill. The model records no close or kill phase: counted as 0 in
    the gap (its kill is in its own work)."""
    lv = [p["phases"] for p in facts.get("probes", []) if p.get("phases")]
    fid = df[(df["benchmark"] == "replay_fidelity") & (df["emulators"] == "real")] if not df.empty else df
    whole = fid.groupby("case")["time_s"].median() if len(fid) else pd.Series(dtype=float)
    rows = [{"phase": k, "libvirt_s": _median(lv, k), "model_s": _median(launches, k)} for k in PHASES]
    recorded = sum(r["model_s"] for r in rows if r["model_s"] == r["model_s"])
    lv_total = _median(lv, "total")
    model_total = float(whole.median()) if len(whole) else float("nan")
    rows.append({"phase": OWN_WORK, "libvirt_s": float("nan"), "model_s": model_total - recorded})
    rows.append({"phase": WHOLE, "libvirt_s": lv_total, "model_s": model_total})
    t = pd.DataFrame(rows)
    named = t["phase"].isin(PHASES)
    t["gap_s"] = t["libvirt_s"] - t["model_s"].where(t["model_s"].notna() | ~named, 0.0)
    # how this run's model ended its probes: its own rows say (all of them, the whole probe need not be measured)
    mine = df[df["system"] == MODEL] if "system" in df else df
    teardowns = [t for t in mine["teardown"].dropna().astype(str).unique() if t] if "teardown" in mine else []
    return ProbePhases(t, len(lv), len(launches), lv_total, model_total, _median(lv, "kill_wait"),
                       str(facts.get("measured_at", "")), ", ".join(sorted(teardowns)))


def phase_conclusions(p: ProbePhases, tolerance: float) -> list[str]:
    """The whole launch within `tolerance` or not; if not, the three phases that make most of
    the gap; and what libvirt's kill wait is."""
    fmt = tables.fmt_duration
    lines = []
    if p.model_total_s == p.model_total_s:
        ratio = p.model_total_s / p.libvirt_total_s
        within = abs(ratio - 1) <= tolerance
        lines.append(f"- A whole probe launch: model {fmt(p.model_total_s)}, libvirt 9.0 "
                     f"{fmt(p.libvirt_total_s)} (model / libvirt {tables.fmt_ratio(ratio)}): "
                     f"**{'within' if within else 'outside'} {tolerance:.0%}**.")
        if not within:
            t = p.table[p.table["phase"].isin(PHASES)].dropna(subset=["gap_s"])
            t = t.reindex(t["gap_s"].abs().sort_values(ascending=False).index)
            gap = p.libvirt_total_s - p.model_total_s
            for r in t.head(3).itertuples():
                lines.append(f"  - {r.phase}: libvirt {fmt(r.libvirt_s)}, model {fmt(r.model_s)}: "
                             f"{r.gap_s / gap:.0%} of the gap.")
    else:
        lines.append("- This run has no `replay_fidelity` on real binaries: the model's whole probe is "
                     "not measured here (`replay_fidelity` is in `workbench run --full`, not in the main job, and needs the real binaries).")
    if not p.model_teardown:  # a run made before the teardown axis: what its model did then
        lines.append(f"- libvirt 9.0's `kill_wait` is the time from its kill of QEMU to the probing thread's "
                     f"next log line: {fmt(p.kill_wait_s)} per launch, nearly the same for every binary (a "
                     "wait, not work: where it comes from inside libvirt is not measured here); the model "
                     "kills the process group and waits on its pidfd.")
    else:
        lines.append(f"- libvirt 9.0's `kill_wait` is the time from its kill of QEMU to the probing thread's "
                     f"next log line: {fmt(p.kill_wait_s)} per launch, nearly the same for every binary: a "
                     "wait, not work. virProcessKillPainfully sends SIGTERM, then checks `kill(pid, 0)` "
                     "every 200 ms until the reaper has collected QEMU (docs/model.md, probe teardown). "
                     f"The model's probes here end with teardown {p.model_teardown}.")
    return lines


def validate_summary(checks: pd.DataFrame) -> str:
    """validate_checks counted over every file, as the page's sentence."""
    return (f"**{int(checks['agree'].sum())} checks agree, {int(checks['deliberate'].sum())} differ "
            f"deliberately, {int(checks['differ'].sum())} differ without a deviation that explains them.**")


def same_install_rows(df: pd.DataFrame, both: pd.DataFrame, model_strategy: str) -> pd.DataFrame:
    """The values same_install's table comes from (its provenance): every real libvirt row and
    the model's model_strategy rows of the benchmarks compared."""
    return df[df["name"].isin(df[df["system"] != MODEL]["name"])
              | ((df["system"] == MODEL) & (df["strategy"] == model_strategy) & df["benchmark"].isin(both["benchmark"]))]


def same_install_figure(both: pd.DataFrame, model_strategy: str):
    """Bars of libvirt 9.0 and the model per call, cold cache, largest count (log axis); None
    when the run has no such row."""
    import matplotlib.pyplot as plt

    from workbench.analysis import plots

    cold = both[(both["cache"] == "cold") & (both["n_emulators"] == both["n_emulators"].max())]
    if cold.empty:
        return None
    labels = [c if c else b for b, c in zip(cold["benchmark"], cold["case"])]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    y = range(len(cold))
    ax.barh([i + 0.2 for i in y], cold["libvirt_s"], height=0.4, color="C8", label="libvirt 9.0")
    ax.barh([i - 0.2 for i in y], cold["model_s"], height=0.4, color="C1", label=f"model ({model_strategy})")
    ax.set_yticks(list(y), labels)
    ax.set_xscale("log")
    ax.set_xlabel("seconds (log)")
    ax.set_title(f"Cold cache, {int(cold['n_emulators'].iloc[0])} replaying emulators")
    plots.legend_beside(fig)
    return fig


def _show(*items) -> None:
    from IPython.display import Markdown, display

    for item in items:
        display(Markdown(item) if isinstance(item, str) else item)


def show_validate(data: Path, output_dir) -> pd.DataFrame:
    """The validate checks per file and their sum (or a note that there are none)."""
    from workbench.analysis import plots

    checks = validate_checks(data)
    if checks.empty:
        plots.note(f"No validate results in {plots.md_literal(data)}: run `workbench validate --install DIR --json`.")
    else:
        _show(tables.show_table(checks, output_dir, "validate", "workbench validate: model against libvirt 9.0, "
                                "per check", "measured", f"{data}/validate_*.json", time_columns=[], max_rows=20),
              validate_summary(checks))
    return checks


def show_same_install(df: pd.DataFrame, model_strategy: str, output_dir) -> pd.DataFrame:
    """same_install's table and figure (or a note that the run has no real libvirt rows)."""
    from workbench.analysis import plots

    both = same_install(df, model_strategy)
    if df.empty or (df["system"] == MODEL).all():
        plots.note("This run has no real libvirt rows (`libvirt_real`): libvirt 9.0 was not installed "
                   "where it was made, or the sweep was asked for other benchmarks.")
        return both
    rows = same_install_rows(df, both, model_strategy)
    kind, source = plots.kind(rows), f"{plots.provenance(rows)}; libvirt 9.0 and the model's {model_strategy}"
    _show(tables.show_table(
        both, output_dir, "same_install", "libvirt 9.0 and the model on the same install (medians)",
        kind, source, time_columns=["libvirt_s", "model_s"], max_rows=30,
        names={"libvirt_s": "libvirt 9.0", "model_s": f"model ({model_strategy})", "libvirt_over_model": "libvirt / model"},
        formats={"libvirt_over_model": tables.fmt_ratio}))
    fig = same_install_figure(both, model_strategy)
    if fig is not None:
        plots.show_figure(fig, output_dir, "same_install", "The same calls on libvirt 9.0 and on the model, cold "
                          "cache, largest install (medians, log axis)", kind, source)
    return both


def show_probe_phases(data: Path, df: pd.DataFrame, transcripts: Path, tolerance: float, output_dir) -> ProbePhases | None:
    """One probe launch phase by phase from data/facts.json and the transcripts, and what it says."""
    from workbench.analysis import plots

    facts_path = Path(data) / "facts.json"
    if not facts_path.exists():
        plots.note(f"No {plots.md_literal(facts_path)}: run `python -m workbench.libvirt9.facts` to measure libvirt 9.0's probes.")
        return None
    ph = probe_phases(json.loads(facts_path.read_text()), recorded_launches(transcripts), df)
    _show(tables.show_table(
        ph.table, output_dir, "probe_phases", "One probe launch, median per phase: libvirt 9.0 against the model's prober",
        "measured", f"libvirt 9.0 debug log ({ph.measured_at}, {ph.libvirt_launches} launches); "
        f"model: data/transcripts ({ph.model_launches} launches) and replay_fidelity in this run",
        time_columns=["libvirt_s", "model_s", "gap_s"],
        names={"libvirt_s": "libvirt 9.0", "model_s": "model", "gap_s": "libvirt minus model"}),
        "\n".join(phase_conclusions(ph, tolerance)))
    return ph


def show_api_teardowns(df: pd.DataFrame, kvm_usable: bool, output_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The model_vs_reality section: the saving table and get_capabilities figure (or a note that
    the run measured one teardown), then seconds per probe launch beside libvirt 9.0's.
    Returns (saving, per_launch)."""
    from IPython.display import display

    from workbench.analysis import plots
    from workbench.analysis import teardown as td

    saving = td.teardown_saving(df)
    if saving.empty:
        plots.note("This run measured one teardown only (or was made before the teardown axis): "
                   "`workbench sweep --teardowns libvirt9,pidfd ...` measures what the fix saves.")
    else:
        rows = td.saving_rows(df, saving)
        kind, source = plots.kind(rows), plots.provenance(rows)
        display(tables.show_table(saving, output_dir, "teardown_saving",
                                  "Cold medians per teardown and what the pidfd fix saves against libvirt 9.0's",
                                  kind, source, max_rows=30, formats={"saving_share": lambda v: f"{v:.0%}"},
                                  names={"saving_share": "saving (share)"}))
        if (saving["benchmark"] == "api").any():
            fig = td.saving_figure(saving, "api", "get_capabilities", tables.provenance_label(kind, source))
            plots.show_figure(fig, output_dir, "teardown_saving", "Cold get_capabilities against emulators "
                              "installed under each teardown, and the fix's saving", kind, source)
    per_launch = td.seconds_per_launch(df, kvm_usable)
    if len(per_launch):
        api = df[df["benchmark"] == "api"]
        display(tables.show_table(per_launch, output_dir, "seconds_per_launch", "A cold get_capabilities per probe "
                                  "launch: the model per teardown beside libvirt 9.0", plots.kind(api),
                                  plots.provenance(api), max_rows=20))
    return saving, per_launch
