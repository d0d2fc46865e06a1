"""The driver under every strategy, and the behaviour differences the 2019 series made."""
from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import WorkbenchError
from workbench.qemu.driver import DriverOptions, QemuDriver
from workbench.qemu.strategies import STRATEGIES

STRATS = list(STRATEGIES)[:2]   # the two libvirt had
ALL = list(STRATEGIES)           # ... and every newer one: the same APIs, the same answers
_started: list[QemuDriver] = []


@pytest.fixture(autouse=True)
def _stop_drivers():
    yield
    while _started:  # a background warm-up must not outlive its test
        _started.pop().stop()


def minimal(arch: str | None = "x86_64", virt: str = "qemu", name: str = "vm1",
            emulator: str | None = None, machine: str | None = None) -> str:
    arch_attr = f' arch="{arch}"' if arch else ""
    machine_attr = f' machine="{machine}"' if machine else ""
    emu = f"<emulator>{emulator}</emulator>" if emulator else ""
    return (f'<domain type="{virt}"><name>{name}</name><memory unit="KiB">524288</memory>'
            f'<vcpu>1</vcpu><os><type{arch_attr}{machine_attr}>hvm</type></os>'
            f'<devices>{emu}<disk type="file" device="disk"><source file="/var/lib/x.img"/>'
            f'<target dev="vda" bus="virtio"/></disk></devices></domain>')


def driver(inst: Path, strategy: str, tmp: Path, config_dir: Path | None = None,
           allow: tuple[str, ...] = ()) -> QemuDriver:
    drv = QemuDriver.startup(DriverOptions(str(inst), strategy, tmp / "cache", config_dir,
                                           allowed_emulators=allow))
    _started.append(drv)
    return drv


@pytest.fixture
def inst5(make_install):
    return make_install(5)  # x86_64 i386 aarch64 arm ppc64


def test_startup_probes_everything_only_with_full_caps(inst5, tmp_path):
    full = driver(inst5, "full-caps", tmp_path / "a")
    per = driver(inst5, "per-emulator", tmp_path / "b")
    assert full.cache.stats["probe"] == 5
    assert per.cache.stats["probe"] == 0


@pytest.mark.parametrize("strategy", ALL)
def test_define_then_get_xml_desc_and_list(inst5, tmp_path, strategy):
    drv = driver(inst5, strategy, tmp_path, config_dir=tmp_path / "etc")
    before = drv.cache.stats["probe"]
    assert drv.define_xml(minimal()) == "vm1"
    probes = drv.cache.stats["probe"] - before
    if strategy != "background":  # its warm-up probes the others meanwhile
        assert probes == (0 if strategy == "full-caps" else 1)  # per-emulator: just x86_64
    assert drv.list_domains() == ["vm1"]
    xml = drv.get_xml_desc("vm1")
    assert "pc-i440fx-7.2" in xml and str(inst5 / "qemu-system-x86_64") in xml
    assert (tmp_path / "etc" / "vm1.xml").exists()
    drv.undefine("vm1")
    assert drv.list_domains() == [] and not (tmp_path / "etc" / "vm1.xml").exists()
    with pytest.raises(WorkbenchError, match="Domain not found"):
        drv.get_xml_desc("vm1")


@pytest.mark.parametrize("strategy", ALL)
def test_capability_apis(inst5, tmp_path, strategy):
    drv = driver(inst5, strategy, tmp_path)
    caps = drv.get_capabilities()
    # arm serves armv6l and armv7l; ppc64 also serves ppc64le (libvirt's fallback)
    assert caps.count("<guest>") == 7
    assert "<host>" in caps
    dom = drv.get_domain_capabilities(arch="aarch64")
    assert "<domainCapabilities>" in dom and "qemu-system-aarch64" in dom
    assert drv.get_version() == 7002022
    assert drv.node_get_security_model() == {"model": "none", "doi": "0"}
    with pytest.raises(WorkbenchError, match="No emulator found"):
        drv.get_domain_capabilities(arch="s390x")


def test_get_version_builds_full_caps_even_per_emulator(inst5, tmp_path):
    drv = driver(inst5, "per-emulator", tmp_path)
    drv.get_version()
    assert drv.cache.stats["probe"] == 5  # the cover letter's open issue


def test_startup_loads_configs_with_one_lookup_each(inst5, tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    for i in range(3):
        (etc / f"vm{i}.xml").write_text(minimal(name=f"vm{i}"))
    drv = driver(inst5, "per-emulator", tmp_path, config_dir=etc)
    assert drv.list_domains() == ["vm0", "vm1", "vm2"]
    assert drv.cache.stats["lookups"] == 3 and drv.cache.stats["probe"] == 1


# -- the behaviour the series changed ---------------------------------------------------

def test_kvm_for_foreign_arch_fails_at_parse_before_and_at_post_parse_after(inst5, tmp_path):
    """libvirt 9.0: no machine for kvm on an emulator without KVM is a post-parse error; with
    a machine named, validate refuses the virt type."""
    from workbench.qemu.domain_parse import parse_domain_xml
    from workbench.errors import ParseError, ValidateError
    xml = minimal(arch="aarch64", virt="kvm")
    with pytest.raises(ParseError, match="could not find capabilities"):
        parse_domain_xml(driver(inst5, "full-caps", tmp_path / "a").parse_context, xml)
    per = driver(inst5, "per-emulator", tmp_path / "b")
    with pytest.raises(ParseError, match=r"could not get preferred machine for \S+qemu-system-aarch64 type=kvm"):
        parse_domain_xml(per.parse_context, xml)
    with pytest.raises(ValidateError, match="does not support virt type 'kvm'"):
        parse_domain_xml(per.parse_context, minimal(arch="aarch64", virt="kvm", machine="virt"))


def test_custom_emulator_outside_virCaps(make_install, tmp_path):
    """RHEL's case in the series: an <emulator> in $HOME that virCaps does not know."""
    inst = make_install(targets=["aarch64"])
    home = make_install(targets=["x86_64"])
    custom = home / "qemu-system-x86_64"
    xml = minimal(emulator=str(custom))
    with pytest.raises(WorkbenchError, match="could not find capabilities for arch=x86_64"):
        driver(inst, "full-caps", tmp_path / "a", allow=(str(custom),)).define_xml(xml)
    with pytest.raises(WorkbenchError, match="not in the driver's search path"):
        driver(inst, "per-emulator", tmp_path / "c").define_xml(xml)  # not allow-listed: refused
    per = driver(inst, "per-emulator", tmp_path / "b", allow=(str(custom),))
    per.define_xml(xml)
    assert "pc-i440fx-7.2" in per.get_xml_desc("vm1")


def test_default_arch_without_host_arch_guest(make_install, tmp_path):
    inst = make_install(targets=["aarch64"])
    xml = minimal(arch=None)
    full = driver(inst, "full-caps", tmp_path / "a")
    full.define_xml(xml)  # before: the first guest in arch-enum order
    assert 'arch="aarch64"' in full.get_xml_desc("vm1")
    with pytest.raises(WorkbenchError, match="No emulator found for arch 'x86_64'"):
        driver(inst, "per-emulator", tmp_path / "b").define_xml(xml)  # after: always the host arch


def test_machine_default_from_the_emulator_itself(inst5, tmp_path):
    """Same XML, same result, when defaults do not depend on the strategy."""
    outs = []
    for s in ALL:
        drv = driver(inst5, s, tmp_path / s)
        drv.define_xml(minimal(arch="aarch64"))
        outs.append(drv.get_xml_desc("vm1"))
    assert all(o == outs[0] for o in outs)
    assert 'machine="integratorcp"' in outs[0]  # libvirt 9.0's preferred ARM machine


@pytest.mark.parametrize("strategy", ALL)
def test_unsupported_machine_and_cpu_fail_validation(inst5, tmp_path, strategy):
    drv = driver(inst5, strategy, tmp_path)
    # No PCI device at all: an unknown x86 machine has no PCI bus, and libvirt 9.0 would stop
    # at "No PCI buses available" before validating the machine.
    no_pci = minimal(machine="no-such-machine").replace(
        '<disk type="file" device="disk"><source file="/var/lib/x.img"/><target dev="vda" bus="virtio"/></disk>',
        '<controller type="usb" model="none"/><memballoon model="none"/>')
    with pytest.raises(WorkbenchError, match="machine"):
        drv.define_xml(no_pci)
    bad_cpu = minimal().replace("<devices>", '<cpu mode="custom"><model>NoSuchCPU</model></cpu><devices>')
    with pytest.raises(WorkbenchError, match="CPU model 'NoSuchCPU'"):
        drv.define_xml(bad_cpu)
