"""Generic domain XML layer: hardened parse, typed records, canonical format, generic post-parse.

This is the strategy-independent part of libvirt's parse path (design doc section (d), steps 1-5,
8 and 15): nothing here looks at capabilities, emulators or the caps cache. What capabilities
touch is typed (virt type, os type/arch/machine, emulator, features, cpu, seclabels, the devices
that need addresses and controllers); everything else is kept as verbatim lxml elements (`Raw`)
so that it formats back unchanged.

Equality: `parse_domain(format_domain(d)) == d`. Raw elements compare by their serialized form.
Elements that are not typed are sorted into libvirt's canonical order at parse time, so a
document and its formatted form parse to equal records.

The helpers at the end (controller indexes, PCI slots, auto ifnames, seclabel model, MACs) edit
the record in place, as libvirt's post-parse does, and return it for chaining.
"""
from __future__ import annotations

import hashlib
import os
import re
import threading
import uuid as _uuid
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Iterator

from lxml import etree

from workbench import trace
from workbench.errors import XMLError

DEFAULT_MAX_BYTES = 10 * 1024 * 1024

# virDomainVirtType names.
VIRT_TYPES = frozenset({
    "none", "qemu", "kqemu", "kvm", "xen", "lxc", "uml", "openvz", "test", "vmware", "hyperv",
    "vbox", "phyp", "parallels", "bhyve", "vz", "hvf", "ch",
})


# ---------------------------------------------------------------------------------------------
# Records

class Raw:
    """An element (or comment) kept verbatim; equal when the serialized forms are equal."""

    __slots__ = ("el",)

    def __init__(self, el: etree._Element) -> None:
        self.el = el

    @property
    def tag(self) -> object:  # a str, or etree.Comment / etree.PI for non-elements
        return self.el.tag

    @property
    def xml(self) -> str:
        return etree.tostring(self.el, encoding="unicode", with_tail=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Raw) and self.xml == other.xml

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Raw({self.xml!r})"

    @classmethod
    def fromstring(cls, xml: str) -> "Raw":
        return cls(etree.fromstring(xml, _parser()))


@dataclass(slots=True)
class Elem:
    """A sub-element whose attributes matter (source, target, driver, model, ...)."""
    attrs: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    children: list[Raw] = field(default_factory=list)


@dataclass(slots=True)
class PCIAddress:
    domain: int = 0
    bus: int = 0
    slot: int = 0
    function: int = 0
    multifunction: str | None = None


@dataclass(slots=True)
class Address:
    """Any non-PCI address (drive, ccw, virtio-serial, usb, virtio-mmio, ...), kept verbatim."""
    type: str | None
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Raw] = field(default_factory=list)


AnyAddress = PCIAddress | Address


@dataclass(slots=True)
class OSDef:
    type: str | None = None          # "hvm" for QEMU
    arch: str | None = None
    machine: str | None = None
    loader: Elem | None = None
    nvram: Elem | None = None
    boot: list[str] = field(default_factory=list)   # <boot dev=.../> in order
    extra_attrs: dict[str, str] = field(default_factory=dict)  # e.g. firmware='efi'
    extra: list[Raw] = field(default_factory=list)  # kernel, initrd, cmdline, smbios, ...


@dataclass(slots=True)
class CPUFeature:
    name: str
    policy: str | None = None


@dataclass(slots=True)
class CPUDef:
    mode: str | None = None
    match: str | None = None
    check: str | None = None
    model: str | None = None
    model_fallback: str | None = None
    model_vendor_id: str | None = None
    vendor: str | None = None
    topology: dict[str, str] | None = None
    features: list[CPUFeature] = field(default_factory=list)
    extra_attrs: dict[str, str] = field(default_factory=dict)
    extra: list[Raw] = field(default_factory=list)  # numa, cache, maxphysaddr, ...


@dataclass(slots=True)
class SecLabel:
    type: str | None = None      # None means dynamic (libvirt's default)
    model: str | None = None
    relabel: str | None = None
    label: str | None = None
    imagelabel: str | None = None
    baselabel: str | None = None
    extra_attrs: dict[str, str] = field(default_factory=dict)
    extra: list[Raw] = field(default_factory=list)


@dataclass(slots=True)
class DiskDef:
    type: str | None = None
    device: str | None = None
    driver: Elem | None = None
    source: Elem | None = None
    target: Elem | None = None
    address: AnyAddress | None = None
    extra_attrs: dict[str, str] = field(default_factory=dict)
    extra: list[Raw] = field(default_factory=list)

    @property
    def dev(self) -> str | None:
        return self.target.attrs.get("dev") if self.target else None

    @property
    def bus(self) -> str | None:
        return self.target.attrs.get("bus") if self.target else None

    @property
    def source_file(self) -> str | None:
        """The path the source names, whichever attribute the disk type uses."""
        if self.source is None:
            return None
        a = self.source.attrs
        return a.get("file") or a.get("dev") or a.get("dir") or a.get("name")


@dataclass(slots=True)
class InterfaceDef:
    type: str | None = None
    mac: Elem | None = None
    source: Elem | None = None
    target: Elem | None = None
    model: Elem | None = None
    address: AnyAddress | None = None
    extra_attrs: dict[str, str] = field(default_factory=dict)
    extra: list[Raw] = field(default_factory=list)

    @property
    def mac_address(self) -> str | None:
        return self.mac.attrs.get("address") if self.mac else None

    @property
    def model_type(self) -> str | None:
        return self.model.attrs.get("type") if self.model else None

    @property
    def ifname(self) -> str | None:
        return self.target.attrs.get("dev") if self.target else None


@dataclass(slots=True)
class ControllerDef:
    type: str | None = None
    index: int | None = None
    model: str | None = None
    address: AnyAddress | None = None
    extra_attrs: dict[str, str] = field(default_factory=dict)
    extra: list[Raw] = field(default_factory=list)


@dataclass(slots=True)
class CharDevDef:
    """<serial>, <console> or <channel>."""
    type: str | None = None
    source: Elem | None = None
    target: Elem | None = None
    address: AnyAddress | None = None
    extra_attrs: dict[str, str] = field(default_factory=dict)
    extra: list[Raw] = field(default_factory=list)

    @property
    def target_type(self) -> str | None:
        return self.target.attrs.get("type") if self.target else None


@dataclass(slots=True)
class GraphicsDef:
    type: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)  # port, autoport, listen, ...
    extra: list[Raw] = field(default_factory=list)       # <listen>, <image>, ...


@dataclass(slots=True)
class DomainDef:
    virt_type: str
    name: str
    uuid: str | None = None
    id: int | None = None
    memory_kib: int | None = None
    memory_dump_core: str | None = None
    current_memory_kib: int | None = None
    vcpus: int = 1
    vcpu_attrs: dict[str, str] = field(default_factory=dict)  # placement, current, cpuset
    os: OSDef = field(default_factory=OSDef)
    features: dict[str, Elem] | None = None   # None: no <features> element
    features_extra: list[Raw] = field(default_factory=list)
    cpu: CPUDef | None = None
    seclabels: list[SecLabel] = field(default_factory=list)
    emulator: str | None = None
    disks: list[DiskDef] = field(default_factory=list)
    controllers: list[ControllerDef] = field(default_factory=list)
    interfaces: list[InterfaceDef] = field(default_factory=list)
    serials: list[CharDevDef] = field(default_factory=list)
    consoles: list[CharDevDef] = field(default_factory=list)
    channels: list[CharDevDef] = field(default_factory=list)
    graphics: list[GraphicsDef] = field(default_factory=list)
    devices_extra: list[Raw] = field(default_factory=list)  # video, input, memballoon, rng, ...
    extra_attrs: dict[str, str] = field(default_factory=dict)
    extra: list[Raw] = field(default_factory=list)          # clock, on_*, metadata, ...
    namespaces: dict[str, str] = field(default_factory=dict)  # xmlns:prefix on <domain>
    source: str = field(default="<string>", compare=False, repr=False)
    # libvirt's def->postParseFailed: driver state on the def, not part of the XML.
    post_parse_failed: bool = field(default=False, compare=False, repr=False)

    @property
    def devices(self) -> list[object]:
        """Every device, typed or raw, as libvirt iterates them per device (no <emulator>)."""
        return [*self.disks, *self.controllers, *self.interfaces, *self.serials, *self.consoles,
                *self.channels, *self.graphics,
                *(r for r in self.devices_extra if isinstance(r.el.tag, str))]

    def device_count(self) -> int:
        return len(self.devices)


# ---------------------------------------------------------------------------------------------
# Canonical orders (libvirt's virDomainDefFormat order); unknown tags and comments go last.

def _ranks(*tags: str) -> dict[object, int]:
    return {t: i for i, t in enumerate(tags)}


_LAST = 1000
_TOP_RANK = _ranks(
    "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory",
    "currentMemory", "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads",
    "iothreadids", "defaultiothread", "cputune", "numatune", "resource", "sysinfo", "bootloader",
    "bootloader_args", "os", "idmap", "features", "cpu", "clock", "on_poweroff", "on_reboot",
    "on_crash", "on_lockfailure", "pm", "perf", "devices", "seclabel", "keywrap",
    "launchSecurity")
_DEV_RANK = _ranks(
    "emulator", "disk", "controller", "lease", "filesystem", "interface", "smartcard", "serial",
    "parallel", "console", "channel", "input", "tpm", "graphics", "sound", "audio", "video",
    "hostdev", "redirdev", "redirfilter", "hub", "watchdog", "memballoon", "rng", "nvram",
    "panic", "shmem", "memory", "iommu", "vsock", "crypto", "pstore")
_OS_RANK = _ranks("type", "firmware", "loader", "nvram", "kernel", "initrd", "cmdline", "dtb",
                  "acpi", "boot", "bootmenu", "smbios", "bios")
_CPU_RANK = _ranks("model", "vendor", "topology", "cache", "maxphysaddr", "feature", "numa")
_FEATURE_ORDER = _ranks(
    "acpi", "apic", "pae", "hap", "viridian", "privnet", "hyperv", "kvm", "pvspinlock",
    "capabilities", "pmu", "vmport", "gic", "smm", "ioapic", "hpt", "vmcoreinfo", "htm",
    "nested-hv", "msrs", "ccf-assist", "xen", "cfpc", "sbbc", "ibs", "tcg", "async-teardown")
_DISK_RANK = _ranks("driver", "auth", "source", "backingStore", "backenddomain", "geometry",
                    "blockio", "target", "iotune", "readonly", "shareable", "transient",
                    "serial", "wwn", "vendor", "product", "encryption", "boot", "alias",
                    "address")
_NET_RANK = _ranks("mac", "source", "virtualport", "ip", "route", "script", "downscript",
                   "backenddomain", "target", "guest", "model", "driver", "backend",
                   "filterref", "tune", "teaming", "link", "mtu", "coalesce", "boot", "rom",
                   "alias", "address")
_CTRL_RANK = _ranks("model", "target", "pcihole64", "driver", "alias", "address")
_CHR_RANK = _ranks("source", "protocol", "log", "target", "alias", "address")
_SEC_RANK = _ranks("label", "imagelabel", "baselabel")


def _sorted_raws(raws: list[Raw], ranks: dict[object, int]) -> list[Raw]:
    if len(raws) > 1:
        raws.sort(key=lambda r: ranks.get(r.el.tag, _LAST))
    return raws


# ---------------------------------------------------------------------------------------------
# Parsing

_local = threading.local()


def _parser() -> etree.XMLParser:
    # lxml parsers are not thread-safe; one per thread, reused (creating one costs ~1.5 us).
    p = getattr(_local, "parser", None)
    if p is None:
        p = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                            dtd_validation=False, huge_tree=False, remove_blank_text=False,
                            collect_ids=False)
        _local.parser = p
    return p


def _line_col(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    return line, offset - (data.rfind(b"\n", 0, offset) + 1) + 1


class _Ctx:
    """Per-parse state: where errors point, and whether raw elements must be unlinked."""

    __slots__ = ("source", "data", "unlink")

    def __init__(self, source: str, data: bytes, unlink: bool) -> None:
        self.source = source
        self.data = data
        self.unlink = unlink

    def fail(self, el: etree._Element, message: str) -> XMLError:
        line = el.sourceline or 1
        column = 1
        lines = self.data.split(b"\n")
        if isinstance(el.tag, str) and 0 < line <= len(lines):
            pos = lines[line - 1].find(b"<" + etree.QName(el).localname.encode())
            column = pos + 1 if pos >= 0 else 1
        return XMLError(self.source, line, column, message)

    def raw(self, el: etree._Element) -> Raw:
        if self.unlink:
            # Detached elements carry only the namespace declarations they use; left in place,
            # tostring would copy every xmlns of <domain> onto each of them.
            el.getparent().remove(el)
        return Raw(el)


def _prescan(data: bytes, source: str) -> None:
    """Refuse entity declarations and external DTDs before libxml2 sees a byte of them."""
    for needle, why in ((b"<!ENTITY", "entity declarations are not allowed"),
                        (b"<!DOCTYPE", None)):
        pos = data.find(needle)
        if pos < 0:
            continue
        if why is None:
            end = data.find(b">", pos)
            decl = data[pos:end if end >= 0 else len(data)]
            if b"SYSTEM" not in decl and b"PUBLIC" not in decl and b"[" not in decl:
                continue  # a bare <!DOCTYPE domain> is harmless
            why = "DOCTYPE with an external DTD or an internal subset is not allowed"
        line, col = _line_col(data, pos)
        raise XMLError(source, line, col, why)


def _parse_bytes(data: bytes, source: str) -> etree._Element:
    parser = _parser()
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as e:
        errs = [x for x in parser.error_log if x.level >= etree.ErrorLevels.ERROR]
        if errs:
            first = errs[0]
            raise XMLError(source, first.line, first.column, first.message.strip()) from None
        line, col = e.position
        raise XMLError(source, line, col, e.msg) from None
    return root


def _check_dtd(root: etree._Element, source: str) -> None:
    """Backstop for encodings the byte prescan cannot read (UTF-16/32)."""
    info = root.getroottree().docinfo
    dtd = info.internalDTD
    if info.system_url or info.public_id or (dtd is not None and any(dtd.iterentities())):
        raise XMLError(source, 1, 1, "DOCTYPE with entities or an external DTD is not allowed")
    for ent in root.iter(etree.Entity):
        raise XMLError(source, ent.sourceline or 1, 1,
                             f"entity reference &{ent.name}; is not allowed")


def parse_domain(xml: bytes | str, *, source: str = "<string>",
                 max_bytes: int = DEFAULT_MAX_BYTES) -> DomainDef:
    """Parse domain XML into a DomainDef; raise XMLError for anything refused."""
    with trace.span("domain.parse", source=source):
        if len(xml) > max_bytes:
            raise XMLError(source, 0, 0,
                                 f"document is {len(xml)} bytes, over the limit of {max_bytes}")
        data = xml.encode() if isinstance(xml, str) else xml
        if len(data) > max_bytes:
            raise XMLError(source, 0, 0,
                                 f"document is {len(data)} bytes, over the limit of {max_bytes}")
        _prescan(data, source)
        root = _parse_bytes(data, source)
        if b"<!DOCTYPE" in data or data[:1] in (b"\xff", b"\xfe", b"\x00") or data[1:2] == b"\x00":
            _check_dtd(root, source)
        ctx = _Ctx(source, data, bool(root.nsmap))
        d = _domain(ctx, root)
        d.source = source
        return d


def read_domain_file(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """A file's bytes, refused by its stat size before anything is read."""
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise XMLError(str(path), 0, 0,
                             f"file is {size} bytes, over the limit of {max_bytes}")
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)  # the file may have grown since stat
    if len(data) > max_bytes:
        raise XMLError(str(path), 0, 0, f"file grew over the limit of {max_bytes}")
    return data




def parse_domain_file(path: str | os.PathLike[str], *,
                      max_bytes: int = DEFAULT_MAX_BYTES) -> DomainDef:
    """Parse a file, refusing it by its stat size before reading anything."""
    data = read_domain_file(path, max_bytes=max_bytes)
    return parse_domain(data, source=str(path), max_bytes=max_bytes)


_UNITS = {"b": 1, "bytes": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1024**2, "mib": 1024**2,
          "mb": 1000**2, "g": 1024**3, "gib": 1024**3, "gb": 1000**3, "t": 1024**4,
          "tib": 1024**4, "tb": 1000**4, "p": 1024**5, "pib": 1024**5, "pb": 1000**5,
          "e": 1024**6, "eib": 1024**6, "eb": 1000**6}
_MAX_BYTES_VALUE = 2**64 - 1  # libvirt scales into an unsigned long long


def _memory_kib(ctx: _Ctx, el: etree._Element) -> int:
    text = (el.text or "").strip()
    if not (text.isascii() and text.isdigit()):
        raise ctx.fail(el, f"invalid value '{text}' for <{el.tag}>: expected an unsigned integer")
    unit = el.get("unit")
    scale = 1024 if unit is None else _UNITS.get(unit.lower())
    if scale is None:
        raise ctx.fail(el, f"unknown unit '{unit}' for <{el.tag}>")
    value = int(text) * scale
    if value > _MAX_BYTES_VALUE:
        raise ctx.fail(el, f"value '{text}' for <{el.tag}> is too large")
    return -(-value // 1024)  # libvirt rounds up to whole KiB


def _int(ctx: _Ctx, el: etree._Element, value: str, what: str) -> int:
    v = value.strip()
    if v.isascii() and v.isdigit():
        return int(v)
    raise ctx.fail(el, f"invalid {what} '{value}': expected an unsigned integer")


def _elem(ctx: _Ctx, el: etree._Element) -> Elem:
    text = el.text
    if text is not None and not text.strip():
        text = None
    kids = [ctx.raw(c) for c in list(el)] if len(el) else []
    return Elem(dict(el.attrib), text, kids)


def _pci_int(ctx: _Ctx, el: etree._Element, name: str, limit: int) -> int:
    v = el.get(name)
    if v is None:
        return 0
    s = v.strip().lower()
    try:
        n = int(s, 16) if s.startswith("0x") else int(s, 10)
    except ValueError:
        n = -1
    if not 0 <= n <= limit:
        raise ctx.fail(el, f"invalid PCI address {name} '{v}'")
    return n


_PCI_ATTRS = frozenset({"type", "domain", "bus", "slot", "function", "multifunction"})


def _address(ctx: _Ctx, el: etree._Element) -> AnyAddress:
    a = dict(el.attrib)
    if a.get("type") == "pci" and not len(el) and _PCI_ATTRS.issuperset(a):
        return PCIAddress(_pci_int(ctx, el, "domain", 0xFFFF), _pci_int(ctx, el, "bus", 0xFF),
                          _pci_int(ctx, el, "slot", 0x1F), _pci_int(ctx, el, "function", 7),
                          a.get("multifunction"))
    t = a.pop("type", None)
    return Address(t, a, [ctx.raw(c) for c in list(el)])


def _os(ctx: _Ctx, el: etree._Element) -> OSDef:
    o = OSDef(extra_attrs=dict(el.attrib))
    for c in list(el):
        tag = c.tag
        if tag == "type" and o.type is None:
            o.type = (c.text or "").strip()
            o.arch = c.get("arch")
            o.machine = c.get("machine")
        elif tag == "boot" and len(c.attrib) == 1 and "dev" in c.attrib and not len(c):
            o.boot.append(c.get("dev"))
        elif tag == "loader" and o.loader is None:
            o.loader = _elem(ctx, c)
        elif tag == "nvram" and o.nvram is None:
            o.nvram = _elem(ctx, c)
        else:
            o.extra.append(ctx.raw(c))
    if not o.type:
        raise ctx.fail(el, "an os <type> must be specified")
    _sorted_raws(o.extra, _OS_RANK)
    return o


def _features(ctx: _Ctx, el: etree._Element, d: DomainDef) -> None:
    feats: dict[str, Elem] = {}
    for c in list(el):
        tag = c.tag
        if isinstance(tag, str) and tag[0] != "{" and tag not in feats:
            feats[tag] = _elem(ctx, c)
        else:
            d.features_extra.append(ctx.raw(c))
    d.features = feats


def _cpu(ctx: _Ctx, el: etree._Element) -> CPUDef:
    a = dict(el.attrib)
    cpu = CPUDef(a.pop("mode", None), a.pop("match", None), a.pop("check", None), extra_attrs=a)
    seen_model = False
    for c in list(el):
        tag = c.tag
        if tag == "model" and not seen_model and not len(c) and set(c.attrib) <= {"fallback", "vendor_id"}:
            seen_model = True
            cpu.model = c.text
            cpu.model_fallback = c.get("fallback")
            cpu.model_vendor_id = c.get("vendor_id")
        elif tag == "vendor" and cpu.vendor is None and not len(c) and not c.attrib:
            cpu.vendor = c.text or ""
        elif tag == "topology" and cpu.topology is None and not len(c):
            cpu.topology = dict(c.attrib)
        elif tag == "feature" and not len(c) and set(c.attrib) <= {"name", "policy"} and c.get("name"):
            cpu.features.append(CPUFeature(c.get("name"), c.get("policy")))
        else:
            cpu.extra.append(ctx.raw(c))
    _sorted_raws(cpu.extra, _CPU_RANK)
    return cpu


def _seclabel(ctx: _Ctx, el: etree._Element) -> SecLabel:
    a = dict(el.attrib)
    s = SecLabel(a.pop("type", None), a.pop("model", None), a.pop("relabel", None), extra_attrs=a)
    for c in list(el):
        tag = c.tag
        if tag in ("label", "imagelabel", "baselabel") and getattr(s, tag) is None and not len(c) and not c.attrib:
            setattr(s, tag, c.text or "")
        else:
            s.extra.append(ctx.raw(c))
    _sorted_raws(s.extra, _SEC_RANK)
    return s


def _disk(ctx: _Ctx, el: etree._Element) -> DiskDef:
    a = dict(el.attrib)
    dk = DiskDef(a.pop("type", None), a.pop("device", None), extra_attrs=a)
    for c in list(el):
        tag = c.tag
        if tag == "source" and dk.source is None:
            dk.source = _elem(ctx, c)
        elif tag == "target" and dk.target is None:
            dk.target = _elem(ctx, c)
        elif tag == "driver" and dk.driver is None:
            dk.driver = _elem(ctx, c)
        elif tag == "address" and dk.address is None:
            dk.address = _address(ctx, c)
        else:
            dk.extra.append(ctx.raw(c))
    _sorted_raws(dk.extra, _DISK_RANK)
    return dk


def _interface(ctx: _Ctx, el: etree._Element) -> InterfaceDef:
    a = dict(el.attrib)
    n = InterfaceDef(a.pop("type", None), extra_attrs=a)
    for c in list(el):
        tag = c.tag
        if tag in ("mac", "source", "target", "model") and getattr(n, tag) is None:
            setattr(n, tag, _elem(ctx, c))
        elif tag == "address" and n.address is None:
            n.address = _address(ctx, c)
        else:
            n.extra.append(ctx.raw(c))
    _sorted_raws(n.extra, _NET_RANK)
    return n


def _controller(ctx: _Ctx, el: etree._Element) -> ControllerDef:
    a = dict(el.attrib)
    idx = a.pop("index", None)
    ct = ControllerDef(a.pop("type", None), None if idx is None else _int(ctx, el, idx, "controller index"),
                       a.pop("model", None), extra_attrs=a)
    for c in list(el):
        if c.tag == "address" and ct.address is None:
            ct.address = _address(ctx, c)
        else:
            ct.extra.append(ctx.raw(c))
    _sorted_raws(ct.extra, _CTRL_RANK)
    return ct


def _chardev(ctx: _Ctx, el: etree._Element) -> CharDevDef:
    a = dict(el.attrib)
    ch = CharDevDef(a.pop("type", None), extra_attrs=a)
    for c in list(el):
        tag = c.tag
        if tag == "source" and ch.source is None:
            ch.source = _elem(ctx, c)
        elif tag == "target" and ch.target is None:
            ch.target = _elem(ctx, c)
        elif tag == "address" and ch.address is None:
            ch.address = _address(ctx, c)
        else:
            ch.extra.append(ctx.raw(c))
    _sorted_raws(ch.extra, _CHR_RANK)
    return ch


def _graphics(ctx: _Ctx, el: etree._Element) -> GraphicsDef:
    a = dict(el.attrib)
    return GraphicsDef(a.pop("type", None), a, [ctx.raw(c) for c in list(el)])


MAX_DEVICES = 4096  # issue 12: far above any real guest; a 300k-device domain held the driver lock 16 s


def _devices(ctx: _Ctx, el: etree._Element, d: DomainDef) -> None:
    if len(el) > MAX_DEVICES:
        raise ctx.fail(el, f"<devices> has {len(el)} children, over the limit of {MAX_DEVICES}")
    for c in list(el):
        tag = c.tag
        if tag == "disk":
            d.disks.append(_disk(ctx, c))
        elif tag == "interface":
            d.interfaces.append(_interface(ctx, c))
        elif tag == "controller":
            d.controllers.append(_controller(ctx, c))
        elif tag == "serial":
            d.serials.append(_chardev(ctx, c))
        elif tag == "console":
            d.consoles.append(_chardev(ctx, c))
        elif tag == "channel":
            d.channels.append(_chardev(ctx, c))
        elif tag == "graphics":
            d.graphics.append(_graphics(ctx, c))
        elif tag == "emulator" and d.emulator is None and not len(c) and not c.attrib:
            d.emulator = c.text or ""
        else:
            d.devices_extra.append(ctx.raw(c))
    _sorted_raws(d.devices_extra, _DEV_RANK)


def _domain(ctx: _Ctx, root: etree._Element) -> DomainDef:
    if root.tag != "domain":
        raise ctx.fail(root, f"expected root element <domain>, found <{root.tag}>")
    a = dict(root.attrib)
    virt_type = a.pop("type", None)
    if virt_type is None:
        raise ctx.fail(root, "missing domain type attribute")
    if virt_type not in VIRT_TYPES:
        raise ctx.fail(root, f"unknown domain type '{virt_type}'")
    dom_id = a.pop("id", None)
    d = DomainDef(virt_type, "", extra_attrs=a,
                  namespaces={k: v for k, v in root.nsmap.items() if k is not None})
    if dom_id is not None:
        d.id = _int(ctx, root, dom_id, "domain id")
    have_name = have_os = have_vcpu = False
    for c in list(root):
        tag = c.tag
        if tag == "name" and not have_name:
            have_name = True
            d.name = c.text or ""
            if not d.name.strip():
                raise ctx.fail(c, "missing domain name")
            if "/" in d.name:
                raise ctx.fail(c, f"name '{d.name}' must not contain '/'")
        elif tag == "uuid" and d.uuid is None:
            try:
                d.uuid = str(_uuid.UUID((c.text or "").strip()))
            except ValueError:
                raise ctx.fail(c, f"malformed uuid '{c.text}'") from None
        elif tag == "memory" and d.memory_kib is None and set(c.attrib) <= {"unit", "dumpCore"}:
            d.memory_kib = _memory_kib(ctx, c)
            d.memory_dump_core = c.get("dumpCore")
        elif tag == "currentMemory" and d.current_memory_kib is None and set(c.attrib) <= {"unit"}:
            d.current_memory_kib = _memory_kib(ctx, c)
        elif tag == "vcpu" and not have_vcpu:
            have_vcpu = True
            d.vcpus = _int(ctx, c, c.text or "", "vcpu count")
            d.vcpu_attrs = dict(c.attrib)
        elif tag == "os" and not have_os:
            have_os = True
            d.os = _os(ctx, c)
        elif tag == "features" and d.features is None and not c.attrib:
            _features(ctx, c, d)
        elif tag == "cpu" and d.cpu is None:
            d.cpu = _cpu(ctx, c)
        elif tag == "seclabel":
            d.seclabels.append(_seclabel(ctx, c))
        elif tag == "devices" and not c.attrib:
            _devices(ctx, c, d)
        else:
            d.extra.append(ctx.raw(c))
    if not have_name:
        raise ctx.fail(root, "missing <name> element")
    if not have_os:
        raise ctx.fail(root, "an os <type> must be specified")
    _sorted_raws(d.extra, _TOP_RANK)
    return d


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
        top: list[tuple[int, str]] = [(_TOP_RANK["name"], _text("name", d.name, I1))]
        if d.uuid is not None:
            top.append((_TOP_RANK["uuid"], _text("uuid", d.uuid, I1)))
        if d.memory_kib is not None:
            top.append((_TOP_RANK["memory"], f'{I1}<memory unit="KiB"'
                        f"{_opt('dumpCore', d.memory_dump_core)}>{d.memory_kib}</memory>\n"))
        if d.current_memory_kib is not None:
            top.append((_TOP_RANK["currentMemory"],
                        f'{I1}<currentMemory unit="KiB">{d.current_memory_kib}</currentMemory>\n'))
        top.append((_TOP_RANK["vcpu"], f"{I1}<vcpu{_attrs(d.vcpu_attrs, ns)}>{d.vcpus}</vcpu>\n"))

        o = d.os
        os_items = [(_OS_RANK["type"], f"{I2}<type{_opt('arch', o.arch)}{_opt('machine', o.machine)}>"
                     f"{(o.type or '').translate(_TEXT_ESC)}</type>\n")]
        if o.loader is not None:
            os_items.append((_OS_RANK["loader"], _fmt_elem("loader", o.loader, I2, ns)))
        if o.nvram is not None:
            os_items.append((_OS_RANK["nvram"], _fmt_elem("nvram", o.nvram, I2, ns)))
        for dev in o.boot:
            os_items.append((_OS_RANK["boot"], f'{I2}<boot dev="{dev.translate(_ATTR_ESC)}"/>\n'))
        top.append((_TOP_RANK["os"], _block("os", _attrs(o.extra_attrs, ns), os_items, o.extra,
                                            _OS_RANK, I1)))

        if d.features is not None:
            names = sorted(d.features, key=lambda n: _FEATURE_ORDER.get(n, _LAST))
            f_items = [(0, _fmt_elem(n, d.features[n], I2, ns)) for n in names]
            top.append((_TOP_RANK["features"],
                        _block("features", "", f_items, d.features_extra, {}, I1)))

        if d.cpu is not None:
            c = d.cpu
            c_items: list[tuple[int, str]] = []
            if c.model is not None or c.model_fallback is not None or c.model_vendor_id is not None:
                c_items.append((_CPU_RANK["model"], f"{I2}<model{_opt('fallback', c.model_fallback)}"
                                f"{_opt('vendor_id', c.model_vendor_id)}>"
                                f"{(c.model or '').translate(_TEXT_ESC)}</model>\n"))
            if c.vendor is not None:
                c_items.append((_CPU_RANK["vendor"], _text("vendor", c.vendor, I2)))
            if c.topology is not None:
                c_items.append((_CPU_RANK["topology"], f"{I2}<topology{_attrs(c.topology, ns)}/>\n"))
            for f in c.features:
                c_items.append((_CPU_RANK["feature"], f"{I2}<feature{_opt('policy', f.policy)}"
                                f"{_opt('name', f.name)}/>\n"))
            attrs = (_opt("mode", c.mode) + _opt("match", c.match) + _opt("check", c.check)
                     + _attrs(c.extra_attrs, ns))
            top.append((_TOP_RANK["cpu"], _block("cpu", attrs, c_items, c.extra, _CPU_RANK, I1)))

        dev: list[tuple[int, str]] = []
        if d.emulator is not None:
            dev.append((_DEV_RANK["emulator"], _text("emulator", d.emulator, I2)))
        r = _DEV_RANK["disk"]
        for k in d.disks:
            dev.append((r, _device_block(
                "disk", _opt("type", k.type) + _opt("device", k.device) + _attrs(k.extra_attrs, ns),
                [("driver", k.driver), ("source", k.source), ("target", k.target)],
                k.address, k.extra, _DISK_RANK, I2, ns)))
        r = _DEV_RANK["controller"]
        for ct in d.controllers:
            attrs = (_opt("type", ct.type) + ("" if ct.index is None else f' index="{ct.index}"')
                     + _opt("model", ct.model) + _attrs(ct.extra_attrs, ns))
            dev.append((r, _device_block("controller", attrs, [], ct.address, ct.extra,
                                         _CTRL_RANK, I2, ns)))
        r = _DEV_RANK["interface"]
        for n in d.interfaces:
            dev.append((r, _device_block(
                "interface", _opt("type", n.type) + _attrs(n.extra_attrs, ns),
                [("mac", n.mac), ("source", n.source), ("target", n.target), ("model", n.model)],
                n.address, n.extra, _NET_RANK, I2, ns)))
        for tag, chars in (("serial", d.serials), ("console", d.consoles), ("channel", d.channels)):
            r = _DEV_RANK[tag]
            for ch in chars:
                dev.append((r, _device_block(
                    tag, _opt("type", ch.type) + _attrs(ch.extra_attrs, ns),
                    [("source", ch.source), ("target", ch.target)],
                    ch.address, ch.extra, _CHR_RANK, I2, ns)))
        r = _DEV_RANK["graphics"]
        for g in d.graphics:
            dev.append((r, _block("graphics", _opt("type", g.type) + _attrs(g.attrs, ns), [],
                                  g.extra, {}, I2)))
        if dev or d.devices_extra:
            top.append((_TOP_RANK["devices"],
                        _block("devices", "", dev, d.devices_extra, _DEV_RANK, I1)))

        r = _TOP_RANK["seclabel"]
        for s in d.seclabels:
            s_items = [(_SEC_RANK[t], _text(t, v, I2)) for t, v in
                       (("label", s.label), ("imagelabel", s.imagelabel), ("baselabel", s.baselabel))
                       if v is not None]
            attrs = (_opt("type", s.type) + _opt("model", s.model) + _opt("relabel", s.relabel)
                     + _attrs(s.extra_attrs, ns))
            top.append((r, _block("seclabel", attrs, s_items, s.extra, _SEC_RANK, I1)))

        head = (_opt("type", d.virt_type)
                + ("" if d.id is None else f' id="{d.id}"') + _attrs(d.extra_attrs, ns)
                + "".join(f' xmlns:{p}="{u.translate(_ATTR_ESC)}"' for p, u in ns.items()))
        return _block("domain", head, top, d.extra, _TOP_RANK, "")


# ---------------------------------------------------------------------------------------------
# Strategy-independent post-parse helpers (edit in place, return the def)

_BUS_BY_PREFIX = (("xvd", "xen"), ("ubd", "uml"), ("hd", "ide"), ("sd", "scsi"), ("vd", "virtio"),
                  ("fd", "fdc"))
# Disks per controller, as libvirt's virDomainDiskDefAssignAddress lays out drive addresses.
_DRIVES_PER_CONTROLLER = {"ide": 4, "scsi": 7, "sata": 6, "fdc": 2}


def disk_bus(disk: DiskDef) -> str | None:
    """The disk's bus, or libvirt's default from the target name (hd*->ide, sd*->scsi, ...)."""
    if disk.bus:
        return disk.bus
    if disk.device == "floppy":
        return "fdc"
    dev = disk.dev or ""
    for prefix, bus in _BUS_BY_PREFIX:
        if dev.startswith(prefix):
            return bus
    return None


def disk_index(dev: str) -> int | None:
    """`sda`->0, `vdz`->25, `hdaa`->26 (libvirt's virDiskNameToIndex); None if not a disk name."""
    for prefix, _ in _BUS_BY_PREFIX:
        if dev.startswith(prefix):
            letters = dev[len(prefix):]
            break
    else:
        return None
    if not letters or not all("a" <= ch <= "z" for ch in letters):
        return None
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 96
    return n - 1


def _iter_raw_devices(d: DomainDef, tag: str) -> Iterator[etree._Element]:
    return (r.el for r in d.devices_extra if r.el.tag == tag)


def assign_controller_indexes(d: DomainDef) -> DomainDef:
    """Give index-less controllers the lowest free index of their type; add implicit controllers.

    Implicit ones (as virDomainDefAddImplicitControllers): drive controllers 0..max that disks on
    ide/scsi/sata/fdc need, usb 0 for usb disks/inputs/hubs/redirdevs, virtio-serial 0..max for
    virtio consoles and channels. New controllers are appended.
    """
    used: dict[str | None, set[int]] = {}
    for c in d.controllers:
        if c.index is not None:
            used.setdefault(c.type, set()).add(c.index)
    for c in d.controllers:
        if c.index is None:
            taken = used.setdefault(c.type, set())
            if c.type == "pci" and c.model in ("pci-root", "pcie-root"):
                c.index = 0
            else:
                c.index = next(i for i in range(len(taken) + 1) if i not in taken)
            taken.add(c.index)

    need: dict[str, int] = {}  # controller type -> highest index needed

    def want(kind: str, idx: int) -> None:
        need[kind] = max(need.get(kind, -1), idx)

    for k in d.disks:
        bus = disk_bus(k)
        if bus in _DRIVES_PER_CONTROLLER:
            if isinstance(k.address, Address) and k.address.type == "drive":
                idx = int(k.address.attrs.get("controller", "0") or 0)
            else:
                n = disk_index(k.dev or "")
                idx = 0 if n is None else n // _DRIVES_PER_CONTROLLER[bus]
            want(bus, idx)
        elif bus == "usb":
            want("usb", 0)
    for ch in d.consoles + d.channels:
        if ch.target_type == "virtio":
            a = ch.address
            idx = int(a.attrs.get("controller", "0") or 0) if (
                isinstance(a, Address) and a.type == "virtio-serial") else 0
            want("virtio-serial", idx)
    if any(el.get("bus") == "usb" for el in _iter_raw_devices(d, "input")) or any(
            True for _ in _iter_raw_devices(d, "hub")) or any(
            el.get("bus", "usb") == "usb" for el in _iter_raw_devices(d, "redirdev")):
        want("usb", 0)
    for kind, top in need.items():
        taken = used.setdefault(kind, set())
        for idx in range(top + 1):
            if idx not in taken:
                d.controllers.append(ControllerDef(kind, idx))
                taken.add(idx)
    return d


_NON_PCI_CONTROLLERS = frozenset({"ide", "fdc", "ccid", "xenbus", "isa"})
_PCI_ROOTS = frozenset({"pci-root", "pcie-root"})
_NON_PCI_NET_MODELS = frozenset({"spapr-vlan", "usb-net", "lan9118", "smc91c111", "ne2k_isa"})
# Raw devices that are PCI devices unless their model says otherwise.
_RAW_PCI = {"video": ("none", "ramfb"), "sound": ("pcspk", "usb"), "memballoon": ("none",),
            "rng": (), "watchdog": ("ib700", "diag288", "itco"), "filesystem": (), "shmem": ()}


def _raw_model(el: etree._Element) -> str | None:
    m = el.find("model")
    if m is not None:
        return m.get("type") or m.get("name")
    return el.get("model")


def assign_pci_addresses(d: DomainDef, first_slot: int = 1) -> DomainDef:
    """Put each PCI device without an address on bus 0 at the next free slot, function 0.

    Simple on purpose (no machine-specific reserved slots, no bridges, no multifunction):
    devices with a non-PCI address or bus (ccw, drive, usb, virtio-mmio, ...) are skipped.
    Order: controllers, interfaces, disks, then raw devices in canonical order.
    """
    taken: set[int] = set()

    def note(a: AnyAddress | None) -> None:
        if isinstance(a, PCIAddress) and a.domain == 0 and a.bus == 0:
            taken.add(a.slot)

    for dev_list in (d.disks, d.controllers, d.interfaces, d.serials, d.consoles, d.channels):
        for dv in dev_list:
            note(dv.address)
    for r in d.devices_extra:
        if isinstance(r.el.tag, str):
            a = r.el.find("address")
            if a is not None and a.get("type") == "pci":
                note(_address(_Ctx(d.source, b"", False), a))

    free = (s for s in range(first_slot, 32) if s not in taken)

    def next_addr() -> PCIAddress:
        slot = next(free, None)
        if slot is None:
            raise XMLError(d.source, None, None, "no free PCI slot left on bus 0")
        return PCIAddress(0, 0, slot, 0)

    for c in d.controllers:
        if (c.address is None and c.type not in _NON_PCI_CONTROLLERS and c.model not in _PCI_ROOTS
                and not (c.type == "usb" and c.model == "none")):
            c.address = next_addr()
    for n in d.interfaces:
        if n.address is None and n.model_type not in _NON_PCI_NET_MODELS:
            n.address = next_addr()
    for k in d.disks:
        if k.address is None and disk_bus(k) == "virtio":
            k.address = next_addr()
    for r in d.devices_extra:
        el = r.el
        skip = _RAW_PCI.get(el.tag)  # type: ignore[call-overload]
        if skip is None or el.find("address") is not None or _raw_model(el) in skip:
            continue
        a = next_addr()
        new = etree.SubElement(el, "address", type="pci", domain=f"0x{a.domain:04x}",
                               bus=f"0x{a.bus:02x}", slot=f"0x{a.slot:02x}",
                               function=f"0x{a.function:x}")
        if len(el) > 1:  # keep the element's own indentation
            prev = el[-2]
            new.tail, prev.tail = prev.tail, el.text
    return d


def clear_auto_ifnames(d: DomainDef, prefixes: tuple[str, ...] = ("vnet", "macvtap", "macvlan"),
                       net_prefix: str | None = None) -> DomainDef:
    """Inactive parse: forget interface names libvirt generated (they are reassigned at start)."""
    pre = prefixes + ((net_prefix,) if net_prefix else ())
    for n in d.interfaces:
        t = n.target
        if t is not None and t.attrs.get("dev", "").startswith(pre):
            del t.attrs["dev"]
            if not t.attrs and not t.children and t.text is None:
                n.target = None
    return d


def fill_seclabel_model(d: DomainDef, default_model: str | None, *,
                        inactive: bool = True) -> DomainDef:
    """libvirt step 4: a single model-less <seclabel> takes the driver's default model."""
    labels = d.seclabels
    if len(labels) == 1 and labels[0].model is None and default_model:
        s = labels[0]
        kind = s.type or "dynamic"
        if kind == "none" or (kind == "dynamic" and s.baselabel is None and inactive):
            s.model = default_model
        else:
            raise XMLError(d.source, None, None, "missing security model in domain seclabel")
    elif len(labels) > 1 and any(s.model is None for s in labels):
        raise XMLError(d.source, None, None, "missing security model when using multiple labels")
    return d


def generate_macs(d: DomainDef, seed: str | None = None) -> DomainDef:
    """Give MAC-less interfaces a 52:54:00 MAC derived from (seed or uuid or name, index)."""
    base = seed or d.uuid or d.name
    used = {n.mac_address.lower() for n in d.interfaces if n.mac_address}
    for i, n in enumerate(d.interfaces):
        if n.mac_address:
            continue
        k = 0
        while True:
            h = hashlib.blake2s(f"{base}/{i}/{k}".encode(), digest_size=3).digest()
            mac = "52:54:00:%02x:%02x:%02x" % tuple(h)
            if mac not in used:
                break
            k += 1
        used.add(mac)
        if n.mac is None:
            n.mac = Elem({"address": mac})
        else:
            n.mac.attrs["address"] = mac
    return d
