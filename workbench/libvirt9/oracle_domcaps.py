"""The workbench's `get_domain_capabilities` against libvirt 9.0's `tests/domaincapsdata/*.xml`.

Each libvirt file (`qemu_<qemu>[-variant].<arch>.xml`) is the domain capabilities libvirt 9.0
formats from the `caps_<qemu>.<arch>` probe for one machine and virt type (both in the file).
The workbench formats the same from its own probe of the same replies
(workbench.qemu.domcaps) and the two are compared on the elements the workbench formats; the
elements it does not format are counted (`unformatted`), not compared.
"""
from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from workbench.errors import UsageError
from workbench.qemu.capsdata import QemuCaps
from workbench.qemu.domcaps import domain_capabilities_xml

_NAME = re.compile(r"qemu_(\d+\.\d+\.\d+)(?:-([a-z0-9]+))?\.([a-z0-9_]+)\.xml\Z")

# The elements workbench.qemu.domcaps formats, as paths compared below.
ASPECTS = ("domain", "machine", "arch", "vcpu", "os", "cpu.host-passthrough", "cpu.host-model",
           "cpu.custom", "devices.disk.bus", "devices.video.modelType", "features.gic",
           "features.sev")


def domcaps_files(tests_dir: Path) -> list[tuple[Path, str, str]]:
    """(file, qemu version, arch) for every QEMU domain capabilities file."""
    d = Path(tests_dir) / "domaincapsdata"
    out = []
    for p in sorted(d.glob("qemu_*.xml")):
        m = _NAME.match(p.name)
        if m:
            out.append((p, m[1], m[3]))
    return out


def _parse(path: Path) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        return etree.parse(str(path), parser).getroot()
    except (OSError, etree.XMLSyntaxError) as e:
        raise UsageError(f"{path}: cannot read libvirt's domain capabilities: {e}") from None


def _values(root: etree._Element, path: str) -> list[str] | None:
    el = root.find(path)
    if el is None:
        return None
    return sorted(v.text for v in el.iterfind("value"))


def _aspects(root: etree._Element) -> dict[str, object]:
    def mode(name: str) -> etree._Element | None:
        return root.find(f"cpu/mode[@name='{name}']")

    hm = mode("host-model")
    custom = mode("custom")
    gic = root.find("features/gic")
    sev = root.find("features/sev")
    vcpu = root.find("vcpu")
    return {
        "domain": root.findtext("domain"), "machine": root.findtext("machine"),
        "arch": root.findtext("arch"), "vcpu": None if vcpu is None else vcpu.get("max"),
        "os": (root.find("os").get("supported") if root.find("os") is not None else None),
        "cpu.host-passthrough": (mode("host-passthrough").get("supported")
                                 if mode("host-passthrough") is not None else None),
        "cpu.host-model": None if hm is None else (hm.get("supported"), hm.findtext("model")),
        "cpu.custom": None if custom is None else sorted(
            (m.text, m.get("usable")) for m in custom.iterfind("model")),
        "devices.disk.bus": _values(root, "devices/disk/enum[@name='bus']"),
        "devices.video.modelType": _values(root, "devices/video/enum[@name='modelType']"),
        "features.gic": None if gic is None else (gic.get("supported"),
                                                  _values(root, "features/gic/enum[@name='version']")),
        "features.sev": None if sev is None else sev.get("supported"),
    }


def _element_paths(root: etree._Element) -> set[str]:
    out = set()
    for el in root.iter():
        if isinstance(el.tag, str):
            out.add("/".join(a.tag for a in reversed(list(el.iterancestors()))) + "/" + el.tag)
    return out


def compare(path: Path, caps: QemuCaps) -> tuple[list[tuple[str, object, object]], int]:
    """(aspect, model, libvirt) per compared element, and how many of libvirt's element paths
    the workbench does not format at all."""
    lv = _parse(path)
    virttype = lv.findtext("domain") or "kvm"
    name = lv.findtext("machine") or ""
    machine = caps.machine(virttype, name)
    if machine is None:
        return [("machine", None, name)], 0
    model_xml = domain_capabilities_xml(caps, lv.findtext("path") or "", lv.findtext("arch") or "",
                                        machine, virttype)
    wb = etree.fromstring(model_xml.encode())
    a, b = _aspects(wb), _aspects(lv)
    unformatted = len(_element_paths(lv) - _element_paths(wb))
    return [(k, a[k], b[k]) for k in ASPECTS], unformatted
