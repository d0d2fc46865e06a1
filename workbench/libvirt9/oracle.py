"""`workbench validate --libvirt-tests DIR`: libvirt 9.0's own test data as the oracle.

Each `DIR/qemucapabilitiesdata/caps_<qemu>.<arch>.replies` becomes a replaying emulator (no
delays; query-kvm as the file says) probed by the workbench's probe. Compared per file:
  caps     the probe's command sequence against the file's (launch by launch), then what it
           keeps against libvirt's `caps_<qemu>.<arch>.xml` (workbench.libvirt9.oracle_caps)
  domcaps  get_domain_capabilities against every `DIR/domaincapsdata/qemu_<qemu>*.<arch>.xml`
           on the elements the workbench formats (workbench.libvirt9.oracle_domcaps)
A difference is deliberate only when workbench/qemu/deviations.py covers
"caps|domcaps:<file>:<aspect>"; any other fails the run.
"""
from __future__ import annotations

import gzip
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workbench.errors import UsageError, WorkbenchError
from workbench.libvirt9 import flag_tables, oracle_caps, oracle_domcaps
from workbench.libvirt9.agreement import Agreement, verdict
from workbench.libvirt9.oracle_caps import Row
from workbench.paths import TRANSCRIPTS_DIR
from workbench.qemu import deviations
from workbench.qemu.capsdata import QemuCaps
from workbench.qemu.probe import COMMAND_FLAGS, TYPE_FLAGS, probe
from workbench.sim import libvirt_replies
from workbench.sim.install import write_emulator
from workbench.sim.transcript import command_key


@dataclass
class OracleReport(Agreement[Row]):
    tests_dir: str
    modelled: str
    libvirt_flags: int = 0        # libvirt 9.0's live capability flags
    derived_flags: int = 0        # of those, how many the workbench derives at all
    unformatted_elements: dict[str, int] = field(default_factory=dict)  # domcaps file -> count
    rows: list[Row] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"tests_dir": self.tests_dir, "modelled": self.modelled, "counts": self.counts(),
                "libvirt_flags": self.libvirt_flags, "derived_flags": self.derived_flags,
                "unformatted_elements": self.unformatted_elements,
                "rows": [asdict(r) for r in self.rows]}


def run(tests_dir: Path, transcripts_dir: Path = TRANSCRIPTS_DIR) -> OracleReport:
    tests_dir = Path(tests_dir)
    files = libvirt_replies.replies_files(tests_dir)
    tables = flag_tables.read(tests_dir.parent)
    derived = flag_tables.derivable(COMMAND_FLAGS, TYPE_FLAGS, tables)
    report = OracleReport(str(tests_dir), deviations.MODELLED, len(tables.live), len(derived))
    work = Path(tempfile.mkdtemp(prefix="workbench-oracle-"))
    caps_by_label: dict[str, QemuCaps] = {}
    try:
        for path in files:
            rf = libvirt_replies.parse(path)
            caps = _probe_replies(rf, work, transcripts_dir, report)
            if caps is None:
                continue
            caps_by_label[rf.label] = caps
            root = oracle_caps.read_caps_xml(path.with_suffix(".xml"))
            for aspect, model, libvirt in oracle_caps.compare(rf.label, caps, root, tables, derived):
                _add(report, "caps", rf.label, aspect, model, libvirt)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for path, version, arch in oracle_domcaps.domcaps_files(tests_dir):
        caps = caps_by_label.get(f"{version}.{arch}")
        if caps is None:
            continue  # no replies file for it, or its probe failed (a row says so)
        compared, unformatted = oracle_domcaps.compare(path, caps)
        report.unformatted_elements[path.name] = unformatted
        for aspect, model, libvirt in compared:
            _add(report, "domcaps", path.name, aspect, model, libvirt)
    return report


def _probe_replies(rf: libvirt_replies.RepliesFile, work: Path, transcripts_dir: Path,
                   report: OracleReport) -> QemuCaps | None:
    tr = libvirt_replies.to_transcript(rf, libvirt_replies.timing_transcript(rf.arch, transcripts_dir),
                                       kvm_as_recorded=True)
    binary = work / f"qemu-system-{rf.arch}"
    write_emulator(binary, gzip.compress(json.dumps(tr.to_json()).encode()), "none")
    sent: list[str] = []
    try:
        # teardown does not enter the comparison: end each launch at once (pidfd)
        result = probe(str(binary), teardown="pidfd",
                       on_exchange=lambda ex: sent.append(command_key(ex.command, ex.arguments)))
    except WorkbenchError as e:
        _add(report, "caps", rf.label, "probe", f"failed: {e}", "probed", force=False)
        return None
    expected = [k for i in range(len(rf.launches)) for k in rf.commands(i)]
    got = [k for k in sent if not k.startswith("qmp_capabilities\0")]
    _add(report, "caps", rf.label, "sequence", got, expected)
    return result.caps


def _add(report: OracleReport, check: str, file: str, aspect: str, model: object, libvirt: object,
         force: bool | None = None) -> None:
    same = (model == libvirt) if force is None else force
    agree = verdict(check, f"{file}:{aspect}", same)
    detail = "" if same else _detail(aspect, model, libvirt)
    report.rows.append(Row(file, check, aspect, oracle_caps.summary(model),
                           oracle_caps.summary(libvirt), agree, detail))


def _detail(aspect: str, model: object, libvirt: object) -> str:
    if aspect == "sequence" and isinstance(model, list) and isinstance(libvirt, list):
        i = next((i for i, (a, b) in enumerate(zip(model, libvirt)) if a != b), min(len(model), len(libvirt)))
        show = lambda seq: seq[i].replace("\0", " ") if i < len(seq) else "(end)"  # noqa: E731
        return f"first difference at command {i + 1}: probe sent {show(model)}, libvirt's file has {show(libvirt)}"
    return oracle_caps.difference(model, libvirt)


def format_table(report: OracleReport, only_differences: bool = True) -> str:
    rows = [r for r in report.rows if not (only_differences and r.agree == "yes")]
    c = report.counts()
    lines = [f"libvirt's test data: {report.tests_dir} (model: {report.modelled})",
             f"capability flags: the workbench derives {report.derived_flags} of libvirt 9.0's "
             f"{report.libvirt_flags} live flags (only those are compared)",
             f"domain capabilities: {sum(report.unformatted_elements.values())} element paths over "
             f"{len(report.unformatted_elements)} files that the workbench does not format (not compared)"]
    if rows:
        w = max(len(r.file) for r in rows)
        lines.append(f"{'file':<{w}}  {'check':<7}  {'aspect':<24}  {'agree':<13}  detail")
        lines += [f"{r.file:<{w}}  {r.check:<7}  {r.aspect:<24}  {r.agree:<13}  {r.detail[:160]}" for r in rows]
    lines.append(f"{len(report.rows)} aspects: {c['yes']} agree, {c['deliberate']} deliberate "
                 f"(docs/model.md), {c['NO']} differ")
    return "\n".join(lines)


def per_file_table(report: dict) -> list[dict]:
    """One row per file and check from `validate --libvirt-tests --json` output: aspects
    compared, agreeing, deliberate, differing (the notebook's per-file table)."""
    out: dict[tuple[str, str], dict] = {}
    for r in report.get("rows", []):
        row = out.setdefault((r["file"], r["check"]), {"file": r["file"], "check": r["check"],
                                                       "aspects": 0, "agree": 0, "deliberate": 0, "differ": 0})
        row["aspects"] += 1
        kind = r["agree"].split()[0]
        row[{"yes": "agree", "NO": "differ"}.get(kind, "deliberate")] += 1
    return list(out.values())


def check_tests_dir(path: Path) -> Path:
    path = Path(path)
    if not (path / libvirt_replies.CAPS_DIR).is_dir():
        raise UsageError(f"{path}: not libvirt's tests/ directory (no {libvirt_replies.CAPS_DIR}/); "
                         f"scripts/fetch-libvirt-source.sh fetches the source and prints its path")
    return path
