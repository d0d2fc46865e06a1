"""Fault injection: hostile replaying emulators against every command and strategy.

Every case asserts: a clear error (workbench: ..., naming binary and command), the exit code,
no traceback, no emulator process or helper left, no probe temp folder left. The ids of
test_fault_matrix are the README's fault matrix (faults x strategies).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import processes_mentioning
from workbench.daemon import call
from workbench.errors import ProbeError, WorkbenchError
from workbench.qemu.replycheck import check_reply

FORTY = "1" * 40
# fault -> (what the error must mention)
FAULTS = {
    "oversize-at:query-machines": "query-machines",
    "wrongtype-at:query-machines": "cpu-max must be int",
    "wrongtype-at:query-version": "query-version",
    "wrongtype-at:query-kvm": "enabled must be bool",
    'reply-at:query-target={"arch": "../../etc/x"}': "is not an architecture name",
    'reply-at:query-version={"qemu": {"major": ' + FORTY + ', "minor": 0, "micro": 0}}': "query-version",
    "die-mid-reply-at:query-commands": "query-commands",
    "garbage-at:query-target": "query-target",
    "crash-at:qom-list-types": "qom-list-types",
    "hang-at:query-kvm": "query-kvm",
}
DOMAIN = ('<domain type="qemu"><name>vm</name><memory>524288</memory><vcpu>1</vcpu>'
          '<os><type arch="x86_64">hvm</type></os></domain>')


def run(args: list[str], tmp: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, WORKBENCH_TMP=str(tmp))
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def assert_clean(inst: Path, err: str, tmp: Path) -> None:
    assert "Traceback" not in err, err
    assert processes_mentioning(str(inst)) == [], "emulator left running"
    assert processes_mentioning("wbfault-child:") == [], "an emulator's forked helper left running"
    assert list(tmp.glob("qmp-*")) == [], "probe temp folder left"


def _fault_id(f: str) -> str:
    return f.split("=")[0] + ("" if "=" not in f else "=" + f.split(":")[1][:5])


# Every fault under both libvirt strategies, but a hang only per-emulator: under full-caps it
# costs the same 10 s probe timeout again (covered here once and by `probe --timeout`).
MATRIX = [pytest.param(f, s, id=f"{_fault_id(f)}-{s}") for s in ("full-caps", "per-emulator")
          for f in FAULTS if not (f.startswith("hang-at") and s == "full-caps")]


@pytest.mark.parametrize("fault,strategy", MATRIX)
def test_fault_matrix(fault, strategy, make_install, tmp_path):
    """`parse` of an x86_64 domain when the x86_64 emulator misbehaves: exit 2, no leftovers."""
    inst = make_install(2, misbehave={"x86_64": fault})
    f = tmp_path / "d.xml"
    f.write_text(DOMAIN)
    r = run(["parse", str(f), "--install", str(inst), "--strategy", strategy,
             "--cache-dir", str(tmp_path / "cache")], tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.startswith("workbench: ") and str(f) in r.stderr
    if strategy == "per-emulator":
        assert FAULTS[fault] in r.stderr and "qemu-system-x86_64" in r.stderr, r.stderr
    assert_clean(inst, r.stderr, tmp_path)
    assert list((tmp_path / "cache").glob("*.xml")) == [] or strategy == "full-caps"


@pytest.mark.parametrize("fault", [f for f in FAULTS if not f.startswith("hang")])
def test_probe_command_names_binary_command_and_field(fault, make_install, tmp_path):
    inst = make_install(1, misbehave={"x86_64": fault})
    r = run(["probe", str(inst / "qemu-system-x86_64"), "--timeout", "2"], tmp_path)
    assert r.returncode == 1 and FAULTS[fault] in r.stderr and "qemu-system-x86_64" in r.stderr, r.stderr
    assert_clean(inst, r.stderr, tmp_path)


def test_one_bad_emulator_among_good_ones(make_install, tmp_path):
    """capabilities (and so a full-caps daemon) leaves the bad one out and carries on."""
    inst = make_install(3, misbehave={"i386": "wrongtype-at:query-machines"})
    r = run(["capabilities", "--install", str(inst)], tmp_path)
    assert r.returncode == 0 and "<capabilities>" in r.stdout and "left out" in r.stderr, r.stderr
    assert_clean(inst, r.stderr, tmp_path)


def test_forked_helper_killed_and_reaped(make_install, tmp_path):
    inst = make_install(1, misbehave={"x86_64": "fork-at:query-kvm"})
    r = run(["probe", str(inst / "qemu-system-x86_64")], tmp_path)
    assert r.returncode == 0, r.stderr
    assert_clean(inst, r.stderr, tmp_path)


@pytest.mark.parametrize("command", ["probe", "parse", "capabilities"])
def test_sigterm_cleans_up(command, make_install, tmp_path, hang_events):
    inst = make_install(1, misbehave={"x86_64": "hang-at:query-kvm"})
    f = tmp_path / "d.xml"
    f.write_text(DOMAIN)
    args = {"probe": ["probe", str(inst / "qemu-system-x86_64"), "--timeout", "60"],
            "parse": ["parse", str(f), "--install", str(inst)],
            "capabilities": ["capabilities", "--install", str(inst)]}[command]
    p = subprocess.Popen([sys.executable, "-m", "workbench.cli", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    # Wait for the state (the emulator is up, hanging): it says so on a FIFO.
    hang_events.wait()
    work = hang_events.path.parent  # the probe's WORKBENCH_TMP, where its qmp-* folder lives
    assert list(work.glob("qmp-*")), "the hanging probe has no temp folder"
    assert p.poll() is None, p.stderr.read()
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 143 and "terminated" in err, err
    assert_clean(inst, err, work)


# ---- property-based fuzzing ----------------------------------------------------------------
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=4),
                    max_leaves=20)
MACHINE = st.fixed_dictionaries({"name": st.text(max_size=10)}, optional={
    "alias": JSON, "is-default": JSON, "cpu-max": JSON, "hotpluggable-cpus": JSON, "default-cpu-type": JSON})
COMMANDS = ["query-version", "query-target", "query-kvm", "query-commands", "qom-list-types",
            "device-list-properties", "query-machines", "query-cpu-definitions",
            "query-gic-capabilities", "query-sev-capabilities", "query-cpu-model-expansion"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cmd=st.sampled_from(COMMANDS), ret=JSON | st.lists(MACHINE, max_size=3))
def test_fuzz_qmp_replies(cmd, ret):
    """Only ProbeError comes out of the check; what passes is safe for the probe's consumers."""
    from workbench.qemu.probe import _cpu_models, _machines
    try:
        check_reply("/x/qemu-system-x86_64", cmd, ret)
    except ProbeError as e:
        assert e.step == cmd and "qemu-system-x86_64" in str(e)
        return
    if cmd == "query-machines":
        _machines("x86_64", ret)
    elif cmd == "query-cpu-definitions":
        _cpu_models(ret)
    elif cmd == "query-version":
        q = ret["qemu"]
        assert q["major"] * 1_000_000 + q["minor"] * 1000 + q["micro"] < 10**10


TAGS = st.sampled_from(["domain", "name", "uuid", "memory", "vcpu", "os", "type", "devices", "disk",
                        "interface", "controller", "emulator", "cpu", "features", "seclabel", "source"])
ATTRS = st.dictionaries(st.sampled_from(["type", "arch", "machine", "unit", "index", "model", "bus", "mode"]),
                        st.text(alphabet="abcdefx0123456789-_.:/ ", max_size=8), max_size=3)


@st.composite
def element(draw, depth=0):
    tag = draw(TAGS if depth else st.just("domain"))
    attrs = "".join(f' {k}="{v}"' for k, v in draw(ATTRS).items())
    kids = "" if depth > 3 else "".join(draw(st.lists(element(depth + 1), max_size=4)))
    text = draw(st.sampled_from(["", "1", "x86_64", "hvm", "524288", "-1", "vm", "é", "&amp;"]))
    return f"<{tag}{attrs}>{text}{kids}</{tag}>"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=element() | st.binary(max_size=200) | st.text(max_size=200))
def test_fuzz_domain_xml(doc):
    """conf.domain: only WorkbenchError subclasses may come out of parse, never another exception."""
    from workbench.conf.domain_format import format_domain
    from workbench.conf.domain_parse import parse_domain
    try:
        d = parse_domain(doc, source="fuzz.xml")
    except WorkbenchError:
        return
    format_domain(d)


# ---- daemon under load (correctness only) -----------------------------------------------
def test_daemon_load_loopback(make_install, tmp_path):
    inst = make_install(2)
    sock = tmp_path / "d.sock"
    p = subprocess.Popen([sys.executable, "-m", "workbench.cli", "daemon", "--socket", str(sock),
                          "--install", str(inst), "--config-dir", str(tmp_path / "etc")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        call(sock, "define_xml", {"xml": DOMAIN})
        errors: list[str] = []

        def client(i: int) -> None:
            for _ in range(5):  # bounded: the loop stops by itself
                try:
                    if call(sock, "list_domains", {}, timeout_s=60) != ["vm"]:
                        errors.append("wrong answer")
                except Exception as e:
                    errors.append(repr(e))
        threads = [threading.Thread(target=client, args=(i,)) for i in range(200)]  # > backlog 128 and > 64 workers
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == [] and not any(t.is_alive() for t in threads)
        assert (tmp_path / "etc" / "vm.xml").exists()  # nothing saved lost
    finally:
        p.terminate()
        p.wait(timeout=30)
    assert p.returncode == 0 and not sock.exists()


def test_hanging_emulator_does_not_block_other_daemon_clients(make_install, tmp_path, hang_events):
    inst = make_install(3, misbehave={"aarch64": "hang-at:query-kvm"})
    sock = tmp_path / "d.sock"
    p = subprocess.Popen([sys.executable, "-m", "workbench.cli", "daemon", "--socket", str(sock),
                          "--install", str(inst)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        answer: list = []

        def slow() -> None:
            try:
                call(sock, "get_domain_capabilities", {"arch": "aarch64"}, timeout_s=120)
            except Exception as e:
                answer.append(str(e))
        t = threading.Thread(target=slow)
        t.start()
        hang_events.wait()  # the state: the hanging emulator is up and hangs
        assert processes_mentioning(str(inst / "qemu-system-aarch64"))
        assert "<domainCapabilities>" in call(sock, "get_domain_capabilities", {"arch": "x86_64"})
        assert call(sock, "list_domains", {}) == []
        hung = t.is_alive()
        t.join(120)
        assert hung and answer and "query-kvm" in answer[0]
    finally:
        p.terminate()
        p.wait(timeout=30)
