"""The full capabilities object (libvirt's virCaps): the host plus one guest per arch found.

Built by virQEMUCapsInit's walk: for each of libvirt's arch names, a PATH search for the emulator
and a cache lookup (load or probe) of it. A failed probe drops that arch, as libvirt does. QEMU
targets outside libvirt's naming (hppa, or1k, avr, ...) are never found by the walk.
"""
from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from lxml import etree

from workbench import trace
from workbench.conf.arch import LIBVIRT_ARCHES, WORDSIZE
from workbench.conf.host_xml import format_host
from workbench.qemu.cache import QemuCapsCache
from workbench.errors import CapsLookupError, ProbeError
from workbench.qemu.search import default_emulator


@dataclass(frozen=True)
class GuestMachine:
    name: str
    canonical: str | None
    max_cpus: int


@dataclass
class Guest:
    arch: str
    wordsize: int
    emulator: str
    machines: list[GuestMachine]
    domain_types: list[str]  # "qemu" (TCG) and/or "kvm"
    features: list[tuple[str, bool, bool]]  # (name, default on, toggle)


@dataclass
class Capabilities:
    host: object  # workbench.conf.host.HostCaps
    host_arch: str
    guests: list[Guest] = field(default_factory=list)
    probe_errors: dict[str, str] = field(default_factory=dict)

    def domain_data_lookup(self, ostype: str, arch: str | None, virt_type: str,
                           emulator: str | None = None, machine: str | None = None
                           ) -> tuple[Guest, str]:
        """virCapabilitiesDomainDataLookup: the first guest that matches; its (guest, machine).

        Without an arch, prefer the host arch, else the first guest in arch-enum order."""
        def matches(g: Guest, want_arch: str | None) -> bool:
            return ((want_arch is None or g.arch == want_arch) and virt_type in g.domain_types
                    and (emulator is None or g.emulator == emulator)
                    and (machine is None or any(machine in (m.name, m.canonical) for m in g.machines))
                    and ostype == "hvm")
        candidates = [arch] if arch else [self.host_arch, None]
        for want in candidates:
            for g in self.guests:
                if matches(g, want):
                    return g, machine or (g.machines[0].name if g.machines else "")
        raise CapsLookupError(
            f"could not find capabilities for arch={arch or '(default)'} domaintype={virt_type}"
            + (f" emulator={emulator}" if emulator else "") + (f" machine={machine}" if machine else ""))

    def to_xml(self) -> str:
        root = etree.Element("capabilities")
        if self.host is not None:
            root.append(format_host(self.host.parts()))
        for g in self.guests:
            ge = etree.SubElement(root, "guest")
            etree.SubElement(ge, "os_type").text = "hvm"
            ae = etree.SubElement(ge, "arch", name=g.arch)
            etree.SubElement(ae, "wordsize").text = str(g.wordsize)
            etree.SubElement(ae, "emulator").text = g.emulator
            for m in g.machines:
                me = etree.SubElement(ae, "machine", maxCpus=str(m.max_cpus))
                if m.canonical:
                    me.set("canonical", m.canonical)
                me.text = m.name
            for dt in g.domain_types:
                etree.SubElement(ae, "domain", type=dt)
            fe = etree.SubElement(ge, "features")
            for name, default_on, toggle in g.features:
                etree.SubElement(fe, name, default="on" if default_on else "off",
                                 toggle="yes" if toggle else "no")
        return etree.tostring(root, pretty_print=True, encoding="unicode")


def _features(arch: str) -> list[tuple[str, bool, bool]]:
    feats = [("cpuselection", True, False), ("deviceboot", True, False),
             ("disksnapshot", True, False)]
    if arch in ("x86_64", "i686", "aarch64"):
        feats.append(("acpi", True, True))
    if arch in ("x86_64", "i686"):
        feats.append(("apic", True, False))
    if arch == "i686":
        feats += [("pae", True, False), ("nonpae", True, False)]
    return feats


def _guest(arch: str, binary: str, caps) -> Guest:
    machines: list[GuestMachine] = []
    for m in caps.machines_for("kvm" if caps.kvm else "qemu"):
        machines.append(GuestMachine(m.name, None, m.max_cpus))
        if m.alias:  # libvirt 9.0 lists the canonical name first, then the alias naming it
            machines.append(GuestMachine(m.alias, m.name, m.max_cpus))
    types = (["qemu"] if caps.tcg else []) + (["kvm"] if caps.kvm else [])
    return Guest(arch, WORDSIZE.get(arch, 64), binary, machines, types, _features(arch))


# Looks up many binaries at once: each one's caps, or the ProbeError its probe raised.
LookupMany = Callable[[Iterable[str]], Mapping[str, object]]


def walk_binaries(host_arch: str, search_path: str | None) -> list[tuple[str, str]]:
    """(arch, binary) for each of libvirt's arch names whose emulator the PATH search finds."""
    found = ((arch, default_emulator(arch, host_arch, search_path)) for arch in LIBVIRT_ARCHES)
    return [(arch, b) for arch, b in found if b is not None]


def build_guests(cache: QemuCapsCache, host_arch: str, search_path: str | None,
                 lookup_many: LookupMany | None = None) -> tuple[list[Guest], dict[str, str]]:
    """The walk over libvirt's arch names: PATH search, then a cache lookup per binary found.

    With `lookup_many` (a strategy's pool or warmer) the binaries are looked up all at once
    first; without, one after the other in arch order, as libvirt does."""
    guests, errors = [], {}
    with trace.span("caps.guests") as sp:
        pairs = walk_binaries(host_arch, search_path)
        looked = lookup_many([b for _, b in pairs]) if lookup_many is not None else None
        for arch, binary in pairs:
            try:
                caps = looked[binary] if looked is not None else cache.lookup(binary)
                if isinstance(caps, ProbeError):
                    raise caps
                guests.append(_guest(arch, binary, caps))
            except ProbeError as e:  # the arch is left out, and logged, as in libvirt
                errors[arch] = str(e)
                _log_left_out(arch, str(e))
        sp.set(guests=len(guests), errors=len(errors))
    return guests, errors


_logged: set[str] = set()
_logged_lock = threading.Lock()


def _log_left_out(arch: str, reason: str) -> None:
    """One warning line per distinct reason and process (a daemon rebuilds the guests often)."""
    line = f"workbench: warning: {arch} left out: {reason}"
    with _logged_lock:
        if line in _logged:
            return
        _logged.add(line)
    print(line, file=sys.stderr, flush=True)


def build_capabilities(cache: QemuCapsCache, probe_host: Callable[[], object],
                       search_path: str | None, lookup_many: LookupMany | None = None
                       ) -> Capabilities:
    """virQEMUCapsInit: the host sub-probes, then the guest walk through the cache."""
    with trace.span("caps.build"):
        host = probe_host()
        guests, errors = build_guests(cache, cache.host_arch, search_path, lookup_many)
        return Capabilities(host, cache.host_arch, guests, errors)
