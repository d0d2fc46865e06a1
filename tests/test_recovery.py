"""Cache and config recovery as libvirt's, and the bounds (trace, domain size, locking)."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from workbench import trace
from workbench.conf.domain_parse import MAX_DEVICES, parse_domain
from workbench.errors import OperationFailed, UsageError, XMLError
from workbench.qemu import cache as cache_mod
from workbench.qemu.cache import QemuCapsCache, cache_file_name
from workbench.qemu.driver import DriverOptions, QemuDriver


def xml(name: str = "vm1", uuid: str | None = None) -> str:
    u = f"<uuid>{uuid}</uuid>" if uuid else ""
    return (f'<domain type="qemu"><name>{name}</name>{u}<memory>524288</memory><vcpu>1</vcpu>'
            '<os><type arch="x86_64">hvm</type></os></domain>')


U1, U2 = "11111111-2222-3333-4444-555555555555", "11111111-2222-3333-4444-666666666666"


def start(inst: Path, tmp: Path, **kw) -> QemuDriver:
    return QemuDriver.startup(DriverOptions(str(inst), "per-emulator", tmp / "cache", tmp / "etc", **kw))


@pytest.mark.parametrize("kind", ["dir", "fifo", "symlink", "garbage"])
def test_bad_cache_entry_discarded_and_replaced(make_install, tmp_path, kind):
    inst = make_install(1)
    binary = str(inst / "qemu-system-x86_64")
    entry = tmp_path / "cache" / cache_file_name(binary)
    entry.parent.mkdir()
    if kind == "dir":
        (entry / "sub").mkdir(parents=True)
    elif kind == "fifo":
        os.mkfifo(entry)  # opening it would hang the lookup
    elif kind == "symlink":
        entry.symlink_to("/etc/hostname")
    else:
        entry.write_bytes(b"\x00garbage")
    for _ in range(2):  # the second run must work too (a folder entry used to fail every run)
        c = QemuCapsCache(tmp_path / "cache")
        assert c.lookup(binary).arch == "x86_64"
    assert entry.is_file() and not entry.is_symlink() and c.stats["disk"] == 1


def test_readonly_cache_warns_once_and_runs_uncached(make_install, tmp_path, monkeypatch, capsys):
    inst = make_install(2)

    def refuse(*a, **kw):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(cache_mod.tempfile, "mkstemp", refuse)  # root ignores mode bits; fail like EACCES
    c = QemuCapsCache(tmp_path / "cache")
    for b in ("qemu-system-x86_64", "qemu-system-i386", "qemu-system-x86_64"):
        c.lookup(str(inst / b))
    err = capsys.readouterr().err
    assert err.count("cannot write the capabilities cache") == 1 and "running uncached" in err
    assert list((tmp_path / "cache").iterdir()) == []


def test_cache_dir_naming_a_file_is_a_usage_error(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(UsageError, match="f"):
        QemuCapsCache(f)


def test_config_folder_recovery(make_install, tmp_path, capsys):
    inst = make_install(1)
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "good.xml").write_text(xml("good", U1))
    (etc / ".tmp-abc.xml").write_text(xml("ghost"))          # a failed define's leftover
    os.mkfifo(etc / "fifo.xml")                               # used to hang startup
    (etc / "broken.xml").write_text("<domain>")
    (etc / "twin.xml").write_text(xml("twin", U1))            # same UUID as good
    (etc / "dir.xml").mkdir()
    d = start(inst, tmp_path)
    assert d.list_domains() == ["good"]
    assert set(map(lambda p: Path(p).name, d.load_errors)) == {"fifo.xml", "broken.xml", "twin.xml", "dir.xml"}
    assert "is already defined with uuid" in d.load_errors[str(etc / "twin.xml")]
    err = capsys.readouterr().err
    assert err.count("skipped config") == 4


def test_duplicate_name_or_uuid_refused_on_define(make_install, tmp_path):
    d = start(make_install(1), tmp_path)
    d.define_xml(xml("a", U1))
    with pytest.raises(OperationFailed, match="domain 'a' is already defined with uuid " + U1):
        d.define_xml(xml("b", U1))
    with pytest.raises(OperationFailed, match="domain 'a' already exists with uuid " + U1):
        d.define_xml(xml("a", U2))
    d.define_xml(xml("a", U1))  # redefining the same domain is fine
    assert d.list_domains() == ["a"]
    assert sorted(p.name for p in (tmp_path / "etc").iterdir()) == ["a.xml"]


def test_failed_define_leaves_no_temp_file(make_install, tmp_path, monkeypatch):
    d = start(make_install(1), tmp_path)

    def boom(*a):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr("workbench.qemu.driver.os.replace", boom)
    with pytest.raises(OSError):
        d.define_xml(xml("a"))
    assert list((tmp_path / "etc").iterdir()) == []


def test_domain_device_limit(tmp_path):
    doc = xml().replace("</os>", "</os><devices>" + "<input type='mouse'/>" * (MAX_DEVICES + 1) + "</devices>")
    with pytest.raises(XMLError, match=f"over the limit of {MAX_DEVICES}"):
        parse_domain(doc, source="big.xml")


def test_trace_buffer_bounded():
    t = trace.Tracer(max_spans=10)
    for _ in range(25):
        with t.span("x"):
            pass
    assert len(t.records()) == 10 and t.counters["trace.dropped_spans"] == 15


def test_hanging_probe_blocks_only_its_own_binary(make_install, tmp_path):
    inst = make_install(2)
    slow, fast = str(inst / "qemu-system-x86_64"), str(inst / "qemu-system-i386")
    entered, release = threading.Event(), threading.Event()
    from workbench.qemu.probe import probe as real_probe

    def probe_fn(binary, **kw):
        if binary == slow:
            entered.set()
            assert release.wait(60)
        return real_probe(binary, **kw)
    c = QemuCapsCache(None, probe_fn=probe_fn)
    t = threading.Thread(target=c.lookup, args=(slow,))
    t.start()
    assert entered.wait(60)
    assert c.lookup(fast).arch == "i686"  # done while the other probe still hangs
    assert t.is_alive()
    release.set()
    t.join(60)


def test_install_manifest_not_trusted(tmp_path):
    from workbench.sim.install import MANIFEST, install
    dest = tmp_path / "inst"
    install(dest, 2, latency="none")
    victim = tmp_path / "v.txt"
    victim.write_text("keep")
    (dest / MANIFEST).write_text('{"targets": ["a/../../v.txt", "../v.txt", 3, "x86_64"]}')
    os.symlink(victim, dest / "qemu-system-a")  # even a name that looks right but is not in the catalog
    (dest / MANIFEST).write_text('{"targets": ["a/../../v.txt", "../v.txt", 3, "x86_64", "a"]}')
    install(dest, 1, latency="none")
    assert victim.read_text() == "keep" and (dest / "qemu-system-a").is_symlink()
    assert sorted(p.name for p in dest.glob("qemu-system-*")) == ["qemu-system-a", "qemu-system-i386", "qemu-system-x86_64"]
