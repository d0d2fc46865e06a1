"""Unit tests of the rules the model took from libvirt 9.0 (docs/model.md), one per rule."""
from __future__ import annotations

import asyncio

import pytest

from workbench.conf.domain_parse import parse_domain
from workbench.conf.domain_postparse import assign_controller_indexes
from workbench.errors import ParseError, ProbeError, ValidateError
from workbench.qemu import domain_checks, probe
from workbench.qemu.capsdata import Machine, QemuCaps
from workbench.qmp import Reply


# -- default machine ----------------------------------------------------------------------
def _m(name, alias=None, default=False, cpus=1):
    return Machine(name, alias, default, cpus)


@pytest.mark.parametrize("arch,machines,want", [
    ("x86_64", [_m("pc-q35-7.2", "q35"), _m("pc-i440fx-7.2", "pc", True)], "pc-i440fx-7.2"),
    ("aarch64", [_m("virt-7.2", "virt"), _m("integratorcp")], "integratorcp"),  # 9.0's ARM table
    ("armv7l", [_m("virt-7.2", "virt"), _m("integratorcp")], "integratorcp"),
    # spike_v1.10 is not in QEMU 7.2: QEMU's own default wins
    ("riscv64", [_m("virt"), _m("spike", default=True)], "spike"),
    # the preferred machine exists but QEMU's default differs: libvirt's preference wins
    ("microblaze", [_m("petalogix-ml605"), _m("petalogix-s3adsp1800", default=True)],
     "petalogix-s3adsp1800"),
    ("xtensa", [_m("kc705"), _m("sim", default=True)], "sim"),
    ("cris", [_m("axis-dev88", default=True)], "axis-dev88"),
])
def test_default_machine_follows_libvirt_9_0(arch, machines, want):
    i = probe.default_machine_index(arch, machines)
    assert machines[i].name == want


def test_default_machine_falls_back_to_is_default_when_the_arch_has_no_preference():
    # The old code compared `None in (name, alias)`: true for any machine without an alias.
    machines = [_m("first"), _m("second", default=True)]
    assert probe.default_machine_index("loongarch64", machines) == 1
    assert probe.default_machine_index("loongarch64", [_m("a"), _m("b")]) is None


def test_machines_moves_the_default_to_the_front_and_keeps_the_rest_in_order():
    raw = [{"name": "none"}, {"name": "a", "cpu-max": 4}, {"name": "sim", "is-default": True},
           {"name": "b"}]
    assert [m.name for m in probe._machines("xtensa", raw)] == ["sim", "a", "b"]


# -- the probe's command sequence, on a scripted monitor -----------------------------------
class Script:
    """A QMPSession stand-in answering from a dict: command -> return value (or Reply)."""
    def __init__(self, answers: dict):
        self.binary = "/x/qemu-system-test"
        self.answers = answers
        self.sent: list[tuple[str, dict | None]] = []

    async def execute(self, cmd: str, args: dict | None = None) -> Reply:
        self.sent.append((cmd, args))
        a = self.answers.get(cmd, Reply(error={"class": "CommandNotFound", "desc": cmd}))
        if callable(a):
            a = a(args)
        return a if isinstance(a, Reply) else Reply(ret=a)


def _answers(target: str, types: list[str], commands: list[str], machines=None, **extra):
    base = {"query-version": {"qemu": {"major": 7, "minor": 2, "micro": 0}},
            "query-target": {"arch": target}, "query-kvm": {"enabled": True, "present": True},
            "query-commands": [{"name": c} for c in commands],
            "qom-list-types": [{"name": t} for t in types],
            "query-machines": machines or [{"name": "none"}, {"name": "m", "is-default": True}],
            "device-list-properties": [], "qom-list-properties": []}
    base.update(extra)
    return base


def _run(answers) -> tuple[list[str], dict]:
    s, r = Script(answers), {"_n": 0}
    asyncio.run(probe._main_sequence(s, r, {}))
    from workbench.libvirt9.virsh import command_key
    return [command_key(c, a) for c, a in s.sent], r


CMDS = ["query-qmp-schema", "qom-list-properties", "query-cpu-definitions",
        "query-cpu-model-expansion", "query-sgx-capabilities", "query-sev-capabilities",
        "query-tpm-models", "query-tpm-types", "query-command-line-options",
        "query-migrate-capabilities"]


def test_schema_is_third_and_none_machine_props_are_asked():
    seq, _ = _run(_answers("sparc", ["tcg-accel"], CMDS))
    assert seq[:4] == ["query-version", "query-target", "query-qmp-schema", "query-commands"]
    assert "qom-list-properties(none-machine)" in seq
    assert seq.index("query-machines") < seq.index("qom-list-properties(none-machine)")


def test_device_props_are_gated_by_capability_not_by_the_device():
    seq, _ = _run(_answers("alpha", ["virtio-net-pci"], CMDS))
    assert "device-list-properties(virtio-net-ccw)" in seq  # any virtio-net sets the capability
    assert "device-list-properties(virtio-blk-pci)" in seq  # ungated
    assert "device-list-properties(virtio-scsi-ccw)" not in seq
    seq, _ = _run(_answers("cris", [], CMDS))
    assert not any("virtio-net" in c or "virtio-iommu" in c for c in seq)


def test_machine_props_use_the_canonical_name():
    machines = [{"name": "virt-7.2", "alias": "virt", "is-default": False}, {"name": "none"}]
    seq, _ = _run(_answers("aarch64", [], CMDS, machines=machines))
    assert "qom-list-properties(virt-7.2-machine)" in seq


def test_x86_expansions_sgx_and_hv_passthrough():
    expansion = lambda a: {"model": {"name": "base", "props": {"x": True}}}  # noqa: E731
    types = ["max-x86_64-cpu", "sgx-epc", "sev-guest"]
    props = lambda a: [{"name": "unavailable-features"}] if a["typename"] == "max-x86_64-cpu" else []  # noqa: E731
    seq, r = _run(_answers("x86_64", types, CMDS, **{"query-cpu-model-expansion": expansion,
                                                      "qom-list-properties": props}))
    tail = seq[seq.index("query-migrate-capabilities") + 1:]
    assert tail == ["query-sev-capabilities", "query-sgx-capabilities",
                    "query-cpu-model-expansion(static:host)", "query-cpu-model-expansion(static:host)",
                    "query-cpu-model-expansion(full:host)"]
    # qemu-system-i386: no max-x86_64-cpu, so each static expansion is expanded again in full
    seq, _ = _run(_answers("i386", [], CMDS, **{"query-cpu-model-expansion": expansion}))
    exp = [c for c in seq if c.startswith("query-cpu-model-expansion")]
    assert exp == ["query-cpu-model-expansion(static:host)", "query-cpu-model-expansion(full:base)",
                   "query-cpu-model-expansion(static:host)", "query-cpu-model-expansion(full:base)",
                   "query-cpu-model-expansion(full:host)"]


def test_failed_expansion_is_not_repeated_non_migratable():
    err = Reply(error={"class": "GenericError", "desc": "no KVM"})
    seq, r = _run(_answers("s390x", [], CMDS, **{"query-cpu-model-expansion": err}))
    assert [c for c in seq if "expansion" in c] == ["query-cpu-model-expansion(static:host)"]
    assert "host_cpu" not in r


def test_replay_gaps_in_the_new_commands_are_tolerated_but_not_elsewhere():
    answers = _answers("sparc", [], CMDS)
    answers["query-qmp-schema"] = Reply(error={"class": "CommandNotFound", "desc": "replay"})
    _run(answers)  # tolerated (docs/model.md D5)
    answers["query-machines"] = Reply(error={"class": "CommandNotFound", "desc": "replay"})
    with pytest.raises(ProbeError, match="query-machines"):
        _run(answers)


def test_tcg_launch_only_when_the_binary_has_tcg():
    """qemu-system-x86_64-microvm has KVM but no TCG: one launch, no failure (libvirt 9.0).
    The recorded replay of it was made with accel=tcg and only knows the refusal, so this
    needs the real binary."""
    import os
    from workbench.qemu.cache import KvmCheck
    real = "/usr/bin/qemu-system-x86_64-microvm"
    if not os.access(real, os.X_OK):
        pytest.skip(f"needs the real {real}")
    if not KvmCheck().usable():
        pytest.skip("needs a usable /dev/kvm (microvm has no TCG)")
    result = probe.probe(real)
    assert result.caps.probe_launches == 1 and result.caps.kvm and not result.caps.tcg


# -- post-parse and validate checks --------------------------------------------------------
def _caps(arch: str, machines: list[Machine], flags=()) -> QemuCaps:
    return QemuCaps("/x/q", 0, "v", "k", "m", 7002000, "", arch, False, True,
                    frozenset(flags), {"tcg": machines})


def _dom(arch: str, machine: str, devices: str = "", vcpus: int = 1):
    d = parse_domain(f"<domain type='qemu'><name>t</name><memory>65536</memory>"
                     f"<vcpu>{vcpus}</vcpu><os><type arch='{arch}' machine='{machine}'>hvm</type>"
                     f"</os><devices>{devices}</devices></domain>")
    assign_controller_indexes(d)
    return d


VIRTIO_DISK = "<disk type='file' device='disk'><source file='/x'/><target dev='vda' bus='virtio'/></disk>"
PCI_ADDR = "<address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/>"


def test_no_pci_buses_available():
    cris = _caps("cris", [_m("axis-dev88")])
    with pytest.raises(ParseError, match="^No PCI buses available$"):
        domain_checks.check_pci_buses(_dom("cris", "axis-dev88"), cris)  # implicit USB controller
    spike = _caps("riscv64", [_m("spike")])
    assert domain_checks.check_pci_buses(_dom("riscv64", "spike", VIRTIO_DISK), spike) is False
    disk_at_pci = VIRTIO_DISK.replace("</disk>", PCI_ADDR + "</disk>")
    with pytest.raises(ParseError, match="No PCI buses"):
        domain_checks.check_pci_buses(_dom("riscv64", "spike", disk_at_pci), spike)
    assert domain_checks.check_pci_buses(_dom("sparc", "SS-5"), _caps("sparc", [_m("SS-5")])) is False
    assert domain_checks.check_pci_buses(_dom("x86_64", "pc-i440fx-7.2", VIRTIO_DISK),
                                         _caps("x86_64", [_m("pc-i440fx-7.2")])) is True
    virt = _caps("aarch64", [_m("virt-7.2")], {"type.gpex-pcihost"})
    assert domain_checks.check_pci_buses(_dom("aarch64", "virt-7.2", VIRTIO_DISK), virt) is True
    with pytest.raises(ParseError, match="No PCI buses"):  # microvm: x86, no PCI bus
        domain_checks.check_pci_buses(_dom("x86_64", "microvm", VIRTIO_DISK),
                                      _caps("x86_64", [_m("microvm")]))


def test_default_scsi_controller_model():
    scsi = "<controller type='scsi' index='0'/>"
    with pytest.raises(ParseError, match=r"^Unable to determine model for SCSI controller idx=0$"):
        domain_checks.check_scsi_models(_dom("cris", "axis-dev88", scsi), _caps("cris", []))
    d = _dom("alpha", "clipper", scsi)
    assert domain_checks.scsi_controller_model(d, _caps("alpha", [], {"type.lsi53c895a"}), 0) == "lsi"
    assert domain_checks.scsi_controller_model(d, _caps("alpha", [], {"type.virtio-scsi-pci"}), 0) == "virtio-scsi"
    assert domain_checks.scsi_controller_model(_dom("sparc", "SS-5", scsi), _caps("sparc", []), 0) == "ncr53c90"


def test_machine_cpu_limit_and_ide():
    caps = _caps("ppc", [_m("g3beige", cpus=1)])
    with pytest.raises(ValidateError, match="^Maximum CPUs greater than specified machine type limit 1$"):
        domain_checks.validate_cpus(_dom("ppc", "g3beige", vcpus=2), caps)
    domain_checks.validate_cpus(_dom("ppc", "g3beige", vcpus=1), caps)
    ide = "<disk type='file' device='disk'><source file='/x'/><target dev='hda' bus='ide'/></disk>"
    with pytest.raises(ValidateError, match="IDE controllers are unsupported"):
        domain_checks.validate_ide(_dom("alpha", "clipper", ide))
    for arch, machine in (("x86_64", "pc-i440fx-7.2"), ("mips", "malta"), ("ppc", "g3beige"),
                          ("sparc64", "sun4u")):
        domain_checks.validate_ide(_dom(arch, machine, ide))


def test_kvm_machine_list_is_empty_without_kvm():
    caps = _caps("aarch64", [_m("integratorcp")])
    assert caps.machines_for("kvm") == [] and caps.preferred_machine("kvm") is None
    assert caps.preferred_machine("qemu").name == "integratorcp"


def test_arm_serves_armv6l():
    from workbench.qemu.domain_parse import _ALSO_SERVES
    assert "armv6l" in _ALSO_SERVES["armv7l"] and "i686" in _ALSO_SERVES["x86_64"]
