"""Capabilities shipped with the emulator, made when the package is built (strategy prebuilt).

Where: `<bindir>/qemu-caps/<binary name>.xml` beside the binaries it describes, or
`$WORKBENCH_PREBUILT_DIR/<binary name>.xml` (a distro would point it at /usr/share/qemu/caps).
A directory beside the binary travels with the package, needs no configuration, and is not
matched by the `qemu-system-*` search; the override exists because distros keep data out of bin.

What: `replies/`, the build-constant QMP replies of each binary (qemu/designs/schema_store.py's format,
host-independent, so valid on any host: a probe that must still run, e.g. of a native emulator
on a KVM host, skips those commands), and one `<prebuiltCaps>` per binary, holding the package's QEMU version and package string,
the sha256 of the binary, the workbench cache format version, and a `<qemuCaps>` probed at
build time with KVM taken as unusable (a build machine's KVM, kernel and microcode say nothing
about the host the package lands on).

Validation, like a cache entry: the digest must equal the installed binary's (then the entry
takes the binary's path and current ctime: installing a package changes ctimes, not bytes), and
then the cache's own rules apply (format version; for native arches KVM usability, kernel and
microcode). So on a host with usable KVM the native emulators fall back to a probe, while every
foreign-arch emulator (TCG only) is served from the file. Anything missing, unreadable,
malformed or mismatched falls back to a probe.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from workbench.errors import CorruptFile
from workbench import trace
from workbench.qemu.capsdata import SELF_VERSION, QemuCaps
from workbench.qemu.designs.schema_store import binary_digest

PREBUILT_ENV = "WORKBENCH_PREBUILT_DIR"
SUBDIR = "qemu-caps"


def shipped_replies(binary: str) -> Path:
    """Where the package's build-constant replies for `binary` are (a ReplyStore's `shipped`)."""
    return prebuilt_path(binary).parent / "replies"


def prebuilt_path(binary: str) -> Path:
    root = os.environ.get(PREBUILT_ENV)
    name = os.path.basename(binary) + ".xml"
    return Path(root) / name if root else Path(binary).parent / SUBDIR / name


def load_prebuilt(binary: str) -> QemuCaps | None:
    """The shipped caps of `binary` if they are for these exact bytes, else None (probe)."""
    path = prebuilt_path(binary)
    with trace.span("prebuilt.load", binary=binary) as sp:
        try:
            data = path.read_bytes()
        except OSError:
            sp.set(outcome="missing")
            return None
        try:
            parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
            root = etree.fromstring(data, parser)
            inner = root.find("qemuCaps")
            if root.tag != "prebuiltCaps" or inner is None:
                raise CorruptFile("not a <prebuiltCaps> file")
            caps = QemuCaps.from_xml(etree.tostring(inner))
        except (etree.XMLSyntaxError, ValueError) as e:
            trace.count("prebuilt.bad")
            sp.set(outcome=f"bad: {e}")
            return None
        try:
            if root.get("sha256") != binary_digest(binary) or root.get("selfvers") != SELF_VERSION:
                trace.count("prebuilt.mismatch")
                sp.set(outcome="mismatch")
                return None
            caps.binary, caps.ctime_ns = binary, os.stat(binary).st_ctime_ns
        except OSError:
            return None
        caps.probe_launches = 0  # nothing was launched on this host
        trace.count("prebuilt.used")
        sp.set(outcome="used")
        return caps


@dataclass
class Built:
    binary: str
    path: Path | None
    error: str | None = None


def build_prebuilt(bindir: Path, timeout_s: float = 30.0) -> list[Built]:
    """What a packager runs at build time: probe every qemu-system-* in `bindir` (KVM taken as
    unusable) and write `bindir/qemu-caps/` whole, atomically; an existing one is replaced."""
    from workbench.errors import ProbeError
    from workbench.qemu.probe import probe
    from workbench.qemu.designs.schema_store import ReplyStore

    bindir = Path(bindir).absolute()
    binaries = sorted(p for p in bindir.glob("qemu-system-*") if p.is_file() and os.access(p, os.X_OK))
    tmp = Path(tempfile.mkdtemp(prefix=f".{SUBDIR}-", dir=bindir))
    store = ReplyStore(tmp / "replies")
    out: list[Built] = []
    try:
        for b in binaries:
            try:
                result = probe(str(b), kvm_usable=False, command_timeout_s=timeout_s,
                               launch_timeout_s=timeout_s, known_replies=store.known_for(str(b)))
            except ProbeError as e:
                out.append(Built(str(b), None, str(e)))
                continue
            store.remember(result)
            caps = result.caps
            root = etree.Element("prebuiltCaps", sha256=binary_digest(str(b)), version=str(caps.version),
                                 package=caps.package, selfvers=SELF_VERSION)
            root.append(etree.fromstring(caps.to_xml()))
            (tmp / f"{b.name}.xml").write_bytes(etree.tostring(root, pretty_print=True))
            out.append(Built(str(b), bindir / SUBDIR / f"{b.name}.xml"))
        os.chmod(tmp, 0o755)
        final = bindir / SUBDIR
        if final.exists():
            old = final.with_name(f".{SUBDIR}-old-{os.getpid()}")
            os.rename(final, old)
            shutil.rmtree(old, ignore_errors=True)
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
