"""Finding emulators without probing them: libvirt's PATH search (virQEMUCapsFindBinaryForArch)."""
from __future__ import annotations

import os
from pathlib import Path

from workbench.conf.arch import binary_name_for_arch, native_arches

RHEL_KVM = "/usr/libexec/qemu-kvm"


def split_search_path(search_path: str | None) -> list[str]:
    return [d for d in (search_path if search_path is not None else os.environ.get("PATH", "")).split(":") if d]


def _which(name: str, dirs: list[str]) -> str | None:
    for d in dirs:
        p = os.path.join(d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def default_emulator(arch: str, host_arch: str, search_path: str | None = None) -> str | None:
    """qemu-system-<arch>, else the target-arch binary, else qemu-kvm for native arches."""
    dirs = split_search_path(search_path)
    native = arch in native_arches(host_arch)
    if arch == "armv7l" and host_arch == "aarch64":
        found = _which("qemu-system-aarch64", dirs)
        if found:
            return found
    found = _which(binary_name_for_arch(arch), dirs)
    if found:
        return found
    target = host_arch if native else ("ppc64" if arch == "ppc64le" else None)
    if target and target != arch:
        found = _which(binary_name_for_arch(target), dirs)
        if found:
            return found
    if native and os.access(RHEL_KVM, os.X_OK):
        return RHEL_KVM
    return None


def installed_targets(search_path: str | None) -> list[str]:
    """Every qemu-system-* on the search path, walk or no walk (for 'never found' reports)."""
    seen: dict[str, None] = {}
    for d in split_search_path(search_path):
        for p in sorted(Path(d).glob("qemu-system-*")):
            seen.setdefault(p.name[len("qemu-system-"):], None)
    return list(seen)
