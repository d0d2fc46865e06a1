"""Host sub-probes of libvirt's virCapsHost, read from a procfs/sysfs tree under a root directory.

Each sub-probe is its own traced function taking `root` ("/" for the real host, or a tree made by
`workbench.sim.simhost`) and returning a dataclass. Like libvirt, a missing or unreadable file
gives an empty or absent part, never an exception; only a root that is not a directory raises.
No subprocesses and no D-Bus: these run on every capabilities build.
"""
from __future__ import annotations

import json
import os
import platform
import uuid as _uuid
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from workbench import trace
from workbench.errors import BadValue

SecModelSpec = tuple[str, str, dict[str, str]]  # (model, doi, {virt type: base label})
# As a root daemon with no SELinux/AppArmor: "none" stacked over "dac" (model, doi, base labels).
DEFAULT_SEC_MODELS: tuple[SecModelSpec, ...] = (("none", "0", {}), ("dac", "0", {"kvm": "+0:+0", "qemu": "+0:+0"}))
_CACHE_TYPES = {"Unified": "both", "Data": "data", "Instruction": "code"}  # sysfs -> libvirt
_VENDORS = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD"}


# ---- records ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CpuTopology:
    sockets: int            # physical packages on the host
    dies: int               # per socket
    cores: int              # per die
    threads: int            # per core
    online: tuple[int, ...]


@dataclass(frozen=True)
class HostCPU:
    arch: str
    model: str | None
    vendor: str | None
    family: int | None
    model_id: int | None
    stepping: int | None
    microcode: int | None
    features: tuple[str, ...]
    topology: CpuTopology


@dataclass(frozen=True)
class NumaCPU:
    id: int
    socket_id: int
    die_id: int
    core_id: int
    siblings: tuple[int, ...]


@dataclass(frozen=True)
class NumaPages:
    size_kib: int
    count: int
    free: int


@dataclass(frozen=True)
class NumaCell:
    id: int
    memory_kib: int
    cpus: tuple[NumaCPU, ...]
    distances: tuple[tuple[int, int], ...] = ()   # (node, distance)
    pages: tuple[NumaPages, ...] = ()


@dataclass(frozen=True)
class HostNUMA:
    cells: tuple[NumaCell, ...]
    fake: bool = False   # no node dirs: one cell built from node info, as libvirt does


@dataclass(frozen=True)
class CacheBank:
    id: int
    level: int
    type: str            # libvirt's names: both, code, data
    size: int            # bytes
    cpus: tuple[int, ...]


@dataclass(frozen=True)
class ResctrlCache:
    kind: str            # L3, L3CODE or L3DATA
    num_closids: int
    cbm_mask: str
    min_cbm_bits: int


@dataclass(frozen=True)
class ResctrlMemBW:
    num_closids: int
    bandwidth_gran: int
    min_bandwidth: int


@dataclass(frozen=True)
class ResctrlMonitor:
    num_rmids: int
    features: tuple[str, ...]
    max_threshold_occupancy: int | None = None


@dataclass(frozen=True)
class ResctrlInfo:
    caches: tuple[ResctrlCache, ...] = ()
    membw: ResctrlMemBW | None = None
    monitor: ResctrlMonitor | None = None


@dataclass(frozen=True)
class SecModel:
    model: str
    doi: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class HostCaps:
    arch: str
    uuid: str
    cpu: HostCPU
    numa: HostNUMA
    caches: tuple[CacheBank, ...]
    resctrl: ResctrlInfo | None
    page_sizes_kib: tuple[int, ...]
    iommu: bool
    power: frozenset[str]           # suspend_mem, suspend_disk, suspend_hybrid
    sec_models: tuple[SecModel, ...]
    live_migrate: bool = True       # virCapabilitiesNew(arch, true, true)
    migrate_transports: tuple[str, ...] = ("tcp", "rdma")   # hard-coded in libvirt

    def parts(self) -> "HostParts":
        """Every part, for the whole `<host>` (conf.host_xml.format_host)."""
        return HostParts(
            uuid=self.uuid, cpu=(self.cpu, self.numa), page_sizes_kib=self.page_sizes_kib,
            power=self.power, iommu=self.iommu,
            migration=(self.live_migrate, self.migrate_transports), numa=self.numa,
            caches=self.caches, resctrl=self.resctrl, sec_models=self.sec_models)


@dataclass
class HostParts:
    """The parts of `<host>` to format; None leaves a part out (the fine-grained host APIs)."""
    uuid: str | None = None
    cpu: tuple[HostCPU, HostNUMA] | None = None   # the NUMA gives <topology> its node count
    page_sizes_kib: tuple[int, ...] | None = None
    power: frozenset[str] | None = None
    iommu: bool | None = None
    migration: tuple[bool, tuple[str, ...]] | None = None   # (live, URI transports)
    numa: HostNUMA | None = None
    caches: tuple[CacheBank, ...] | None = None
    resctrl: ResctrlInfo | None = None
    sec_models: tuple[SecModel, ...] | None = None


# ---- file helpers: every failure is "absent" -----------------------------------------------------

def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        trace.count("host.missing")   # libvirt would log a warning and go on
        return None
    finally:
        trace.count("host.reads")


def _read_int(path: str, base: int = 10) -> int | None:
    text = _read(path)
    try:
        return int(text.strip(), base) if text is not None else None
    except ValueError:
        return None


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _check_root(root: str | os.PathLike) -> str:
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise BadValue(f"host root {root!r} does not exist or is not a directory")
    return root


def parse_cpulist(text: str | None) -> tuple[int, ...]:
    """Kernel cpulist ("0-3,8,10-11") to ids; garbage gives ()."""
    out: list[int] = []
    try:
        for part in (text or "").strip().split(","):
            if part:
                lo, _, hi = part.partition("-")
                out.extend(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        return ()
    return tuple(out)


def format_cpulist(ids: Iterable[int]) -> str:
    """Ids to ranges, as virBitmapFormat prints them."""
    parts, ids = [], sorted(set(ids))
    i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        parts.append(str(ids[i]) if i == j else f"{ids[i]}-{ids[j]}")
        i = j + 1
    return ",".join(parts)


def _sim_meta(root: str) -> dict:
    """Facts a simulated tree cannot express in procfs/sysfs (arch, page size)."""
    if root == "/":
        return {}
    try:
        with open(os.path.join(root, ".workbench-host.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _cpu_dir(root: str, cpu: int) -> str:
    return os.path.join(root, f"sys/devices/system/cpu/cpu{cpu}")


def _online_cpus(root: str) -> tuple[int, ...]:
    ids = parse_cpulist(_read(os.path.join(root, "sys/devices/system/cpu/online")))
    if ids:
        return ids
    names = _listdir(os.path.join(root, "sys/devices/system/cpu"))
    return tuple(sorted(int(n[3:]) for n in names if n.startswith("cpu") and n[3:].isdigit()))


def _numa_cpu(root: str, cpu: int) -> NumaCPU:
    """Per-CPU socket/die/core/siblings (virHostCPUGetSocket/Die/Core/Siblings)."""
    topo = os.path.join(_cpu_dir(root, cpu), "topology")
    return NumaCPU(cpu,
                   _read_int(os.path.join(topo, "physical_package_id")) or 0,
                   _read_int(os.path.join(topo, "die_id")) or 0,
                   _read_int(os.path.join(topo, "core_id")) or 0,
                   parse_cpulist(_read(os.path.join(topo, "thread_siblings_list"))) or (cpu,))


def _meminfo_kib(text: str | None, key: str) -> int:
    for line in (text or "").splitlines():
        if key in line:
            try:
                return int(line.split(":")[1].split()[0])
            except (IndexError, ValueError):
                return 0
    return 0


def _page_size_kib(root: str) -> int:
    if root == "/":
        return os.sysconf("SC_PAGESIZE") // 1024
    return int(_sim_meta(root).get("page_size", 4096)) // 1024


def _hugepage_sizes(d: str) -> list[tuple[int, str]]:
    """(size KiB, dir) for each hugepages-<N>kB entry under d."""
    out = []
    for name in _listdir(d):
        if name.startswith("hugepages-") and name.endswith("kB") and name[10:-2].isdigit():
            out.append((int(name[10:-2]), os.path.join(d, name)))
    return sorted(out)


# ---- sub-probes ----------------------------------------------------------------------------------

def probe_arch(root: str | os.PathLike = "/") -> str:
    """virArchFromHost: uname for the real host; a simulated tree carries its arch in a file."""
    root = _check_root(root)
    with trace.span("host.arch", root=root):
        return _sim_meta(root).get("arch") or platform.machine()


def probe_cpu(root: str | os.PathLike = "/") -> HostCPU:
    """Host CPU from /proc/cpuinfo (first stanza) and per-CPU sysfs topology (node info).

    libvirt decodes CPUID against cpu_map and so prints its own model and feature names; without
    CPUID we report cpuinfo's model name and flags."""
    root = _check_root(root)
    with trace.span("host.cpu", root=root) as sp:
        arch = _sim_meta(root).get("arch") or platform.machine()
        first = (_read(os.path.join(root, "proc/cpuinfo")) or "").split("\n\n", 1)[0]
        info: dict[str, str] = {}
        for line in first.splitlines():
            k, sep, v = line.partition(":")
            if sep:
                info.setdefault(k.strip(), v.strip())

        def num(key: str, base: int = 10) -> int | None:
            try:
                return int(info[key], base)
            except (KeyError, ValueError):
                return None

        online = _online_cpus(root)
        cpus = [_numa_cpu(root, c) for c in online]
        sockets = {c.socket_id for c in cpus}
        dies = {(c.socket_id, c.die_id) for c in cpus}
        cores = {(c.socket_id, c.die_id, c.core_id) for c in cpus}
        n_s, n_d, n_c = max(len(sockets), 1), max(len(dies), 1), max(len(cores), 1)
        topo = CpuTopology(n_s, max(n_d // n_s, 1), max(n_c // n_d, 1),
                           max(len(online) // n_c, 1), online)
        vendor = info.get("vendor_id")
        cpu = HostCPU(arch, info.get("model name"), _VENDORS.get(vendor or "", vendor),
                      num("cpu family"), num("model"), num("stepping"), num("microcode", 0),
                      tuple((info.get("flags") or info.get("Features") or "").split()), topo)
        sp.set(cpus=len(online))
        return cpu


def probe_numa(root: str | os.PathLike = "/") -> HostNUMA:
    """NUMA cells from /sys/devices/system/node/nodeN; without node dirs, one fake cell."""
    root = _check_root(root)
    with trace.span("host.numa", root=root) as sp:
        base = os.path.join(root, "sys/devices/system/node")
        nodes = sorted(int(n[4:]) for n in _listdir(base) if n.startswith("node") and n[4:].isdigit())
        page_kib = _page_size_kib(root)
        if not nodes:
            # virCapabilitiesHostNUMAInitFake: all online CPUs, node-info memory, no pages/distances
            mem = _meminfo_kib(_read(os.path.join(root, "proc/meminfo")), "MemTotal")
            cells = (NumaCell(0, mem, tuple(_numa_cpu(root, c) for c in _online_cpus(root))),)
            sp.set(cells=1, fake=True)
            return HostNUMA(cells, fake=True)
        cells = []
        for n in nodes:
            d = os.path.join(base, f"node{n}")
            cpus = tuple(_numa_cpu(root, c) for c in parse_cpulist(_read(os.path.join(d, "cpulist"))))
            meminfo = _read(os.path.join(d, "meminfo"))
            mem, free = _meminfo_kib(meminfo, "MemTotal"), _meminfo_kib(meminfo, "MemFree")
            try:
                dist = [int(x) for x in (_read(os.path.join(d, "distance")) or "").split()]
            except ValueError:
                dist = []
            huge = []
            for size, hd in _hugepage_sizes(os.path.join(d, "hugepages")):
                huge.append(NumaPages(size, _read_int(os.path.join(hd, "nr_hugepages")) or 0,
                                      _read_int(os.path.join(hd, "free_hugepages")) or 0))
            # System pages exclude memory reserved as huge pages (virNumaGetPageInfo).
            reserved = sum(p.size_kib * p.count for p in huge)
            small = NumaPages(page_kib, max(mem - reserved, 0) // page_kib, free // page_kib)
            cells.append(NumaCell(n, mem, cpus, tuple(zip(nodes, dist)), (small, *huge)))
        sp.set(cells=len(cells), fake=False)
        return HostNUMA(tuple(cells))


def _parse_size(text: str | None) -> int:
    t = (text or "").strip()
    mult = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}.get(t[-1:], 1)
    try:
        return int(t.rstrip("KMG")) * mult
    except ValueError:
        return 0


def probe_caches(root: str | os.PathLike = "/") -> tuple[CacheBank, ...]:
    """CPU cache banks of level >= 3 (virCapabilitiesInitCaches): every online CPU's index dirs."""
    root = _check_root(root)
    with trace.span("host.cache", root=root) as sp:
        banks: dict[tuple[int, str, int], CacheBank] = {}
        for cpu in _online_cpus(root):
            cdir = os.path.join(_cpu_dir(root, cpu), "cache")
            for name in sorted(_listdir(cdir)):
                if not name.startswith("index"):
                    continue
                d = os.path.join(cdir, name)
                level = _read_int(os.path.join(d, "level"))
                if level is None or level < 3:
                    continue
                kind = _CACHE_TYPES.get((_read(os.path.join(d, "type")) or "").strip())
                if kind is None:
                    continue
                bid = _read_int(os.path.join(d, "id"))
                size = _parse_size(_read(os.path.join(d, "size")))
                cpus = parse_cpulist(_read(os.path.join(d, "shared_cpu_list")))
                # Like libvirt, each CPU re-reads its banks; the first reader defines the bank.
                key = (level, kind, bid if bid is not None else min(cpus, default=cpu))
                banks.setdefault(key, CacheBank(key[2], level, kind, size, cpus))
        out = tuple(sorted(banks.values(), key=lambda b: (b.level, b.id, b.type)))
        sp.set(banks=len(out))
        return out


def probe_resctrl(root: str | os.PathLike = "/") -> ResctrlInfo | None:
    """CAT/CDP/MBA/monitoring from /sys/fs/resctrl/info; None when resctrl is not mounted."""
    root = _check_root(root)
    with trace.span("host.resctrl", root=root) as sp:
        info = os.path.join(root, "sys/fs/resctrl/info")
        if not os.path.isdir(info):
            sp.set(present=False)
            return None
        caches = []
        for kind in ("L3", "L3CODE", "L3DATA"):
            d = os.path.join(info, kind)
            closids = _read_int(os.path.join(d, "num_closids"))
            if closids is not None:
                caches.append(ResctrlCache(kind, closids,
                                           (_read(os.path.join(d, "cbm_mask")) or "").strip(),
                                           _read_int(os.path.join(d, "min_cbm_bits")) or 1))
        membw = None
        mb = os.path.join(info, "MB")
        if (closids := _read_int(os.path.join(mb, "num_closids"))) is not None:
            membw = ResctrlMemBW(closids, _read_int(os.path.join(mb, "bandwidth_gran")) or 0,
                                 _read_int(os.path.join(mb, "min_bandwidth")) or 0)
        monitor = None
        mon = os.path.join(info, "L3_MON")
        if (rmids := _read_int(os.path.join(mon, "num_rmids"))) is not None:
            monitor = ResctrlMonitor(rmids,
                                     tuple((_read(os.path.join(mon, "mon_features")) or "").split()),
                                     _read_int(os.path.join(mon, "max_threshold_occupancy")))
        sp.set(present=True)
        return ResctrlInfo(tuple(caches), membw, monitor)


def probe_pages(root: str | os.PathLike = "/") -> tuple[int, ...]:
    """Supported page sizes in KiB: the system page, then /sys/kernel/mm/hugepages sizes."""
    root = _check_root(root)
    with trace.span("host.pages", root=root):
        huge = _hugepage_sizes(os.path.join(root, "sys/kernel/mm/hugepages"))
        return (_page_size_kib(root), *(s for s, _ in huge))


def probe_iommu(root: str | os.PathLike = "/") -> bool:
    """virHostHasIOMMU: any entry in /sys/kernel/iommu_groups."""
    root = _check_root(root)
    with trace.span("host.iommu", root=root):
        return bool(_listdir(os.path.join(root, "sys/kernel/iommu_groups")))


_POWER_MEMO: dict[str, frozenset[str]] = {}


def probe_power(root: str | os.PathLike = "/") -> frozenset[str]:
    """Suspend targets. libvirt asks systemd-logind over D-Bus (CanSuspend/CanHibernate/
    CanHybridSleep); we have no D-Bus and read /sys/power/state instead: "mem" -> suspend_mem,
    "disk" -> suspend_disk, both -> suspend_hybrid. Memoised once per process per root, as
    libvirt computes it once per process."""
    root = _check_root(root)
    key = os.path.abspath(root)
    with trace.span("host.power", root=root) as sp:
        if key in _POWER_MEMO:
            sp.set(memo=True)
            return _POWER_MEMO[key]
        states = set((_read(os.path.join(root, "sys/power/state")) or "").split())
        out = {t for s, t in (("mem", "suspend_mem"), ("disk", "suspend_disk")) if s in states}
        if len(out) == 2:
            out.add("suspend_hybrid")
        sp.set(memo=False)
        return _POWER_MEMO.setdefault(key, frozenset(out))


_GENERATED_UUID: str | None = None


def probe_uuid(root: str | os.PathLike = "/") -> str:
    """virGetHostUUID: SMBIOS product_uuid, else /etc/machine-id as a UUID, else a random one
    generated once per process."""
    global _GENERATED_UUID
    root = _check_root(root)
    with trace.span("host.uuid", root=root) as sp:
        for rel in ("sys/devices/virtual/dmi/id/product_uuid", "sys/class/dmi/id/product_uuid",
                    "etc/machine-id"):
            text = (_read(os.path.join(root, rel)) or "").strip()
            try:
                value = str(_uuid.UUID(text))
            except ValueError:
                continue
            sp.set(source=rel)
            return value
        if _GENERATED_UUID is None:
            _GENERATED_UUID = str(_uuid.uuid4())
        sp.set(source="generated")
        return _GENERATED_UUID


def probe_secmodels(models: Sequence[SecModelSpec] = DEFAULT_SEC_MODELS) -> tuple[SecModel, ...]:
    """The driver's stacked security managers, as given by the caller (qemu.conf in libvirt)."""
    with trace.span("host.secmodel"):
        return tuple(SecModel(m, doi, dict(labels)) for m, doi, labels in models)


def probe_host(root: str | os.PathLike = "/",
               sec_models: Sequence[SecModelSpec] = DEFAULT_SEC_MODELS) -> HostCaps:
    """Every host sub-probe, as one virCapsHost."""
    root = _check_root(root)
    with trace.span("host", root=root):
        cpu = probe_cpu(root)
        return HostCaps(arch=probe_arch(root), uuid=probe_uuid(root), cpu=cpu,
                        numa=probe_numa(root), caches=probe_caches(root),
                        resctrl=probe_resctrl(root), page_sizes_kib=probe_pages(root),
                        iommu=probe_iommu(root), power=probe_power(root),
                        sec_models=probe_secmodels(sec_models))
