"""Generic domain XML layer, the records: what a parsed domain definition holds.

This is the strategy-independent part of libvirt's parse path (design doc section (d), steps 1-5,
8 and 15), split as libvirt splits src/conf: records here, `domain_parse` (hardened parse),
`domain_format` (canonical format), `domain_postparse` (generic post-parse helpers). Nothing
here looks at capabilities, emulators or the caps cache. What capabilities touch is typed (virt
type, os type/arch/machine, emulator, features, cpu, seclabels, the devices that need addresses
and controllers); everything else is kept as verbatim lxml elements (`Raw`) so that it formats
back unchanged.

Equality: `parse_domain(format_domain(d)) == d`. Raw elements compare by their serialized form.
Elements that are not typed are sorted into libvirt's canonical order at parse time (ranks in
`domain_format`), so a document and its formatted form parse to equal records.
"""
from __future__ import annotations
import threading
from dataclasses import dataclass, field

from lxml import etree


DEFAULT_MAX_BYTES = 10 * 1024 * 1024

# virDomainVirtType names.
VIRT_TYPES = frozenset({
    "none", "qemu", "kqemu", "kvm", "xen", "lxc", "uml", "openvz", "test", "vmware", "hyperv",
    "vbox", "phyp", "parallels", "bhyve", "vz", "hvf", "ch",
})


_per_thread = threading.local()


def xml_parser() -> etree.XMLParser:
    # lxml parsers are not thread-safe; one per thread, reused (creating one costs ~1.5 us).
    p = getattr(_per_thread, "parser", None)
    if p is None:
        p = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                            dtd_validation=False, huge_tree=False, remove_blank_text=False,
                            collect_ids=False)
        _per_thread.parser = p
    return p


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
        return cls(etree.fromstring(xml, xml_parser()))


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


