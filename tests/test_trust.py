"""The daemon's trust model: socket mode, peer check, emulator policy, socket path."""
from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.daemon import MAX_REQUEST, RpcError, call
from workbench.errors import InvalidArgument
from workbench.qemu.trust import EmulatorPolicy

XML = ('<domain type="qemu"><name>d1</name><memory>524288</memory><vcpu>1</vcpu>'
       '<os><type arch="x86_64">hvm</type></os><devices><emulator>{}</emulator></devices></domain>')


def _start(sock: Path, inst: Path, *extra: str, umask: int | None = None) -> subprocess.Popen:
    pre = (lambda: os.umask(umask)) if umask is not None else None
    return subprocess.Popen([sys.executable, "-m", "workbench.cli", "daemon", "--socket", str(sock),
                             "--install", str(inst), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=pre)


@pytest.fixture
def running(make_install, tmp_path):
    inst = make_install(2)
    sock = tmp_path / "d.sock"
    proc = _start(sock, inst, umask=0)  # umask 000 must not make the socket world-writable
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    yield sock, proc, inst
    proc.terminate()
    proc.wait(timeout=30)


def test_socket_is_0600_under_umask_000(running):
    sock = running[0]
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600


def test_emulator_outside_search_path_refused(running, tmp_path):
    sock, proc, inst = running
    evil = tmp_path / "qemu-system-x86_64"
    evil.write_text(f"#!/bin/sh\ntouch {tmp_path}/pwned\n")
    evil.chmod(0o755)
    link = inst / ".." / inst.name / ".." / "x" / ".." / inst.name  # `..` back into the install is fine
    for emulator in (str(evil), str(inst / ".." / tmp_path.name / "qemu-system-x86_64"), "/bin/sh"):
        with pytest.raises(RpcError) as e:
            call(sock, "get_domain_capabilities", {"emulator": emulator})
        assert e.value.code == -32602 and "not in the driver's search path" in str(e.value)
        with pytest.raises(RpcError) as e:
            call(sock, "define_xml", {"xml": XML.format(emulator)})
        assert "not in the driver's search path" in str(e.value)
    assert not (tmp_path / "pwned").exists()
    assert "<domainCapabilities>" in call(sock, "get_domain_capabilities",
                                          {"emulator": str(inst / "qemu-system-x86_64")})
    del link


def test_emulator_outside_install_refused(make_install, tmp_path):
    """Outside the install only --allow-emulator files run; links inside it are the
    administrator's (tests/test_exec_identity.py)."""
    inst = make_install(1)
    outside = tmp_path / "qemu-system-evil"
    outside.symlink_to("/bin/true")
    pol = EmulatorPolicy(str(inst))
    with pytest.raises(InvalidArgument):
        pol.check(str(outside))
    assert pol.check(str(inst / "qemu-system-x86_64"))
    assert EmulatorPolicy(str(inst), ("/bin/true",)).check(str(outside)) == os.path.realpath("/bin/true")


def test_second_daemon_on_live_socket_refused(running):
    sock, proc, inst = running
    second = _start(sock, inst)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 2 and "another daemon is listening" in err and "Traceback" not in err
    assert call(sock, "list_domains", {}) == []  # the first still serves


def test_socket_naming_a_file_or_folder_refused(make_install, tmp_path):
    inst = make_install(1)
    f = tmp_path / "some-file.txt"
    f.write_text("keep me")
    for path in (f, tmp_path):
        p = _start(path, inst)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 2 and "not a socket" in err and "Traceback" not in err, err
    assert f.read_text() == "keep me"


def test_stale_socket_replaced_and_own_socket_only_unlinked(make_install, tmp_path):
    inst = make_install(1)
    sock = tmp_path / "d.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock))
    s.close()  # stale: nobody listens
    p = _start(sock, inst)
    assert p.stdout.readline().strip() == "ready"
    sock.unlink()  # someone replaces our socket with theirs
    other = socket.socket(socket.AF_UNIX)
    other.bind(str(sock))
    p.terminate()
    assert p.wait(timeout=30) == 0
    assert sock.exists()  # theirs survived our exit
    other.close()


def test_oversized_request_line_answered_and_closed(running):
    sock = running[0]
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sock))
        chunk = b"x" * (1 << 20)
        try:
            for _ in range(MAX_REQUEST // len(chunk) + 2):
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        buf = b""
        while True:
            try:
                data = s.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            buf += data
    resp = json.loads(buf.splitlines()[0])
    assert resp["error"]["code"] == -32600 and "over" in resp["error"]["message"]
    assert call(sock, "list_domains", {}) == []


def test_socket_mode_option_validated(make_install, tmp_path):
    p = _start(tmp_path / "s", make_install(1), "--socket-mode", "0666")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2 and "0770" in err


PEER_CLIENT = """
import os, socket, sys
os.setgid(65534); os.setuid(65534)
s = socket.socket(socket.AF_UNIX); s.connect("SOCK")
try:
    s.sendall(b'{"jsonrpc": "2.0", "id": 1, "method": "list_domains"}\\n')
    sys.exit(0 if s.recv(100) == b"" else 3)
except (BrokenPipeError, ConnectionResetError):
    pass
"""


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to connect as another uid")
def test_peer_of_another_uid_refused(make_install):
    import shutil
    import tempfile
    d = Path(tempfile.mkdtemp(prefix="wb-peer-", dir="/tmp"))
    d.chmod(0o711)  # uid 65534 can reach the socket path: only the peer check stands in its way
    sock = d / "d.sock"
    proc = _start(sock, make_install(1))
    try:
        assert proc.stdout.readline().strip() == "ready"
        os.chmod(sock, 0o777)
        code = PEER_CLIENT.replace("SOCK", str(sock))
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert call(sock, "list_domains", {}) == []  # the daemon's own uid still gets in
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("case", ["missing-file", "cache-dir-is-file"])
def test_cli_bad_paths_no_traceback(case, make_install, tmp_path):
    inst = make_install(1)
    f = tmp_path / "f.txt"
    f.write_text("x")
    domain = tmp_path / "d.xml"
    domain.write_text('<domain type="qemu"><name>a</name><memory>1</memory><os><type>hvm</type></os></domain>')
    args = {"missing-file": ["parse", str(tmp_path / "nope.xml"), "--install", str(inst)],
            "cache-dir-is-file": ["parse", str(domain), "--install", str(inst), "--cache-dir", str(f)]}[case]
    r = subprocess.run([sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.startswith("workbench: "), r.stderr
    assert ("nope.xml" if case == "missing-file" else str(f)) in r.stderr


def test_reap_orphans_reaps_only_non_group_leaders():
    """An emulator's helper that dies after its parent becomes our zombie: the daemon reaps it."""
    from workbench.daemon import reap_orphans
    from workbench.qemu.process import become_subreaper
    if not become_subreaper():
        pytest.skip("no PR_SET_CHILD_SUBREAPER")
    r, w = os.pipe()
    leader = subprocess.Popen(["/bin/sh", "-c", "read x & exit 0"], stdin=r, start_new_session=True)
    os.close(r)
    leader.wait()  # its helper (in its process group) is ours now: reparented as the leader exited
    os.close(w)
    # Block until the helper has exited, leaving it a zombie (WNOWAIT): no polling.
    exited = os.waitid(os.P_PGID, leader.pid, os.WEXITED | os.WNOWAIT)
    from conftest import zombie_children

    assert zombie_children(os.getpid(), group=leader.pid) == [exited.si_pid], "the helper never became our zombie"
    assert reap_orphans() and zombie_children(os.getpid(), group=leader.pid) == []
