"""What the workbench's probe keeps (QemuCaps) against libvirt 9.0's own `caps_<qemu>.<arch>.xml`.

libvirt's tests probe each replies file with libvirt 9.0's probe and store what it derived in
the XML beside it; the oracle check probes the same replies with the workbench's probe and
compares, aspect by aspect. Each aspect is one Row; `detail` names the first differences.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from workbench.errors import UsageError
from workbench.libvirt9.flag_tables import FlagTables, as_libvirt
from workbench.qemu.capsdata import QemuCaps

ACCELS = ("kvm", "tcg")
_MAX_SHOWN = 4


@dataclass(frozen=True)
class Row:
    file: str      # the replies file's label, e.g. 8.0.0.x86_64
    check: str     # "caps" or "domcaps"
    aspect: str    # e.g. machines.kvm
    model: str     # a short summary of the workbench's value
    libvirt: str   # the same for libvirt's
    agree: str     # "yes", "NO" or "deliberate Dn"
    detail: str = ""


def read_caps_xml(path: Path) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.parse(str(path), parser).getroot()
    except (OSError, etree.XMLSyntaxError) as e:
        raise UsageError(f"{path}: cannot read libvirt's capabilities: {e}") from None
    if root.tag != "qemuCaps":
        raise UsageError(f"{path}: root element is <{root.tag}>, expected <qemuCaps>")
    return root


def compare(label: str, caps: QemuCaps, root: etree._Element, tables: FlagTables,
            derived: set[str]) -> list[tuple[str, object, object]]:
    """(aspect, model value, libvirt value) for every compared aspect, values comparable by ==."""
    lv_flags = {f.get("name") for f in root.iterfind("flag")}
    out: list[tuple[str, object, object]] = [
        ("version", caps.version, int(root.findtext("version") or -1)),
        ("package", caps.package, root.findtext("package") or ""),
        ("arch", caps.arch, root.findtext("arch")),
        ("kvm", caps.kvm, "kvm" in lv_flags),
        ("tcg", caps.tcg, "tcg" in lv_flags),
    ]
    for accel in ACCELS:
        out.append((f"machines.{accel}", [_machine(m) for m in caps.machines.get(accel, [])],
                    [_lv_machine(el) for el in root.iterfind(f"machine[@type='{accel}']")]))
    for accel in ACCELS:
        out.append((f"cpus.{accel}", sorted(_cpu(c) for c in caps.cpu_models.get(accel, [])),
                    sorted(_lv_cpu(el) for el in root.iterfind(f"cpu[@type='{accel}']"))))
    for accel in ACCELS:
        el = root.find(f"hostCPU[@type='{accel}']")
        out.append((f"host_cpu.{accel}", caps.host_cpu.get(accel), None if el is None else el.get("model")))
    out.append(("gic", sorted((int(g.get("version")), bool(g.get("kernel")), bool(g.get("emulated")))
                              for g in caps.gic),
                sorted((int(el.get("version")), el.get("kernel") == "yes", el.get("emulated") == "yes")
                       for el in root.iterfind("gic"))))
    sev = root.find("sev")
    out.append(("sev", None if caps.sev is None else (caps.sev.get("cbitpos"), caps.sev.get("reduced-phys-bits")),
                None if sev is None else (int(sev.findtext("cbitpos")), int(sev.findtext("reducedPhysBits")))))
    out.append(("flags", sorted(as_libvirt(caps.flags, tables) & derived), sorted(lv_flags & derived)))
    return out


def _machine(m) -> tuple:
    return (m.name, m.alias, m.is_default, m.max_cpus, m.hotplug_cpus, m.default_cpu_type)


def _lv_machine(el) -> tuple:
    return (el.get("name"), el.get("alias"), el.get("default") == "yes", int(el.get("maxCpus", "1")),
            el.get("hotplugCpus") == "yes", el.get("defaultCPU"))


def _cpu(c) -> tuple:
    return (c.name, c.typename, c.usable, tuple(sorted(c.blockers)))


def _lv_cpu(el) -> tuple:
    usable = el.get("usable")
    return (el.get("name"), el.get("typename"), None if usable is None else usable == "yes",
            tuple(sorted(b.get("name") for b in el.iterfind("blocker"))))


def summary(value: object) -> str:
    if isinstance(value, list):
        return f"{len(value)} items"
    return "-" if value is None else str(value)


def difference(model: object, libvirt: object) -> str:
    """The first differences between two values, for the table's detail column."""
    if model == libvirt:
        return ""
    if isinstance(model, list) and isinstance(libvirt, list):
        only_m = [x for x in model if x not in libvirt]
        only_l = [x for x in libvirt if x not in model]
        parts = []
        if only_m:
            parts.append("model only: " + "; ".join(map(_short, only_m[:_MAX_SHOWN]))
                         + (f" (+{len(only_m) - _MAX_SHOWN})" if len(only_m) > _MAX_SHOWN else ""))
        if only_l:
            parts.append("libvirt only: " + "; ".join(map(_short, only_l[:_MAX_SHOWN]))
                         + (f" (+{len(only_l) - _MAX_SHOWN})" if len(only_l) > _MAX_SHOWN else ""))
        return " | ".join(parts) or "same items, other order"
    return f"{model!r} vs {libvirt!r}"


def _short(x: object) -> str:
    return x if isinstance(x, str) else repr(x)
