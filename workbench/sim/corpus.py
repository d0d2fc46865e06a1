"""The domain XML corpus: three domains per QEMU target, the series cases and a set of bad files.

Run `python -m workbench.sim.corpus [DEST]` to (re)write data/domains. The output depends only
on the arguments (UUIDs and MACs are derived from names), so it is committed and a test checks
that the committed files match.
"""
from __future__ import annotations

import hashlib
import sys
import uuid
from pathlib import Path
from typing import Iterable

from workbench.conf.arch import arch_from_qemu
from workbench.sim.catalog import INSTALL_ORDER
from workbench.paths import DOMAINS_DIR

_NS = uuid.UUID("5b0b6c8e-6f0a-4c55-9a57-3b6f1f7d2a10")  # fixed, so UUIDs are reproducible

# Arches where virtio devices plainly exist on the usual machine.
_VIRTIO = frozenset({"x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x",
                     "riscv32", "riscv64", "mips", "mipsel", "mips64", "mips64el", "loongarch64"})
# Machine aliases libvirt would pick and the QEMU 7.2 recordings list (QEMU's own default there).
_MACHINE = {"x86_64": "pc", "i686": "pc", "ppc64": "pseries", "ppc64le": "pseries",
            "s390x": "s390-ccw-virtio"}
_X86 = frozenset({"x86_64", "i686"})
_CPU_MODEL = {"x86_64": "qemu64", "i686": "qemu32"}


def libvirt_arch(target: str) -> str:
    return "x86_64" if target == "x86_64-microvm" else arch_from_qemu(target)


def _uuid(name: str) -> str:
    return str(uuid.uuid5(_NS, name))


def _mac(name: str, i: int) -> str:
    h = hashlib.sha256(f"{name}/{i}".encode()).digest()
    return f"52:54:00:{h[0]:02x}:{h[1]:02x}:{h[2]:02x}"


def _type_line(arch: str, machine: str | None) -> str:
    m = f" machine='{machine}'" if machine else ""
    return f"    <type arch='{arch}'{m}>hvm</type>"


def minimal(target: str) -> str:
    name = f"{target}-minimal"
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='{libvirt_arch(target)}'>hvm</type></os>
</domain>
"""


def _emulator_line(target: str) -> list[str]:
    # Without it a microvm domain would be an x86_64 domain like any other.
    if target == "x86_64-microvm":
        return ["    <emulator>/usr/bin/qemu-system-x86_64-microvm</emulator>"]
    return []


def _machine(target: str, arch: str) -> str | None:
    return "microvm" if target == "x86_64-microvm" else _MACHINE.get(arch)


def server(target: str) -> str:
    name = f"{target}-server"
    arch = libvirt_arch(target)
    virtio = arch in _VIRTIO
    lines = [
        "<domain type='qemu'>",
        f"  <name>{name}</name>",
        f"  <uuid>{_uuid(name)}</uuid>",
        "  <memory unit='GiB'>1</memory>",
        "  <vcpu placement='static'>2</vcpu>",
        "  <os>",
        _type_line(arch, _machine(target, arch)),
        "    <boot dev='hd'/>",
        "  </os>",
    ]
    if arch in _X86:
        lines += ["  <features>", "    <acpi/>", "    <apic/>", "  </features>"]
    lines += ["  <clock offset='utc'/>", "  <devices>", *_emulator_line(target)]
    lines += [
        "    <disk type='file' device='disk'>",
        "      <driver name='qemu' type='qcow2'/>",
        f"      <source file='/var/lib/libvirt/images/{name}.qcow2'/>",
        "      <target dev='vda' bus='virtio'/>" if virtio else "      <target dev='hda' bus='ide'/>",
        "    </disk>",
        "    <interface type='network'>",
        f"      <mac address='{_mac(name, 0)}'/>",
        "      <source network='default'/>",
    ]
    if virtio:
        lines.append("      <model type='virtio'/>")
    lines += [
        "    </interface>",
        "    <console type='pty'>",
        f"      <target type='{'sclp' if arch == 's390x' else 'serial'}' port='0'/>",
        "    </console>",
    ]
    if arch in _X86 and target != "x86_64-microvm":
        lines.append("    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>")
    lines += ["  </devices>", "</domain>", ""]
    return "\n".join(lines)


def devices(target: str) -> str:
    name = f"{target}-devices"
    arch = libvirt_arch(target)
    virtio = arch in _VIRTIO
    s390 = arch == "s390x"
    x86 = arch in _X86 and target != "x86_64-microvm"
    img = f"/var/lib/libvirt/images/{name}"

    def addr(slot: int, devno: int) -> str:
        if s390:
            return f"      <address type='ccw' cssid='0xfe' ssid='0x0' devno='0x{devno:04x}'/>"
        return (f"      <address type='pci' domain='0x0000' bus='0x00' slot='0x{slot:02x}'"
                " function='0x0'/>")

    lines = [
        "<domain type='qemu'>",
        f"  <name>{name}</name>",
        f"  <uuid>{_uuid(name)}</uuid>",
        f"  <title>{target} with many devices</title>",
        "  <memory unit='GiB'>2</memory>",
        "  <currentMemory unit='MiB'>1536</currentMemory>",
        "  <vcpu placement='static' current='2'>4</vcpu>",
        "  <os>",
        _type_line(arch, _machine(target, arch)),
        "    <boot dev='cdrom'/>",
        "    <boot dev='hd'/>",
        "  </os>",
    ]
    if arch in _X86:
        lines += ["  <features>", "    <acpi/>", "    <apic/>", "  </features>"]
    if arch in _CPU_MODEL:
        lines += ["  <cpu mode='custom' match='exact' check='none'>",
                  f"    <model fallback='allow'>{_CPU_MODEL[arch]}</model>", "  </cpu>"]
    lines += [
        "  <clock offset='utc'/>",
        "  <on_poweroff>destroy</on_poweroff>",
        "  <on_reboot>restart</on_reboot>",
        "  <on_crash>destroy</on_crash>",
        "  <devices>",
        *_emulator_line(target),
        "    <disk type='file' device='disk'>",
        "      <driver name='qemu' type='qcow2' cache='none'/>",
        f"      <source file='{img}-root.qcow2'/>",
        "      <target dev='vda' bus='virtio'/>" if virtio else "      <target dev='sda' bus='scsi'/>",
        addr(7, 1) if virtio else None,
        "    </disk>",
        "    <disk type='block' device='disk'>",
        "      <driver name='qemu' type='raw'/>",
        f"      <source dev='/dev/vg0/{name}-data'/>",
        "      <target dev='sdb' bus='scsi'/>",
        "    </disk>",
        "    <disk type='file' device='cdrom'>",
        "      <driver name='qemu' type='raw'/>",
        f"      <source file='{img}-install.iso'/>",
        "      <target dev='hdc' bus='ide'/>" if x86 else "      <target dev='sdc' bus='scsi'/>",
        "      <readonly/>",
        "    </disk>",
        "    <controller type='scsi' index='0' model='virtio-scsi'/>" if virtio
        else "    <controller type='scsi' index='0'/>",
    ]
    if virtio:
        lines += ["    <controller type='usb' model='qemu-xhci'/>",
                  "    <controller type='virtio-serial'/>"]
    lines += [
        "    <interface type='network'>",
        f"      <mac address='{_mac(name, 0)}'/>",
        "      <source network='default'/>",
        "      <model type='virtio'/>" if virtio else None,
        "    </interface>",
        "    <interface type='bridge'>",
        f"      <mac address='{_mac(name, 1)}'/>",
        "      <source bridge='br0'/>",
        "      <target dev='vnet7'/>",
        "      <model type='virtio'/>" if virtio else None,
        addr(9, 3) if virtio else None,
        "    </interface>",
        "    <serial type='pty'>",
        "      <target port='0'/>",
        "    </serial>",
        "    <console type='pty'>",
        f"      <target type='{'sclp' if s390 else 'serial'}' port='0'/>",
        "    </console>",
    ]
    if virtio:
        lines += [
            "    <channel type='unix'>",
            "      <target type='virtio' name='org.qemu.guest_agent.0'/>",
            "    </channel>",
        ]
    if x86:
        lines += [
            "    <input type='tablet' bus='usb'/>",
            "    <graphics type='vnc' port='-1' autoport='yes'>",
            "      <listen type='address' address='127.0.0.1'/>",
            "    </graphics>",
            "    <video>",
            "      <model type='vga' vram='16384' heads='1' primary='yes'/>",
            "    </video>",
        ]
    if virtio:
        lines += [
            "    <memballoon model='virtio'/>",
            "    <rng model='virtio'>",
            "      <backend model='random'>/dev/urandom</backend>",
            "    </rng>",
        ]
    lines += ["  </devices>", "  <seclabel type='dynamic' relabel='yes'/>", "</domain>", ""]
    return "\n".join(line for line in lines if line is not None)


# The behavioural differences the series introduced (design doc section (d), end).
SERIES: dict[str, str] = {
    "x86_64-custom-emulator.xml": """<domain type='qemu'>
  <name>x86_64-custom-emulator</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
  </os>
  <devices>
    <emulator>/home/user/qemu-system-x86_64</emulator>
  </devices>
</domain>
""",
    "aarch64-kvm.xml": """<domain type='kvm'>
  <name>aarch64-kvm</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='aarch64'>hvm</type>
  </os>
</domain>
""",
    "noarch.xml": """<domain type='qemu'>
  <name>noarch</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type>hvm</type>
  </os>
</domain>
""",
}

_LAUGHS = "".join(
    f"  <!ENTITY lol{i} \"{('&lol%d;' % (i - 1)) * 10}\">\n" for i in range(1, 10))

# Every one of these must be refused with FILE:LINE:COLUMN.
BAD: dict[str, str] = {
    "unclosed-tag.xml": """<domain type='qemu'>
  <name>unclosed</name>
  <memory unit='MiB'>256</memory>
  <os><type arch='x86_64'>hvm</type>
</domain>
""",
    "truncated.xml": """<domain type='qemu'>
  <name>truncated</name>
  <memory unit='MiB'>256</memory>
  <os><type arch='x86_6""",
    "wrong-root.xml": """<network>
  <name>default</name>
</network>
""",
    "missing-name.xml": """<domain type='qemu'>
  <memory unit='MiB'>256</memory>
  <os><type arch='x86_64'>hvm</type></os>
</domain>
""",
    "bad-memory.xml": """<domain type='qemu'>
  <name>bad-memory</name>
  <memory unit='MiB'>lots</memory>
  <os><type arch='x86_64'>hvm</type></os>
</domain>
""",
    "bad-memory-unit.xml": """<domain type='qemu'>
  <name>bad-memory-unit</name>
  <memory unit='furlongs'>256</memory>
  <os><type arch='x86_64'>hvm</type></os>
</domain>
""",
    "unknown-type.xml": """<domain type='qemuu'>
  <name>unknown-type</name>
  <memory unit='MiB'>256</memory>
  <os><type arch='x86_64'>hvm</type></os>
</domain>
""",
    "missing-os-type.xml": """<domain type='qemu'>
  <name>missing-os-type</name>
  <memory unit='MiB'>256</memory>
  <os>
    <boot dev='hd'/>
  </os>
</domain>
""",
    "billion-laughs.xml": f"""<?xml version="1.0"?>
<!DOCTYPE domain [
  <!ENTITY lol0 "lol">
{_LAUGHS}]>
<domain type='qemu'>
  <name>&lol9;</name>
  <memory unit='MiB'>256</memory>
  <os><type arch='x86_64'>hvm</type></os>
</domain>
""",
    "xxe-passwd.xml": """<?xml version="1.0"?>
<!DOCTYPE domain [
  <!ENTITY passwd SYSTEM "file:///etc/passwd">
]>
<domain type='qemu'>
  <name>xxe</name>
  <description>&passwd;</description>
  <memory unit='MiB'>256</memory>
  <os><type arch='x86_64'>hvm</type></os>
</domain>
""",
    "external-dtd.xml": """<?xml version="1.0"?>
<!DOCTYPE domain SYSTEM "http://example.invalid/domain.dtd">
<domain type='qemu'>
  <name>external-dtd</name>
  <memory unit='MiB'>256</memory>
  <os><type arch='x86_64'>hvm</type></os>
</domain>
""",
}


def corpus(targets: Iterable[str] = INSTALL_ORDER) -> dict[str, str]:
    """Relative path -> file content, for everything write_corpus writes."""
    files: dict[str, str] = {}
    for t in targets:
        files[f"{t}-minimal.xml"] = minimal(t)
        files[f"{t}-server.xml"] = server(t)
        files[f"{t}-devices.xml"] = devices(t)
    files.update(SERIES)
    files.update({f"bad/{k}": v for k, v in BAD.items()})
    return files


def write_corpus(dest: Path = DOMAINS_DIR,
                 targets: Iterable[str] = INSTALL_ORDER) -> list[Path]:
    dest = Path(dest)
    written = []
    for rel, text in corpus(targets).items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())
        written.append(path)
    return written


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DOMAINS_DIR
    paths = write_corpus(out)
    print(f"wrote {len(paths)} files under {out}")
