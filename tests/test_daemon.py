"""The daemon end to end over its socket: JSON-RPC 2.0, one object per line, clean SIGTERM."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import processes_mentioning
from workbench.daemon import RpcError, call

XML = ('<domain type="qemu"><name>d1</name><memory>524288</memory><vcpu>1</vcpu>'
       '<os><type arch="x86_64">hvm</type></os></domain>')


@pytest.fixture(params=["full-caps", "per-emulator"])
def daemon(request, make_install, tmp_path):
    inst = make_install(4)
    sock = tmp_path / "d.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "daemon", "--socket", str(sock), "--install", str(inst),
         "--strategy", request.param, "--cache-dir", str(tmp_path / "cache"),
         "--config-dir", str(tmp_path / "etc")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    yield sock, proc, inst, request.param
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_apis_over_the_socket(daemon):
    sock, proc, inst, strategy = daemon
    assert call(sock, "list_domains", {}) == []
    assert call(sock, "define_xml", {"xml": XML}) == "d1"
    assert call(sock, "list_domains", {}) == ["d1"]
    assert "pc-i440fx-7.2" in call(sock, "get_xml_desc", {"name": "d1"})
    assert "<capabilities>" in call(sock, "get_capabilities", {})
    assert "<domainCapabilities>" in call(sock, "get_domain_capabilities", {"arch": "aarch64"})
    assert call(sock, "get_version", {}) == 7002022
    assert call(sock, "node_get_security_model", {})["model"] == "none"
    stats = call(sock, "stats", {})
    assert stats["strategy"] == strategy and stats["cache"]["lookups"] > 0


def test_errors_are_jsonrpc_error_objects(daemon):
    sock = daemon[0]
    with pytest.raises(RpcError) as e:
        call(sock, "no_such_method", {})
    assert e.value.code == -32601
    with pytest.raises(RpcError) as e:
        call(sock, "get_xml_desc", {"name": "missing"})
    assert e.value.code == -32000 and "Domain not found" in str(e.value)
    with pytest.raises(RpcError) as e:
        call(sock, "list_domains", {"bogus": 1})
    assert e.value.code == -32602
    with pytest.raises(RpcError) as e:
        call(sock, "define_xml", {"xml": "<domain"})
    assert e.value.code == -32000
    with socket.socket(socket.AF_UNIX) as s:  # raw: not JSON at all, then a batch of two on one connection
        s.connect(str(sock))
        f = s.makefile("rwb")
        f.write(b"this is not json\n")
        f.write(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "list_domains"}).encode() + b"\n")
        f.flush()
        first, second = json.loads(f.readline()), json.loads(f.readline())
    assert first["error"]["code"] == -32700 and first["id"] is None
    assert second == {"jsonrpc": "2.0", "id": 7, "result": []}


def test_sigterm_exits_cleanly_and_leaves_nothing(daemon):
    sock, proc, inst, _ = daemon
    call(sock, "get_capabilities", {})  # probes every emulator
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert not Path(sock).exists()
    assert processes_mentioning(str(inst)) == []


def test_defined_domain_survives_a_restart(daemon, tmp_path):
    sock, proc, inst, strategy = daemon
    call(sock, "define_xml", {"xml": XML})
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    proc2 = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "daemon", "--socket", str(sock), "--install", str(inst),
         "--strategy", strategy, "--cache-dir", str(tmp_path / "cache"), "--config-dir", str(tmp_path / "etc")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert proc2.stdout.readline().strip() == "ready"
        assert call(sock, "list_domains", {}) == ["d1"]
        stats = call(sock, "stats", {})["cache"]
        assert stats.get("probe", 0) == 0 and stats["disk"] >= 1  # the warm on-disk cache served it
    finally:
        proc2.send_signal(signal.SIGTERM)
        proc2.wait(timeout=30)


def test_call_cli_prints_result_and_fails_cleanly(daemon):
    sock = daemon[0]
    ok = subprocess.run([sys.executable, "-m", "workbench.cli", "call", "--socket", str(sock), "list_domains"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and json.loads(ok.stdout) == []
    bad = subprocess.run([sys.executable, "-m", "workbench.cli", "call", "--socket", str(sock), "get_xml_desc",
                          "name=nope"], capture_output=True, text=True)
    assert bad.returncode == 1 and "Domain not found" in bad.stderr and "Traceback" not in bad.stderr
