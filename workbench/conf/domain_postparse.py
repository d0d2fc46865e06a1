"""Strategy-independent post-parse helpers (libvirt's domain_postparse.c and address assignment):
controller indexes, PCI slots, auto ifnames, seclabel model, MACs. Each edits the record in
place, as libvirt's post-parse does, and returns it for chaining."""
from __future__ import annotations
import hashlib
from typing import Iterator

from lxml import etree

from workbench.errors import XMLError

from workbench.conf.domain import Address, AnyAddress, ControllerDef, DiskDef, DomainDef, Elem, PCIAddress
from workbench.conf.domain_parse import parse_address

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
                note(parse_address(d.source, a))

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
