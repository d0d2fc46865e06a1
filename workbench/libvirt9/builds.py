"""Which libvirt 9.0 runs: the system's, or a build made by scripts/build-libvirt.sh.

A build lives in a prefix outside the checkout and carries `virtcaps-build.json` (written by the
build script): its label for the `system` column ("libvirt 9.0" for a stock build, "libvirt 9.0 +
pidfd-teardown" for the patched one), the patches applied with their sha256, the source version.
A process uses a build through its environment: LD_LIBRARY_PATH puts the prefix's libvirt.so.0
before the system's (the Python binding and virsh link it by soname), and LIBVIRT_DRIVER_DIR makes
the embedded driver load its QEMU driver module from the prefix (libvirt's own override in
virDriverLoadModule; the build's compiled-in directory is the same path). `loaded_from` checks,
in the process itself, that both really came from the prefix.

On the command line: `--libvirt PREFIX` (repeatable); `--libvirt system` names the system's
libvirt 9.0 beside builds; no `--libvirt` at all means the system's alone.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import UsageError

SYSTEM_LABEL = "libvirt 9.0"
RECORD = "virtcaps-build.json"
SYSTEM_WORD = "system"
# Relative to the prefix, as scripts/build-libvirt.sh installs them (meson --libdir=lib).
LIBVIRT_SO = "lib/libvirt.so.0"
DRIVER_DIR = "lib/libvirt/connection-driver"
QEMU_DRIVER = f"{DRIVER_DIR}/libvirt_driver_qemu.so"


@dataclass(frozen=True)
class LibvirtBuild:
    """One libvirt to run: `prefix` None is the system's."""
    label: str
    prefix: Path | None = None
    patches: tuple[str, ...] = field(default=())
    source: str = "the system's packages"

    @property
    def is_system(self) -> bool:
        return self.prefix is None

    def env(self) -> dict[str, str]:
        """Environment entries that make a process use this build (none for the system's)."""
        if self.prefix is None:
            return {}
        return {"LD_LIBRARY_PATH": str(self.prefix / "lib"),
                "LIBVIRT_DRIVER_DIR": str(self.prefix / DRIVER_DIR)}

    def unavailable_reason(self) -> str | None:
        """Why this build cannot run here, or None (the system's is checked by its callers)."""
        if self.prefix is None:
            return None
        for rel in (LIBVIRT_SO, QEMU_DRIVER):
            if not (self.prefix / rel).exists():
                return f"{self.prefix}: {rel} is missing (rebuild with scripts/build-libvirt.sh)"
        return None

    def describe(self) -> str:
        where = "system" if self.prefix is None else str(self.prefix)
        return f"{self.label} ({where})"


SYSTEM = LibvirtBuild(SYSTEM_LABEL)


def default_prefix(name: str = "pidfd-teardown") -> Path:
    """Where scripts/build-libvirt.sh installs a build by default ('stock' or a series name)."""
    cache = os.environ.get("LIBVIRT_BUILD_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "virtcaps-workbench"
    return Path(cache) / f"libvirt-9.0-{name}"


def from_prefix(prefix: Path) -> LibvirtBuild:
    """The build installed in `prefix`, from its record; UsageError naming the file when the
    prefix holds no readable record (not a build of scripts/build-libvirt.sh)."""
    prefix = Path(prefix).expanduser().resolve()
    record = prefix / RECORD
    if not prefix.is_dir():
        raise UsageError(f"--libvirt {prefix}: no such directory (make it with scripts/build-libvirt.sh)")
    try:
        data = json.loads(record.read_text())
    except FileNotFoundError:
        raise UsageError(f"{record}: missing; {prefix} is not a prefix made by "
                         "scripts/build-libvirt.sh") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"{record}: unreadable build record: {e}") from None
    label = data.get("label") if isinstance(data, dict) else None
    if not isinstance(label, str) or not label.startswith(SYSTEM_LABEL):
        raise UsageError(f"{record}: no 'label' naming a libvirt 9.0 build")
    patches = tuple(p.get("file", "?") for p in data.get("patches", []) if isinstance(p, dict))
    return LibvirtBuild(label, prefix, patches, str(data.get("source", "?")))


def parse(values: list[str] | None) -> list[LibvirtBuild]:
    """`--libvirt` values (None or empty: the system's) -> builds, in the order given."""
    if not values:
        return [SYSTEM]
    builds = [SYSTEM if v == SYSTEM_WORD else from_prefix(Path(v)) for v in values]
    seen: dict[str, LibvirtBuild] = {}
    for b in builds:
        other = seen.setdefault(b.label, b)
        if other is not b:
            raise UsageError(f"--libvirt: {other.describe()} and {b.describe()} are both labelled "
                             f"'{b.label}'; their rows could not be told apart")
    return builds


def loaded_from(maps_text: str) -> dict[str, str]:
    """Which libvirt.so.0 and QEMU driver module a process mapped (its /proc/PID/maps text)."""
    found: dict[str, str] = {}
    for line in maps_text.splitlines():
        path = line.split(None, 5)[5] if len(line.split(None, 5)) == 6 else ""
        name = Path(path).name
        if name.startswith("libvirt.so.0"):
            found.setdefault("libvirt", path)
        elif name == "libvirt_driver_qemu.so":
            found.setdefault("qemu_driver", path)
    return found


def check_loaded(build: LibvirtBuild, maps_text: str) -> str | None:
    """None when the process runs `build`'s libvirt.so and QEMU driver, else what it runs."""
    found = loaded_from(maps_text)
    if build.prefix is None:
        wrong = {k: v for k, v in found.items() if not v.startswith("/usr/")}
    else:
        wrong = {k: v for k, v in found.items() if not v.startswith(str(build.prefix) + "/")}
    missing = [k for k in ("libvirt", "qemu_driver") if k not in found]
    if not wrong and not missing:
        return None
    return (f"{build.describe()} expected; the process mapped "
            + ", ".join(f"{k}={v}" for k, v in found.items()) + (f" (no {', '.join(missing)})" if missing else ""))
