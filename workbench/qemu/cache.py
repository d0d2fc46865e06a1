"""The per-emulator capabilities cache (libvirt's virQEMUCapsCache on virFileCache).

In memory, a dict keyed by the emulator path exactly as given; on disk, one `<qemuCaps>` XML file
per emulator named by the sha256 of that path, written atomically. Every lookup re-validates the
entry as virQEMUCapsIsValid does, so an invalid entry is never returned: the binary is probed
again. A probe failure propagates and leaves no entry behind.

Locking: each binary has its own lock held across its load or probe, so a hanging emulator
delays only lookups of that same binary (a hung emulator stalls no other), and concurrent lookups of one binary wait for
the one probe in flight and take its result from memory (deduplicated, counted as `joined`).
Every stat and counter is updated under a small lock of its own, so counts stay exact.
Recovery as libvirt's: a cache entry that is not a readable regular file is discarded and
replaced; a cache folder that cannot be written warns once and the cache runs memory-only.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from workbench.qemu.teardown import DEFAULT_MODE as DEFAULT_TEARDOWN
from workbench import trace
from workbench.conf.arch import native_arches
from workbench.errors import ProbeError, WorkbenchError
from workbench.qemu.capsdata import SELF_VERSION, QemuCaps
from workbench.qemu import hostfacts
from workbench.qemu.hostfacts import kernel_version, microcode_version

KVM_DEVICE = "/dev/kvm"
# A cache entry for 30 targets is ~50-300 KiB; anything far larger was not written by us.
MAX_ENTRY_BYTES = 16 << 20


@dataclass
class KvmCheck:
    """Is KVM usable by us now? Memoised until the device's ctime changes, as libvirt does."""
    device: str = KVM_DEVICE
    _ctime: int | None = None
    _usable: bool = False

    def usable(self) -> bool:
        try:
            ctime = os.stat(self.device).st_ctime_ns
        except OSError:
            self._ctime = None
            return False
        if ctime != self._ctime:
            self._ctime = ctime
            self._usable = os.access(self.device, os.R_OK | os.W_OK)
        return self._usable


def cache_file_name(binary: str) -> str:
    return hashlib.sha256(binary.encode()).hexdigest() + ".xml"


@dataclass
class QemuCapsCache:
    cache_dir: Path | None  # None: memory only
    host_arch: str = field(default_factory=lambda: os.uname().machine)
    kvm: KvmCheck = field(default_factory=KvmCheck)
    probe_timeout_s: float = 10.0
    teardown: str = DEFAULT_TEARDOWN  # how each probe launch is ended (qemu/teardown.py)
    probe_fn: Callable[..., object] | None = None  # default: workbench.qemu.probe.probe
    stats: Counter = field(default_factory=Counter)
    # Consulted before a probe (schema-reuse, prebuilt): caps for the binary, or None to probe.
    # It may also hand the probe replies it already knows (see qemu/designs/schema_store.py).
    before_probe: Callable[[str], QemuCaps | None] | None = None
    probe_kwargs: Callable[[str], dict] | None = None      # extra probe() arguments per binary
    after_probe: Callable[[object], None] | None = None    # sees each ProbeResult
    _entries: dict[str, QemuCaps] = field(default_factory=dict)
    _stats_lock: threading.Lock = field(default_factory=threading.Lock)
    _binary_locks: dict[str, threading.Lock] = field(default_factory=dict)
    save_warned: bool = False

    def __post_init__(self) -> None:
        # Taken once at cache creation, like libvirt's cache private data.
        self.kernel_version = kernel_version()
        self.cpu_signature = hostfacts.cpu_signature()
        self._native = native_arches(self.host_arch)
        if self.cache_dir is not None:
            self.cache_dir = Path(self.cache_dir)
            try:
                self.cache_dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                from workbench.errors import UsageError
                raise UsageError(f"--cache-dir {self.cache_dir}: {e.strerror or e}") from None
            if not self.cache_dir.is_dir():
                from workbench.errors import UsageError
                raise UsageError(f"--cache-dir {self.cache_dir}: not a directory")

    def path_for(self, binary: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / cache_file_name(binary)

    def count(self, key: str, n: int = 1) -> None:
        """One stat and its trace counter, under a lock: threads may look up at once."""
        with self._stats_lock:
            self.stats[key] += n
            trace.count(f"cache.{key}", n)

    def _lock_for(self, binary: str) -> threading.Lock:
        with self._stats_lock:
            return self._binary_locks.setdefault(binary, threading.Lock())

    def cached(self, binary: str) -> bool:
        """Is a memory entry there (valid or not)? Never waits, never probes."""
        return binary in self._entries

    def lookup(self, binary: str) -> QemuCaps:
        """The capabilities of `binary`: from memory, else disk, else a fresh probe."""
        lock = self._lock_for(binary)
        with trace.span("cache.lookup", binary=binary) as sp:
            if not lock.acquire(blocking=False):  # a probe of it (or, unshared, anything) runs
                self.count("joined")
                lock.acquire()
            try:
                return self._lookup_locked(binary, sp)
            except WorkbenchError:
                raise
            except Exception as e:
                # Whatever breaks inside a probe, its hooks or the save (an emulator's reply that
                # trips a bug) is that emulator's probe error: it is left out, the caller lives.
                raise ProbeError(binary, "probe", f"{type(e).__name__}: {e}") from e
            finally:
                lock.release()

    def _lookup_locked(self, binary: str, sp) -> QemuCaps:
        self.count("lookups")
        microcode = microcode_version()
        caps = self._entries.get(binary)
        if caps is not None:
            reason = self._invalid_reason(caps, microcode)
            if reason is None:
                return self._outcome(sp, "memory", caps)
            self._invalidate(sp, binary, reason)
        caps = self._load(binary, microcode, sp)
        if caps is not None:
            self._entries[binary] = caps
            return self._outcome(sp, "disk", caps)
        if self.before_probe is not None:
            caps = self.before_probe(binary)
            if caps is not None and self._invalid_reason(caps, microcode) is None:
                self._save(caps)
                self._entries[binary] = caps
                return self._outcome(sp, "prebuilt", caps)
        if self.probe_fn is None:  # imported on first probe: a warm start never needs it
            from workbench.qemu.probe import probe
            self.probe_fn = probe
        extra = self.probe_kwargs(binary) if self.probe_kwargs is not None else {}
        result = self.probe_fn(binary, kvm_usable=self.kvm.usable(),
                               command_timeout_s=self.probe_timeout_s,
                               launch_timeout_s=self.probe_timeout_s,
                               teardown=self.teardown, **extra)
        caps = result.caps
        self.count("launches", caps.probe_launches)
        if self.after_probe is not None:
            self.after_probe(result)
        self._save(caps)
        self._entries[binary] = caps
        return self._outcome(sp, "probe", caps)

    def _outcome(self, sp, outcome: str, caps: QemuCaps) -> QemuCaps:
        sp.set(outcome=outcome, arch=caps.arch)
        self.count(outcome)
        return caps

    def _invalidate(self, sp, binary: str, reason: str) -> None:
        self._entries.pop(binary, None)
        self.count("invalid")
        sp.set(invalid=reason)

    def _invalid_reason(self, caps: QemuCaps, microcode: str) -> str | None:
        """virQEMUCapsIsValid (libvirt 9.0), in its order; None when the entry may be used."""
        mod_dir = hostfacts.module_dir_ctime()
        if mod_dir is not None and mod_dir != caps.mod_dir_ctime:
            return "QEMU modules directory changed"
        if caps.self_version != SELF_VERSION or caps.self_ctime != hostfacts.self_ctime():
            return "workbench changed"
        try:
            ctime = os.stat(caps.binary).st_ctime_ns
        except OSError:
            return "binary missing"
        if ctime != caps.ctime_ns:
            return "binary changed"
        if caps.arch not in self._native:
            return None
        if caps.kvm != self.kvm.usable():
            return "KVM usability changed"
        if caps.kvm:
            if caps.cpu_signature != self.cpu_signature:
                return "host CPU changed"
            if caps.microcode != microcode:
                return "microcode changed"
            if caps.kernel_version != self.kernel_version:
                return "kernel changed"
            if caps.kvm_nesting != hostfacts.kvm_nesting():
                return "KVM nesting changed"
            if caps.secure_guest != hostfacts.secure_guest():
                return "secure guest support changed"
        return None

    def _load(self, binary: str, microcode: str, sp) -> QemuCaps | None:
        path = self.path_for(binary)
        if path is None:
            return None
        try:
            st = path.lstat()
        except FileNotFoundError:
            return None
        except OSError as e:
            return self._discard(path, sp, f"unreadable: {e.strerror}")
        if not stat.S_ISREG(st.st_mode):  # a folder, FIFO, symlink...: never opened (a FIFO hangs)
            return self._discard(path, sp, "not a regular file")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as f:
                data = f.read(MAX_ENTRY_BYTES + 1)  # bounded: a planted huge file is not read whole
        except FileNotFoundError:
            return None
        except OSError as e:
            return self._discard(path, sp, f"unreadable: {e.strerror}")
        if len(data) > MAX_ENTRY_BYTES:
            return self._discard(path, sp, f"over {MAX_ENTRY_BYTES >> 20} MiB")
        try:
            caps = QemuCaps.from_xml(data)
        except ValueError as e:
            return self._discard(path, sp, f"corrupt: {e}")
        if caps.binary != binary:
            return self._discard(path, sp, "emulator path does not match")
        reason = self._invalid_reason(caps, microcode)
        if reason is not None:
            self.count("invalid")
            return self._discard(path, sp, reason)
        return caps

    def _discard(self, path: Path, sp, why: str) -> None:
        self.count("discarded")
        sp.set(discarded=why)
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError:
            pass  # the save that follows replaces it, or warns
        return None

    def _save(self, caps: QemuCaps) -> None:
        path = self.path_for(caps.binary)
        if path is None:
            return
        data = caps.to_xml()  # before any file: caps that cannot be written are a probe error
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".xml", dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError as e:
            # libvirt only warns when it cannot save: the probe result is still good.
            self.count("save_failed")
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            if not self.save_warned:
                self.save_warned = True
                print(f"workbench: warning: cannot write the capabilities cache in {path.parent} "
                      f"({e.strerror or e}); running uncached", file=sys.stderr)

    def cached_binaries(self) -> list[str]:
        return list(self._entries)
