"""libvirt's two strategies by name, and the one every ratio is taken against.

Standard library only and apart from the strategies package (which imports every strategy), so
flags, the sweep and the analysis can name them without loading the driver.
"""
from __future__ import annotations

FULL_CAPS = "full-caps"        # before the 2019 series (libvirt <= 5.10): virCaps built at startup
PER_EMULATOR = "per-emulator"  # after it, as libvirt 9.0 ships it: the per-emulator cache
LIBVIRT_STRATEGIES = (FULL_CAPS, PER_EMULATOR)
BASELINE = FULL_CAPS           # ratios are BASELINE / strategy ("x times faster than before")
