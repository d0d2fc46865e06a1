"""Host facts the cache validity rules read on every lookup; standard library only."""
from __future__ import annotations

import os


def kernel_version() -> str:
    u = os.uname()
    return f"{u.release} {u.version}"


def microcode_version() -> str:
    """libvirt re-reads this from the first 4 KiB of /proc/cpuinfo on every cache lookup."""
    try:
        with open("/proc/cpuinfo", "rb") as f:
            head = f.read(4096)
    except OSError:
        return ""
    for line in head.splitlines():
        if line.startswith(b"microcode"):
            return line.split(b":", 1)[1].strip().decode()
    return ""


# QEMU's loadable modules (Debian's path, as libvirt 9.0 is built there): its ctime is part of
# every cache entry, so installing or removing a QEMU module package invalidates them all.
QEMU_MODULE_DIR = "/usr/lib/x86_64-linux-gnu/qemu"


def module_dir_ctime(path: str = QEMU_MODULE_DIR) -> int | None:
    """ctime (seconds) of QEMU's module directory, None when it does not exist."""
    try:
        return int(os.stat(path).st_ctime)
    except OSError:
        return None


_SELF_CTIME: int | None = None


def self_ctime() -> int:
    """libvirt's virGetSelfLastChanged: when the code that probes and caches last changed.

    Taken once per process (libvirt takes it once too): the newest ctime of the modules that
    decide what a cache entry holds."""
    global _SELF_CTIME
    if _SELF_CTIME is None:
        here = os.path.dirname(os.path.abspath(__file__))
        _SELF_CTIME = max(int(os.stat(os.path.join(here, f)).st_ctime)
                          for f in ("probe.py", "capsdata.py", "cache.py"))
    return _SELF_CTIME


def cpu_signature() -> str:
    """virHostCPUGetSignature on x86: vendor, family, model, stepping from /proc/cpuinfo."""
    want = {"vendor_id": "", "cpu family": "", "model": "", "stepping": ""}
    try:
        with open("/proc/cpuinfo", "rb") as f:
            head = f.read(4096).decode(errors="replace")
    except OSError:
        return ""
    for line in head.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in want and not want[key]:
            want[key] = value.strip()
        if not line.strip():
            break  # the first processor is enough
    if not want["vendor_id"]:
        return ""
    return (f"{want['vendor_id']}, family: {want['cpu family']}, model: {want['model']}, "
            f"stepping: {want['stepping']}")


def _sysfs_flag(path: str) -> bool:
    try:
        with open(path) as f:
            return f.read(8).strip() in ("1", "Y", "y")
    except OSError:
        return False


def kvm_nesting() -> bool:
    """KVM's `nested` module parameter (kvm_intel or kvm_amd), read at every validity check."""
    return _sysfs_flag("/sys/module/kvm_intel/parameters/nested") or \
        _sysfs_flag("/sys/module/kvm_amd/parameters/nested")


def secure_guest() -> bool:
    """Secure guests available to KVM (AMD SEV; s390 protected virtualisation)."""
    return _sysfs_flag("/sys/module/kvm_amd/parameters/sev") or \
        _sysfs_flag("/sys/firmware/uv/prot_virt_host")
