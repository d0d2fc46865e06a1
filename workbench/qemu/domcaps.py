"""`<domainCapabilities>` for one (emulator, arch, machine, virt type): built from one qemuCaps."""
from __future__ import annotations

from lxml import etree

from workbench.qemu.capsdata import Machine, QemuCaps

# Device flags -> the enum values libvirt reports for them (a subset).
_DISK_BUSES = {"type.ide-hd": "ide", "type.scsi-hd": "scsi", "type.virtio-blk-pci": "virtio",
               "type.usb-storage": "usb", "type.isa-fdc": "fdc"}
_VIDEO = {"type.VGA": "vga", "type.cirrus-vga": "cirrus", "type.qxl": "qxl",
          "type.virtio-gpu-pci": "virtio", "type.bochs-display": "bochs", "type.ramfb": "ramfb"}


def domain_capabilities_xml(caps: QemuCaps, emulator: str, arch: str, machine: Machine,
                            virttype: str) -> str:
    root = etree.Element("domainCapabilities")
    for tag, text in (("path", emulator), ("domain", virttype), ("machine", machine.name),
                      ("arch", arch)):
        etree.SubElement(root, tag).text = text
    etree.SubElement(root, "vcpu", max=str(machine.max_cpus))
    etree.SubElement(root, "os", supported="yes")
    cpu = etree.SubElement(root, "cpu")
    etree.SubElement(cpu, "mode", name="host-passthrough",
                     supported="yes" if virttype == "kvm" else "no")
    host = caps.host_cpu.get(caps.accel_for(virttype))
    hm = etree.SubElement(cpu, "mode", name="host-model", supported="yes" if host else "no")
    if host:
        etree.SubElement(hm, "model", fallback="forbid").text = host
    custom = etree.SubElement(cpu, "mode", name="custom", supported="yes")
    models = caps.cpu_models.get(caps.accel_for(virttype)) or caps.cpu_models.get("tcg", [])
    for c in models:
        usable = "unknown" if c.usable is None else ("yes" if c.usable else "no")
        etree.SubElement(custom, "model", usable=usable).text = c.name
    devices = etree.SubElement(root, "devices")
    _enum(devices, "disk", "bus", [v for f, v in _DISK_BUSES.items() if f in caps.flags])
    _enum(devices, "video", "modelType", [v for f, v in _VIDEO.items() if f in caps.flags])
    features = etree.SubElement(root, "features")
    if caps.gic:
        gic = etree.SubElement(features, "gic", supported="yes")
        _values(gic, "version", [str(g.get("version")) for g in caps.gic])
    etree.SubElement(features, "sev", supported="yes" if caps.sev else "no")
    return etree.tostring(root, pretty_print=True, encoding="unicode")


def _enum(parent: etree._Element, tag: str, name: str, values: list[str]) -> None:
    el = etree.SubElement(parent, tag, supported="yes" if values else "no")
    _values(el, name, values)


def _values(parent: etree._Element, name: str, values: list[str]) -> None:
    en = etree.SubElement(parent, "enum", name=name)
    for v in values:
        etree.SubElement(en, "value").text = v
