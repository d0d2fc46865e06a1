"""The generic domain XML layer: hardened parse, round trip, errors, post-parse helpers."""
from __future__ import annotations

from pathlib import Path

import pytest

from workbench import trace
from workbench.conf import domain, domain_parse
from workbench.conf.domain import Address, ControllerDef, PCIAddress, Raw
from workbench.conf.domain_format import format_domain
from workbench.conf.domain_parse import parse_domain, parse_domain_file
from workbench.conf.domain_postparse import (assign_controller_indexes, assign_pci_addresses,
                                             clear_auto_ifnames, disk_bus, disk_index,
                                             fill_seclabel_model, generate_macs)
from workbench.errors import XMLError
from workbench.paths import DOMAINS_DIR

CORPUS = sorted(DOMAINS_DIR.glob("*.xml"))
BAD = sorted((DOMAINS_DIR / "bad").glob("*.xml"))

MINIMAL = """<domain type='qemu'>
  <name>t</name>
  <memory unit='MiB'>256</memory>
  <os><type arch='x86_64'>hvm</type></os>
</domain>"""


def dom(devices: str = "", extra: str = "") -> str:
    return (f"<domain type='qemu'><name>t</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>"
            f"<memory>1024</memory><os><type arch='x86_64'>hvm</type></os>{extra}"
            f"<devices>{devices}</devices></domain>")


def test_corpus_is_there():
    assert len(CORPUS) >= 3 * 30 and len(BAD) >= 8


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_round_trip(path: Path):
    d = parse_domain_file(path)
    out = format_domain(d)
    again = parse_domain(out, source="formatted")
    assert again == d
    assert format_domain(again) == out  # formatting is a fixed point
    assert d.name == path.stem


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_bad_files_are_refused_with_position(path: Path):
    with pytest.raises(XMLError) as info:
        parse_domain_file(path)
    e = info.value
    assert e.source == str(path)
    assert e.line >= 1 and e.column >= 1
    assert str(e).startswith(f"{path}:{e.line}:{e.column}: ")
    assert "root:" not in str(e)


def test_semantic_error_points_at_the_element():
    with pytest.raises(XMLError) as info:
        parse_domain_file(DOMAINS_DIR / "bad" / "bad-memory.xml")
    assert (info.value.line, info.value.column) == (3, 3)
    assert "lots" in info.value.message


def test_syntax_error_position_comes_from_libxml2():
    with pytest.raises(XMLError) as info:
        parse_domain("<domain type='qemu'>\n<name>x</name\n</domain>", source="f.xml")
    assert info.value.line == 3 and str(info.value).startswith("f.xml:3:")


def _passwd_has_root() -> None:
    if "root:" not in Path("/etc/passwd").read_text():
        pytest.skip("/etc/passwd has no root entry, the leak check would prove nothing")


def test_external_entity_reads_nothing_even_past_the_prescan(monkeypatch):
    _passwd_has_root()
    xxe = (DOMAINS_DIR / "bad" / "xxe-passwd.xml").read_bytes()
    # Without the byte prescan, the parser settings and the DTD check must still hold.
    monkeypatch.setattr(domain_parse, "_prescan", lambda data, source: None)
    with pytest.raises(XMLError) as info:
        parse_domain(xxe, source="xxe.xml")
    assert "root:" not in str(info.value)


def test_utf16_external_entity_is_refused():
    _passwd_has_root()
    text = (DOMAINS_DIR / "bad" / "xxe-passwd.xml").read_text()
    data = text.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
    with pytest.raises(XMLError) as info:
        parse_domain(data.encode("utf-16"), source="xxe16.xml")
    assert "root:" not in str(info.value)


@pytest.mark.parametrize("xml", [
    "<domain type='qemu'><name>&x;</name></domain>",
    "<!DOCTYPE domain [<!ELEMENT domain ANY>]><domain type='qemu'/>",
    "<!DOCTYPE domain PUBLIC '-//x//y' 'http://example.invalid/d.dtd'><domain type='qemu'/>",
])
def test_entities_and_dtds_are_refused(xml: str):
    with pytest.raises(XMLError) as info:
        parse_domain(xml)
    assert info.value.line >= 1


def test_bare_doctype_is_accepted():
    d = parse_domain("<!DOCTYPE domain>\n" + MINIMAL)
    assert d.name == "t"


def test_size_limit_is_checked_before_reading(tmp_path, monkeypatch):
    big = tmp_path / "huge.xml"
    with open(big, "wb") as f:  # sparse: 100 MB of apparent size, no disk used
        f.truncate(100 * 1024 * 1024)

    def must_not_run(*a, **k):
        raise AssertionError("the file was read or parsed")

    monkeypatch.setattr(domain_parse, "_parse_bytes", must_not_run)
    monkeypatch.setattr(domain_parse, "open", must_not_run, raising=False)
    with pytest.raises(XMLError) as info:
        parse_domain_file(big)
    assert str(domain.DEFAULT_MAX_BYTES) in str(info.value)
    assert str(100 * 1024 * 1024) in str(info.value)
    with pytest.raises(XMLError, match="limit of 1024"):
        parse_domain(b" " * 2048, max_bytes=1024)


def test_size_limit_parameter_lets_larger_files_through(tmp_path):
    p = tmp_path / "d.xml"
    p.write_text(MINIMAL)
    with pytest.raises(XMLError):
        parse_domain_file(p, max_bytes=10)
    assert parse_domain_file(p, max_bytes=len(MINIMAL)).name == "t"


@pytest.mark.parametrize("xml,message", [
    ("<domain><name>x</name><os><type>hvm</type></os></domain>", "missing domain type"),
    ("<domain type='qemu'><name>a/b</name><os><type>hvm</type></os></domain>", "must not contain"),
    ("<domain type='qemu'><name>x</name><uuid>nope</uuid><os><type>hvm</type></os></domain>",
     "malformed uuid"),
    ("<domain type='qemu'><name>x</name><vcpu>two</vcpu><os><type>hvm</type></os></domain>",
     "vcpu count"),
    ("<domain type='qemu'><name>x</name><memory>-1</memory><os><type>hvm</type></os></domain>",
     "invalid value"),
    (dom("<controller type='usb' index='x'/>"), "controller index"),
    (dom("<disk><address type='pci' slot='0x20'/></disk>"), "PCI address slot"),
    ("<domain type='qemu'><name>x</name></domain>", "os <type>"),
])
def test_semantic_errors(xml: str, message: str):
    with pytest.raises(XMLError, match=message) as info:
        parse_domain(xml)
    assert info.value.line == 1 and info.value.column >= 1


@pytest.mark.parametrize("text,unit,kib", [
    ("512", "MiB", 524288), ("1", "G", 1048576), ("1000", "KB", 977), ("1025", "b", 2),
    ("4096", None, 4096), ("2", "gib", 2097152),
])
def test_memory_units(text: str, unit: str | None, kib: int):
    u = f" unit='{unit}'" if unit else ""
    xml = MINIMAL.replace("<memory unit='MiB'>256</memory>", f"<memory{u}>{text}</memory>")
    assert parse_domain(xml).memory_kib == kib


def test_typed_fields():
    d = parse_domain_file(DOMAINS_DIR / "x86_64-devices.xml")
    assert (d.virt_type, d.os.type, d.os.arch, d.os.machine) == ("qemu", "hvm", "x86_64", "pc")
    assert d.memory_kib == 2 * 1024 * 1024 and d.current_memory_kib == 1536 * 1024
    assert d.vcpus == 4 and d.vcpu_attrs == {"placement": "static", "current": "2"}
    assert d.os.boot == ["cdrom", "hd"] and set(d.features) == {"acpi", "apic"}
    assert (d.cpu.mode, d.cpu.match, d.cpu.model, d.cpu.model_fallback) == (
        "custom", "exact", "qemu64", "allow")
    assert [(k.device, k.bus, k.dev) for k in d.disks] == [
        ("disk", "virtio", "vda"), ("disk", "scsi", "sdb"), ("cdrom", "ide", "hdc")]
    assert d.disks[0].source_file.endswith("-root.qcow2")
    assert d.disks[1].source_file == "/dev/vg0/x86_64-devices-data"
    assert d.disks[0].address == PCIAddress(0, 0, 7, 0)
    assert [(c.type, c.index, c.model) for c in d.controllers] == [
        ("scsi", 0, "virtio-scsi"), ("usb", None, "qemu-xhci"), ("virtio-serial", None, None)]
    assert [(n.type, n.model_type, n.ifname) for n in d.interfaces] == [
        ("network", "virtio", None), ("bridge", "virtio", "vnet7")]
    assert d.consoles[0].target_type == "serial" and d.channels[0].target_type == "virtio"
    assert d.graphics[0].type == "vnc" and d.emulator is None
    assert d.seclabels[0].type == "dynamic" and d.seclabels[0].model is None
    assert [r.tag for r in d.devices_extra] == ["input", "video", "memballoon", "rng"]
    assert d.device_count() == len(d.devices) == 3 + 3 + 2 + 1 + 1 + 1 + 1 + 4
    assert d.post_parse_failed is False


def test_non_pci_address_kept():
    d = parse_domain_file(DOMAINS_DIR / "s390x-devices.xml")
    assert d.disks[0].address == Address("ccw", {"cssid": "0xfe", "ssid": "0x0", "devno": "0x0001"})


def test_canonical_order_and_namespaces():
    xml = """<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
      <qemu:commandline><qemu:arg value='-s'/></qemu:commandline>
      <devices><memballoon model='none'/><!-- keep me --><disk device='disk'><target dev='vda'/></disk></devices>
      <clock offset='utc'/>
      <os><boot dev='hd'/><type>hvm</type></os>
      <name>ns</name>
    </domain>"""
    d = parse_domain(xml)
    out = format_domain(d)
    assert parse_domain(out) == d
    assert out.index("<name>") < out.index("<os>") < out.index("<clock") < out.index("<devices>")
    assert out.index("<disk") < out.index("<memballoon") < out.index("keep me")
    assert out.index("</devices>") < out.index("<qemu:commandline")
    # The namespace is declared once on <domain>, and by the raw element that uses it.
    assert out.count("xmlns:qemu") == 2 and "<clock offset" in out


def test_raw_equality_is_by_serialized_form():
    assert Raw.fromstring("<clock offset='utc'/>") == Raw.fromstring('<clock offset="utc"/>')
    assert Raw.fromstring("<clock offset='utc'/>") != Raw.fromstring("<clock offset='localtime'/>")
    a = parse_domain(dom(extra="<clock offset='utc'/>"))
    b = parse_domain(dom(extra="<clock offset='localtime'/>"))
    assert a != b and a == parse_domain(dom(extra="<clock offset='utc'/>"))


def test_escaping_round_trips():
    d = parse_domain(dom("<disk type='file'><source file='/a &amp; b&apos;&lt;c&gt;&#10;d'/>"
                         "<target dev='vda'/></disk>", extra="<title>x &amp; y</title>"))
    assert d.disks[0].source_file == "/a & b'<c>\nd"
    assert parse_domain(format_domain(d)) == d


def test_one_span_per_phase_not_per_element():
    tracer = trace.TRACER
    was = tracer.enabled
    tracer.enabled = True
    try:
        before = len(tracer.records())
        d = parse_domain_file(DOMAINS_DIR / "x86_64-devices.xml")
        format_domain(d)
        names = [r.name for r in tracer.records()[before:]]
    finally:
        tracer.enabled = was
    assert names == ["domain.parse", "domain.format"]


# --- post-parse helpers -------------------------------------------------------------------------

def test_disk_index_and_bus():
    assert [disk_index(n) for n in ("sda", "vdz", "hdaa", "xvdb", "foo", "sd1")] == [
        0, 25, 26, 1, None, None]
    d = parse_domain(dom("<disk><target dev='hdc'/></disk><disk device='floppy'><target dev='fda'/>"
                         "</disk><disk><target dev='vdb' bus='scsi'/></disk>"))
    assert [disk_bus(k) for k in d.disks] == ["ide", "fdc", "scsi"]


def test_assign_controller_indexes():
    d = parse_domain(dom(
        "<disk><target dev='sdh' bus='scsi'/></disk>"          # unit 7 -> scsi controller 1
        "<disk><target dev='hdc'/></disk>"                      # ide controller 0
        "<disk><target dev='sda' bus='sata'/><address type='drive' controller='1'/></disk>"
        "<controller type='usb' index='0' model='none'/>"
        "<controller type='virtio-serial' index='1'/>"
        "<controller type='virtio-serial'/>"
        "<controller type='pci' model='pcie-root'/>"
        "<channel type='unix'><target type='virtio'/></channel>"
        "<input type='tablet' bus='usb'/>"))
    assign_controller_indexes(d)
    got = {(c.type, c.index) for c in d.controllers}
    assert got == {("usb", 0), ("virtio-serial", 1), ("virtio-serial", 0), ("pci", 0),
                   ("scsi", 0), ("scsi", 1), ("ide", 0), ("sata", 0), ("sata", 1)}
    assert len(d.controllers) == len(got)
    assert d.controllers[0].model == "none"  # the existing usb controller is not duplicated
    assert parse_domain(format_domain(d)) == d
    assign_controller_indexes(d)
    assert len(d.controllers) == len(got)  # idempotent


def test_assign_controller_indexes_on_corpus():
    d = assign_controller_indexes(parse_domain_file(DOMAINS_DIR / "x86_64-devices.xml"))
    assert [(c.type, c.index) for c in d.controllers] == [
        ("scsi", 0), ("usb", 0), ("virtio-serial", 0), ("ide", 0)]


def test_assign_pci_addresses():
    d = parse_domain_file(DOMAINS_DIR / "x86_64-devices.xml")
    assign_controller_indexes(d)
    assign_pci_addresses(d)
    pci = [dv.address for dv in (*d.disks, *d.controllers, *d.interfaces)
           if isinstance(dv.address, PCIAddress)]
    raw = [r.el.find("address") for r in d.devices_extra]
    slots = [a.slot for a in pci] + [int(a.get("slot"), 16) for a in raw if a is not None]
    assert len(slots) == len(set(slots)) and 7 in slots and 9 in slots
    assert min(slots) == 1 and all(a.bus == 0 and a.function == 0 for a in pci)
    assert d.disks[1].address is None and d.disks[2].address is None  # scsi/ide disks
    assert [c.address is None for c in d.controllers] == [False, False, False, True]  # ide
    assert raw[0] is None and all(a is not None for a in raw[1:])  # usb input, video, balloon, rng
    assert parse_domain(format_domain(d)) == d
    before = format_domain(d)
    assign_pci_addresses(d)
    assert format_domain(d) == before


def test_assign_pci_addresses_skips_ccw_and_runs_out():
    d = assign_pci_addresses(parse_domain_file(DOMAINS_DIR / "s390x-devices.xml"))
    assert isinstance(d.disks[0].address, Address) and d.disks[0].address.type == "ccw"
    many = parse_domain(dom("".join(f"<disk><target dev='vd{chr(97 + i)}' bus='virtio'/></disk>"
                                    for i in range(3))))
    assign_pci_addresses(many, first_slot=10)
    assert [k.address.slot for k in many.disks[:3]] == [10, 11, 12]
    with pytest.raises(XMLError, match="no free PCI slot"):
        assign_pci_addresses(parse_domain(dom("".join(
            "<interface type='user'/>" for _ in range(32)))))


def test_clear_auto_ifnames():
    d = parse_domain(dom(
        "<interface type='bridge'><target dev='vnet7'/></interface>"
        "<interface type='direct'><target dev='macvtap0' managed='no'/></interface>"
        "<interface type='ethernet'><target dev='tap-mine'/></interface>"
        "<interface type='ethernet'><target dev='vif1.0'/></interface>"))
    clear_auto_ifnames(d)
    assert [n.ifname for n in d.interfaces] == [None, None, "tap-mine", "vif1.0"]
    assert d.interfaces[0].target is None and d.interfaces[1].target.attrs == {"managed": "no"}
    clear_auto_ifnames(d, net_prefix="vif")
    assert d.interfaces[3].ifname is None
    assert parse_domain(format_domain(d)) == d


@pytest.mark.parametrize("seclabel,inactive,model", [
    ("<seclabel type='dynamic'/>", True, "selinux"),
    ("<seclabel/>", True, "selinux"),
    ("<seclabel type='none'/>", False, "selinux"),
    ("<seclabel type='dynamic' model='apparmor'/>", True, "apparmor"),
])
def test_fill_seclabel_model(seclabel: str, inactive: bool, model: str):
    d = fill_seclabel_model(parse_domain(dom().replace("</devices>", "</devices>" + seclabel)),
                            "selinux", inactive=inactive)
    assert d.seclabels[0].model == model


@pytest.mark.parametrize("seclabels,inactive", [
    ("<seclabel type='dynamic'><baselabel>system_u:system_r:svirt_t:s0</baselabel></seclabel>", True),
    ("<seclabel type='dynamic'/>", False),
    ("<seclabel type='static' relabel='no'><label>x</label></seclabel>", True),
    ("<seclabel type='dynamic' model='selinux'/><seclabel type='none'/>", True),
])
def test_fill_seclabel_model_refuses(seclabels: str, inactive: bool):
    d = parse_domain(dom().replace("</devices>", "</devices>" + seclabels))
    with pytest.raises(XMLError, match="missing security model"):
        fill_seclabel_model(d, "selinux", inactive=inactive)


def test_fill_seclabel_model_without_default_is_a_no_op():
    d = parse_domain(dom().replace("</devices>", "</devices><seclabel/>"))
    assert fill_seclabel_model(d, None).seclabels[0].model is None


def test_generate_macs():
    xml = dom("<interface type='user'/><interface type='user'><mac address='52:54:00:00:00:01'/>"
              "</interface><interface type='user'/>")
    a, b = generate_macs(parse_domain(xml)), generate_macs(parse_domain(xml))
    macs = [n.mac_address for n in a.interfaces]
    assert macs == [n.mac_address for n in b.interfaces]
    assert macs[1] == "52:54:00:00:00:01" and len(set(macs)) == 3
    assert all(m.startswith("52:54:00:") and len(m) == 17 for m in macs)
    assert generate_macs(parse_domain(xml), seed="other").interfaces[0].mac_address != macs[0]


def test_new_controller_formats():
    d = parse_domain(dom())
    d.controllers.append(ControllerDef("ide", 0))
    assert '<controller type="ide" index="0"/>' in format_domain(d)
