"""The replaying emulator: command line, QMP protocol, probing it, timing, misbehaviour.

No test sleeps to synchronise: a daemonized fake is ready when its parent exits, a foreground
fake is ready when it writes its pidfile (a FIFO here, read with a time limit), and process exit
is awaited with pidfd or wait().
"""
from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from workbench.sim import replay, replay_timing
from workbench.sim.catalog import INSTALL_ORDER, MAX_SIMULATED
from workbench.sim.install import install
from workbench.sim.transcript import (Exchange, Launch, Transcript, command_key, load,
                                            transcript_filename)
from workbench.paths import REPO_ROOT, TRANSCRIPTS_DIR
from workbench.qemu import process
from workbench.errors import LaunchRefused, ProbeError, ProbeTimeout
from workbench.qemu.probe import probe

REAL_X86 = Path("/usr/bin/qemu-system-x86_64")
GREETING = {"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""},
                    "capabilities": ["oob"]}}


@pytest.fixture
def short_tmp():
    """A short private directory: UNIX socket paths must fit in 107 bytes."""
    d = Path(tempfile.mkdtemp(prefix="wbt-", dir="/tmp"))
    yield d
    subprocess.run(["rm", "-rf", str(d)], check=False)


@pytest.fixture
def probe_root(short_tmp, monkeypatch):
    """The prober's qmp-* directories go here, so leftovers are ours to find."""
    root = short_tmp / "p"
    root.mkdir()
    monkeypatch.setenv("WORKBENCH_TMP", str(root))
    return root


def _kvm_now() -> bool:
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def _processes_mentioning(marker: str) -> list[int]:
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        out.append(int(entry.name))
            except OSError:
                pass
    return out


def _wait_gone(pid: int, timeout_s: float) -> bool:
    """True once `pid` has exited (a zombie counts as exited), without polling."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout_s)[0])
    finally:
        os.close(fd)


# ---------------------------------------------------------------- command line

def test_replay_imports_nothing_heavy() -> None:
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import workbench.sim.replay; "
            "print(' '.join(sys.modules))")
    out = subprocess.run([sys.executable, "-IS", "-c", code, str(REPO_ROOT)], capture_output=True,
                         text=True, check=True, timeout=20).stdout.split()
    heavy = {"json", "socket", "re", "enum", "dataclasses", "pathlib", "asyncio", "qemu", "lxml",
             "typing", "workbench.sim.transcript"}
    assert not heavy & set(out)


def test_command_key_matches_transcript() -> None:
    for cmd, args in [("query-version", None), ("query-version", {}),
                      ("query-cpu-model-expansion", {"type": "static", "model": {"name": "host",
                                                     "props": {"migratable": False}}}),
                      ("device-list-properties", {"typename": "é-ünicode"})]:
        assert replay.command_key(cmd, args) == command_key(cmd, args)


def test_version(make_install) -> None:
    dest = make_install(1)
    out = subprocess.run([str(dest / "qemu-system-x86_64"), "-version"], capture_output=True,
                         text=True, timeout=20)
    assert out.returncode == 0 and out.stderr == ""
    assert out.stdout == load(TRANSCRIPTS_DIR / transcript_filename("x86_64")).version_text
    assert out.stdout.startswith("QEMU emulator version 7.2")


@pytest.mark.parametrize("args, message", [
    (["-foo"], "qemu-system-x86_64: -foo: invalid option"),
    (["-S", "-machine"], "qemu-system-x86_64: -machine: requires an argument"),
    (["-machine", "pc,accel=tcg", "-qmp", "unix:/tmp/x,server=on,wait=off"], "only machine type 'none'"),
    (["-machine", "none,accel=hvf"], "invalid accelerator hvf"),
    (["-machine", "none,accel=tcg", "-qmp", "tcp:1.2.3.4:5"], "only unix:PATH"),
    (["-machine", "none,accel=tcg", "-qmp", "unix:/tmp/x,server=on"], "wait=off"),
    (["-machine", "none,accel=tcg"], "-qmp unix:PATH,server=on,wait=off is required"),
])
def test_bad_arguments(make_install, args: list[str], message: str) -> None:
    dest = make_install(1)
    out = subprocess.run([str(dest / "qemu-system-x86_64"), "-daemonize", *args],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 1
    assert message in out.stderr and out.stderr.startswith("qemu-system-x86_64: ")


def test_socket_path_too_long_is_an_error(make_install, short_tmp) -> None:
    dest = make_install(1)
    sock = short_tmp / ("d" * 120) / "qmp.monitor"
    out = subprocess.run([str(dest / "qemu-system-x86_64"), "-machine", "none,accel=tcg", "-qmp",
                          f"unix:{sock},server=on,wait=off", "-daemonize"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 1 and "Failed to bind socket" in out.stderr


def test_launch_failure_is_replayed(tmp_path) -> None:
    """A refused probe command line (x86_64-microvm under the pre-9.0 launch, kept as a
    fixture in tests/data/refused) is refused by its replay too."""
    refused = Path(__file__).parent / "data" / "refused"
    dest = tmp_path / "inst"
    dest.mkdir()
    install(dest, 1, latency="none", targets=["x86_64-microvm"], transcripts_dir=refused)
    failure = load(refused / transcript_filename("x86_64-microvm")).launch_failure
    assert failure
    binary = dest / "qemu-system-x86_64-microvm"
    out = subprocess.run([str(binary), *process.probe_argv(str(binary), dest, "kvm:tcg")[1:]],
                         capture_output=True, text=True, timeout=20)
    assert (out.returncode, out.stderr) == (failure["status"], failure["stderr"])
    with pytest.raises(LaunchRefused) as e:
        probe(str(binary), launch_timeout_s=5)
    assert e.value.binary == str(binary) and "invalid accelerator" in e.value.stderr


# ---------------------------------------------------------------- raw QMP

def _synthetic(tmp: Path) -> Path:
    """A small transcript to exercise lookup rules: repeats, fallback to the other launch, errors."""
    main = Launch("kvm:tcg", 0.01, 0.011, GREETING, [
        Exchange("query-version", None, 0.0005, {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": ""}),
        Exchange("query-machines", None, 0.0005, [{"name": "first"}]),
        Exchange("query-machines", None, 0.0005, [{"name": "second"}]),
        Exchange("device-list-properties", {"typename": "nope", "x": 1}, 0.0005, None,
                 {"class": "DeviceNotFound", "desc": "Device 'nope' not found"}),
        Exchange("query-kvm", None, 0.0005, {"enabled": True, "present": True}),
    ], 0.001)
    tcg = Launch("tcg", 0.01, 0.011, GREETING, [
        Exchange("query-target", None, 0.0005, {"arch": "x86_64"}),
        Exchange("query-machines", None, 0.0005, [{"name": "tcg-only"}]),
    ], 0.001)
    src = tmp / "src"
    src.mkdir()
    Transcript("x86_64", "/usr/bin/qemu-system-x86_64", {"major": 7, "minor": 2, "micro": 0, "package": ""},
               "QEMU emulator version 7.2.0\n", "2026-01-01T00:00:00+00:00", True, [main, tcg]
               ).save(src / transcript_filename("x86_64"))
    return install(tmp / "i", 1, latency="none", transcripts_dir=src).paths[0]


class Foreground:
    """A fake run in the foreground; ready when it writes its pidfile (a FIFO we read)."""

    def __init__(self, binary: Path, tmp: Path, accel: str = "kvm:tcg") -> None:
        self.sock_path = str(tmp / "qmp.monitor")
        pidfile = tmp / "qmp.pid"
        os.mkfifo(pidfile)
        rfd = os.open(pidfile, os.O_RDONLY | os.O_NONBLOCK)  # before the writer: no EOF yet
        self.proc = subprocess.Popen([str(binary), "-S", "-no-user-config", "-nodefaults", "-nographic",
                                      "-machine", f"none,accel={accel}",
                                      "-qmp", f"unix:{self.sock_path},server=on,wait=off",
                                      "-pidfile", str(pidfile)], stderr=subprocess.PIPE)
        try:
            assert select.select([rfd], [], [], 20)[0], "no pidfile written within 20 s"
            assert int(os.read(rfd, 64)) == self.proc.pid
        finally:
            os.close(rfd)
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(10)
        self.sock.connect(self.sock_path)
        self.buf = b""

    def line(self) -> dict:
        while b"\r\n" not in self.buf:
            data = self.sock.recv(1 << 16)
            assert data, "connection closed"
            self.buf += data
        raw, self.buf = self.buf.split(b"\r\n", 1)
        return replay.loads(raw.decode())

    def ask(self, msg: str) -> dict:
        self.sock.sendall(msg.encode())  # no newline, like qemu.qmp
        return self.line()

    def close(self) -> None:
        self.sock.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.proc.stderr.close()


def test_raw_qmp_session(short_tmp) -> None:
    fg = Foreground(_synthetic(short_tmp), short_tmp)
    try:
        assert fg.line() == GREETING
        r = fg.ask('{"execute": "query-version", "id": 7}')
        assert r == {"error": {"class": "CommandNotFound",
                               "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}, "id": 7}
        assert fg.ask('{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}, "id": "c"}') == \
            {"return": {}, "id": "c"}
        assert fg.ask('{"execute": "qmp_capabilities"}')["error"]["class"] == "CommandNotFound"
        assert fg.ask('{"execute": "query-version", "id": {"n": [1]}}') == \
            {"return": {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": ""}, "id": {"n": [1]}}
        # Repeats come in recorded order (then the last one again); the selected launch wins.
        names = [fg.ask('{"execute": "query-machines"}')["return"][0]["name"] for _ in range(3)]
        assert names == ["first", "second", "second"]
        # A key only the other launch has is found there.
        assert fg.ask('{"execute": "query-target"}') == {"return": {"arch": "x86_64"}}
        # Arguments match whatever their order; recorded errors are replayed as errors.
        assert fg.ask('{"execute": "device-list-properties", "arguments": {"x": 1, "typename": "nope"}}') == \
            {"error": {"class": "DeviceNotFound", "desc": "Device 'nope' not found"}}
        kvm = fg.ask('{"execute": "query-kvm"}')["return"]
        assert kvm == ({"enabled": True, "present": True} if _kvm_now() else {"enabled": False, "present": False})
        r = fg.ask('{"execute": "query-bogus", "arguments": {"a": 1}, "id": 3}')
        assert r == {"error": {"class": "CommandNotFound",
                               "desc": 'replay: no recorded reply for query-bogus {"a": 1}'}, "id": 3}
        assert fg.ask("[1, 2]")["error"]["class"] == "GenericError"
        assert fg.ask('{"execute": "query-version"}\r\n{"execute": "query-target"}\n')["return"]["qemu"]
        assert fg.line() == {"return": {"arch": "x86_64"}}  # two commands in one write: two replies
        assert fg.ask('{"execute": "quit", "id": 9}') == {"return": {}, "id": 9}
        assert fg.line()["event"] == "SHUTDOWN"
        assert fg.proc.wait(10) == 0
    finally:
        fg.close()


def test_other_accel_selects_other_launch(short_tmp) -> None:
    fg = Foreground(_synthetic(short_tmp), short_tmp, accel="tcg")
    try:
        fg.line()
        fg.ask('{"execute": "qmp_capabilities"}')
        assert fg.ask('{"execute": "query-machines"}')["return"] == [{"name": "tcg-only"}]
    finally:
        fg.close()


def test_reconnect_needs_negotiation_again(short_tmp) -> None:
    fg = Foreground(_synthetic(short_tmp), short_tmp)
    try:
        fg.line()
        fg.ask('{"execute": "qmp_capabilities"}')
        fg.sock.close()
        fg.sock = socket.socket(socket.AF_UNIX)
        fg.sock.settimeout(10)
        fg.sock.connect(fg.sock_path)
        fg.buf = b""
        assert fg.line() == GREETING
        assert fg.ask('{"execute": "query-version"}')["error"]["class"] == "CommandNotFound"
    finally:
        fg.close()


def test_daemonized_then_sigkill_leaves_nothing(make_install, short_tmp) -> None:
    dest = make_install(1)
    binary = dest / "qemu-system-x86_64"
    parent = subprocess.run(process.probe_argv(str(binary), short_tmp, "kvm:tcg"), capture_output=True,
                            timeout=20)
    assert parent.returncode == 0 and parent.stderr == b""
    assert (short_tmp / "qmp.monitor").is_socket()  # ready when the parent exits: no polling
    pid = int((short_tmp / "qmp.pid").read_text())
    assert pid != os.getpid() and _processes_mentioning(str(dest)) == [pid]
    assert os.getsid(pid) == pid  # setsid: its own session, like QEMU
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(short_tmp / "qmp.monitor"))
        assert b'"QMP"' in s.recv(4096)
    os.kill(pid, signal.SIGKILL)
    assert _wait_gone(pid, 10)
    try:
        os.waitpid(pid, 0)  # ours if a probe made this process a subreaper
    except ChildProcessError:
        pass
    assert _processes_mentioning(str(dest)) == []


# ---------------------------------------------------------------- probing fakes

def _recorded(target: str) -> Transcript:
    return load(TRANSCRIPTS_DIR / transcript_filename(target))


def _reply(launch: Launch, cmd: str):
    return next(e.ret for e in launch.exchanges if e.execute == cmd)


def _machine_view(machines) -> set[tuple]:
    return {(m.name, m.alias, m.is_default) for m in machines}


def _recorded_machine_view(raw: list) -> set[tuple]:
    return {(m["name"], m.get("alias"), bool(m.get("is-default"))) for m in raw if m["name"] != "none"}


@pytest.mark.parametrize("target", ["x86_64", "aarch64", "rx"])
def test_probe_fake_matches_transcript(make_install, probe_root, target: str) -> None:
    dest = make_install(targets=[target])
    caps = probe(str(dest / f"qemu-system-{target}")).caps
    tr = _recorded(target)
    kvm = tr.kvm_at_record and _kvm_now()
    assert caps.kvm == kvm and caps.probe_launches == (2 if kvm else 1)
    first = "kvm" if kvm else "tcg"
    l1 = tr.launch_for("kvm:tcg")
    assert _machine_view(caps.machines[first]) == _recorded_machine_view(_reply(l1, "query-machines"))
    if any(e.execute == "query-cpu-definitions" for e in l1.exchanges):
        assert {c.name for c in caps.cpu_models[first]} == \
            {c["name"] for c in _reply(l1, "query-cpu-definitions")}
    if kvm:
        l2 = tr.launch_for("tcg")
        assert _machine_view(caps.machines["tcg"]) == _recorded_machine_view(_reply(l2, "query-machines"))
        assert {c.name for c in caps.cpu_models["tcg"]} == {c["name"] for c in _reply(l2, "query-cpu-definitions")}
    assert not list(probe_root.iterdir())


def test_kvm_honesty_without_usable_kvm(short_tmp, probe_root) -> None:
    """A KVM recording, replayed where /dev/kvm cannot be opened: no KVM, one launch."""
    assert _recorded("x86_64").kvm_at_record
    fake = short_tmp / "qemu-system-x86_64"
    fake.write_text(f"#!{sys.executable} -IS\nimport sys\nsys.path.insert(0, {str(REPO_ROOT)!r})\n"
                    "from workbench.sim import replay\nreplay.KVM_DEVICE = '/nonexistent/kvm'\n"
                    f"sys.exit(replay.main(sys.argv, {str(TRANSCRIPTS_DIR / transcript_filename('x86_64'))!r}, 'none'))\n")
    fake.chmod(0o755)
    caps = probe(str(fake)).caps
    assert not caps.kvm and caps.probe_launches == 1 and "kvm" not in caps.machines
    assert caps.machines["tcg"]


# How long a replay takes at each latency, and how close it comes to the real binary, are timings:
# the replay_fidelity benchmark and `workbench fidelity` measure them beside the real binaries in
# the same run; here only the arithmetic is tested (test_replay_timing_model_arithmetic).


MISBEHAVIOURS = [
    ("crash-at:query-target", "query-target", ProbeError),
    ("hang-at:query-commands", "query-commands", ProbeTimeout),
    ("garbage-at:query-kvm", "query-kvm", ProbeError),
    ("hang-at-start", "launch", ProbeTimeout),
    ("exit-at-start", "launch", LaunchRefused),
    ("greeting-garbage", "connect", ProbeError),
]


@pytest.mark.parametrize("mode, step, error", MISBEHAVIOURS)
def test_misbehaviour_fails_probe_cleanly(make_install, probe_root, mode: str, step: str, error) -> None:
    dest = make_install(1, misbehave={"x86_64": mode})
    binary = str(dest / "qemu-system-x86_64")
    assert _processes_mentioning(str(dest)) == []
    with pytest.raises(ProbeError) as e:
        probe(binary, command_timeout_s=1, launch_timeout_s=2)
    assert isinstance(e.value, error), e.value
    assert e.value.binary == binary and e.value.step == step, str(e.value)
    assert binary in str(e.value) and step in str(e.value)
    if error is ProbeTimeout:  # the limits given, not the default 10 s
        assert f"within {2 if step == 'launch' else 1} s" in str(e.value), str(e.value)
    if mode == "exit-at-start":
        assert "boom" in e.value.reason
    assert _processes_mentioning(str(dest)) == []
    assert not list(probe_root.glob("qmp-*"))


# ---------------------------------------------------------------- against the real binaries

@pytest.mark.skipif(not REAL_X86.exists(), reason=f"real QEMU is not installed ({REAL_X86} is absent)")
def test_fakes_match_real_binaries(install30, probe_root) -> None:
    """All 30 default targets: the fake's machines and CPU models are the real binary's."""
    mismatches = []
    for target in INSTALL_ORDER[:MAX_SIMULATED]:
        real_bin = Path(f"/usr/bin/qemu-system-{target}")
        if not real_bin.exists():
            mismatches.append(f"{target}: {real_bin} missing")
            continue
        fake = probe(str(install30 / f"qemu-system-{target}")).caps
        real = probe(str(real_bin)).caps
        if fake.kvm != real.kvm or set(fake.machines) != set(real.machines):
            mismatches.append(f"{target}: accel views {sorted(fake.machines)} vs {sorted(real.machines)}")
            continue
        for accel in real.machines:
            if [(m.name, m.alias, m.is_default) for m in fake.machines[accel]] != \
                    [(m.name, m.alias, m.is_default) for m in real.machines[accel]]:
                mismatches.append(f"{target}/{accel}: machines differ")
            if [c.name for c in fake.cpu_models.get(accel, [])] != [c.name for c in real.cpu_models.get(accel, [])]:
                mismatches.append(f"{target}/{accel}: CPU models differ")
    assert not mismatches, mismatches
    assert not list(probe_root.glob("qmp-*"))


def test_replay_timing_model_arithmetic() -> None:
    """The replay's subtraction model (replay.py docstring), checked as arithmetic, no clock."""
    launch = {"ready_s": 0.030, "spawn_s": 0.004,
              "exchanges": [{"latency_s": 0.0002}, {"latency_s": 0.0050}, {"latency_s": 0.0011}]}
    assert replay_timing.startup_delay(launch, 1.0) == pytest.approx(0.026)
    assert replay_timing.startup_delay(launch, 2.0) == pytest.approx(0.052)
    assert replay_timing.startup_delay({"ready_s": 0.003, "spawn_s": 0.004}, 1.0) == 0.0  # never negative
    assert replay_timing.startup_delay({"ready_s": 0.02}, 1.0) == pytest.approx(0.02)  # no spawn_s
    # Format 3: the measured round trip, interpolated by reply size, is what is left out.
    rt = {"points": [[64, 0.0001], [4096, 0.00011], [262144, 0.0005]]}
    assert replay_timing.round_trip_s(rt, 10) == pytest.approx(0.0001)  # flat below the smallest size
    assert replay_timing.round_trip_s(rt, 2080) == pytest.approx(0.000105)
    assert replay_timing.round_trip_s(rt, 133120) == pytest.approx(0.000305)
    assert replay_timing.round_trip_s(rt, 520192) == pytest.approx(0.000890)  # the last segment, extended
    tr3 = {"round_trip": rt}
    assert replay_timing.launch_round_trip(tr3, launch) is rt
    # Replay's delay + one round trip gives back the recorded latency; never below zero.
    assert [replay_timing.reply_delay(e, 0.0001, 1.0) + 0.0001 for e in launch["exchanges"]] == \
        pytest.approx([0.0002, 0.0050, 0.0011])
    assert replay_timing.reply_delay({"latency_s": 0.00005}, 0.0001, 1.0) == 0.0
    assert replay_timing.reply_delay({"latency_s": 0.0050}, 0.0001, 0.0) == 0.0
    assert replay_timing.reply_delay({"latency_s": 0.0050}, 0.0001, 2.0) == pytest.approx(0.0098)
    # Formats 1-2 have no round trip: the launch's smallest latency stands in for it.
    assert replay_timing.launch_round_trip({}, launch) == {"points": [[0, 0.0002]]}
    assert replay_timing.launch_round_trip({}, {"exchanges": []}) == {"points": [[0, 0.0]]}
    # The ballast: recorded resident memory less the replay's own, none with latency none.
    assert replay_timing.ballast_bytes({"rss_kib": 28000}, 8000, 1.0) == 20000 * 1024
    assert replay_timing.ballast_bytes({"rss_kib": 5000}, 8000, 1.0) == 0
    assert replay_timing.ballast_bytes({"rss_kib": 28000}, 8000, 0.0) == 0
    assert replay_timing.ballast_bytes({}, 8000, 1.0) == 0  # before format 3
