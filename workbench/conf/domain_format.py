"""Domain XML format: libvirt's canonical element order (virDomainDefFormat) and the formatter."""
from __future__ import annotations
import re
from operator import itemgetter


from workbench import trace

from workbench.conf.domain import AnyAddress, DomainDef, Elem, PCIAddress, Raw

# ---------------------------------------------------------------------------------------------
# Canonical orders (libvirt's virDomainDefFormat order); unknown tags and comments go last.

def _ranks(*tags: str) -> dict[object, int]:
    return {t: i for i, t in enumerate(tags)}


_LAST = 1000
TOP_RANK = _ranks(
    "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory",
    "currentMemory", "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads",
    "iothreadids", "defaultiothread", "cputune", "numatune", "resource", "sysinfo", "bootloader",
    "bootloader_args", "os", "idmap", "features", "cpu", "clock", "on_poweroff", "on_reboot",
    "on_crash", "on_lockfailure", "pm", "perf", "devices", "seclabel", "keywrap",
    "launchSecurity")
DEV_RANK = _ranks(
    "emulator", "disk", "controller", "lease", "filesystem", "interface", "smartcard", "serial",
    "parallel", "console", "channel", "input", "tpm", "graphics", "sound", "audio", "video",
    "hostdev", "redirdev", "redirfilter", "hub", "watchdog", "memballoon", "rng", "nvram",
    "panic", "shmem", "memory", "iommu", "vsock", "crypto", "pstore")
OS_RANK = _ranks("type", "firmware", "loader", "nvram", "kernel", "initrd", "cmdline", "dtb",
                  "acpi", "boot", "bootmenu", "smbios", "bios")
CPU_RANK = _ranks("model", "vendor", "topology", "cache", "maxphysaddr", "feature", "numa")
_FEATURE_ORDER = _ranks(
    "acpi", "apic", "pae", "hap", "viridian", "privnet", "hyperv", "kvm", "pvspinlock",
    "capabilities", "pmu", "vmport", "gic", "smm", "ioapic", "hpt", "vmcoreinfo", "htm",
    "nested-hv", "msrs", "ccf-assist", "xen", "cfpc", "sbbc", "ibs", "tcg", "async-teardown")
DISK_RANK = _ranks("driver", "auth", "source", "backingStore", "backenddomain", "geometry",
                    "blockio", "target", "iotune", "readonly", "shareable", "transient",
                    "serial", "wwn", "vendor", "product", "encryption", "boot", "alias",
                    "address")
NET_RANK = _ranks("mac", "source", "virtualport", "ip", "route", "script", "downscript",
                   "backenddomain", "target", "guest", "model", "driver", "backend",
                   "filterref", "tune", "teaming", "link", "mtu", "coalesce", "boot", "rom",
                   "alias", "address")
CTRL_RANK = _ranks("model", "target", "pcihole64", "driver", "alias", "address")
CHR_RANK = _ranks("source", "protocol", "log", "target", "alias", "address")
SEC_RANK = _ranks("label", "imagelabel", "baselabel")


def sorted_raws(raws: list[Raw], ranks: dict[object, int]) -> list[Raw]:
    if len(raws) > 1:
        raws.sort(key=lambda r: ranks.get(r.el.tag, _LAST))
    return raws


# ---------------------------------------------------------------------------------------------
# Formatting

_ATTR_ESC = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "'": "&apos;", '"': "&quot;",
                           "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})
_TEXT_ESC = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_XML_NS = "{http://www.w3.org/XML/1998/namespace}"


_needs_esc = re.compile(r"[&<>'\"\n\r\t]").search  # most values need no escaping at all


def _esc(v: str) -> str:
    return v.translate(_ATTR_ESC) if _needs_esc(v) else v


def _attrs(a: dict[str, str], ns: dict[str, str] | None = None) -> str:
    if not a:
        return ""
    return "".join(f' {_qname(k, ns or {}) if k[0] == "{" else k}="{_esc(v)}"'
                   for k, v in a.items())


def _qname(key: str, ns: dict[str, str]) -> str:
    if key.startswith(_XML_NS):
        return "xml:" + key[len(_XML_NS):]
    uri, local = key[1:].split("}", 1)
    for prefix, u in ns.items():
        if u == uri:
            return f"{prefix}:{local}"
    raise ValueError(f"no namespace prefix declared on <domain> for attribute {key}")


def _opt(name: str, v: str | None) -> str:
    return "" if v is None else f' {name}="{_esc(v)}"'


def _text(tag: str, v: str, ind: str) -> str:
    return f"{ind}<{tag}>{v.translate(_TEXT_ESC)}</{tag}>\n"


def _fmt_elem(tag: str, e: Elem, ind: str, ns: dict[str, str]) -> str:
    head = f"{ind}<{tag}{_attrs(e.attrs, ns)}"
    if not e.children:
        if e.text is None:
            return head + "/>\n"
        return f"{head}>{e.text.translate(_TEXT_ESC)}</{tag}>\n"
    # Text goes right before the first child, so that re-parsing reads back the same text.
    first = "\n" if e.text is None else e.text.translate(_TEXT_ESC)
    kids = f"\n{ind}  ".join(r.xml for r in e.children)
    lead = f"{ind}  " if e.text is None else ""
    return f"{head}>{first}{lead}{kids}\n{ind}</{tag}>\n"


def _fmt_address(a: AnyAddress, ind: str, ns: dict[str, str]) -> str:
    if isinstance(a, PCIAddress):
        return (f'{ind}<address type="pci" domain="0x{a.domain:04x}" bus="0x{a.bus:02x}" '
                f'slot="0x{a.slot:02x}" function="0x{a.function:x}"'
                f"{_opt('multifunction', a.multifunction)}/>\n")
    attrs = ({"type": a.type} if a.type is not None else {}) | a.attrs
    return _fmt_elem("address", Elem(attrs, None, a.children), ind, ns)


def _block(tag: str, attrs: str, items: list[tuple[int, str]], raws: list[Raw],
           ranks: dict[object, int], ind: str) -> str:
    """An element whose typed and raw children are merged into canonical order."""
    inner = ind + "  "
    for r in raws:
        items.append((ranks.get(r.el.tag, _LAST), f"{inner}{r.xml}\n"))
    if not items:
        return f"{ind}<{tag}{attrs}/>\n"
    items.sort(key=_first)  # stable: same-rank items keep their order
    return f"{ind}<{tag}{attrs}>\n{''.join(s for _, s in items)}{ind}</{tag}>\n"


_first = itemgetter(0)


def _device_block(tag: str, attrs: str, subs: list[tuple[str, Elem | None]],
                  address: AnyAddress | None, raws: list[Raw], ranks: dict[object, int],
                  ind: str, ns: dict[str, str]) -> str:
    inner = ind + "  "
    items = [(ranks[t], _fmt_elem(t, e, inner, ns)) for t, e in subs if e is not None]
    if address is not None:
        items.append((ranks["address"], _fmt_address(address, inner, ns)))
    return _block(tag, attrs, items, raws, ranks, ind)


def format_domain(d: DomainDef) -> str:
    """Format in libvirt's canonical element order (2-space indent; double quotes, as lxml writes raw parts)."""
    with trace.span("domain.format", domain=d.name):
        ns = d.namespaces
        I1, I2 = "  ", "    "
        top: list[tuple[int, str]] = [(TOP_RANK["name"], _text("name", d.name, I1))]
        if d.uuid is not None:
            top.append((TOP_RANK["uuid"], _text("uuid", d.uuid, I1)))
        if d.memory_kib is not None:
            top.append((TOP_RANK["memory"], f'{I1}<memory unit="KiB"'
                        f"{_opt('dumpCore', d.memory_dump_core)}>{d.memory_kib}</memory>\n"))
        if d.current_memory_kib is not None:
            top.append((TOP_RANK["currentMemory"],
                        f'{I1}<currentMemory unit="KiB">{d.current_memory_kib}</currentMemory>\n'))
        top.append((TOP_RANK["vcpu"], f"{I1}<vcpu{_attrs(d.vcpu_attrs, ns)}>{d.vcpus}</vcpu>\n"))

        o = d.os
        os_items = [(OS_RANK["type"], f"{I2}<type{_opt('arch', o.arch)}{_opt('machine', o.machine)}>"
                     f"{(o.type or '').translate(_TEXT_ESC)}</type>\n")]
        if o.loader is not None:
            os_items.append((OS_RANK["loader"], _fmt_elem("loader", o.loader, I2, ns)))
        if o.nvram is not None:
            os_items.append((OS_RANK["nvram"], _fmt_elem("nvram", o.nvram, I2, ns)))
        for dev in o.boot:
            os_items.append((OS_RANK["boot"], f'{I2}<boot dev="{dev.translate(_ATTR_ESC)}"/>\n'))
        top.append((TOP_RANK["os"], _block("os", _attrs(o.extra_attrs, ns), os_items, o.extra,
                                            OS_RANK, I1)))

        if d.features is not None:
            names = sorted(d.features, key=lambda n: _FEATURE_ORDER.get(n, _LAST))
            f_items = [(0, _fmt_elem(n, d.features[n], I2, ns)) for n in names]
            top.append((TOP_RANK["features"],
                        _block("features", "", f_items, d.features_extra, {}, I1)))

        if d.cpu is not None:
            c = d.cpu
            c_items: list[tuple[int, str]] = []
            if c.model is not None or c.model_fallback is not None or c.model_vendor_id is not None:
                c_items.append((CPU_RANK["model"], f"{I2}<model{_opt('fallback', c.model_fallback)}"
                                f"{_opt('vendor_id', c.model_vendor_id)}>"
                                f"{(c.model or '').translate(_TEXT_ESC)}</model>\n"))
            if c.vendor is not None:
                c_items.append((CPU_RANK["vendor"], _text("vendor", c.vendor, I2)))
            if c.topology is not None:
                c_items.append((CPU_RANK["topology"], f"{I2}<topology{_attrs(c.topology, ns)}/>\n"))
            for f in c.features:
                c_items.append((CPU_RANK["feature"], f"{I2}<feature{_opt('policy', f.policy)}"
                                f"{_opt('name', f.name)}/>\n"))
            attrs = (_opt("mode", c.mode) + _opt("match", c.match) + _opt("check", c.check)
                     + _attrs(c.extra_attrs, ns))
            top.append((TOP_RANK["cpu"], _block("cpu", attrs, c_items, c.extra, CPU_RANK, I1)))

        dev: list[tuple[int, str]] = []
        if d.emulator is not None:
            dev.append((DEV_RANK["emulator"], _text("emulator", d.emulator, I2)))
        r = DEV_RANK["disk"]
        for k in d.disks:
            dev.append((r, _device_block(
                "disk", _opt("type", k.type) + _opt("device", k.device) + _attrs(k.extra_attrs, ns),
                [("driver", k.driver), ("source", k.source), ("target", k.target)],
                k.address, k.extra, DISK_RANK, I2, ns)))
        r = DEV_RANK["controller"]
        for ct in d.controllers:
            attrs = (_opt("type", ct.type) + ("" if ct.index is None else f' index="{ct.index}"')
                     + _opt("model", ct.model) + _attrs(ct.extra_attrs, ns))
            dev.append((r, _device_block("controller", attrs, [], ct.address, ct.extra,
                                         CTRL_RANK, I2, ns)))
        r = DEV_RANK["interface"]
        for n in d.interfaces:
            dev.append((r, _device_block(
                "interface", _opt("type", n.type) + _attrs(n.extra_attrs, ns),
                [("mac", n.mac), ("source", n.source), ("target", n.target), ("model", n.model)],
                n.address, n.extra, NET_RANK, I2, ns)))
        for tag, chars in (("serial", d.serials), ("console", d.consoles), ("channel", d.channels)):
            r = DEV_RANK[tag]
            for ch in chars:
                dev.append((r, _device_block(
                    tag, _opt("type", ch.type) + _attrs(ch.extra_attrs, ns),
                    [("source", ch.source), ("target", ch.target)],
                    ch.address, ch.extra, CHR_RANK, I2, ns)))
        r = DEV_RANK["graphics"]
        for g in d.graphics:
            dev.append((r, _block("graphics", _opt("type", g.type) + _attrs(g.attrs, ns), [],
                                  g.extra, {}, I2)))
        if dev or d.devices_extra:
            top.append((TOP_RANK["devices"],
                        _block("devices", "", dev, d.devices_extra, DEV_RANK, I1)))

        r = TOP_RANK["seclabel"]
        for s in d.seclabels:
            s_items = [(SEC_RANK[t], _text(t, v, I2)) for t, v in
                       (("label", s.label), ("imagelabel", s.imagelabel), ("baselabel", s.baselabel))
                       if v is not None]
            attrs = (_opt("type", s.type) + _opt("model", s.model) + _opt("relabel", s.relabel)
                     + _attrs(s.extra_attrs, ns))
            top.append((r, _block("seclabel", attrs, s_items, s.extra, SEC_RANK, I1)))

        head = (_opt("type", d.virt_type)
                + ("" if d.id is None else f' id="{d.id}"') + _attrs(d.extra_attrs, ns)
                + "".join(f' xmlns:{p}="{u.translate(_ATTR_ESC)}"' for p, u in ns.items()))
        return _block("domain", head, top, d.extra, TOP_RANK, "")


