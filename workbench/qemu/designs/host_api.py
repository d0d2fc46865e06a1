"""Fine-grained host capability API designs, served by the daemon beside libvirt's.

The designs, all returning XML strings as libvirt does:
  (a) get_capabilities                      libvirt's: host + every guest (served by the driver);
      connect_get_capabilities(memo)        the same, or with memo the driver's cached virCaps;
  (b) node_get_capabilities()               host-only `<host>`, every sub-probe;
  (c) node_get_capabilities(flags=[...])    only the parts named;
  (d) node_get_<part>()                     one API per part, e.g. node_get_cpu, node_get_numa.
Each takes `memo` (true/false); omitted, the daemon's default applies (off, like
virConnectGetCapabilities; set it per daemon with WORKBENCH_HOST_MEMO=1 in its environment or at
run time with node_host_memo(memo=true)).

Flags are part names, not a bitmask. libvirt's C APIs take `unsigned int flags` (each name would
map 1:1 to a VIR_NODE_CAPS_<NAME> bit), but over JSON names are self-describing, survive new
parts being added, and let an error name the bad flag ("unknown flag 'cpus'") instead of a bit.
Omitted flags mean everything (libvirt's "flags=0 is the default"); an empty list is an error.

Memoisation keeps the probe results (the dataclasses), never the XML, as libvirt 6.6 memoises
virCPUDef and virCapsHostNUMA and formats on every call. What stays valid:
  - cpu, caches, pages, iommu, uuid, secmodel, migration: fixed for the daemon's life (cpu as in
    libvirt >= 6.6); only CPU hotplug or a microcode load changes cpu/caches: node_invalidate.
  - power: conf.host already memoises it per process, as libvirt does, whatever `memo` says.
  - numa: per-cell page counts change whenever hugepages are reserved (virNodeAllocPages, sysctl),
    so a memoised NUMA goes stale (libvirt 6.6's bug): TTL (default 5 s) plus node_invalidate.
  - resctrl: appears when resctrl is mounted after the daemon started: TTL 60 s.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from lxml import etree

from workbench import trace
from workbench.conf import host as H
from workbench.conf.host_xml import format_host
from workbench.errors import InvalidArgument

# In <host> order (virCapabilitiesFormatHostXML); node_get_capabilities with all of them
# equals the whole <host>.
PARTS = ("uuid", "cpu", "pages", "power", "iommu", "migration", "numa", "caches", "resctrl",
         "secmodel")
# resctrl's XML lives in the cache banks (<control>) and the per-L3 <memory_bandwidth> nodes.
NEEDS = {"resctrl": ("caches",)}
DEFAULT_TTL_S: dict[str, float | None] = {p: None for p in PARTS} | {"numa": 5.0, "resctrl": 60.0}
MEMO_ENV = "WORKBENCH_HOST_MEMO"


def parse_flags(flags: Iterable[str] | None) -> tuple[str, ...]:
    """Flag names -> the parts to probe, in PARTS order. Raises InvalidArgument naming bad flags."""
    if flags is None:
        return PARTS
    if isinstance(flags, str) or not isinstance(flags, (list, tuple)):
        raise InvalidArgument(f"Invalid params: flags must be a list of part names "
                              f"({', '.join(PARTS)}), got {flags!r}")
    bad = [f for f in flags if f not in PARTS]
    if bad:
        raise InvalidArgument(f"Invalid params: unknown flag {', '.join(map(repr, bad))}"
                              f" (known: {', '.join(PARTS)})")
    if not flags:
        raise InvalidArgument("Invalid params: flags is empty (omit it for everything)")
    want = set(flags) | {n for f in flags for n in NEEDS.get(f, ())}
    return tuple(p for p in PARTS if p in want)


def capabilities_parts(flags: Sequence[str] | None) -> tuple[str, ...] | None:
    """What get_capabilities(flags) asks for: host part names and/or "guests" -> the parts, in
    PARTS order with "guests" last; None: everything. Raises InvalidArgument naming a bad flag."""
    if flags is None:
        return None
    if isinstance(flags, (list, tuple)) and "guests" in flags:
        host = [f for f in flags if f != "guests"]
        return (parse_flags(host) if host else ()) + ("guests",)
    return parse_flags(flags)


def _node_count(root: str) -> int:
    """NUMA node dirs, as node info counts them: <cpu><topology> divides sockets by nodes, so the
    CPU part needs this, but not the whole NUMA probe."""
    with trace.span("host.nodes", root=root):
        base = os.path.join(root, "sys/devices/system/node")
        try:
            names = os.listdir(base)
        except OSError:
            names = []
        return max(sum(n.startswith("node") and n[4:].isdigit() for n in names), 1)


@dataclass
class _Entry:
    value: Any
    at: float


@dataclass
class HostApi:
    """The host part of a driver: per-part probes, optionally memoised, formatted on demand."""
    driver: Any                                     # workbench.qemu.driver.QemuDriver
    memo: bool = field(default_factory=lambda: os.environ.get(MEMO_ENV, "0") not in ("", "0"))
    ttl_s: dict[str, float | None] = field(default_factory=lambda: dict(DEFAULT_TTL_S))
    clock: Callable[[], float] = time.monotonic     # injectable: tests move time without sleeping
    _memo: dict[str, _Entry] = field(default_factory=dict)
    _caps_stale: bool = False

    @property
    def root(self) -> str:
        return self.driver.options.host_root

    def _probe(self, part: str) -> Any:
        r = self.root
        if part == "cpu":
            return H.probe_cpu(r), _node_count(r)
        if part == "secmodel":
            return H.probe_secmodels(self.driver.options.sec_models)
        if part == "migration":
            return None   # hard-coded in libvirt: nothing to probe
        return {"uuid": H.probe_uuid, "pages": H.probe_pages, "power": H.probe_power,
                "iommu": H.probe_iommu, "numa": H.probe_numa, "caches": H.probe_caches,
                "resctrl": H.probe_resctrl}[part](r)

    def get(self, part: str, memo: bool | None = None) -> Any:
        if not (self.memo if memo is None else memo):
            return self._probe(part)
        now, ttl = self.clock(), self.ttl_s.get(part)
        e = self._memo.get(part)
        if e is not None and (ttl is None or now - e.at < ttl):
            trace.count("host_api.memo_hits")
            return e.value
        trace.count("host_api.memo_misses")
        e = self._memo[part] = _Entry(self._probe(part), now)
        return e.value

    # -- formatting ---------------------------------------------------------------------------
    def host_xml(self, parts: tuple[str, ...], memo: bool | None) -> str:
        """A <host> holding only `parts`, each element as in libvirt's full <host>."""
        d = {p: self.get(p, memo) for p in parts}
        with trace.span("host_api.format", parts=len(parts)):
            cpu = None
            if "cpu" in d:
                host_cpu, nodes = d["cpu"]
                cpu = (host_cpu, d.get("numa") or
                       H.HostNUMA(tuple(H.NumaCell(i, 0, ()) for i in range(nodes))))
            host = format_host(H.HostParts(
                uuid=d.get("uuid"), cpu=cpu, page_sizes_kib=d.get("pages"), power=d.get("power"),
                iommu=d.get("iommu"), migration=(True, ("tcp", "rdma")) if "migration" in d else None,
                numa=d.get("numa"), caches=d.get("caches"), resctrl=d.get("resctrl"),
                sec_models=d.get("secmodel")))
            return etree.tostring(host, encoding="unicode")

    # -- the APIs -----------------------------------------------------------------------------
    def node_get_capabilities(self, flags: list[str] | None = None, memo: bool | None = None) -> str:
        parts = parse_flags(flags)
        with trace.span("api", method="node_get_capabilities", parts=",".join(parts)):
            return self.host_xml(parts, memo)

    def node_get_part(self, part: str, memo: bool | None = None) -> str:
        with trace.span("api", method=f"node_get_{part}"):
            return self.host_xml(parse_flags([part]), memo)

    def connect_get_capabilities(self, memo: bool | None = None) -> str:
        """(a) with memo: the driver's cached virCaps (what GetVersion uses); without: a rebuild."""
        if not (self.memo if memo is None else memo):
            return self.driver.get_capabilities()
        with trace.span("api", method="connect_get_capabilities", memo=True):
            caps = self.driver.capabilities(refresh=self._caps_stale)
            self._caps_stale = False
            return caps.to_xml()

    def node_invalidate(self, parts: list[str] | None = None) -> list[str]:
        """Drop memoised parts (all if omitted): what a hugepage reservation, a CPU hotplug or a
        resctrl mount would call. Also marks the cached virCaps stale. Returns what was dropped."""
        want = PARTS if parts is None else parse_flags(parts)
        dropped = [p for p in want if self._memo.pop(p, None) is not None]
        self._caps_stale = True
        trace.count("host_api.invalidations")
        return dropped

    def node_host_memo(self, memo: bool | None = None,
                       ttl_s: dict[str, float | None] | None = None) -> dict[str, Any]:
        """Set this daemon's default `memo` and per-part TTLs (seconds; null = daemon lifetime)."""
        if memo is not None:
            self.memo = bool(memo)
        for p, v in (ttl_s or {}).items():
            parse_flags([p])
            self.ttl_s[p] = None if v is None else float(v)
        return {"memo": self.memo, "ttl_s": dict(self.ttl_s)}


def host_api_table(driver: Any) -> dict[str, Callable[..., Any]]:
    """The daemon's methods for these designs, get_capabilities among them: its `flags` are
    checked here whatever the strategy (libvirt's own ignore them, the driver mirroring
    virConnectGetCapabilities, which takes none)."""
    api = HostApi(driver)

    def get_capabilities(flags: list[str] | None = None) -> str:
        capabilities_parts(flags)  # a bad flag is an error, even where the answer is everything
        return driver.get_capabilities(flags)

    table: dict[str, Callable[..., Any]] = {
        "get_capabilities": get_capabilities,
        "node_get_capabilities": api.node_get_capabilities,
        "connect_get_capabilities": api.connect_get_capabilities,
        "node_invalidate": api.node_invalidate,
        "node_host_memo": api.node_host_memo,
    }
    for p in PARTS:
        table[f"node_get_{p}"] = _per_part(api, p)
    return table


def _per_part(api: HostApi, part: str) -> Callable[..., str]:
    def node_get(memo: bool | None = None) -> str:   # only `memo`: a client cannot pick the part
        return api.node_get_part(part, memo)
    return node_get
