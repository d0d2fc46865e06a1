"""The host's `<host>` XML (virCapabilitiesFormatHostXML), whole or in parts.

One formatter for the full capabilities and the fine-grained host APIs alike: a part left None
in HostParts is left out.
"""
from __future__ import annotations

from typing import Sequence

from lxml import etree

from workbench.conf.host import (CacheBank, HostCPU, HostNUMA, HostParts, ResctrlInfo,
                                 format_cpulist)

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")  # virFormatIntPretty's units


def format_host(p: HostParts) -> etree._Element:
    """The one `<host>` formatter, in virCapabilitiesFormatHostXML's order."""
    E, S = etree.Element, etree.SubElement
    host = E("host")
    if p.uuid is not None:
        S(host, "uuid").text = p.uuid
    if p.cpu is not None:
        host.append(_cpu_xml(p.cpu[0], p.cpu[1], p.page_sizes_kib or ()))
    elif p.page_sizes_kib is not None:
        el = S(host, "cpu")
        for size in p.page_sizes_kib:
            S(el, "pages", unit="KiB", size=str(size))
    if p.power is not None:
        pm = S(host, "power_management")
        for name in ("suspend_mem", "suspend_disk", "suspend_hybrid"):
            if name in p.power:
                S(pm, name)
    if p.iommu is not None:
        S(host, "iommu", support="yes" if p.iommu else "no")
    if p.migration is not None:
        live, transports = p.migration
        mig = S(host, "migration_features")
        if live:
            S(mig, "live")
        uris = S(mig, "uri_transports")
        for t in transports:
            S(uris, "uri_transport").text = t
    if p.numa is not None:
        host.append(_numa_xml(p.numa))
    if p.caches:
        host.append(_cache_xml(p.caches, p.resctrl))
    if p.caches is not None and p.resctrl and p.resctrl.membw:
        host.append(_membw_xml(p.caches, p.resctrl))
    for sm in p.sec_models or ():
        el = S(host, "secmodel")
        S(el, "model").text = sm.model
        S(el, "doi").text = sm.doi
        for virt, label in sm.labels.items():
            S(el, "baselabel", type=virt).text = label
    return host


def _pretty(n: int, unit: str = "B") -> tuple[str, str]:
    """virFormatIntPretty: the largest unit that divides the value exactly."""
    i = _UNITS.index(unit)
    while n and n % 1024 == 0 and i + 1 < len(_UNITS):
        n, i = n // 1024, i + 1
    return str(n), _UNITS[i]


def _xml_topology(cpu: HostCPU, numa: HostNUMA) -> dict[str, str]:
    """libvirt's node-info view: sockets per NUMA node, cores per socket within a node; when the
    product does not match the CPU count it falls back to 1 socket, N cores, 1 thread."""
    t, ncpus = cpu.topology, len(cpu.topology.online)
    nodes = max(len(numa.cells), 1)
    sockets = max(t.sockets // nodes, 1)
    cores = ncpus // (nodes * sockets * t.dies * t.threads) if ncpus else 0
    if not ncpus or nodes * sockets * t.dies * cores * t.threads != ncpus:
        sockets, cores, threads, dies = 1, max(ncpus, 1), 1, 1
    else:
        threads, dies = t.threads, t.dies
    return {"sockets": str(sockets), "dies": str(dies), "cores": str(cores), "threads": str(threads)}


def _cpu_xml(cpu: HostCPU, numa: HostNUMA, page_sizes: Sequence[int]) -> etree._Element:
    S = etree.SubElement
    el = etree.Element("cpu")
    S(el, "arch").text = cpu.arch
    if cpu.model:
        S(el, "model").text = cpu.model
    if cpu.vendor:
        S(el, "vendor").text = cpu.vendor
    if cpu.microcode is not None:
        S(el, "microcode", version=str(cpu.microcode))
    if None not in (cpu.family, cpu.model_id, cpu.stepping):
        S(el, "signature", family=str(cpu.family), model=str(cpu.model_id),
          stepping=str(cpu.stepping))
    S(el, "topology", _xml_topology(cpu, numa))
    for f in cpu.features:
        S(el, "feature", name=f)
    for size in page_sizes:
        S(el, "pages", unit="KiB", size=str(size))
    return el


def _numa_xml(numa: HostNUMA) -> etree._Element:
    S = etree.SubElement
    topo = etree.Element("topology")
    cells = S(topo, "cells", num=str(len(numa.cells)))
    for c in numa.cells:
        cell = S(cells, "cell", id=str(c.id))
        S(cell, "memory", unit="KiB").text = str(c.memory_kib)
        for p in c.pages:
            S(cell, "pages", unit="KiB", size=str(p.size_kib)).text = str(p.count)
        if c.distances:
            dist = S(cell, "distances")
            for node, value in c.distances:
                S(dist, "sibling", id=str(node), value=str(value))
        cpus = S(cell, "cpus", num=str(len(c.cpus)))
        for p in c.cpus:
            S(cpus, "cpu", id=str(p.id), socket_id=str(p.socket_id), die_id=str(p.die_id),
              core_id=str(p.core_id), siblings=format_cpulist(p.siblings))
    return topo


def _cache_xml(banks: Sequence[CacheBank], rc: ResctrlInfo | None) -> etree._Element:
    S = etree.SubElement
    cache = etree.Element("cache")
    for b in banks:
        size, unit = _pretty(b.size)
        bank = S(cache, "bank", id=str(b.id), level=str(b.level), type=b.type, size=size,
                 unit=unit, cpus=format_cpulist(b.cpus))
        for ctl in (rc.caches if rc and b.level == 3 else ()):
            bits = bin(int(ctl.cbm_mask or "0", 16)).count("1")
            if not bits:
                continue
            gran, gunit = _pretty(b.size // bits)
            attrs = {"granularity": gran, "unit": gunit,
                     "type": {"L3": "both", "L3CODE": "code", "L3DATA": "data"}[ctl.kind],
                     "maxAllocs": str(ctl.num_closids)}
            if ctl.min_cbm_bits > 1:   # min is printed in granularity's unit
                factor = 1024 ** _UNITS.index(gunit)
                attrs["min"] = str(b.size // bits * ctl.min_cbm_bits // factor)
            S(bank, "control", attrs)
    if rc and rc.monitor and any(f.startswith("llc_") for f in rc.monitor.features):
        attrs = {"level": "3"}
        if rc.monitor.max_threshold_occupancy is not None:
            attrs["reuseThreshold"] = str(rc.monitor.max_threshold_occupancy)
        attrs["maxMonitors"] = str(rc.monitor.num_rmids)
        mon = S(cache, "monitor", attrs)
        for f in rc.monitor.features:
            if f.startswith("llc_"):
                S(mon, "feature", name=f)
    return cache


def _membw_xml(banks: Sequence[CacheBank], rc: ResctrlInfo) -> etree._Element:
    """One memory-bandwidth node per L3 bank, as libvirt derives them."""
    S = etree.SubElement
    assert rc.membw is not None
    el = etree.Element("memory_bandwidth")
    for b in banks:
        if b.level == 3:
            node = S(el, "node", id=str(b.id), cpus=format_cpulist(b.cpus))
            S(node, "control", granularity=str(rc.membw.bandwidth_gran),
              min=str(rc.membw.min_bandwidth), maxAllocs=str(rc.membw.num_closids))
    if rc.monitor and any(f.startswith("mbm_") for f in rc.monitor.features):
        mon = S(el, "monitor", maxMonitors=str(rc.monitor.num_rmids))
        for f in rc.monitor.features:
            if f.startswith("mbm_"):
                S(mon, "feature", name=f)
    return el
