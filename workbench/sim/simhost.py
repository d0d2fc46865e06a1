"""Simulated procfs/sysfs trees for the host sub-probes in `workbench.conf.host`.

`make_host_tree(dest, shape)` writes exactly the files host.py reads, sized like a real host of
that shape, so probe cost grows with the shape (one cpuinfo stanza, topology dir and cache dirs
per CPU, one dir per node). CPUs are numbered as Linux does on x86: first thread of every core of
every socket, then the second threads.
"""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import BadValue
from workbench.conf.host import format_cpulist

_FLAGS = ("fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx "
          "fxsr sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc nopl xtopology "
          "nonstop_tsc cpuid pni pclmulqdq vmx ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe "
          "popcnt tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm abm 3dnowprefetch "
          "fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid rdt_a avx512f avx512dq rdseed "
          "adx smap clflushopt clwb avx512cd avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves "
          "cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local arat pku ospke md_clear")


@dataclass(frozen=True)
class HostShape:
    name: str
    sockets: int = 1
    cores_per_socket: int = 1
    threads_per_core: int = 1
    numa_nodes: int = 1
    memory_gib: int = 4
    l3_per_socket: int = 1
    resctrl: bool = False
    hugepages_kib: tuple[int, ...] = (2048, 1048576)
    iommu: bool = False
    arch: str = "x86_64"

    def __post_init__(self) -> None:
        if not 1 <= self.sockets <= 8 or not 1 <= self.numa_nodes <= 8:
            raise BadValue(f"{self.name}: sockets and numa_nodes must be 1-8")
        if min(self.cores_per_socket, self.threads_per_core, self.l3_per_socket,
               self.memory_gib) < 1 or self.l3_per_socket > self.cores_per_socket:
            raise BadValue(f"{self.name}: counts must be >= 1, l3_per_socket <= cores")

    @property
    def cpus(self) -> int:
        return self.sockets * self.cores_per_socket * self.threads_per_core


SHAPES: dict[str, HostShape] = {s.name: s for s in (
    HostShape("vm-2cpu", 1, 2, 1, 1, 4, iommu=False),
    HostShape("desktop-16", 1, 8, 2, 1, 32, iommu=True),
    HostShape("server-2s-64", 2, 16, 2, 2, 256, resctrl=True, iommu=True),
    HostShape("server-4s-192", 4, 24, 2, 4, 1024, l3_per_socket=2, resctrl=True, iommu=True),
    HostShape("server-8s-448", 8, 28, 2, 8, 4096, l3_per_socket=2, resctrl=True, iommu=True),
)}

_L3_CBM_BITS = 11       # a typical Xeon L3 capacity bitmask width ("7ff")


def _w(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def make_host_tree(dest: Path, shape: HostShape) -> Path:
    """Write shape's procfs/sysfs tree under dest (created if needed) and return dest."""
    dest = Path(dest)
    root = str(dest)
    j = lambda *p: os.path.join(root, *p)  # noqa: E731
    cores, threads, ncpu = shape.cores_per_socket, shape.threads_per_core, shape.cpus
    phys = shape.sockets * cores                       # physical cores on the host

    def cpu_id(sock: int, core: int, thr: int) -> int:
        return thr * phys + sock * cores + core

    def node_of(sock: int, core: int) -> int:          # nodes split the cores evenly
        return (sock * cores + core) * shape.numa_nodes // phys

    def l3_of(core: int) -> int:
        return core * shape.l3_per_socket // cores

    cpus = [(cpu_id(s, c, t), s, c, t) for s in range(shape.sockets) for c in range(cores)
            for t in range(threads)]
    cpus.sort()
    node_cpus: dict[int, list[int]] = {n: [] for n in range(shape.numa_nodes)}
    l3_cpus: dict[tuple[int, int], list[int]] = {}
    for cid, s, c, _ in cpus:
        node_cpus[node_of(s, c)].append(cid)
        l3_cpus.setdefault((s, l3_of(c)), []).append(cid)
    l3_kib = 1408 * (cores // shape.l3_per_socket)     # 1.375 MiB per core, as on Xeons

    for d in ("proc", "etc", "sys/power", "sys/kernel/iommu_groups", "sys/devices/virtual/dmi/id"):
        os.makedirs(j(d), exist_ok=True)
    _w(j(".workbench-host.json"), json.dumps({"name": shape.name, "arch": shape.arch,
                                              "page_size": 4096}))

    # /proc/cpuinfo: one stanza per CPU, as the kernel prints it
    stanzas = []
    for cid, s, c, _ in cpus:
        stanzas.append(
            f"processor\t: {cid}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n"
            f"model name\t: Simulated Xeon ({shape.name})\nstepping\t: 7\nmicrocode\t: 0x5003604\n"
            f"cpu MHz\t\t: 2100.000\ncache size\t: {l3_kib} KB\nphysical id\t: {s}\n"
            f"siblings\t: {cores * threads}\ncore id\t\t: {c}\ncpu cores\t: {cores}\n"
            f"apicid\t\t: {cid}\nfpu\t\t: yes\nflags\t\t: {_FLAGS}\nbogomips\t: 4200.00\n"
            f"clflush size\t: 64\naddress sizes\t: 46 bits physical, 48 bits virtual\n")
    _w(j("proc/cpuinfo"), "\n".join(stanzas) + "\n")
    mem_kib = shape.memory_gib * 1024 * 1024
    _w(j("proc/meminfo"), f"MemTotal:       {mem_kib} kB\nMemFree:        {mem_kib * 9 // 10} kB\n")

    # /sys/devices/system/cpu: online list, per-CPU topology and cache index dirs
    cpu_root = j("sys/devices/system/cpu")
    os.makedirs(cpu_root, exist_ok=True)
    _w(os.path.join(cpu_root, "online"), f"0-{ncpu - 1}\n")
    _w(os.path.join(cpu_root, "present"), f"0-{ncpu - 1}\n")
    for cid, s, c, _ in cpus:
        sib = format_cpulist(cpu_id(s, c, t) for t in range(threads))
        pkg = format_cpulist(cpu_id(s, cc, t) for cc in range(cores) for t in range(threads))
        topo = os.path.join(cpu_root, f"cpu{cid}", "topology")
        os.makedirs(topo, exist_ok=True)
        for name, text in (("physical_package_id", s), ("die_id", 0), ("core_id", c),
                           ("thread_siblings_list", sib), ("core_siblings_list", pkg)):
            _w(os.path.join(topo, name), f"{text}\n")
        caches = ((1, "Data", "48K", c, sib), (1, "Instruction", "32K", c, sib),
                  (2, "Unified", "2048K", c, sib),
                  (3, "Unified", f"{l3_kib}K", s * shape.l3_per_socket + l3_of(c),
                   format_cpulist(l3_cpus[(s, l3_of(c))])))
        for i, (level, typ, size, cache_id, shared) in enumerate(caches):
            d = os.path.join(cpu_root, f"cpu{cid}", "cache", f"index{i}")
            os.makedirs(d, exist_ok=True)
            for name, text in (("level", level), ("type", typ), ("size", size), ("id", cache_id),
                               ("shared_cpu_list", shared)):
                _w(os.path.join(d, name), f"{text}\n")

    # /sys/devices/system/node: cpulist, meminfo, distance, per-node hugepages
    node_root = j("sys/devices/system/node")
    node_mem = mem_kib // shape.numa_nodes
    node_sock = {n: min(cpus[cid][1] for cid in ids) for n, ids in node_cpus.items() if ids}
    for n in range(shape.numa_nodes):
        d = os.path.join(node_root, f"node{n}")
        os.makedirs(d, exist_ok=True)
        _w(os.path.join(d, "cpulist"), format_cpulist(node_cpus[n]) + "\n")
        _w(os.path.join(d, "meminfo"), f"Node {n} MemTotal:       {node_mem} kB\n"
                                       f"Node {n} MemFree:        {node_mem * 9 // 10} kB\n")
        dist = (10 if m == n else 12 if node_sock.get(m) == node_sock.get(n) else 21
                for m in range(shape.numa_nodes))
        _w(os.path.join(d, "distance"), " ".join(map(str, dist)) + "\n")
        for i, size in enumerate(shape.hugepages_kib):
            # Reserve an eighth of each node in the first (smallest listed) size.
            nr = node_mem // 8 // size if i == 0 else 0
            hd = os.path.join(d, "hugepages", f"hugepages-{size}kB")
            os.makedirs(hd, exist_ok=True)
            _w(os.path.join(hd, "nr_hugepages"), f"{nr}\n")
            _w(os.path.join(hd, "free_hugepages"), f"{nr}\n")
    _w(os.path.join(node_root, "online"), f"0-{shape.numa_nodes - 1}\n")

    for size in shape.hugepages_kib:
        hd = j("sys/kernel/mm/hugepages", f"hugepages-{size}kB")
        os.makedirs(hd, exist_ok=True)
        _w(os.path.join(hd, "nr_hugepages"), "0\n")

    if shape.resctrl:
        info = j("sys/fs/resctrl/info")
        for sub, files in (
            ("L3", {"num_closids": 16, "cbm_mask": "7ff", "min_cbm_bits": 1, "shareable_bits": 0}),
            ("MB", {"num_closids": 8, "bandwidth_gran": 10, "min_bandwidth": 10,
                    "delay_linear": 1}),
            ("L3_MON", {"num_rmids": 224, "max_threshold_occupancy": 1441792,
                        "mon_features": "llc_occupancy\nmbm_total_bytes\nmbm_local_bytes"}),
        ):
            os.makedirs(os.path.join(info, sub), exist_ok=True)
            for name, text in files.items():
                _w(os.path.join(info, sub, name), f"{text}\n")
    if shape.iommu:
        for g in range(4 * shape.sockets):
            os.makedirs(j("sys/kernel/iommu_groups", str(g), "devices"), exist_ok=True)

    host_uuid = uuid.uuid5(uuid.NAMESPACE_DNS, f"{shape.name}.simhost.workbench")
    _w(j("sys/devices/virtual/dmi/id/product_uuid"), f"{host_uuid}\n")
    _w(j("etc/machine-id"), host_uuid.hex + "\n")
    _w(j("sys/power/state"), "freeze mem disk\n")
    return dest
