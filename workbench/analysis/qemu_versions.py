"""QEMU versions from libvirt 9.0's test data: the oracle check per file, and how much of the
build-constant replies (what schema-reuse keeps per build) changes between consecutive versions.

Computed from the replies files themselves (tests/qemucapabilitiesdata), never timed: the
shares are recorded facts about QEMU releases, not measurements of the workbench.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from workbench.libvirt9.oracle import per_file_table
from workbench.qemu.designs.schema_store import REUSABLE
from workbench.sim import libvirt_replies
from workbench.sim.transcript import command_key

SHARE_COLUMNS = ["arch", "from", "to", "schema_entries_from", "schema_entries_to",
                 "schema_unchanged_share", "schema_identical", "build_constant_replies",
                 "build_constant_unchanged_share", "build_constant_bytes_unchanged_share"]


def _canon(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _build_constant(rf: libvirt_replies.RepliesFile) -> dict[str, str]:
    """The first launch's build-constant replies (schema_store.REUSABLE), by command key."""
    out = {}
    for cmd, rep in rf.launches[0]:
        if cmd["execute"] in REUSABLE:
            out[command_key(cmd["execute"], cmd.get("arguments"))] = _canon(rep.get("return", rep.get("error")))
    return out


def schema_change_shares(tests_dir: Path) -> pd.DataFrame:
    """Per architecture and pair of consecutive QEMU versions in libvirt's data: the share of
    the newer query-qmp-schema's entries found unchanged (same JSON) in the older one, whether
    the whole reply is identical, and the share of the newer version's build-constant replies
    (by command and arguments) that are byte-for-byte the older one's, by count and by bytes."""
    by_arch: dict[str, list[libvirt_replies.RepliesFile]] = {}
    for path in libvirt_replies.replies_files(tests_dir):
        rf = libvirt_replies.parse(path)
        by_arch.setdefault(rf.arch, []).append(rf)
    rows = []
    for arch, files in by_arch.items():
        files.sort(key=lambda f: f.version)
        for old, new in zip(files, files[1:]):
            a, b = _build_constant(old), _build_constant(new)
            schema_old = json.loads(a.get(command_key("query-qmp-schema", None), "[]"))
            schema_new = json.loads(b.get(command_key("query-qmp-schema", None), "[]"))
            old_entries = {_canon(e) for e in schema_old}
            same = sum(_canon(e) in old_entries for e in schema_new)
            unchanged = [k for k in b if a.get(k) == b[k]]
            total_bytes = sum(len(v) for v in b.values()) or 1
            rows.append({"arch": arch, "from": ".".join(map(str, old.version)),
                         "to": ".".join(map(str, new.version)),
                         "schema_entries_from": len(schema_old), "schema_entries_to": len(schema_new),
                         "schema_unchanged_share": round(same / len(schema_new), 3) if schema_new else None,
                         "schema_identical": schema_old == schema_new,
                         "build_constant_replies": len(b),
                         "build_constant_unchanged_share": round(len(unchanged) / len(b), 3) if b else None,
                         "build_constant_bytes_unchanged_share":
                             round(sum(len(b[k]) for k in unchanged) / total_bytes, 3)})
    return pd.DataFrame(rows, columns=SHARE_COLUMNS)


def oracle_report(tests_dir: Path) -> dict:
    """`workbench validate --libvirt-tests DIR --json`, run as its own process (it probes with
    asyncio, which a notebook kernel's running event loop forbids; notebooks never probe)."""
    import subprocess
    import sys

    from workbench.errors import ResultsError

    proc = subprocess.run([sys.executable, "-m", "workbench.cli", "validate", "--libvirt-tests",
                           str(tests_dir), "--json"], capture_output=True, text=True)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise ResultsError(f"validate --libvirt-tests {tests_dir} failed (exit {proc.returncode}): "
                           f"{proc.stderr.strip()[-500:]}") from None


def oracle_per_file(report: dict) -> pd.DataFrame:
    """`workbench validate --libvirt-tests --json`'s rows as one row per file and check."""
    return pd.DataFrame(per_file_table(report),
                        columns=["file", "check", "aspects", "agree", "deliberate", "differ"])


UPGRADE_CASES = ("package_upgrade", "version_upgrade")


def upgrade_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per QEMU mix and strategy: the package-upgrade scenario (same bytes, new ctime) beside
    the version upgrade (the next QEMU version's replies): median seconds to the client's last
    answer, the emulator launches the daemon made, and the rows' source (modelled: borrowed times)."""
    cols = ["qemu", "upgrade", "strategy", "case", "last_answer_s", "launches", "source"]
    if df.empty or "case" not in df or "qemu" not in df:
        return pd.DataFrame(columns=cols)
    mixed = ~df["qemu"].fillna("recorded").isin(["", "recorded"])
    sc = df[(df["benchmark"] == "scenario") & df["case"].isin(UPGRADE_CASES) & mixed]
    if sc.empty:
        return pd.DataFrame(columns=cols)
    sc = sc.assign(upgrade=sc["upgrade"] if "upgrade" in sc else "",  # wb_upgrade of version_upgrade
                   launches=pd.to_numeric(sc["launches"], errors="coerce") if "launches" in sc else float("nan"))
    g = sc.groupby(["qemu", "strategy", "case"], sort=True)
    out = g.agg(last_answer_s=("time_s", "median"), launches=("launches", "median"),
                source=("source", lambda s: "/".join(sorted(set(s))))).reset_index()
    jumps = {q: next((x for x in g["upgrade"] if isinstance(x, str) and x), "")
             for q, g in sc.groupby("qemu")}  # the mix's version jump, for both cases' rows
    out["upgrade"] = out["qemu"].map(jumps)
    return out[cols]


def oracle_summary(report: dict) -> str:
    """The oracle check's counts (`workbench validate --libvirt-tests DIR --json`) as a sentence."""
    c = report["counts"]
    return (f"**{c['yes']} aspects agree, {c['deliberate']} differ deliberately, {c['NO']} differ "
            f"without a deviation.** The workbench derives {report['derived_flags']} of "
            f"libvirt 9.0's {report['libvirt_flags']} live capability flags (only those are compared).")


def schema_change_conclusion(shares: pd.DataFrame) -> str:
    """What schema_change_shares means for a store of build-constant replies: its key must see
    the build, since nearly every release changes those bytes."""
    return ("Between releases almost all of the build-constant bytes change (median share unchanged "
            f"{shares['build_constant_bytes_unchanged_share'].median():.0%}; the schema reply itself was identical in "
            f"{int(shares['schema_identical'].sum())} of {len(shares)} pairs). Schema entries are compared as whole JSON "
            "objects, so QEMU's renumbered implicit type names count as changes. For schema-reuse this means "
            "a store keyed on anything coarser than the build (the version number alone, or the architecture) "
            "would hand out wrong replies after nearly every upgrade; keyed on the binary's bytes, version, package "
            "and module directory, an upgrade is a miss, never a stale hit: its staleness risk lies only in "
            "what the key does not see (docs: workbench/qemu/designs/schema_store.py).")


def _show(*items) -> None:
    from IPython.display import Markdown, display

    for item in items:
        display(Markdown(item) if isinstance(item, str) else item)


def show_oracle(oracle_path: Path, output_dir) -> pd.DataFrame | None:
    """The oracle check per file and its counts, from the committed `validate --libvirt-tests` report."""
    from workbench.analysis import plots, tables

    if not oracle_path.is_file():
        plots.note(f"No {plots.md_literal(oracle_path)}: `workbench validate --libvirt-tests DIR --json > "
                   f"{oracle_path.name}` "
                   "(DIR: libvirt 9.0's tests/, from scripts/fetch-libvirt-source.sh) makes it.")
        return None
    report = json.loads(oracle_path.read_text())
    per_file = oracle_per_file(report)
    _show(tables.show_table(per_file, output_dir, "libvirt_tests", "The workbench's probe on libvirt 9.0's test "
                            "data, per file and check (aspects compared; deliberate = a deviation above)",
                            "recorded (libvirt's replies and what libvirt 9.0 derived from them)",
                            f"data/libvirt9/{oracle_path.name}, from {report['tests_dir']}", time_columns=[], max_rows=15),
          oracle_summary(report))
    return per_file


def show_schema_change(libvirt_tests: Path, output_dir) -> pd.DataFrame | None:
    """schema_change_shares over libvirt's test data and what it means for schema-reuse."""
    from workbench.analysis import plots, tables

    if not (libvirt_tests / "qemucapabilitiesdata").is_dir():
        plots.note(f"libvirt 9.0's test data is not at {plots.md_literal(libvirt_tests)}: scripts/fetch-libvirt-source.sh "
                   "fetches it (the schema comparison below reads it).")
        return None
    shares = schema_change_shares(libvirt_tests)
    _show(tables.show_table(shares, output_dir, "schema_change", "Between consecutive QEMU versions of one "
                            "architecture: the share of query-qmp-schema entries and of the build-constant replies "
                            "(by count and bytes) left unchanged", "recorded (libvirt 9.0's test data)",
                            str(libvirt_tests), time_columns=[], max_rows=25),
          schema_change_conclusion(shares))
    return shares
