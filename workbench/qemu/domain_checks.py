"""QEMU-specific post-parse and validate checks of libvirt 9.0 that the corpus reaches.

Each rule is what libvirt 9.0 does on this host's QEMU 7.2, checked against the real thing by
`workbench validate` (facts in docs/model.md): which machines have a PCI bus once libvirt has
added its implicit controllers, which devices then want a PCI address, the default SCSI
controller model, the machine's CPU limit and the machines with a built-in IDE controller. The
model does not add the implicit devices to the definition (its formatted XML stays as before);
it only decides what libvirt would refuse, with libvirt's own message.
"""
from __future__ import annotations

from workbench.conf.domain import DomainDef, PCIAddress
from workbench.conf.domain_postparse import disk_bus
from workbench.errors import ParseError, ValidateError
from workbench.qemu.capsdata import QemuCaps

_ARM = frozenset({"armv6l", "armv7l", "armv7b", "aarch64"})
_RISCV = frozenset({"riscv32", "riscv64"})
_X86 = frozenset({"i686", "x86_64"})
# Arches whose every machine gets a pci-root (qemuDomainDefAddDefaultDevices).
_PCI_ROOT_ARCHES = frozenset({"alpha", "ppc", "ppcemb", "sh4", "sh4eb", "ppc64", "ppc64le",
                              "sparc64", "mips", "mipsel", "mips64", "mips64el"})
# Arches without a default USB controller or memballoon (observed in libvirt 9.0: sparc's SS-5
# gets neither; ARM gets neither; RISC-V and s390 get no USB controller).
_NO_DEFAULT_USB = _ARM | _RISCV | frozenset({"s390", "s390x", "sparc"})
_NO_DEFAULT_BALLOON = _ARM | frozenset({"sparc"})
_NON_PCI_CONTROLLERS = frozenset({"ide", "fdc", "ccid", "xenbus", "isa", "pci"})
_NON_PCI_NET = frozenset({"spapr-vlan", "usb-net", "lan9118", "smc91c111", "ne2k_isa"})


def _is_virt(machine: str) -> bool:
    return machine == "virt" or machine.startswith("virt-")


def _is_i440fx(machine: str) -> bool:
    return machine == "pc" or machine.startswith(("pc-i440fx-", "pc-0.", "pc-1."))


def _is_q35(machine: str) -> bool:
    return machine == "q35" or machine.startswith("pc-q35-")


def has_pci_bus(d: DomainDef, caps: QemuCaps) -> bool:
    """A PCI(e) root once libvirt 9.0 has added its implicit controllers, or one in the XML."""
    if any(c.type == "pci" for c in d.controllers):
        return True
    arch, machine = d.os.arch or "", d.os.machine or ""
    if arch in _X86:
        return _is_i440fx(machine) or _is_q35(machine)
    if arch in _ARM or arch in _RISCV:
        return _is_virt(machine) and "type.gpex-pcihost" in caps.flags
    if arch in ("s390", "s390x"):
        return "type.zpci" in caps.flags
    return arch in _PCI_ROOT_ARCHES


def supports_pci(d: DomainDef, caps: QemuCaps) -> bool:
    """qemuDomainSupportsPCI: whether devices get PCI addresses assigned automatically."""
    arch, machine = d.os.arch or "", d.os.machine or ""
    if arch not in _ARM and arch not in _RISCV:
        return True
    return machine == "versatilepb" or (_is_virt(machine) and "type.gpex-pcihost" in caps.flags)


def _wants_pci(d: DomainDef) -> bool:
    """Does any device, given or implicitly added, wait for an automatic PCI address?"""
    arch = d.os.arch or ""
    machine = d.os.machine or ""
    s390 = arch in ("s390", "s390x")  # virtio devices there go on the channel subsystem
    if arch not in _NO_DEFAULT_USB and machine not in ("isapc", "microvm") and not any(
            c.type == "usb" for c in d.controllers):
        return True  # the implicit USB controller
    for c in d.controllers:
        if c.address is None and c.type not in _NON_PCI_CONTROLLERS and c.model != "none":
            if not (s390 and (c.model or "").startswith("virtio")):
                return True
    for n in d.interfaces:
        if n.address is None and n.model_type not in _NON_PCI_NET and not s390:
            return True
    for k in d.disks:
        if k.address is None and disk_bus(k) == "virtio" and not s390:
            return True
    if arch not in _NO_DEFAULT_BALLOON and not s390 and not _raw(d, "memballoon"):
        return True  # the implicit virtio memballoon
    for r in d.devices_extra:
        if isinstance(r.el.tag, str) and r.el.tag in ("memballoon", "rng", "video", "sound") \
                and r.el.find("address") is None and not s390:
            model = r.el.get("model") or ""
            if model not in ("none", "pcspk", "usb", "ramfb"):
                return True
    return False


def _raw(d: DomainDef, tag: str) -> list:
    return [r for r in d.devices_extra if isinstance(r.el.tag, str) and r.el.tag == tag]


def _explicit_pci(d: DomainDef) -> bool:
    for dev in (*d.disks, *d.controllers, *d.interfaces, *d.serials, *d.consoles, *d.channels):
        if isinstance(dev.address, PCIAddress):
            return True
    return any(isinstance(r.el.tag, str) and (a := r.el.find("address")) is not None
               and a.get("type") == "pci" for r in d.devices_extra)


def check_pci_buses(d: DomainDef, caps: QemuCaps) -> bool:
    """qemuDomainAssignPCIAddresses' first failure; True when the domain has a PCI bus."""
    if has_pci_bus(d, caps):
        return True
    if _explicit_pci(d) or (supports_pci(d, caps) and _wants_pci(d)):
        raise ParseError("No PCI buses available")
    return False


def scsi_controller_model(d: DomainDef, caps: QemuCaps, index: int) -> str:
    """qemuDomainDefaultSCSIControllerModel for a SCSI controller without a model."""
    machine = d.os.machine or ""
    if machine.startswith("pseries"):
        return "ibmvscsi"
    if (d.os.arch or "").startswith("s390"):
        return "virtio-scsi"
    if "type.lsi53c895a" in caps.flags:
        return "lsi"
    if caps.flags & {"type.virtio-scsi-pci", "type.virtio-scsi-ccw", "type.virtio-scsi-device"}:
        return "virtio-scsi"
    if machine.startswith("SS-") or machine == "q800":  # a built-in ESP controller
        return "ncr53c90"
    raise ParseError(f"Unable to determine model for SCSI controller idx={index}")


def check_scsi_models(d: DomainDef, caps: QemuCaps) -> None:
    for c in d.controllers:
        if c.type == "scsi" and not c.model:
            scsi_controller_model(d, caps, c.index or 0)


def has_builtin_ide(machine: str) -> bool:
    return _is_i440fx(machine) or machine in ("malta", "sun4u", "g3beige")


def validate_cpus(d: DomainDef, caps: QemuCaps) -> None:
    m = caps.machine(d.virt_type, d.os.machine or "")
    if m is not None and m.max_cpus > 0 and d.vcpus > m.max_cpus:
        raise ValidateError(
            f"Maximum CPUs greater than specified machine type limit {m.max_cpus}")


def validate_ide(d: DomainDef) -> None:
    for c in d.controllers:
        if c.type == "ide" and not (c.index in (0, None) and has_builtin_ide(d.os.machine or "")):
            raise ValidateError(
                "IDE controllers are unsupported for this QEMU binary or machine type")


__all__ = ["check_pci_buses", "check_scsi_models", "has_pci_bus", "supports_pci",
           "validate_cpus", "validate_ide", "scsi_controller_model", "has_builtin_ide"]
