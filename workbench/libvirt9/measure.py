"""Timed libvirt 9.0 operations, cold and warm (bench/libvirt_real.py makes them pyperf benchmarks).

One value = one worker process (a fresh connection); what is timed is the step inside the
worker (binding call only): `startup` is the connection open (driver initialisation), every
other case is the API call on a connection just opened. Cold: a fresh empty root per value.
Warm: one root whose capabilities cache a first, untimed run filled.
"""
from __future__ import annotations

import platform
import shutil
from pathlib import Path

from workbench.errors import BadValue
from workbench.libvirt9 import backend, builds
from workbench.libvirt9.builds import LibvirtBuild

SYSTEM = backend.SYSTEM
CASES = ("startup", "get_capabilities", "get_domain_capabilities", "get_version", "define_xml",
         "cold_container")
# The same benchmark/case names as the model's rows (bench/driver_startup.py, bench/apis.py,
# bench/scenarios.py).
BENCHMARK = {"startup": "driver_startup", "cold_container": "scenario"}
# Cases whose value is the whole sequence (open to the last answer), as the model's scenarios time
# spawn to last answer; a libvirt value leaves out the worker's process start (~0.1 s, Python and
# the library loading), so it slightly favours libvirt.
SEQUENCES = ("cold_container",)
COLD_ONLY = ("cold_container",)
_STEP = {"get_capabilities": {"op": "capabilities"}, "get_version": {"op": "version"},
         "get_domain_capabilities": {"op": "domcaps"}}
SMALL_DOMAIN = ("<domain type='qemu'><name>lv9-bench</name><memory>65536</memory>"
                "<os><type arch='{arch}'>hvm</type></os></domain>")


def n_emulators(install: Path) -> int:
    return sum(1 for p in Path(install).glob("qemu-system-*") if p.is_file())


def steps_for(case: str, host_arch: str | None = None) -> list[dict]:
    if case not in CASES:
        raise BadValue(f"unknown case {case!r}; known: {', '.join(CASES)}")
    if case == "startup":
        return [{"op": "open"}]
    if case == "define_xml":
        arch = host_arch or platform.machine()
        return [{"op": "open"}, {"op": "define", "readback": False,
                                 "xml": SMALL_DOMAIN.format(arch=arch)}]
    if case == "cold_container":  # a KubeVirt pod's client, as bench/scenarios.py
        return [{"op": "open"}, {"op": "version"}, {"op": "domcaps"},
                {"op": "define", "readback": False, "xml": SMALL_DOMAIN.format(arch=platform.machine())}]
    return [{"op": "open"}, _STEP[case]]


class Roots:
    """Root dirs for one (install, cache) series: a fresh one per value, or one warm one."""

    def __init__(self, install: Path, cache: str, build: LibvirtBuild = builds.SYSTEM) -> None:
        if cache not in ("cold", "warm"):
            raise BadValue(f"cache must be cold or warm, not {cache!r}")
        self.install, self.cache, self.build = Path(install), cache, build
        self._warm: Path | None = None

    def get(self) -> Path:
        if self.cache == "cold":
            return backend.new_root()
        if self._warm is None:
            self._warm = backend.new_root()
            backend.run_job(self.install, self._warm, [{"op": "open"}, {"op": "capabilities"}],
                            build=self.build)
        return self._warm

    def done(self, root: Path) -> None:
        if self.cache == "cold":
            shutil.rmtree(root, ignore_errors=True)

    def close(self) -> None:
        if self._warm is not None:
            shutil.rmtree(self._warm, ignore_errors=True)


def time_once(install: Path, roots: Roots, case: str, build: LibvirtBuild = builds.SYSTEM) -> float:
    """One value: the timed step's own seconds (a sequence: every step's) on `build`. An API
    error is a failure, never a value."""
    root = roots.get()
    try:
        recs = backend.run_job(install, root, steps_for(case), build=build)
    finally:
        roots.done(root)
    last = recs[-1]
    if len(recs) != len(steps_for(case)) or not all(r.ok for r in recs):
        raise backend.LibvirtError(f"{case} on {install}: {[r.error for r in recs if not r.ok]}")
    return sum(r.time_s for r in recs) if case in SEQUENCES else last.time_s
