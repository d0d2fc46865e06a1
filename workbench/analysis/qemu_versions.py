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


def oracle_per_file(report: dict) -> pd.DataFrame:
    """`workbench validate --libvirt-tests --json`'s rows as one row per file and check."""
    return pd.DataFrame(per_file_table(report),
                        columns=["file", "check", "aspects", "agree", "deliberate", "differ"])
