"""What libvirt keeps per emulator (virQEMUCaps), and its on-disk `<qemuCaps>` XML form."""
from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from workbench.errors import CorruptFile


# The workbench's own version as the cache sees it (libvirt's selfvers): bump it when the probe
# sequence or the cache format changes, and every cache entry becomes invalid.
SELF_VERSION = "0.3.0"


@dataclass(frozen=True)
class Machine:
    name: str
    alias: str | None = None
    is_default: bool = False
    max_cpus: int = 1
    hotplug_cpus: bool = False
    default_cpu_type: str | None = None


@dataclass(frozen=True)
class CpuModel:
    name: str
    typename: str | None = None
    usable: bool | None = None  # None: QEMU did not say (no unavailable-features)
    blockers: tuple[str, ...] = ()


@dataclass
class QemuCaps:
    binary: str
    ctime_ns: int               # the binary's ctime at probe time (validity)
    self_version: str           # the workbench's own version at probe time (validity)
    kernel_version: str         # host kernel at probe time (validity, native KVM entries)
    microcode: str              # host microcode at probe time (validity, native KVM entries)
    version: int                # major*1e6 + minor*1e3 + micro
    package: str
    arch: str                   # libvirt's arch name (x86_64, i686, armv7l, ...)
    kvm: bool
    tcg: bool
    flags: frozenset[str] = frozenset()
    machines: dict[str, list[Machine]] = field(default_factory=dict)   # accel -> machines
    cpu_models: dict[str, list[CpuModel]] = field(default_factory=dict)  # accel -> models
    host_cpu: dict[str, str] = field(default_factory=dict)  # accel -> expanded host/max model
    gic: list[dict] = field(default_factory=list)
    sev: dict | None = None
    probe_launches: int = 0
    # More of virQEMUCapsIsValid's inputs, taken at probe time (libvirt 9.0).
    mod_dir_ctime: int | None = None  # QEMU's module directory (None: absent)
    self_ctime: int = 0               # the workbench's own probing code (libvirt's own ctime)
    cpu_signature: str = ""           # host CPU vendor/family/model/stepping (KVM entries)
    kvm_nesting: bool = False         # KVM's nested parameter (KVM entries)
    secure_guest: bool = False        # SEV / s390 PV available (KVM entries)

    # -- what the driver asks of one emulator --------------------------------------------
    def accel_for(self, virt_type: str) -> str:
        return "kvm" if virt_type == "kvm" else "tcg"

    def supports_virt_type(self, virt_type: str) -> bool:
        return self.kvm if virt_type == "kvm" else self.tcg

    def machines_for(self, virt_type: str) -> list[Machine]:
        """virQEMUCapsGetAccel's machine list: empty for kvm on an emulator without KVM."""
        return self.machines.get(self.accel_for(virt_type), [])

    def preferred_machine(self, virt_type: str) -> Machine | None:
        """libvirt moved its preferred default to the front when probing."""
        ms = self.machines_for(virt_type)
        return ms[0] if ms else None

    def canonical_machine(self, virt_type: str, name: str) -> str | None:
        """Resolve an alias (pc -> pc-i440fx-7.2); None if this emulator lacks the machine."""
        for m in self.machines_for(virt_type):
            if m.name == name:
                return m.name
            if m.alias == name:
                return m.name
        return None

    def machine(self, virt_type: str, name: str) -> Machine | None:
        for m in self.machines_for(virt_type):
            if m.name == name or m.alias == name:
                return m
        return None

    def cpu_model_names(self, virt_type: str) -> list[str]:
        models = self.cpu_models.get(self.accel_for(virt_type), [])
        return [c.name for c in models]

    # -- the cache file ------------------------------------------------------------------
    def to_xml(self) -> bytes:
        root = etree.Element("qemuCaps")
        for tag, text in (("emulator", self.binary), ("qemuctime", str(self.ctime_ns)),
                          ("selfvers", self.self_version), ("version", str(self.version)),
                          ("package", self.package), ("kernelVersion", self.kernel_version),
                          ("microcodeVersion", self.microcode),
                          ("arch", self.arch), ("probeLaunches", str(self.probe_launches)),
                          ("selfctime", str(self.self_ctime)), ("cpuSignature", self.cpu_signature),
                          ("kvmNesting", "yes" if self.kvm_nesting else "no"),
                          ("secureGuest", "yes" if self.secure_guest else "no")):
            etree.SubElement(root, tag).text = text
        if self.mod_dir_ctime is not None:
            etree.SubElement(root, "modDirCtime").text = str(self.mod_dir_ctime)
        etree.SubElement(root, "kvm", enabled="yes" if self.kvm else "no")
        etree.SubElement(root, "tcg", enabled="yes" if self.tcg else "no")
        for f in sorted(self.flags):
            etree.SubElement(root, "flag", name=f)
        for accel, model in sorted(self.host_cpu.items()):
            etree.SubElement(root, "hostCPU", type=accel, model=model)
        for accel, models in sorted(self.cpu_models.items()):
            for c in models:
                el = etree.SubElement(root, "cpu", type=accel, name=c.name)
                if c.typename:
                    el.set("typename", c.typename)
                if c.usable is not None:
                    el.set("usable", "yes" if c.usable else "no")
                for b in c.blockers:
                    etree.SubElement(el, "blocker", name=b)
        for accel, machines in sorted(self.machines.items()):
            for m in machines:
                el = etree.SubElement(root, "machine", type=accel, name=m.name,
                                      maxCpus=str(m.max_cpus))
                if m.alias:
                    el.set("alias", m.alias)
                if m.is_default:
                    el.set("default", "yes")
                if m.hotplug_cpus:
                    el.set("hotplugCpus", "yes")
                if m.default_cpu_type:
                    el.set("defaultCPU", m.default_cpu_type)
        for g in self.gic:
            etree.SubElement(root, "gic", version=str(g.get("version")),
                             kernel="yes" if g.get("kernel") else "no",
                             emulated="yes" if g.get("emulated") else "no")
        if self.sev is not None:
            sev = etree.SubElement(root, "sev")
            for k in ("cbitpos", "reduced-phys-bits"):
                if k in self.sev:
                    etree.SubElement(sev, k).text = str(self.sev[k])
        return etree.tostring(root, pretty_print=True, xml_declaration=False)

    @classmethod
    def from_xml(cls, data: bytes) -> "QemuCaps":
        """Parse a cache file; raises CorruptFile on anything malformed or incomplete."""
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                 huge_tree=False)
        try:
            root = etree.fromstring(data, parser)
        except etree.XMLSyntaxError as e:
            raise CorruptFile(f"not well-formed: {e}") from None
        if root.tag != "qemuCaps":
            raise CorruptFile(f"root element is <{root.tag}>, expected <qemuCaps>")

        def text(tag: str) -> str:
            el = root.find(tag)
            if el is None or el.text is None:
                raise CorruptFile(f"missing <{tag}>")
            return el.text

        def named(el) -> str:  # a nameless machine or CPU would be written as `<machine/>`
            name = el.get("name")
            if not name:
                raise CorruptFile(f"<{el.tag}> without a name (line {el.sourceline})")
            return name

        machines: dict[str, list[Machine]] = {}
        for el in root.iterfind("machine"):
            machines.setdefault(el.get("type", "tcg"), []).append(Machine(
                named(el), el.get("alias"), el.get("default") == "yes",
                int(el.get("maxCpus", "1")), el.get("hotplugCpus") == "yes", el.get("defaultCPU")))
        cpus: dict[str, list[CpuModel]] = {}
        for el in root.iterfind("cpu"):
            usable = el.get("usable")
            cpus.setdefault(el.get("type", "tcg"), []).append(CpuModel(
                named(el), el.get("typename"), None if usable is None else usable == "yes",
                tuple(named(b) for b in el.iterfind("blocker"))))
        sev_el = root.find("sev")
        try:
            return cls(
                binary=text("emulator"), ctime_ns=int(text("qemuctime")),
                self_version=text("selfvers"), kernel_version=text("kernelVersion"),
                microcode=root.findtext("microcodeVersion") or "",
                version=int(text("version")), package=root.findtext("package") or "",
                arch=text("arch"), kvm=root.find("kvm").get("enabled") == "yes",
                tcg=root.find("tcg").get("enabled") == "yes",
                flags=frozenset(named(el) for el in root.iterfind("flag")),
                machines=machines, cpu_models=cpus,
                host_cpu={el.get("type"): el.get("model") for el in root.iterfind("hostCPU")},
                gic=[{"version": int(el.get("version")), "kernel": el.get("kernel") == "yes",
                      "emulated": el.get("emulated") == "yes"} for el in root.iterfind("gic")],
                sev=None if sev_el is None else {c.tag: int(c.text) for c in sev_el},
                probe_launches=int(root.findtext("probeLaunches") or 0),
                mod_dir_ctime=None if root.find("modDirCtime") is None else int(text("modDirCtime")),
                self_ctime=int(root.findtext("selfctime") or 0),
                cpu_signature=root.findtext("cpuSignature") or "",
                kvm_nesting=root.findtext("kvmNesting") == "yes",
                secure_guest=root.findtext("secureGuest") == "yes")
        except (AttributeError, TypeError, ValueError) as e:
            raise CorruptFile(f"incomplete: {e}") from None
