"""Which QEMU targets the simulated world has, and in which order installs take them.

INSTALL_ORDER is the fixed order `workbench install --emulators N` takes the first N of. It starts
with the host-native pair (x86_64, i386), then the targets libvirt's arch walk finds, most used
first, then the targets that walk never finds (so installs of 26 to 30 add emulators that full
caps does not probe, as on a real host), then the three Debian oddities.
"""
from __future__ import annotations

INSTALL_ORDER: tuple[str, ...] = (
    "x86_64", "i386", "aarch64", "arm", "ppc64", "ppc64le", "s390x", "riscv64", "riscv32",
    "mips", "mipsel", "mips64", "mips64el", "ppc", "sparc", "sparc64", "m68k", "alpha",
    "sh4", "sh4eb", "microblaze", "microblazeel", "xtensa", "xtensaeb", "cris",
    # never found by libvirt's walk over its arch names:
    "hppa", "or1k", "loongarch64", "nios2", "avr",
    "rx", "tricore", "x86_64-microvm",
)
MAX_SIMULATED = 30
