"""Read libvirt's <capabilities> and a domain's XMLDesc into plain records."""
from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree


@dataclass
class Guest:
    os_type: str
    arch: str
    wordsize: int | None
    emulator: str | None
    machines: list[dict]  # name, canonical, maxCpus, in libvirt's order (the default first)
    domain_types: list[str] = field(default_factory=list)
    domain_emulators: dict[str, str] = field(default_factory=dict)  # type -> own emulator


def guests(caps_xml: str) -> list[Guest]:
    root = etree.fromstring(caps_xml.encode())
    out = []
    for g in root.iterfind("guest"):
        a = g.find("arch")
        ws = a.findtext("wordsize")
        machines = [{"name": m.text, "canonical": m.get("canonical"),
                     "maxCpus": int(m.get("maxCpus")) if m.get("maxCpus") else None}
                    for m in a.iterfind("machine")]
        guest = Guest(os_type=g.findtext("os_type"), arch=a.get("name"),
                      wordsize=int(ws) if ws else None, emulator=a.findtext("emulator"),
                      machines=machines)
        for d in a.iterfind("domain"):
            guest.domain_types.append(d.get("type"))
            if d.findtext("emulator"):
                guest.domain_emulators[d.get("type")] = d.findtext("emulator")
        out.append(guest)
    return out


def machine_and_emulator(domain_xml: str) -> tuple[str | None, str | None]:
    """The machine type and emulator libvirt filled in for a defined domain."""
    root = etree.fromstring(domain_xml.encode())
    t = root.find("os/type")
    return (t.get("machine") if t is not None else None), root.findtext("devices/emulator")
