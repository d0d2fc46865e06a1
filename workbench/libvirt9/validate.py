"""`workbench validate`: the model (per-emulator strategy) against the installed libvirt, on the
same binaries.

Four differential checks, each row (check, subject, model, libvirt, agree):
  guests   the guest list of getCapabilities (emulator, domain types, machines in order)
  default  the machine and emulator a minimal domain gets, per arch libvirt finds and virt type
  probe    the QMP command sequence per probe launch (libvirt's own debug log against what the
           model's probe sends)
  define   the verdict (accept, or the error message) for every file of the corpus
A disagreement is deliberate only when workbench/qemu/deviations.py covers it; any other one
makes the run fail. libvirt is driven through virsh (workbench/libvirt9/virsh.py).
"""
from __future__ import annotations

import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lxml import etree

from workbench.errors import UsageError, WorkbenchError, XMLError, sigterm_deferred
from workbench.paths import DOMAINS_DIR
from workbench.qemu import deviations
from workbench.libvirt9 import builds as libvirt_builds, virsh
from workbench.libvirt9.agreement import Agreement, verdict
from workbench.libvirt9.builds import LibvirtBuild

CHECKS = ("guests", "default", "probe", "define")
VIRT_TYPES = ("qemu", "kvm")
MINIMAL = ("<domain type='{vt}'><name>{name}</name><memory>65536</memory>"
           "<os><type arch='{arch}'>hvm</type></os></domain>")


@dataclass(frozen=True)
class Row:
    check: str
    subject: str
    model: str
    libvirt: str
    agree: str  # "yes", "NO", or "deliberate Dn"


@dataclass
class Report(Agreement[Row]):
    install: str
    libvirt_version: str
    modelled: str
    rows: list[Row] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"install": self.install, "libvirt_version": self.libvirt_version,
                "modelled": self.modelled, "counts": self.counts(), "timings_s": self.timings_s,
                "rows": [asdict(r) for r in self.rows]}


# -- the install and the corpus -----------------------------------------------------------
def check_install(install: Path) -> list[Path]:
    if not install.is_dir():
        raise UsageError(f"{install}: not a directory")
    binaries = sorted(p for p in install.glob("qemu-system-*") if p.is_file())
    if not binaries:
        raise UsageError(f"{install}: no qemu-system-* binaries in it")
    return binaries


def corpus_files(corpus: Path) -> list[Path]:
    if not corpus.is_dir():
        raise UsageError(f"{corpus}: not a directory")
    return sorted(corpus.rglob("*.xml"))


# -- libvirt's side -----------------------------------------------------------------------
@dataclass
class Facts:
    guests: dict[str, tuple]                  # arch -> (emulator, types, machines)
    defaults: dict[str, str]                  # "arch/vt" -> "machine @ emulator" or "error: ..."
    probes: dict[str, list[str]]              # "binary[+tcg]" -> command keys
    define: dict[str, str]                    # corpus file -> "accept" or the message


def _guests_from_xml(xml: str) -> dict[str, tuple]:
    root = etree.fromstring(xml.encode())
    out = {}
    for g in root.iterfind("guest"):
        a = g.find("arch")
        machines = tuple((m.text, m.get("canonical"), int(m.get("maxCpus", "0")))
                         for m in a.iterfind("machine"))
        types = tuple(sorted(d.get("type") for d in a.iterfind("domain")))
        out[a.get("name")] = (a.findtext("emulator"), types, machines)
    return out


def _machine_and_emulator(xml: str) -> str:
    root = etree.fromstring(xml.encode())
    t = root.find("os/type")
    return f"{t.get('machine') if t is not None else None} @ {Path(root.findtext('devices/emulator') or '').name}"


def _check_build(build: LibvirtBuild, log_text: str) -> str:
    """The version line of the libvirt that ran; WorkbenchError when its QEMU driver module is
    not `build`'s (a misloaded build never yields rows)."""
    version, module = virsh.loaded_build(log_text)
    where = "/usr/" if build.prefix is None else f"{build.prefix}/"
    if module is None or not module.startswith(where):
        raise WorkbenchError(f"{build.describe()}: libvirt loaded the QEMU driver module "
                             f"{module or '(none logged)'}, not one under {where}")
    return version or "?"


def libvirt_facts(install: Path, files: list[Path], corpus: Path, work: Path,
                  timings: dict[str, float], defaults_too: bool = True,
                  build: LibvirtBuild = libvirt_builds.SYSTEM) -> Facts:
    sess = virsh.Session(install, work / "r", work / "w", build_env=build.env())
    sess.workdir.mkdir(parents=True, exist_ok=True)
    virsh.run_as_self(sess.root)
    log = work / "libvirt.log"
    t0 = time.perf_counter()
    caps_xml = sess.run(["capabilities"], log_file=log)[0]
    timings["libvirt_capabilities_cold"] = time.perf_counter() - t0
    _check_build(build, log.read_text(errors="replace"))
    try:
        guests = _guests_from_xml(caps_xml)
    except etree.XMLSyntaxError:
        raise WorkbenchError(f"virsh capabilities failed: {caps_xml[-500:]}") from None
    probes: dict[str, list[str]] = {}
    for p in virsh.parse_log(log.read_text(errors="replace")):
        probes.setdefault(_probe_key(p.binary, p.force_tcg), p.sequence)
    cmds: list[str] = []
    labels: list[tuple[str, str]] = []
    for arch in (guests if defaults_too else ()):
        for vt in VIRT_TYPES:
            name = f"wbmin-{arch}-{vt}"
            (sess.workdir / f"{name}.xml").write_text(MINIMAL.format(vt=vt, arch=arch, name=name))
            cmds += [f"define {name}.xml", f"dumpxml {name}"]
            labels += [("define-min", f"{arch}/{vt}"), ("dump", f"{arch}/{vt}")]
    for i, f in enumerate(files):
        shutil.copyfile(f, sess.workdir / f"c{i:03d}.xml")
        cmds.append(f"define c{i:03d}.xml")
        labels.append(("define", str(f.relative_to(corpus))))
    t0 = time.perf_counter()
    outs = sess.run(cmds) if cmds else []
    timings["libvirt_defines"] = time.perf_counter() - t0
    defaults: dict[str, str] = {}
    define: dict[str, str] = {}
    for (kind, subject), out in zip(labels, outs):
        err = virsh.error_of(out)
        if kind == "define-min":
            if err is not None:
                defaults[subject] = f"error: {err}"
        elif kind == "dump" and subject not in defaults:
            defaults[subject] = _machine_and_emulator(out)
        elif kind == "define":
            define[subject] = "accept" if err is None else err
    return Facts(guests, defaults, probes, define)


def _probe_key(binary: str, tcg: bool) -> str:
    return Path(binary).name + ("+tcg" if tcg else "")


# -- the model's side ---------------------------------------------------------------------
def model_facts(install: Path, files: list[Path], corpus: Path, arches: list[str], work: Path,
                timings: dict[str, float]) -> Facts:
    from workbench.qemu.domain_parse import parse_domain_xml
    from workbench.qemu.driver import DriverOptions, QemuDriver
    from workbench.qemu.probe import probe

    sequences: dict[str, list[str]] = {}

    def recording_probe(binary: str, **kw):
        seen: list = []
        result = probe(binary, on_exchange=seen.append, **kw)
        i = 0
        for n, ph in enumerate(result.phases):  # split the exchanges among the launches, in order
            mine, i = seen[i:i + len(ph.commands)], i + len(ph.commands)
            sequences.setdefault(_probe_key(binary, n > 0), ["qmp_capabilities"] + [
                virsh.command_key(x.command, x.arguments) for x in mine])
        return result

    t0 = time.perf_counter()
    # libvirt has no emulator allow-list (the trust policy is the workbench's hardening): allow
    # what the install and the corpus name, so the checks compare libvirt's own rules.
    named = {m.decode() for f in files for m in re.findall(rb"<emulator>\s*([^<\s]+)", f.read_bytes())}
    allowed = tuple(sorted(named | {str(p) for p in install.iterdir()}))
    drv = QemuDriver.startup(DriverOptions(str(install), "per-emulator", work / "model-cache",
                                           allowed_emulators=allowed))
    drv.cache.probe_fn = recording_probe
    caps = drv.capabilities(refresh=True)
    timings["model_capabilities_cold"] = time.perf_counter() - t0
    drv.cache.probe_fn = probe  # libvirt's log covers its capabilities call only: so do we
    guests = {g.arch: (g.emulator, tuple(sorted(g.domain_types)),
                       tuple((m.name, m.canonical, m.max_cpus) for m in g.machines))
              for g in caps.guests}

    def verdict(xml: bytes | str, source: str):
        try:
            return parse_domain_xml(drv.parse_context, xml, source=source), None
        except XMLError as e:
            return None, e.message
        except WorkbenchError as e:
            return None, str(e)

    t0 = time.perf_counter()
    defaults = {}
    for arch in arches:
        for vt in VIRT_TYPES:
            d, err = verdict(MINIMAL.format(vt=vt, arch=arch, name=f"wbmin-{arch}-{vt}"), "minimal")
            defaults[f"{arch}/{vt}"] = (f"error: {err}" if d is None else
                                        f"{d.os.machine} @ {Path(d.emulator or '').name}")
    define = {}
    for f in files:
        d, err = verdict(f.read_bytes(), f.name)
        define[str(f.relative_to(corpus))] = "accept" if d is not None else err
    timings["model_defines"] = time.perf_counter() - t0
    return Facts(guests, defaults, sequences, define)


# -- comparing ----------------------------------------------------------------------------
def _guest_text(g: tuple | None) -> str:
    if g is None:
        return "(none)"
    emulator, types, machines = g
    first = machines[0][0] if machines else "-"
    return f"{Path(emulator).name} [{','.join(types)}] {first} +{len(machines) - 1} machines"


def _seq_text(seq: list[str] | None, other: list[str] | None) -> str:
    if seq is None:
        return "(no probe)"
    if other is None or seq == other:
        return f"{len(seq)} commands"
    i = next((i for i, (a, b) in enumerate(zip(seq, other)) if a != b), min(len(seq), len(other)))
    at = seq[i] if i < len(seq) else "(end)"
    return f"{len(seq)} commands; #{i + 1} {at}"


def compare(model: Facts, real: Facts, checks: tuple[str, ...] = CHECKS) -> list[Row]:
    rows: list[Row] = []
    if "guests" in checks:
        for arch in sorted(set(model.guests) | set(real.guests)):
            m, r = model.guests.get(arch), real.guests.get(arch)
            rows.append(Row("guests", arch, _guest_text(m), _guest_text(r),
                            verdict("guests", arch, m == r)))
    if "default" in checks:
        for key in sorted(set(model.defaults) | set(real.defaults)):
            m, r = model.defaults.get(key, "(not asked)"), real.defaults.get(key, "(not asked)")
            rows.append(Row("default", key, m, r, verdict("default", key, m == r)))
    if "probe" in checks:
        for b in sorted(set(model.probes) | set(real.probes)):
            m, r = model.probes.get(b), real.probes.get(b)
            rows.append(Row("probe", b, _seq_text(m, r), _seq_text(r, m), verdict("probe", b, m == r)))
    if "define" in checks:
        for f in sorted(set(model.define) | set(real.define)):
            m, r = model.define.get(f, "(missing)"), real.define.get(f, "(missing)")
            same_verdict = (m == "accept") == (r == "accept")
            rows.append(Row("define", f, m, r, verdict("define", f, m == r, same_verdict)))
    return rows


def validate(install: Path, corpus: Path = DOMAINS_DIR, checks: tuple[str, ...] = CHECKS,
             keep: Path | None = None, build: LibvirtBuild = libvirt_builds.SYSTEM) -> Report:
    """Run libvirt (`build`: the system's or a prefix of scripts/build-libvirt.sh, driven with the
    system's virsh) and the model on `install` and compare; raises LibvirtUnavailable (exit 2)
    when that libvirt cannot be driven here."""
    reason = virsh.unavailable_reason() or build.unavailable_reason()
    if reason is not None:
        raise virsh.LibvirtUnavailable(f"cannot validate against libvirt: {reason}")
    install = install.resolve()
    check_install(install)
    files = corpus_files(corpus) if "define" in checks else []
    work = keep or virsh.short_root()
    work.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        real = libvirt_facts(install, files, corpus, work, timings, "default" in checks, build)
        arches = sorted(real.guests) if "default" in checks else []
        model = model_facts(install, files, corpus, arches, work, timings)
    finally:
        if keep is None:
            with sigterm_deferred():  # removed whole, after everything that worked in it ended
                shutil.rmtree(work, ignore_errors=True)
    timings["total"] = time.perf_counter() - t0
    rows = compare(model, real, checks)
    version = virsh.virsh_version() if build.is_system else f"{virsh.virsh_version()} ({build.label})"
    return Report(str(install), version, deviations.MODELLED, rows,
                  {k: round(v, 2) for k, v in timings.items()})


def compare_builds(reports: list[Report], labels: list[str]) -> list[dict]:
    """Rows where the builds' libvirt answers differ (same install, same checks)."""
    answers = [{(r.check, r.subject): r.libvirt for r in rep.rows} for rep in reports]
    keys = sorted(set().union(*answers))
    out = []
    for key in keys:
        values = [a.get(key, "(missing)") for a in answers]
        if len(set(values)) > 1:
            out.append({"check": key[0], "subject": key[1], **dict(zip(labels, values))})
    return out


def format_table(report: Report, only_differences: bool = False) -> str:
    rows = [r for r in report.rows if not only_differences or r.agree != "yes"]
    head = ("check", "subject", "model", "libvirt", "agree")
    cells = [head] + [(r.check, r.subject, r.model, r.libvirt, r.agree) for r in rows]
    cells = [tuple(c.replace("\n", " ")[:70] for c in row) for row in cells]
    widths = [max(len(row[i]) for row in cells) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    j = report.counts()
    lines.append("")
    lines.append(f"{len(report.rows)} checks against libvirt {report.libvirt_version} "
                 f"(model: {report.modelled}): {j['yes']} agree, {j['deliberate']} deliberate "
                 f"(docs/model.md), {j['NO']} disagree; {report.timings_s.get('total', 0):.1f} s")
    return "\n".join(lines)
