"""`<domainCapabilities>` for one (emulator, arch, machine, virt type): built from one qemuCaps."""
from __future__ import annotations

from lxml import etree

from workbench.qemu.capsdata import Machine, QemuCaps
from workbench.qemu.domain_checks import _is_i440fx

# Video flags -> the model types libvirt 9.0 reports for them (virQEMUCapsFillDomainDeviceVideoCaps;
# "none" is always there).
_VIDEO = {"type.VGA": "vga", "type.cirrus-vga": "cirrus", "type.vmware-svga": "vmvga",
          "type.qxl": "qxl", "type.virtio-gpu-pci": "virtio", "type.virtio-gpu-device": "virtio",
          "type.bochs-display": "bochs", "type.ramfb": "ramfb"}


def gic_versions(caps: QemuCaps, arch: str, machine: str, virttype: str) -> list[str]:
    """virQEMUCapsFillDomainFeatureGICCaps: only ARM's virt machine; a version KVM guests get
    when the kernel implements it, TCG guests when QEMU emulates it."""
    if arch not in ("armv6l", "armv7l", "aarch64") or not (machine == "virt" or machine.startswith("virt-")):
        return []
    how = "kernel" if virttype == "kvm" else "emulated"
    return sorted({str(g.get("version")) for g in caps.gic if g.get(how)}, reverse=True)


def disk_buses(caps: QemuCaps, arch: str, machine: str) -> list[str]:
    """virQEMUCapsFillDomainDeviceDiskCaps: scsi and virtio always, fdc but on pseries, ide where
    the machine has it built in, usb and sata with their devices."""
    buses = ["scsi", "virtio"]
    if not (arch in ("ppc64", "ppc64le") and (machine == "pseries" or machine.startswith("pseries-"))):
        buses.append("fdc")
    i440fx = arch in ("x86_64", "i686") and (_is_i440fx(machine) or machine.startswith("rhel"))
    if i440fx or machine in ("malta", "sun4u", "g3beige"):
        buses.append("ide")
    if "type.usb-storage" in caps.flags:
        buses.append("usb")
    if "type.ich9-ahci" in caps.flags:
        buses.append("sata")
    return buses

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
        if c.name == "host":  # libvirt 9.0 never offers "host" as a custom model
            continue
        usable = "unknown" if c.usable is None else ("yes" if c.usable else "no")
        etree.SubElement(custom, "model", usable=usable).text = c.name
    devices = etree.SubElement(root, "devices")
    _enum(devices, "disk", "bus", disk_buses(caps, arch, machine.name))
    video = ["none"] + [v for f, v in _VIDEO.items() if f in caps.flags]
    _enum(devices, "video", "modelType", list(dict.fromkeys(video)))
    features = etree.SubElement(root, "features")
    versions = gic_versions(caps, arch, machine.name, virttype)
    gic = etree.SubElement(features, "gic", supported="yes" if versions else "no")
    if versions:
        _values(gic, "version", versions)
    etree.SubElement(features, "sev", supported="yes" if caps.sev else "no")
    return etree.tostring(root, pretty_print=True, encoding="unicode")


def _enum(parent: etree._Element, tag: str, name: str, values: list[str]) -> None:
    el = etree.SubElement(parent, tag, supported="yes" if values else "no")
    _values(el, name, values)


def _values(parent: etree._Element, name: str, values: list[str]) -> None:
    en = etree.SubElement(parent, "enum", name=name)
    for v in values:
        etree.SubElement(en, "value").text = v
