"""Simulated installs: which files, in which order, self-contained, and what is refused."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.sim.catalog import INSTALL_ORDER, MAX_SIMULATED
from workbench.sim.install import MANIFEST, install, list_targets
from workbench.sim.transcript import load, transcript_filename
from workbench.paths import TRANSCRIPTS_DIR


def _emulators(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.glob("qemu-system-*"))


@pytest.mark.parametrize("n, expected", [(1, 1), (MAX_SIMULATED, 30), ("all", 33)])
def test_install_counts_and_order(tmp_path: Path, n, expected: int) -> None:
    inst = install(tmp_path, n, latency="none")
    assert len(inst.targets) == expected == len(inst.paths)
    assert inst.targets == list(INSTALL_ORDER[:expected])
    assert inst.targets[0] == "x86_64"
    assert [p.name for p in inst.paths] == [f"qemu-system-{t}" for t in inst.targets]
    assert _emulators(tmp_path) == sorted(p.name for p in inst.paths)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["targets"] == inst.targets and manifest["latency"] == "none"
    assert manifest["created_at"] and manifest["transcripts"] == str(TRANSCRIPTS_DIR.resolve())
    for p in inst.paths:
        assert stat.S_IMODE(p.stat().st_mode) == 0o755
    first = inst.paths[0].read_text().splitlines()[0]
    assert first == f"#!{sys.executable} -IS"  # Linux passes one shebang argument only


@pytest.mark.parametrize("emulators", [0, -1, MAX_SIMULATED + 1, 33, "30", "some", True, None, 2.0])
def test_bad_emulator_counts(tmp_path: Path, emulators) -> None:
    with pytest.raises(ValueError, match="emulators must be"):
        install(tmp_path, emulators)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("latency", ["fast", "", "-1", "nan", "inf", "RECORDED"])
def test_bad_latency(tmp_path: Path, latency: str) -> None:
    with pytest.raises(ValueError, match="latency"):
        install(tmp_path, 1, latency=latency)


@pytest.mark.parametrize("latency", ["recorded", "none", "2", "0.5", "0"])
def test_good_latency(tmp_path: Path, latency: str) -> None:
    assert install(tmp_path, 1, latency=latency).latency == latency


def test_bad_misbehave_and_targets(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown misbehaviour"):
        install(tmp_path, 1, misbehave={"x86_64": "explode"})
    with pytest.raises(ValueError, match="unknown misbehaviour"):
        install(tmp_path, 1, misbehave={"x86_64": "crash-at:"})
    with pytest.raises(ValueError, match="not being installed"):
        install(tmp_path, 1, misbehave={"i386": "exit-at-start"})
    with pytest.raises(ValueError, match="targets"):
        install(tmp_path, targets=["x86_64", "pdp11"])
    with pytest.raises(ValueError, match="targets"):
        install(tmp_path, targets=["rx", "rx"])


def test_missing_transcripts(tmp_path: Path) -> None:
    empty = tmp_path / "none-here"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="x86_64"):
        install(tmp_path / "dest", 1, transcripts_dir=empty)


def test_explicit_targets(tmp_path: Path) -> None:
    inst = install(tmp_path, targets=["rx", "x86_64-microvm"])
    assert inst.targets == ["rx", "x86_64-microvm"]
    assert _emulators(tmp_path) == ["qemu-system-rx", "qemu-system-x86_64-microvm"]


def test_reinstall_replaces_files(tmp_path: Path) -> None:
    install(tmp_path, 5, latency="none")
    before = (tmp_path / "qemu-system-x86_64").stat().st_ino
    install(tmp_path, 2, latency="recorded")
    assert _emulators(tmp_path) == ["qemu-system-i386", "qemu-system-x86_64"]
    assert (tmp_path / "qemu-system-x86_64").stat().st_ino != before  # a new file, renamed in
    assert "'recorded'" in (tmp_path / "qemu-system-x86_64").read_text()
    assert json.loads((tmp_path / MANIFEST).read_text())["targets"] == ["x86_64", "i386"]
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
    (tmp_path / "qemu-system-sparc").write_text("not ours")  # never listed in a manifest: kept
    install(tmp_path, 1)
    assert (tmp_path / "qemu-system-sparc").read_text() == "not ours"


def test_binaries_are_self_contained(tmp_path: Path) -> None:
    """Each file carries its own transcript: the source can go away, and files differ per target."""
    src = tmp_path / "src"
    src.mkdir()
    for t in ("x86_64", "i386"):
        shutil.copy(TRANSCRIPTS_DIR / transcript_filename(t), src / transcript_filename(t))
    inst = install(tmp_path / "dest", 2, transcripts_dir=src)
    shutil.rmtree(src)
    out = subprocess.run([str(inst.paths[1]), "-version"], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0
    assert out.stdout == load(TRANSCRIPTS_DIR / transcript_filename("i386")).version_text
    a, b = (p.read_bytes() for p in inst.paths)
    assert a != b


def test_list_targets(tmp_path: Path) -> None:
    infos = list_targets()
    assert [i.target for i in infos] == list(INSTALL_ORDER)
    assert [i.position for i in infos] == list(range(1, len(INSTALL_ORDER) + 1))
    assert all(i.has_transcript for i in infos)  # the repository carries all 33 recordings
    (tmp_path / transcript_filename("rx")).write_bytes(b"")
    partial = {i.target: i.has_transcript for i in list_targets(tmp_path)}
    assert partial["rx"] and not partial["x86_64"] and sum(partial.values()) == 1


def test_fake_runs_without_site_and_from_anywhere(tmp_path: Path) -> None:
    """The shebang's -IS drops site-packages and the cwd: the script must find workbench itself."""
    inst = install(tmp_path, 1)
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run([str(inst.paths[0]), "-version"], capture_output=True, text=True,
                         cwd="/", env=env, timeout=20)
    assert out.returncode == 0 and out.stdout.startswith("QEMU emulator version"), out.stderr
    assert os.access(inst.paths[0], os.X_OK)
