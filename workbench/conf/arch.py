"""libvirt's architecture names (virArch) and how they map to QEMU's target names.

Generic knowledge, as in libvirt's src/util/virarch.c and the name mapping in qemu_capabilities.c:
the driver, the parse path and the simulated world all read it from here.
"""
from __future__ import annotations

# libvirt's arch enum (virArch) in enum order, as the full-caps guest loop walks it.
LIBVIRT_ARCHES: tuple[str, ...] = (
    "alpha", "armv6l", "armv7l", "armv7b", "aarch64", "cris", "i686", "ia64", "lm32", "m68k",
    "microblaze", "microblazeel", "mips", "mipsel", "mips64", "mips64el", "openrisc", "parisc",
    "parisc64", "ppc", "ppcle", "ppc64", "ppc64le", "ppcemb", "riscv32", "riscv64", "s390",
    "s390x", "sh4", "sh4eb", "sparc", "sparc64", "unicore32", "x86_64", "xtensa", "xtensaeb",
)

# libvirt arch name -> the `qemu-system-<name>` it searches PATH for (virQEMUCapsArchToString).
_BINARY_NAME = {"i686": "i386", "armv6l": "arm", "armv7l": "arm", "openrisc": "or32"}

# QEMU's query-target arch -> libvirt's arch name (virQEMUCapsArchFromString).
_FROM_QEMU = {"i386": "i686", "arm": "armv7l", "or32": "openrisc"}

WORDSIZE = {"i686": 32, "x86_64": 64, "aarch64": 64, "armv6l": 32, "armv7l": 32, "armv7b": 32,
            "ppc": 32, "ppcle": 32, "ppc64": 64, "ppc64le": 64, "ppcemb": 32, "s390": 32,
            "s390x": 64, "riscv32": 32, "riscv64": 64, "mips": 32, "mipsel": 32, "mips64": 64,
            "mips64el": 64, "sparc": 32, "sparc64": 64, "m68k": 32, "alpha": 64, "sh4": 32,
            "sh4eb": 32, "microblaze": 32, "microblazeel": 32, "xtensa": 32, "xtensaeb": 32,
            "cris": 32, "openrisc": 32, "parisc": 32, "parisc64": 64, "ia64": 64, "lm32": 32,
            "unicore32": 32}


def binary_name_for_arch(arch: str) -> str:
    return "qemu-system-" + _BINARY_NAME.get(arch, arch)


def arch_from_qemu(target_arch: str) -> str:
    return _FROM_QEMU.get(target_arch, target_arch)


def native_arches(host_arch: str) -> frozenset[str]:
    """Guest arches libvirt treats as native to the host (KVM may apply; validity checks more)."""
    families = ({"x86_64", "i686"}, {"aarch64", "armv7l"}, {"ppc64", "ppc64le", "ppc", "ppcle"},
                {"s390x"})
    for fam in families:
        if host_arch in fam:
            return frozenset(fam)
    return frozenset({host_arch})


def target_of(binary_name: str) -> str:
    """`qemu-system-x86_64` -> `x86_64`."""
    prefix = "qemu-system-"
    if not binary_name.startswith(prefix):
        raise ValueError(f"not a qemu-system-* name: {binary_name}")
    return binary_name[len(prefix):]
