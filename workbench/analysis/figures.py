"""Numbers quoted in README files, generated from the run they quote.

A README holds generated sections between markers:

    <!-- figures:startup_table -->
    ... (written by `workbench readme-figures`, never by hand)
    <!-- /figures:startup_table -->

`sections(run)` computes every section's text from the run's results and machine.json;
`render` rewrites a README's sections, `stale` names the ones that differ from the run (the test
and `workbench readme-figures --check` use it). Everything between markers is data; everything
outside them is prose that quotes no run's number.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

import pandas as pd

from workbench.analysis import results, tables
from workbench.errors import ResultsError
from workbench.analysis.rundir import MACHINE_FILE
from workbench.qemu.strategy_names import LIBVIRT_STRATEGIES

MARKER = re.compile(r"<!-- figures:(?P<key>[a-z_]+) -->\n(?P<body>.*?)<!-- /figures:(?P=key) -->", re.S)


def _fmt(v: float) -> str:
    return tables.fmt_duration(v)


def markdown_table(frame: pd.DataFrame, time_columns=None, names=None, formats=None) -> str:
    """A pipe table of tables.format_frame's output: one unit per time column, named in its header."""
    shown = tables.format_frame(frame, time_columns, names, formats)
    head = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(shown.columns))) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join([head, rule] + body)


class Run:
    """What the sections read: the tidy results, machine.json and per-process metadata."""

    def __init__(self, path: Path):
        self.path = Path(path)
        from workbench.analysis.teardown import at_default_teardown

        self.df = at_default_teardown(results.load_run(self.path))
        if self.df.empty:
            raise ResultsError(f"{self.path}: no pyperf results to quote")
        machine = self.path / MACHINE_FILE
        self.machine = json.loads(machine.read_text()) if machine.is_file() else {}
        from workbench.analysis.runmeta import numeric, per_run_metadata

        self.meta = numeric(per_run_metadata([self.path], ["load_avg_1min", "date"]), ["load_avg_1min"])

    def cold(self, benchmark: str) -> pd.DataFrame:
        d = self.df
        return d[(d["benchmark"] == benchmark) & (d["cache"] == "cold") & (d["phase"] == "total")]


# -- the sections ----------------------------------------------------------------------------
def conditions(run: Run) -> str:
    """When and where the run was made, and the load its worker processes recorded."""
    m, meta = run.machine, run.meta
    dates = pd.to_datetime(meta["date"].dropna())
    when = (f"{dates.min():%Y-%m-%d}, {dates.min():%H:%M} to {dates.max():%H:%M} UTC (first to last "
            f"value: {_minutes(dates.max() - dates.min())})") if len(dates) else "unknown"
    machine = ", ".join(str(x) for x in (
        f"{m.get('cores')}-core {m.get('cpu_model')}" if m.get("cpu_model") else None,
        "KVM usable" if m.get("kvm_usable") else None, m.get("os"),
        f"Python {m['python']}" if m.get("python") else None, m.get("qemu"),
        f"libvirt {m['libvirt']}" if m.get("libvirt") else None) if x)
    sweep = m.get("sweep", {})
    lines = [f"- **Made:** {when}; `{sweep.get('command', '?')}`, pyperf {sweep.get('mode', '?')} mode, "
             f"{sweep.get('processes', '?')} worker processes per benchmark; from commit "
             f"{str(m.get('git_commit', '?'))[:7]}{' (dirty)' if m.get('git_dirty') else ''}.",
             f"- **Machine** (machine.json): {machine or 'not recorded'}."]
    load = m.get("load_avg_1min")
    if isinstance(load, dict) and {"min", "max"} <= set(load):
        lines.append(f"- **Load** (machine.json, 1-minute load average during the run): {load['min']:g} to "
                     f"{load['max']:g}" + (f", median {load['median']:g}." if "median" in load else "."))
    elif meta["load_avg_1min"].notna().any():
        la = meta["load_avg_1min"].dropna()
        lines.append(f"- **Load** (1-minute load average each of the {len(la):,} worker processes recorded): "
                     f"{la.min():g} to {la.max():g}, median {la.median():g}; load from outside the "
                     f"machine (a shared VM) is not seen.")
    return "\n".join(lines)


def sweep_time(run: Run) -> str:
    """How long the run's sweep took (first to last value) and on what machine."""
    dates = pd.to_datetime(run.meta["date"].dropna())
    m = run.machine
    where = f" on a {m['cores']}-core {m.get('cpu_model', '')}".rstrip() if m.get("cores") else ""
    took = _minutes(dates.max() - dates.min()) if len(dates) else "unknown"
    return (f"- `{run.path.name}`: {took} from its first value to its last{where} "
            f"({run.df['name'].nunique():,} benchmarks, {len(run.df):,} values; the report adds a few minutes).")


def _minutes(delta: pd.Timedelta) -> str:
    s = int(delta.total_seconds())
    return f"{s // 60} min {s % 60} s"


def startup_table(run: Run) -> str:
    """Cold daemon startup per emulator count under libvirt's two strategies (medians)."""
    c = run.cold("daemon_startup")
    c = c[c["strategy"].isin(LIBVIRT_STRATEGIES)]
    wide = c.groupby(["n_emulators", "strategy"])["time_s"].median().unstack("strategy")
    wide = wide.reindex(columns=list(LIBVIRT_STRATEGIES)).reset_index()
    return markdown_table(wide.rename(columns={"n_emulators": "n", "full-caps": "full-caps_s",
                                               "per-emulator": "per-emulator_s"}),
                          names={"n": "emulators", "full-caps_s": "daemon startup, cold, full-caps",
                                 "per-emulator_s": "per-emulator"})


def headline(run: Run) -> str:
    """The cover letter's comparison at the largest count, with its spread and slopes."""
    from workbench.analysis import headline as hl

    ans = hl.answer(run.df)
    if not ans.ratios:
        return "- No cold daemon startup under both full-caps and per-emulator in this run."
    r = next(x for x in ans.ratios if x.strategy == hl.AFTER) if any(
        x.strategy == hl.AFTER for x in ans.ratios) else ans.ratios[0]
    line = {ln.strategy: ln for ln in ans.lines if ln.run == r.run}
    base, after = line["full-caps"], line[r.strategy]
    share = "" if ans.qemu_share != ans.qemu_share else (
        f" Of the full-caps startup, {ans.qemu_share:.0%} is the replayed QEMU's own time (start-up "
        "and commands, computed from the transcripts), the rest the workbench's own work.")
    return (f"- **Cover letter:** at {r.n} emulators, cold, daemon spawn to first answer: full-caps "
            f"{_fmt(base.median_s)} against {r.strategy} {_fmt(after.median_s)}, "
            f"**{tables.fmt_ratio(r.ratio)}** ({hl.fmt_ci(r.ci_low, r.ci_high, r.processes)}); "
            f"least-squares slopes {_fmt(base.slope_s)} per emulator against {_fmt(after.slope_s)}.{share}")


def headline_mdc(run: Run) -> str:
    """Each headline ratio's two benchmarks with the minimum detectable change `workbench compare`
    would give each against a run like this one (results.detectable over every benchmark of the run)."""
    from workbench.analysis import headline as hl
    from workbench.analysis.results import detectable
    from workbench.analysis.detect_target import TARGET_MDC

    whole = results.load_run(run.path)
    heads = hl.head_ratios(run.df, whole)
    if not heads:
        return "- No headline ratio in this run."
    parts = [f"{h.what} at {h.n}: {h.slower} {hl.fmt_mdc(h.mdc_slower)}, {h.faster} {hl.fmt_mdc(h.mdc_faster)} "
             f"({h.interval.processes}+ processes a side)" for h in heads]
    above = sum(not m <= TARGET_MDC for h in heads for m in (h.mdc_slower, h.mdc_faster))
    return (f"- **Detectable change** (the smallest slowdown `workbench compare` would flag with 80% power "
            f"against a run like this one: the same processes and spreads, {len(detectable(whole))} tests, "
            f"no drift between the runs): " + "; ".join(parts) + ". "
            + (f"{above} of {2 * len(heads)} above the main job's {TARGET_MDC:.0%} target." if above else
               f"Every one within the main job's {TARGET_MDC:.0%} target."))


API_STRATEGIES = ("full-caps", "per-emulator", "per-emulator-fixed", "fixed-shipped")


def apis(run: Run) -> str:
    """Each API, cold, at the largest count, beside the daemon startup the strategy paid before
    the call (full-caps has probed every emulator by then; the call alone hides that)."""
    d = run.df[(run.df["benchmark"] == "api") & (run.df["cache"] == "cold")]
    if d.empty:
        return "- No cold API calls in this run."
    n = int(d["n_emulators"].max())
    d = d[d["n_emulators"] == n]
    own = d["system"] == results.MODEL
    label = d["strategy"].where(own, d["system"])
    real = sorted(set(label[~own]))
    m = d.assign(label=label).groupby(["case", "label"])["time_s"].median().unstack("label")
    cols = [s for s in API_STRATEGIES if s in m] + sorted(c for c in m if c not in API_STRATEGIES)
    m = m.reindex(columns=cols)
    start = run.cold("daemon_startup")
    start = start[start["n_emulators"] == n].groupby("strategy")["time_s"].median()
    m.loc["daemon startup before the call"] = [start.get(c, float("nan")) for c in cols]
    table = markdown_table(m.rename_axis("API").add_suffix("_s"),
                           names={f"{c}_s": c for c in cols})
    note = (f"Cold cache, {n} emulators, medians of one call on a fresh daemon. The last row is what "
            "each strategy paid at startup before the call: full-caps answers from the virCaps its "
            "startup built, so its call alone is not its cost.")
    if real:
        note += (f" {', '.join(real)}: the binding's call (a fresh connection per value); no daemon "
                 "startup of its own is measured (–).")
    return note + "\n\n" + table


def cold_container(run: Run) -> str:
    """Every strategy's cold-container client at the largest count, and real libvirt beside
    the model of what it ships (the factor of the same run)."""
    from workbench.analysis import next_steps as ns
    from workbench.qemu.strategies import STRATEGIES

    sc = ns.scenario_rows(run.df, [run.path])
    if sc.empty:
        return "- No scenarios in this run."
    trade = ns.tradeoffs(sc, "per-emulator", {}, ns.labels(sc, STRATEGIES))
    t = trade[trade["scenario"] == "cold_container"]
    times = ", ".join(f"{r.strategy} {_fmt(r.last_answer_s)}" for r in t.itertuples())
    lines = [f"- **Cold container** (spawn, get_version, domcapabilities, define) at "
             f"{int(t['n_emulators'].iloc[0])} emulators, to the client's last answer: {times}."]
    conc = ns.conclusions(trade, "per-emulator", STRATEGIES).lines
    start = next((i for i, ln in enumerate(conc) if ln.startswith("- **cold container**")), None)
    if start is not None:
        end = next((i for i in range(start + 1, len(conc)) if not conc[i].startswith("  ")), len(conc))
        lines += ["  " + ln.lstrip() if ln.startswith("  ") else "  - " + ln[2:] for ln in conc[start:end]]
    return "\n".join(lines)


def parallel(run: Run) -> str:
    pf = results.parallel_fidelity(run.df)
    if pf.empty:
        return "- No parallel_scaling in this run."
    w = ", ".join(str(int(x)) for x in pf["workers"])

    def seq(col: str, f: Callable[[float], str]) -> str:
        return ", ".join(f(v) for v in pf[col])
    return (f"- **parallel_scaling** (cold get_capabilities at 30; {w} workers): replays "
            f"{seq('simulated', _fmt)} (speed-up {seq('speedup_simulated', tables.fmt_ratio)}); the real "
            f"binaries {seq('real', _fmt)} (speed-up {seq('speedup_real', tables.fmt_ratio)}); replay / "
            f"real {seq('ratio', tables.fmt_ratio)}.")


def fidelity(run: Run) -> str:
    from workbench.analysis import transcripts
    from workbench.analysis.fidelity import fidelity_table
    from workbench.paths import TRANSCRIPTS_DIR

    rec = transcripts.read(TRANSCRIPTS_DIR)
    recorded = transcripts.per_target(rec, []).sum(axis=1).to_dict() if len(rec.launches) else None
    ft = fidelity_table(run.df, recorded)
    if ft.empty:
        return "- No replay_fidelity on real binaries in this run."
    lines = transcripts.fidelity_lines(ft)
    return "- **Replay fidelity**, whole probe (probe_anatomy): " + lines[0] + "".join(
        "\n  " + ln for ln in lines[1:])


def probe_launch(run: Run) -> str:
    from workbench.analysis import model_vs_reality as mvr
    from workbench.paths import REPO_ROOT, TRANSCRIPTS_DIR

    facts = REPO_ROOT / "data" / "libvirt9" / "facts.json"
    if not facts.is_file():
        return "- No libvirt 9.0 probe facts (data/libvirt9/facts.json)."
    ph = mvr.probe_phases(json.loads(facts.read_text()), mvr.recorded_launches(TRANSCRIPTS_DIR), run.df)
    lines = mvr.phase_conclusions(ph, 0.25)
    return "- **libvirt 9.0 against the model, one probe launch** (model_vs_reality):\n" + "\n".join(
        "  " + ln for ln in lines)


def tracing(run: Run) -> str:
    t = results.tracing_overhead(run.df)
    if t.empty:
        return "- No tracing_overhead in this run."
    parts = [f"{r.strategy} n={int(r.n_emulators)} {r.overhead_s * 1e6:+,.0f} µs ({r.overhead_pct:+.1f}% of "
             f"{_fmt(r.off)})" for r in t.sort_values(["strategy", "n_emulators"]).itertuples()]
    return (f"- **Tracing overhead** (startup, tracing on against off, {t['cache'].iloc[0]}; per "
            f"strategy): " + "; ".join(parts) + ".")


def parse(run: Run) -> str:
    d = run.df[(run.df["benchmark"] == "parse.steady") & (run.df["phase"] == "total")]
    if d.empty:
        return "- No steady parse in this run."
    n = int(d["n_emulators"].max())
    m = d[d["n_emulators"] == n].groupby(["case", "strategy"])["time_s"].median().unstack("strategy")
    m = m.loc[m.mean(axis=1).sort_values().index]
    per = "; ".join(f"{case}: " + ", ".join(f"{s} {_fmt(v)}" for s, v in row.items() if v == v)
                    for case, row in m.iterrows())
    return (f"- **Parse** (steady: the same domain again on a primed driver, warm cache, {n} emulators; "
            f"parse, post-parse, validate and format, per corpus domain, smallest first): {per}. "
            "libvirt's own C parse path for comparison: docs/measured.md (`python -m workbench.libvirt9.parse_time`).")


SECTIONS: dict[str, Callable[[Run], str]] = {
    "conditions": conditions, "sweep_time": sweep_time, "startup_table": startup_table, "headline": headline,
    "headline_mdc": headline_mdc, "apis": apis,
    "cold_container": cold_container, "parallel": parallel, "fidelity": fidelity,
    "probe_launch": probe_launch, "tracing": tracing, "parse": parse,
}


def sections(run_dir: Path, keys=None) -> dict[str, str]:
    run = Run(run_dir)
    return {k: SECTIONS[k](run) for k in (keys if keys is not None else SECTIONS)}


def keys_in(text: str) -> list[str]:
    return [m.group("key") for m in MARKER.finditer(text)]


def render(text: str, generated: dict[str, str], where: str = "README") -> str:
    """text with every marked section replaced by its generated content."""
    unknown = [k for k in keys_in(text) if k not in generated]
    if unknown:
        raise ResultsError(f"{where}: unknown generated section(s) {', '.join(unknown)}; "
                           f"known: {', '.join(SECTIONS)}")
    return MARKER.sub(lambda m: f"<!-- figures:{m['key']} -->\n{generated[m['key']].rstrip()}\n"
                                f"<!-- /figures:{m['key']} -->", text)


def stale(text: str, generated: dict[str, str], where: str = "README") -> list[str]:
    """The marked sections whose text differs from what the run gives."""
    fresh = render(text, generated, where)
    now = {m["key"]: m["body"] for m in MARKER.finditer(text)}
    new = {m["key"]: m["body"] for m in MARKER.finditer(fresh)}
    return [k for k in now if now[k] != new[k]]


def update(readme: Path, run_dir: Path, check: bool = False) -> list[str]:
    """Rewrite readme's marked sections from run_dir (check: only name the stale ones)."""
    text = Path(readme).read_text()
    keys = keys_in(text)
    if not keys:
        raise ResultsError(f"{readme}: no generated sections (<!-- figures:KEY --> ... <!-- /figures:KEY -->)")
    generated = sections(run_dir, [k for k in keys if k in SECTIONS])
    out = stale(text, generated, str(readme))
    if not check and out:
        Path(readme).write_text(render(text, generated, str(readme)))
    return out
