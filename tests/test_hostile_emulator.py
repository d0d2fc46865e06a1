"""One hostile emulator never takes the daemon down.

The hostile emulator is a replay that rewrites one reply (the `rename-at:CMD=JSONSTR` fault
mode): its machine or CPU model names hold a control character or a lone surrogate, which XML
cannot carry. Every strategy's daemon must start, leave that emulator out with a logged reason,
answer every other call, and stop on SIGTERM; `probe` names the emulator, command and field.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import assert_nothing_left, start_daemon
from workbench.daemon import call
from workbench.errors import ProbeError, RpcError
from workbench.qemu.replycheck import check_reply
from workbench.qemu.strategies import STRATEGIES

CONTROL = 'rename-at:query-machines="\\u0001"'
SURROGATE = 'rename-at:query-cpu-definitions="\\ud800"'
DOMAIN = ('<domain type="qemu"><name>vm</name><memory>524288</memory><vcpu>1</vcpu>'
          '<os><type arch="x86_64">hvm</type></os></domain>')


@pytest.fixture
def hostile_install(make_install):
    """An install of three replays; aarch64 answers query-machines with a control character."""
    def make(fault: str = CONTROL, arch: str = "aarch64") -> Path:
        return make_install(3, misbehave={arch: fault})
    return make


@pytest.mark.parametrize("value", ["pc\x01", "pc\x1b[2J", "q\ud800", "x\uffff", "\x00"])
def test_reply_check_refuses_what_xml_cannot_carry(value):
    with pytest.raises(ProbeError, match="XML cannot carry"):
        check_reply("qemu-system-x", "query-machines", [{"name": value}])
    with pytest.raises(ProbeError, match="XML cannot carry"):
        check_reply("qemu-system-x", "query-cpu-definitions", [{"name": "ok", "unavailable-features": [value]}])
    check_reply("qemu-system-x", "query-machines", [{"name": "pc-i440fx-7.2\tok\n"}])


@pytest.mark.parametrize("fault", [CONTROL, SURROGATE], ids=["control", "surrogate"])
@pytest.mark.parametrize("cache", [False, True], ids=["nocache", "cache-dir"])
def test_probe_names_the_unsafe_reply(fault, cache, hostile_install, tmp_path):
    inst = hostile_install(fault, "x86_64")
    env = dict(os.environ, WORKBENCH_TMP=str(tmp_path))
    extra = ["--cache-dir", str(tmp_path / "cache")] if cache else []
    r = subprocess.run([sys.executable, "-m", "workbench.cli", "probe", str(inst / "qemu-system-x86_64"), *extra],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 1, r.stderr
    assert "qemu-system-x86_64" in r.stderr and "XML cannot carry" in r.stderr, r.stderr
    assert_nothing_left(inst, tmp_path, r.stderr)


def _other_calls(sock: Path, inst: Path) -> None:
    good = str(inst / "qemu-system-x86_64")
    caps = call(sock, "get_capabilities", {})
    assert "<capabilities>" in caps and "qemu-system-x86_64" in caps and "qemu-system-aarch64" not in caps
    assert "\x01" not in caps
    assert "<domainCapabilities>" in call(sock, "get_domain_capabilities", {"emulator": good})
    assert call(sock, "define_xml", {"xml": DOMAIN}) == "vm"
    assert call(sock, "list_domains", {}) == ["vm"]
    assert "<domain" in call(sock, "get_xml_desc", {"name": "vm"})
    assert call(sock, "get_version", {}) > 0
    assert call(sock, "node_get_security_model", {})["model"]
    with pytest.raises(RpcError) as e:  # the hostile one is the caller's error, named
        call(sock, "get_domain_capabilities", {"emulator": str(inst / "qemu-system-aarch64")})
    assert "qemu-system-aarch64" in str(e.value) and "XML cannot carry" in str(e.value)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_leaves_the_hostile_emulator_out(strategy, hostile_install, tmp_path):
    inst = hostile_install()
    sock = tmp_path / "d.sock"
    p = start_daemon(inst, sock, tmp_path, "--strategy", strategy,
                     "--cache-dir", str(tmp_path / "cache"), "--config-dir", str(tmp_path / "conf"))
    try:
        _other_calls(sock, inst)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)  # generous: the bound under test is "it stops"
        stopped_s = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    print(f"{strategy}: stopped {stopped_s:.3f} s after SIGTERM")
    assert p.returncode == 0, err
    assert "aarch64 left out" in err and "XML cannot carry" in err, err
    assert_nothing_left(inst, tmp_path, err)


@pytest.mark.parametrize("strategy", ["per-emulator", "parallel", "background"])
def test_slow_emulator_never_holds_another_clients_call(strategy, held_install, tmp_path):
    """get_capabilities waits on an emulator held mid-probe (by the test, through FIFOs):
    another client's list_domains is answered meanwhile, since probes run outside the lock."""
    inst = held_install(3, "aarch64", "query-machines")
    sock = tmp_path / "d.sock"
    p = start_daemon(inst, sock, tmp_path, "--strategy", strategy, "--cache-dir", str(tmp_path / "cache"))
    import threading
    got: dict = {}
    try:
        slow = threading.Thread(target=lambda: got.setdefault("caps", call(sock, "get_capabilities", {})))
        slow.start()
        held_install.wait_held()
        t0 = time.monotonic()
        assert call(sock, "list_domains", {}, timeout_s=60) == []
        print(f"{strategy}: list_domains answered in {time.monotonic() - t0:.3f} s during a held probe")
        held_install.release()
        slow.join(timeout=120)
        assert "qemu-system-aarch64" in got["caps"]
    finally:
        p.terminate()
        _, err = p.communicate(timeout=60)
    assert_nothing_left(inst, tmp_path, err)
