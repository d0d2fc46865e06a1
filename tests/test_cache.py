from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import pytest

from conftest import processes_mentioning, qmp_tmpdirs
from workbench.qemu.cache import KvmCheck, QemuCapsCache, cache_file_name
from workbench.errors import ProbeError


def _binaries(inst: Path) -> list[str]:
    return sorted(str(p) for p in inst.glob("qemu-system-*"))


def test_second_cache_on_same_dir_probes_nothing(install30, tmp_path):
    bins = _binaries(install30)
    assert len(bins) == 30
    first = QemuCapsCache(tmp_path)
    for b in bins:
        first.lookup(b)
    assert first.stats["probe"] == 30
    second = QemuCapsCache(tmp_path)
    archs = {second.lookup(b).arch for b in bins}
    assert second.stats["probe"] == 0 and second.stats["disk"] == 30
    assert len(archs) >= 25
    for b in bins:  # and from memory the third time
        second.lookup(b)
    assert second.stats["memory"] == 30


def test_cache_file_is_sha256_of_path(make_install, tmp_path):
    inst = make_install(1)
    b = _binaries(inst)[0]
    QemuCapsCache(tmp_path).lookup(b)
    expected = hashlib.sha256(b.encode()).hexdigest() + ".xml"
    assert cache_file_name(b) == expected
    assert [p.name for p in tmp_path.iterdir()] == [expected]


def test_touching_one_binary_reprobes_exactly_that_one(make_install, tmp_path):
    inst = make_install(4)
    bins = _binaries(inst)
    QemuCapsCache(tmp_path).lookup  # noqa: B018 (construct once so the dir exists)
    warm = QemuCapsCache(tmp_path)
    for b in bins:
        warm.lookup(b)
    os.chmod(bins[1], 0o755)  # a metadata change moves ctime, as an upgrade would
    st = os.stat(bins[1])
    os.utime(bins[1], ns=(st.st_atime_ns, st.st_mtime_ns))
    for cache in (warm, QemuCapsCache(tmp_path)):  # in memory and from disk alike
        before = cache.stats["probe"]
        for b in bins:
            cache.lookup(b)
        assert cache.stats["probe"] - before in (0, 1)
    assert warm.stats["probe"] == 5  # 4 first, then only the touched one


@pytest.mark.parametrize("content", [b"", b"<qemuCaps><emulator>", b"\x00\xff garbage",
                                     b"<other/>", b"<qemuCaps/>"])
def test_corrupt_cache_file_is_replaced(make_install, tmp_path, content):
    b = _binaries(make_install(1))[0]
    good = QemuCapsCache(tmp_path).lookup(b)
    path = tmp_path / cache_file_name(b)
    path.write_bytes(content)
    cache = QemuCapsCache(tmp_path)
    caps = cache.lookup(b)
    assert cache.stats["discarded"] == 1 and cache.stats["probe"] == 1
    assert caps.arch == good.arch
    assert QemuCapsCache(tmp_path).lookup(b).arch == good.arch  # the rewritten file is good


def test_cache_file_for_another_emulator_is_not_trusted(make_install, tmp_path):
    a, b = _binaries(make_install(2))
    QemuCapsCache(tmp_path).lookup(a)
    (tmp_path / cache_file_name(a)).rename(tmp_path / cache_file_name(b))
    cache = QemuCapsCache(tmp_path)
    assert cache.lookup(b).binary == b
    assert cache.stats["discarded"] == 1


def test_failed_probe_poisons_nothing(make_install, tmp_path, private_tmp):
    inst = make_install(targets=["x86_64", "aarch64"], misbehave={"aarch64": "crash-at:query-machines"})
    bad = str(inst / "qemu-system-aarch64")
    before = qmp_tmpdirs()
    cache = QemuCapsCache(tmp_path, probe_timeout_s=2)
    for _ in range(2):  # no entry kept: the second lookup probes (and fails) again
        with pytest.raises(ProbeError) as e:
            cache.lookup(bad)
        assert e.value.binary == bad and e.value.step == "query-machines"
    assert cache.stats["probe"] == 0
    assert not (tmp_path / cache_file_name(bad)).exists()
    assert cache.cached_binaries() == []
    assert processes_mentioning(str(inst)) == []
    assert qmp_tmpdirs() - before == set()
    assert list(private_tmp.iterdir()) == []


def test_missing_binary_is_an_error_not_an_entry(tmp_path):
    cache = QemuCapsCache(tmp_path)
    with pytest.raises(ProbeError) as e:
        cache.lookup(str(tmp_path / "qemu-system-nope"))
    assert e.value.step == "stat"


def test_validity_rules_for_native_kvm_entries(make_install, tmp_path):
    b = _binaries(make_install(1))[0]  # x86_64: native on an x86_64 host
    cache = QemuCapsCache(tmp_path, host_arch="x86_64", kvm=KvmCheck(str(tmp_path / "kvm")))
    caps = cache.lookup(b)
    assert caps.kvm is False  # our fake /dev/kvm does not exist
    kvm_caps = dataclasses.replace(caps, kvm=True)
    assert cache._invalid_reason(kvm_caps, caps.microcode) == "KVM usability changed"
    (tmp_path / "kvm").write_bytes(b"")  # now "usable" (root can open it)
    assert cache._invalid_reason(caps, caps.microcode) == "KVM usability changed"
    assert cache._invalid_reason(kvm_caps, caps.microcode) is None
    assert cache._invalid_reason(dataclasses.replace(kvm_caps, kernel_version="0.0 other"),
                                 caps.microcode) == "kernel changed"
    assert cache._invalid_reason(kvm_caps, "0xdifferent") == "microcode changed"
    assert cache._invalid_reason(dataclasses.replace(caps, self_version="old"), "") == \
        "workbench version changed"


def test_foreign_arch_entries_ignore_kvm_and_kernel(make_install, tmp_path):
    inst = make_install(targets=["aarch64"])
    b = str(inst / "qemu-system-aarch64")
    cache = QemuCapsCache(tmp_path, host_arch="x86_64", kvm=KvmCheck(str(tmp_path / "kvm")))
    caps = cache.lookup(b)
    (tmp_path / "kvm").write_bytes(b"")
    assert cache._invalid_reason(dataclasses.replace(caps, kernel_version="x"), "y") is None


def test_lookup_is_traced(make_install, tmp_path):
    from workbench import trace
    b = _binaries(make_install(1))[0]
    cache = QemuCapsCache(tmp_path)
    cache.lookup(b)
    cache.lookup(b)
    outcomes = [r.attrs["outcome"] for r in trace.TRACER.iter_spans("cache.lookup")]
    assert outcomes == ["probe", "memory"]
    assert trace.TRACER.counters["cache.probe"] == 1
    assert any(r.attrs.get("command") == "query-machines" for r in trace.TRACER.iter_spans("qmp"))


def test_crashed_emulator_is_reaped_not_left_a_zombie(make_install, tmp_path, private_tmp):
    inst = make_install(targets=["aarch64"], misbehave={"aarch64": "crash-at:query-version"})
    before = _my_zombies()  # left by earlier tests in this process: not this probe's doing
    for _ in range(5):  # the emulator may be found running, dying, or already a zombie
        with pytest.raises(ProbeError):
            QemuCapsCache(None, probe_timeout_s=2).lookup(str(inst / "qemu-system-aarch64"))
    assert set(_my_zombies()) - set(before) == set()


def _my_zombies() -> list[str]:
    zombies = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] == "Z" and int(fields[1]) == os.getpid():
                zombies.append(stat.split()[0])
    return zombies
