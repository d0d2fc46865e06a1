"""Build-constant QMP replies, kept on disk and reused by every probe of the same QEMU build.

A QEMU build is identified by the sha256 of its binary file, confirmed by the version and
package string query-version reports, plus a stamp of QEMU's module directory: the module .so
files add QOM types and devices without the binary changing. The stamp hashes each module
file's name, size and mtime (package managers keep a packaged file's mtime, so a store made at
package build time still matches after installation, which a directory mtime would not). Hashing is cheap next to a probe (measured here: 27 ms for the 18 MiB real
qemu-system-x86_64, against ~0.3 s or more for its probe), and memoised per (inode, size,
mtime, ctime), so a process hashes each binary once until the file changes.

What is reused: only replies fixed when QEMU is compiled (and its modules installed), which
neither the host, the accelerator nor the running kernel change: query-qmp-schema (about half
of a probe's command time), qom-list-types, device-list-properties, qom-list-properties,
query-tpm-models, query-tpm-types, query-command-line-options, query-migrate-capabilities.
Always asked: query-version and query-target (they name the build), query-commands (cheap,
and gates the rest), and everything host- or accelerator-dependent: query-kvm,
query-machines, query-cpu-definitions (unavailable features depend on the host CPU),
query-cpu-model-expansion, query-gic-capabilities, query-sev-capabilities.

Staleness risk: a reused reply is wrong only if the same bytes, version, package and module
dir stamp answer differently: a module installed or removed outside the module dir checked
(another libdir, a plugin path), a QEMU that reads a config file or environment variable that
changes what it registers, or a store file edited or corrupted on disk (a file that does not
parse is ignored and rewritten). A repackaged build with identical bytes is the same build and
is meant to hit. A real QEMU upgrade changes the bytes: the store then misses, and only the
probe's own reply is stored for the next time.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from workbench.errors import CorruptFile
from workbench import trace

# Every strategy module is imported when the daemon starts: the QMP client (qemu.qmp, asyncio)
# is imported only when a reply is handed out, as the prober imports it on the first probe.

REUSABLE = ("query-qmp-schema", "qom-list-types", "device-list-properties", "qom-list-properties",
            "query-tpm-models", "query-tpm-types", "query-command-line-options",
            "query-migrate-capabilities")
MODDIR_ENV = "WORKBENCH_QEMU_MODDIR"

_digests: dict[tuple, str] = {}
_digest_lock = threading.Lock()


def binary_digest(path: str) -> str:
    """sha256 of the file, memoised until its inode, size, mtime or ctime changes."""
    st = os.stat(path)
    key = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    with _digest_lock:
        if key in _digests:
            return _digests[key]
    with trace.span("store.digest", binary=path), open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    with _digest_lock:
        _digests[key] = digest
    return digest


def module_dir() -> Path | None:
    env = os.environ.get(MODDIR_ENV)
    if env:
        return Path(env)
    for d in (f"/usr/lib/{os.uname().machine}-linux-gnu/qemu", "/usr/lib64/qemu", "/usr/lib/qemu"):
        if os.path.isdir(d):
            return Path(d)
    return None


def module_stamp() -> str:
    d = module_dir()
    if d is None:
        return "none"
    h = hashlib.sha256()
    try:
        for e in sorted(os.scandir(d), key=lambda e: e.name):
            st = e.stat()
            h.update(f"{e.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    except OSError:
        return "none"
    return h.hexdigest()


def _reusable(key: str) -> bool:
    return key.split(" ", 1)[0] in REUSABLE


@dataclass
class ReplyStore:
    root: Path | None            # None: memory only (reused within this process)
    # Read-only stores shipped with a package, per binary (see qemu/designs/prebuilt.py), looked in
    # after root; written never.
    shipped: Callable[[str], Path | None] | None = None
    _memory: dict[str, dict] = field(default_factory=dict)
    _digest_of: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.root is not None:
            self.root = Path(self.root)
            self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, digest: str) -> Path | None:
        return None if self.root is None else self.root / f"{digest}.json"

    def _entry(self, digest: str, binary: str) -> dict | None:
        with self._lock:
            if digest in self._memory:
                return self._memory[digest]
        shipped = self.shipped(binary) if self.shipped is not None else None
        for path in (self._path(digest), None if shipped is None else shipped / f"{digest}.json"):
            if path is None:
                continue
            try:
                entry = json.loads(path.read_bytes())
                if not isinstance(entry, dict) or not isinstance(entry.get("replies"), dict):
                    raise CorruptFile("not a reply store entry")
            except FileNotFoundError:
                continue
            except (OSError, ValueError):  # corrupt: ignored, rewritten after the next probe
                trace.count("store.corrupt")
                continue
            with self._lock:
                self._memory[digest] = entry
            return entry
        return None

    def known_for(self, binary: str):
        """The probe's known_replies for `binary`: hashes it now, before the launch (None when
        it cannot be read: the probe then fails at its own stat step, naming the binary)."""
        try:
            digest = binary_digest(binary)
        except OSError:
            return None
        with self._lock:
            self._digest_of[binary] = digest

        def known(version: int, package: str) -> Mapping[str, Any]:
            from workbench.qmp import Reply

            e = self._entry(digest, binary)
            if e is None or (e.get("version"), e.get("package"), e.get("modules")) != \
                    (version, package, module_stamp()):
                trace.count("store.miss")
                return {}
            trace.count("store.hit")
            return {k: Reply(v.get("ret"), v.get("error")) for k, v in e["replies"].items()}
        return known

    def remember(self, result: Any) -> None:
        """after_probe: keep the build-constant replies of a probe that asked for them."""
        caps = result.caps
        with self._lock:
            digest = self._digest_of.get(caps.binary)
        keep = {k: {"ret": r.ret, "error": r.error} for k, r in result.replies.items() if _reusable(k)}
        if digest is None or not keep:
            return  # every reusable reply came from the store: nothing new
        entry = {"version": caps.version, "package": caps.package, "modules": module_stamp(),
                 "sha256": digest, "binary": caps.binary, "replies": keep}
        with self._lock:
            self._memory[digest] = entry
        path = self._path(digest)
        if path is None:
            return
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(entry, f)
            os.replace(tmp, path)
            trace.count("store.saved")
        except (OSError, TypeError, ValueError):  # like the cache: a failed save only costs a probe
            Path(tmp).unlink(missing_ok=True)
