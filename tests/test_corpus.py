"""The domain corpus script: deterministic, committed, and shaped as the brief says."""
from __future__ import annotations

from pathlib import Path

import pytest

from workbench.sim import corpus
from workbench.conf.domain_parse import parse_domain_file
from workbench.sim.catalog import INSTALL_ORDER
from workbench.paths import DOMAINS_DIR


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_deterministic(tmp_path):
    corpus.write_corpus(tmp_path / "a")
    corpus.write_corpus(tmp_path / "b")
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert a == b and len(a) == 3 * len(INSTALL_ORDER) + len(corpus.SERIES) + len(corpus.BAD)


def test_matches_committed(tmp_path):
    corpus.write_corpus(tmp_path)
    generated, committed = _tree(tmp_path), _tree(DOMAINS_DIR)
    assert sorted(committed) == sorted(generated), "rerun `python -m workbench.sim.corpus`"
    stale = [k for k in generated if generated[k] != committed[k]]
    assert not stale, f"stale corpus files: {stale}"


def test_targets_subset(tmp_path):
    paths = corpus.write_corpus(tmp_path, targets=["aarch64"])
    names = {p.name for p in paths}
    assert {"aarch64-minimal.xml", "aarch64-server.xml", "aarch64-devices.xml"} <= names
    assert "x86_64-minimal.xml" not in names


@pytest.mark.parametrize("target", INSTALL_ORDER)
def test_three_domains_per_target(target: str):
    arch = corpus.libvirt_arch(target)
    mini = parse_domain_file(DOMAINS_DIR / f"{target}-minimal.xml")
    assert (mini.virt_type, mini.os.type, mini.os.arch) == ("qemu", "hvm", arch)
    assert mini.os.machine is None and mini.emulator is None
    assert len((DOMAINS_DIR / f"{target}-minimal.xml").read_text().splitlines()) == 6

    srv = parse_domain_file(DOMAINS_DIR / f"{target}-server.xml")
    assert srv.os.arch == arch and len(srv.disks) == 1 and len(srv.interfaces) == 1
    assert len(srv.consoles) == 1
    assert bool(srv.graphics) == (target in ("x86_64", "i386"))
    assert srv.os.machine in (None, "pc", "pseries", "s390-ccw-virtio", "microvm")

    dev_path = DOMAINS_DIR / f"{target}-devices.xml"
    dev = parse_domain_file(dev_path)
    assert len(dev_path.read_text().splitlines()) >= 40
    assert len(dev.disks) >= 3 and len(dev.interfaces) >= 2 and dev.controllers and dev.serials


def test_arch_names_are_libvirts():
    assert corpus.libvirt_arch("i386") == "i686"
    assert corpus.libvirt_arch("arm") == "armv7l"
    assert corpus.libvirt_arch("x86_64-microvm") == "x86_64"


def test_series_cases():
    custom = parse_domain_file(DOMAINS_DIR / "x86_64-custom-emulator.xml")
    assert custom.emulator == "/home/user/qemu-system-x86_64" and custom.os.arch == "x86_64"
    kvm = parse_domain_file(DOMAINS_DIR / "aarch64-kvm.xml")
    assert (kvm.virt_type, kvm.os.arch, kvm.emulator) == ("kvm", "aarch64", None)
    noarch = parse_domain_file(DOMAINS_DIR / "noarch.xml")
    assert noarch.os.arch is None and noarch.os.type == "hvm"


def test_bad_set_is_small_and_complete():
    bad = DOMAINS_DIR / "bad"
    names = {p.name for p in bad.glob("*.xml")}
    assert {"unclosed-tag.xml", "truncated.xml", "wrong-root.xml", "missing-name.xml",
            "bad-memory.xml", "billion-laughs.xml", "xxe-passwd.xml", "external-dtd.xml"} <= names
    assert all(p.stat().st_size < 64 * 1024 for p in bad.iterdir())  # no huge file committed
