"""Fine-grained host capability API designs: the tables of a host_api run and the design it
recommends, computed from the run's values.

Designs (workbench/bench/host_api.py measures them over a daemon socket):
  get_capabilities   today's virConnectGetCapabilities: host + one guest per emulator
  node_caps          host-only capabilities: the whole <host>, one call
  node_caps_flags    one call with flags: only the parts asked for
  per_part           separate calls: one node_get_<part> call per part

Two designs differ in a cell (host, question, memo) only when their interquartile ranges do not
overlap: the run's own spread decides what counts as a tie, not a fixed percentage.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from workbench.analysis import tables

HOST_ORDER = ("vm-2cpu", "desktop-16", "server-2s-64", "server-4s-192", "server-8s-448", "real")
QUESTIONS = ("cpu", "numa", "cpu_numa", "cache_banks", "everything", "mix")
# The parts each question asks for (mirrors workbench.bench.host_api.QUESTIONS).
QUESTION_PARTS = {"cpu": 1, "numa": 1, "cpu_numa": 2, "cache_banks": 1}
TODAY = "get_capabilities"
FINE = ("node_caps", "node_caps_flags", "per_part")
DESIGNS = (TODAY,) + FINE
DESIGN_NAMES = {
    TODAY: "today's virConnectGetCapabilities (host and every guest)",
    "node_caps": "host-only capabilities (the whole <host>, one call)",
    "node_caps_flags": "one call with flags (only the parts asked for)",
    "per_part": "separate calls (one per part)",
}
# Parts of <host> -> the sub-probes (trace spans host.<probe>) that build them.
PART_PROBES = {"cpu": ["cpu", "nodes"], "numa": ["numa"], "caches": ["cache"], "resctrl": ["resctrl"],
               "pages": ["pages"], "iommu": ["iommu"], "power": ["power"], "uuid": ["uuid"],
               "secmodel": ["secmodel"]}
FLAG_SHARE = 0.05  # a part is worth a flag of its own when it is at least 5% of the host probe
PARAMETERS = ("host", "question", "design", "memo", "round_trips", "probe")


def with_parameters(df: pd.DataFrame, run: Path) -> pd.DataFrame:
    """The host_api parameters (wb_host, wb_question, ...) as columns: taken from df when the
    loader already gives them, else read from the run's pyperf files."""
    missing = [p for p in PARAMETERS if p not in df]
    if not missing:
        return df
    from workbench.analysis.results import load_suite, result_files

    meta = {}
    for f in result_files(run):
        for b in load_suite(f).get_benchmarks():
            md = b.get_metadata()
            meta[b.get_name()] = {p: md.get("wb_" + p) for p in missing}
    return df.join(pd.DataFrame.from_dict(meta, orient="index", columns=missing), on="name")


def run_with_host_api(asked: list[Path], committed: Path) -> tuple[Path, str]:
    """The first asked run holding host_api results, else the committed one with a note saying
    why (the report hands every page the same runs; host_api results come from a run of their
    own, `python -m workbench.bench.host_api`, not from the sweep)."""
    from workbench.analysis import plots
    from workbench.analysis.results import load_run
    from workbench.paths import REPO_ROOT

    with_host_api = [r for r in asked if r.is_dir() and load_run(r)["benchmark"].isin(["host_api", "host_probe"]).any()]
    if with_host_api:
        return with_host_api[0], ""
    if not asked:
        return committed, ""
    return committed, (f"The run(s) given ({', '.join(plots.md_literal(r) for r in asked)}) have no host_api results "
                       f"(they come from `python -m workbench.bench.host_api`, not the sweep). **This page "
                       f"shows the committed run `{committed.relative_to(REPO_ROOT)}` instead.**")


def run_line(run: Path, df: pd.DataFrame, hosts: list[str], machine: dict) -> str:
    """What the run holds and where it was made, as the page's first sentence."""
    from workbench.analysis import plots

    m, md = machine, plots.md_text  # file contents and names: shown, never live
    return (f"Run {plots.md_literal(run.name)}: {len(df):,} values of {df['name'].nunique()} benchmarks; host "
            f"shapes {', '.join(md(h) for h in hosts)}" + (f"; made on {md(m.get('cpu_model'))} ({md(m.get('cores'))} "
            f"cores), {md(m.get('os'))}, Python {md(m.get('python'))}" if m.get("cpu_model") else "") + ".")


def latency_on(lat: pd.DataFrame, host: str) -> pd.DataFrame:
    """question_latency on one host: (question, memo) rows, a design per column (median s)."""
    return lat[lat["host"] == host].pivot_table(index=["question", "memo"], columns="design",
                                                values="median_s", observed=True)


def ratio_on(ratio: pd.DataFrame, host: str) -> pd.DataFrame:
    """best_against_today on one host, indexed by (question, memo)."""
    return ratio[ratio["host"] == host].set_index(["question", "memo"])[
        ["best_design", "best_s", "get_capabilities_warm_s", "ratio_to_warm", "ratio_to_cold"]]


def hosts_in(df: pd.DataFrame) -> list[str]:
    present = set(df["host"].dropna())
    return [h for h in HOST_ORDER if h in present] + sorted(present - set(HOST_ORDER))


def largest_simulated(hosts: list[str]) -> str:
    """The largest simulated host shape (the real host is whatever machine ran the benchmark)."""
    sim = [h for h in hosts if h != "real"]
    return sim[-1] if sim else hosts[-1]


def probe_cost(df: pd.DataFrame, hosts: list[str]) -> pd.DataFrame:
    """Median seconds of each host sub-probe (rows, most expensive first) per host (columns),
    with a last row `all (sum)`."""
    sp = df[df["benchmark"] == "host_probe"]
    cost = sp.groupby(["probe", "host"])["time_s"].median().unstack("host").reindex(columns=hosts)
    cost = cost.loc[cost.max(axis=1).sort_values(ascending=False).index]
    cost.loc["all (sum)"] = cost.sum()
    return cost.rename_axis("sub-probe")


def question_latency(df: pd.DataFrame, hosts: list[str]) -> pd.DataFrame:
    """One row per (host, question, design, memo): median, Q1, Q3 of the client's latency in
    seconds (warm caps cache), its round trips, and get_capabilities' cold median on that host.
    get_capabilities and node_caps answer every question with one call: their `any` rows are
    repeated under each question (same_call_for_every_question)."""
    api = df[df["benchmark"] == "host_api"]
    warm = api[api["cache"] == "warm"]
    keys = ["host", "question", "design", "memo"]
    g = warm.groupby(keys)["time_s"]
    lat = pd.DataFrame({"median_s": g.median(), "q1_s": g.quantile(0.25), "q3_s": g.quantile(0.75),
                        "round_trips": pd.to_numeric(warm.groupby(keys)["round_trips"].first())}
                       ).reset_index()
    same = lat[lat["question"] == "any"]
    rows = [lat[lat["question"] != "any"].assign(same_call_for_every_question=False)]
    rows += [same.assign(question=q, round_trips=1.0, same_call_for_every_question=True) for q in QUESTIONS]
    lat = pd.concat(rows, ignore_index=True)
    cold = api[api["cache"] == "cold"].groupby("host")["time_s"].median().rename("get_capabilities_cold_s")
    lat = lat.join(cold, on="host")
    lat["host"] = pd.Categorical(lat["host"], hosts, ordered=True)
    lat["provenance"] = ["measured (mix weights: model)" if q == "mix" else "measured" for q in lat["question"]]
    return lat.sort_values(["question", "memo", "host", "design"]).reset_index(drop=True)


def best_against_today(lat: pd.DataFrame) -> pd.DataFrame:
    """Per (question, memo, host): the fastest fine-grained design and its median against
    get_capabilities' warm and cold medians (ratio below 1: faster than today)."""
    fine = lat[lat["design"] != TODAY]
    best = fine.loc[fine.groupby(["question", "memo", "host"], observed=True)["median_s"].idxmin()]
    today = lat[lat["design"] == TODAY].set_index(["question", "memo", "host"])["median_s"]
    r = best.set_index(["question", "memo", "host"])[["design", "median_s", "round_trips",
                                                      "get_capabilities_cold_s"]]
    r = r.rename(columns={"design": "best_design", "median_s": "best_s"})
    r["get_capabilities_warm_s"] = today
    r["ratio_to_warm"] = r["best_s"] / r["get_capabilities_warm_s"]
    r["ratio_to_cold"] = r["best_s"] / r["get_capabilities_cold_s"]
    r = r.reset_index()
    r["provenance"] = ["measured (mix weights: model)" if q == "mix" else "measured" for q in r["question"]]
    return r


def flag_value(cost: pd.DataFrame, lat: pd.DataFrame, hosts: list[str]) -> pd.DataFrame:
    """Per part of <host>: its share of the host probe per host (share_<host>), the measured
    speed-up of asking for it alone with flags over the whole <host> (speedup_alone_<host>,
    memo off; only the parts a question asks alone), the largest share and whether it is worth a
    flag (a share of at least FLAG_SHARE on some host)."""
    total = cost.loc["all (sum)"]
    share = pd.DataFrame({p: cost.reindex(ps).sum() / total for p, ps in PART_PROBES.items()}).T
    share = share.reindex(columns=hosts)
    off = lat[lat["memo"] == "off"]
    whole = off[(off["design"] == "node_caps") & (off["question"] == "cpu")].set_index("host")["median_s"]
    out = share.add_prefix("share_")
    for q, part in (("cpu", "cpu"), ("numa", "numa"), ("cache_banks", "caches")):
        flags = off[(off["design"] == "node_caps_flags") & (off["question"] == q)].set_index("host")["median_s"]
        for h in hosts:
            out.loc[part, f"speedup_alone_{h}"] = whole.get(h, float("nan")) / flags.get(h, float("nan"))
    out["max_share"] = share.max(axis=1)
    out["worth_a_flag"] = out["max_share"] >= FLAG_SHARE
    return out.rename_axis("part")


def flag_value_shown(fv: pd.DataFrame, hosts: list[str]) -> pd.DataFrame:
    """The page's view of flag_value: share per host (%), best speed-up alone, verdict."""
    shown = pd.DataFrame({f"{h}_pct": fv[f"share_{h}"] * 100 for h in hosts})
    speed = [c for c in fv if c.startswith("speedup_alone_")]
    shown["best_speedup_alone_ratio"] = fv[speed].max(axis=1) if speed else float("nan")
    shown["worth_a_flag"] = fv["worth_a_flag"]
    return shown


# -- the recommendation --------------------------------------------------------------------
SAME_WORK = ("cpu", "numa", "cache_banks")  # one part: flags and per_part make one call each


def noise_margin(lat: pd.DataFrame, memo: str) -> float:
    """How far two designs doing identical work differ in this run: node_caps_flags and per_part
    both make one call for one part on the one-part questions, so their ratio would be 1 on a
    quiet machine. The upper quartile of |log ratio| over hosts and questions, as a fraction
    (0.17: 17%); differences below it are ties."""
    import math

    d = lat[(lat["memo"] == memo) & lat["question"].isin(SAME_WORK)]
    w = d.pivot_table(index=["host", "question"], columns="design", values="median_s", observed=True)
    if not {"node_caps_flags", "per_part"} <= set(w.columns):
        return 0.0
    logs = (w["node_caps_flags"] / w["per_part"]).dropna().map(lambda r: abs(math.log(r)))
    return math.exp(float(logs.quantile(0.75))) - 1 if len(logs) else 0.0


@dataclass(frozen=True)
class Cell:
    """One (host, question) at one memo setting: the designs tied with the fastest one."""
    host: str
    question: str
    best: str
    tied: tuple[str, ...]          # within the noise margin of the fastest median, or IQRs overlap
    median_s: dict[str, float]


def cells(lat: pd.DataFrame, memo: str, margin: float, designs: tuple[str, ...] = FINE) -> list[Cell]:
    """Every (host, question) cell of one memo setting among `designs`."""
    out = []
    d = lat[(lat["memo"] == memo) & lat["design"].isin(designs)]
    for (host, q), g in d.groupby(["host", "question"], observed=True, sort=True):
        g = g.set_index("design")
        best = str(g["median_s"].idxmin())
        tied = tuple(x for x in designs if x in g.index and (
            g.loc[x, "median_s"] <= g.loc[best, "median_s"] * (1 + margin)
            or g.loc[x, "q1_s"] <= g.loc[best, "q3_s"]))
        out.append(Cell(str(host), str(q), best, tied, g["median_s"].to_dict()))
    return out


@dataclass(frozen=True)
class DesignScore:
    design: str
    best_or_tied: int        # cells where it is the fastest or tied with the fastest
    cells: int
    worst_ratio: float       # its median / the fastest median, at its worst cell
    worst_cell: str


def scores(cs: list[Cell], designs: tuple[str, ...] = FINE) -> list[DesignScore]:
    """Designs ordered by how often they are best or tied, then by their worst case."""
    out = []
    for d in designs:
        mine = [c for c in cs if d in c.median_s]
        if not mine:
            continue
        ratios = [(c.median_s[d] / c.median_s[c.best], f"{c.question} on {c.host}") for c in mine]
        worst = max(ratios)
        out.append(DesignScore(d, sum(d in c.tied for c in mine), len(mine), worst[0], worst[1]))
    return sorted(out, key=lambda s: (-s.best_or_tied / s.cells, s.worst_ratio))


def tied_counts(cs: list[Cell], key: str) -> dict[str, dict[str, tuple[int, int]]]:
    """Per host (key="host") or question (key="question"): per design, (cells best or tied, cells)."""
    groups: dict[str, list[Cell]] = {}
    for c in cs:
        groups.setdefault(getattr(c, key), []).append(c)
    return {k: {d: (sum(d in c.tied for c in g), sum(d in c.median_s for c in g)) for d in FINE}
            for k, g in groups.items()}


def savings(lat: pd.DataFrame, design: str, memo: str = "off") -> pd.DataFrame:
    """Per question: the design's median against get_capabilities warm and cold, the smallest
    and largest over the hosts (seconds and ratios today / design)."""
    d = lat[lat["memo"] == memo]
    mine = d[d["design"] == design].set_index(["question", "host"])["median_s"]
    today = d[d["design"] == TODAY].set_index(["question", "host"])
    both = pd.DataFrame({"design_s": mine, "warm_s": today["median_s"],
                         "cold_s": today["get_capabilities_cold_s"]}).dropna(subset=["design_s", "warm_s"])
    both["saved_warm_s"] = both["warm_s"] - both["design_s"]
    both["warm_over_design"] = both["warm_s"] / both["design_s"]
    both["cold_over_design"] = both["cold_s"] / both["design_s"]
    g = both.groupby(level="question", sort=False)
    out = pd.DataFrame({"design_min_s": g["design_s"].min(), "design_max_s": g["design_s"].max(),
                        "saved_warm_min_s": g["saved_warm_s"].min(), "saved_warm_max_s": g["saved_warm_s"].max(),
                        "warm_ratio_min": g["warm_over_design"].min(), "warm_ratio_max": g["warm_over_design"].max(),
                        "cold_ratio_min": g["cold_over_design"].min(), "cold_ratio_max": g["cold_over_design"].max()})
    return out.reindex([q for q in QUESTIONS if q in out.index]).rename_axis("question").reset_index()


def extra_call_s(lat: pd.DataFrame) -> float:
    """per_part's extra time per extra call: (per_part - flags) / (calls - 1) for cpu_numa, the
    median over hosts, memo on (the parts themselves cost next to nothing there)."""
    d = lat[(lat["question"] == "cpu_numa") & (lat["memo"] == "on")]
    w = d.pivot_table(index="host", columns="design", values="median_s", observed=True)
    if not {"node_caps_flags", "per_part"} <= set(w.columns):
        return float("nan")
    return float(((w["per_part"] - w["node_caps_flags"]) / (QUESTION_PARTS["cpu_numa"] - 1)).median())


@dataclass
class Recommendation:
    """The design the run recommends and the evidence, as numbers and as sentences."""
    design: str
    margin: float                                    # the noise margin ties were judged with
    scores: list[DesignScore]
    by_host: dict[str, dict[str, tuple[int, int]]]
    by_question: dict[str, dict[str, tuple[int, int]]]
    savings: pd.DataFrame
    memo_on: list[DesignScore]
    extra_call_s: float
    flags_worth: list[str]
    flags_cheap: list[str]
    lines: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        return "\n".join(self.lines)


def write_recommendation(rec: "Recommendation", out: Path) -> None:
    """recommendation.md and recommendation_savings.csv into out, beside the page's tables."""
    (out / "recommendation.md").write_text("# Recommendation (measured; mix weights are a model)\n\n"
                                           + rec.markdown() + "\n")
    rec.savings.assign(design=rec.design, provenance="measured (mix weights: model)").to_csv(
        out / "recommendation_savings.csv", index=False)


def _counts(c: dict[str, tuple[int, int]]) -> str:
    ordered = sorted(c.items(), key=lambda kv: -kv[1][0] / max(kv[1][1], 1))
    return ", ".join(f"`{d}` {k} of {n}" for d, (k, n) in ordered if n)


def _caller(q: str) -> str:
    parts = QUESTION_PARTS.get(q)
    if parts:
        return f"{q} ({parts} part{'s' if parts > 1 else ''})"
    return "everything (every part)" if q == "everything" else "the mix (assumed weights)"


def recommend(lat: pd.DataFrame, fv: pd.DataFrame) -> Recommendation:
    """The design to build, for which hosts and callers, what it saves against
    virConnectGetCapabilities and what would change the answer. Judged on the memo-off cells
    (libvirt probes the host on every call today); memo on is the what-if."""
    fmt, ratio = tables.fmt_duration, tables.fmt_ratio
    margin = noise_margin(lat, "off")
    off = cells(lat, "off", margin)
    sc = scores(off)
    design, top = sc[0].design, sc[0]
    by_host = tied_counts([c for c in off if c.question != "mix"], "host")
    by_question = tied_counts(off, "question")
    save = savings(lat, design)
    on = scores(cells(lat, "on", noise_margin(lat, "on")))
    extra = extra_call_s(lat)
    worth = [str(p) for p in fv.index if fv.loc[p, "worth_a_flag"]]
    cheap = [str(p) for p in fv.index if not fv.loc[p, "worth_a_flag"]]
    lines = [f"**Recommendation: {DESIGN_NAMES[design]}, `{design}`.** With memo off (libvirt "
             f"probes the host on every call) it is the fastest design or tied with it in "
             f"**{top.best_or_tied} of {top.cells}** (host, question) cells; at its worst "
             f"({top.worst_cell}) it takes {ratio(top.worst_ratio)} the fastest median.",
             f"Tied means within {margin:.0%} of the fastest median (the run's own noise: two "
             "designs doing identical work, one call for one part, differ by up to that in three "
             "of four cells) or overlapping interquartile ranges.", ""]
    for s in sc[1:]:
        lines.append(f"- `{s.design}`, {DESIGN_NAMES[s.design]}: best or tied in {s.best_or_tied} of "
                     f"{s.cells}; at its worst {ratio(s.worst_ratio)} the fastest ({s.worst_cell}).")
    lines += ["", "**Per host shape** (questions on which each design is best or tied; the mix left out):"]
    lines += [f"- {h}: {_counts(c)}" for h, c in by_host.items()]
    lines += ["", "**Per caller** (hosts on which each design is best or tied):"]
    lines += [f"- {_caller(q)}: {_counts(by_question[q])}" for q in QUESTIONS if q in by_question]
    lines += ["", f"**What `{design}` saves against today's virConnectGetCapabilities** (30 emulators "
              "installed; range over the host shapes):"]
    for r in save.itertuples():
        lines.append(f"- {_caller(r.question)}: {fmt(r.design_min_s)} to {fmt(r.design_max_s)} per "
                     f"question; get_capabilities takes {ratio(r.warm_ratio_min)} to "
                     f"{ratio(r.warm_ratio_max)} as long with its cache warm ({fmt(r.saved_warm_min_s)} "
                     f"to {fmt(r.saved_warm_max_s)} more per call) and {ratio(r.cold_ratio_min)} to "
                     f"{ratio(r.cold_ratio_max)} as long on a fresh daemon (cold cache).")
    lines += ["", "**What would change the answer:**"]
    if on:
        lines.append(f"- Memoised sub-probes (memo on): `{on[0].design}` would lead (best or tied in "
                     f"{on[0].best_or_tied} of {on[0].cells})"
                     + ("; the same answer." if on[0].design == design else "; a different answer."))
    if extra == extra:
        lines.append(f"- Round trips: each extra call of `per_part` costs {fmt(extra)} here (cpu_numa, "
                     "memo on, median over hosts). For one-part callers separate calls and flags make "
                     "the same one call; for callers asking several parts separate calls lose by that "
                     "much per part, so they would tie only where a call costs next to nothing (an "
                     "in-process driver rather than a socket).")
    lines.append(f"- Host shapes: a flag pays for a part that is a share of the host probe; here "
                 f"{', '.join(worth) or 'none'} reach {FLAG_SHARE:.0%} on some shape, "
                 f"{', '.join(cheap) or 'none'} never do (flags for them would save nothing). Where "
                 "`node_caps` is tied with the flags design, host-only capabilities without flags would do.")
    single = {q: by_question[q] for q in QUESTIONS if q in by_question and q != "mix"}
    lost = [q for q, c in single.items() if c[design][0] < c[design][1]]
    if not lost:
        lines.append(f"- Client mix: `{design}` is best or tied for every caller on every host, so no "
                     "weighting of the mix (its weights are assumed) changes the answer.")
    else:
        lines.append(f"- Client mix (its weights are assumed): `{design}` is not best or tied on every "
                     f"host for {', '.join(lost)}; a mix of mostly those callers could favour another "
                     "design on those hosts (see the counts per caller above).")
    lines.append("- Noise: this run is one worker process per benchmark on a shared machine; a quieter "
                 "run with more processes narrows the margin and can split ties.")
    return Recommendation(design, margin, sc, by_host, by_question, save, on, extra, worth, cheap, lines)
