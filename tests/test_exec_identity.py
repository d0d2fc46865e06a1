"""The driver executes exactly the file its emulator check allowed, and caches under that name.

A client allowed on the socket names an emulator through a symlink of its own and swaps the link
between an allowed emulator and a script of its own while the driver checks and probes: the
script must never run. An install of links to the system's binaries is the administrator's
directory and is trusted as it is.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import HAVE_REAL_QEMU, REAL_QEMU_DIR, needs_real_qemu
from workbench.errors import InvalidArgument, ProbeError
from workbench.qemu.driver import DriverOptions, QemuDriver
from workbench.qemu.trust import EmulatorPolicy

TRIES = 200
SWAPPER = """
import os, select, sys
link, a, b = sys.argv[1:]
tmp = link + ".swap"
print("swapping", flush=True)
while not select.select([sys.stdin], [], [], 0)[0]:
    for target in (a, b):
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        os.symlink(target, tmp)
        os.replace(tmp, link)
"""


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def test_symlink_swap_never_runs_the_swapped_in_script(tmp_path, private_tmp):
    trusted = tmp_path / "install"
    trusted.mkdir()
    # A trusted emulator that refuses at once: every try reaches the exec, none is cached.
    good = _script(trusted / "qemu-system-x86_64", "exit 1")
    pwned = tmp_path / "pwned"
    evil = _script(tmp_path / "evil", f"touch {pwned}\nexit 1")
    client = tmp_path / "client"
    client.mkdir()
    link = client / "qemu-system-x86_64"
    link.symlink_to(good)
    driver = QemuDriver.startup(DriverOptions(str(trusted), "per-emulator", probe_timeout_s=30))
    # The swapper is another process, as the attacker is: it runs truly beside the driver.
    swapper = subprocess.Popen([sys.executable, "-c", SWAPPER, str(link), str(evil), str(good)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert swapper.stdout.readline() == b"swapping\n"
    outcomes = {"refused": 0, "ran trusted": 0}
    try:
        for _ in range(TRIES):
            try:
                driver.lookup(str(link))
            except InvalidArgument:
                outcomes["refused"] += 1
            except ProbeError as e:
                assert str(good) in str(e), e  # the probe names what it ran: the resolved file
                outcomes["ran trusted"] += 1
    finally:
        swapper.stdin.close()  # its end of file stops it
        swapper.wait(timeout=60)
    assert not pwned.exists(), f"the swapped-in script ran ({outcomes})"
    assert outcomes["ran trusted"] > 0, outcomes  # the race was reached, not only refused
    print(f"symlink swap, {TRIES} tries: {outcomes}")


def test_check_names_the_file_it_allows(make_install, tmp_path):
    inst = make_install(1)
    pol = EmulatorPolicy(str(inst))
    link = tmp_path / "mine"
    link.symlink_to(inst / "qemu-system-x86_64")
    real = os.path.realpath(inst / "qemu-system-x86_64")
    assert pol.check(str(link)) == real  # never the client's link
    assert pol.check(str(inst / "qemu-system-x86_64")) == real
    with pytest.raises(InvalidArgument):
        pol.check(str(tmp_path / "qemu-system-x86_64"))  # not in the install, whatever it holds
    evil_dir = tmp_path / "evil"
    evil_dir.mkdir()
    (evil_dir / "qemu-system-x86_64").symlink_to(inst / "qemu-system-x86_64")
    # A client's directory entry is never trusted, even when it points into the install: the
    # resolved file is what runs.
    assert pol.check(str(evil_dir / "qemu-system-x86_64")) == real


def test_client_link_and_install_path_share_one_cache_entry(make_install, tmp_path, private_tmp):
    inst = make_install(1)
    link = tmp_path / "qemu-system-x86_64"
    link.symlink_to(inst / "qemu-system-x86_64")
    driver = QemuDriver.startup(DriverOptions(str(inst), "per-emulator"))
    a = driver.lookup(str(inst / "qemu-system-x86_64"))
    b = driver.lookup(str(link))
    assert a is b and driver.cache.stats["probe"] == 1


def test_links_in_the_install_are_the_administrators(make_install, tmp_path):
    """An entry of the install that links elsewhere is trusted (libvirt follows links in its
    search path); the same target named from outside is not."""
    inst = make_install(1)
    (inst / "qemu-system-links").symlink_to("/bin/true")
    pol = EmulatorPolicy(str(inst))
    assert pol.check(str(inst / "qemu-system-links")) == str(Path(os.path.realpath(inst)) / "qemu-system-links")
    with pytest.raises(InvalidArgument):
        pol.check("/bin/true")


def _links_install(dest: Path) -> Path:
    dest.mkdir()
    for b in sorted(REAL_QEMU_DIR.glob("qemu-system-*"))[:2]:
        (dest / b.name).symlink_to(b)
    return dest


@needs_real_qemu
def test_parse_install_of_links_to_the_system_binaries(tmp_path):
    inst = _links_install(tmp_path / "links")
    arch = sorted(p.name for p in inst.iterdir())[0][len("qemu-system-"):]
    f = tmp_path / "d.xml"
    f.write_text(f'<domain type="qemu"><name>vm</name><memory>524288</memory><vcpu>1</vcpu>'
                 f'<os><type arch="{arch}">hvm</type></os></domain>')
    env = dict(os.environ, WORKBENCH_TMP=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "workbench.cli", "parse", str(f), "--install", str(inst)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "<domain" in r.stdout and "Traceback" not in r.stderr
