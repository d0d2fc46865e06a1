"""The strategies libvirt never shipped: what each must do beyond giving the same
answers (that part is test_driver and test_parse_path, over every strategy)."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import processes_mentioning
from workbench.errors import UsageError
from workbench.qemu.cache import QemuCapsCache
from workbench.qemu.driver import DriverOptions, QemuDriver
from workbench.qemu.designs.pool import lookup_all, pool_size
from workbench.qemu.designs.warmer import Warmer

WAIT_S = 30  # a bound on Event waits, so a broken lock fails the test instead of hanging it


def _binaries(inst: Path) -> list[str]:
    return sorted(str(p) for p in inst.glob("qemu-system-*"))


class _FakeProbe:
    """probe_fn stand-in: records calls; a binary listed in `gates` blocks until released."""

    def __init__(self, gates: dict[str, threading.Event] | None = None) -> None:
        self.calls: list[str] = []
        self.entered: dict[str, threading.Event] = {}
        self.gates = gates or {}
        self.lock = threading.Lock()

    def __call__(self, binary: str, **_kw):
        with self.lock:
            self.calls.append(binary)
            self.entered.setdefault(binary, threading.Event()).set()
        gate = self.gates.get(binary)
        if gate is not None and not gate.wait(WAIT_S):
            raise AssertionError(f"{binary}: gate never opened")
        from workbench.qemu.capsdata import SELF_VERSION, QemuCaps
        caps = QemuCaps(binary=binary, ctime_ns=os.stat(binary).st_ctime_ns, self_version=SELF_VERSION,
                        kernel_version="", microcode="", version=7002000, package="", arch="aarch64",
                        kvm=False, tcg=True, flags=frozenset(), machines={}, cpu_models={},
                        host_cpu={}, gic=[], sev=None)
        caps.probe_launches = 1
        from workbench.qemu import hostfacts  # the validity inputs a real probe records
        caps.mod_dir_ctime, caps.self_ctime = hostfacts.module_dir_ctime(), hostfacts.self_ctime()
        return SimpleNamespace(caps=caps)

    def entered_event(self, binary: str) -> threading.Event:
        with self.lock:
            return self.entered.setdefault(binary, threading.Event())


def _fake_bins(tmp_path: Path, n: int) -> list[str]:
    out = []
    for i in range(n):
        p = tmp_path / f"qemu-system-fake{i}"
        p.write_text("#!/bin/sh\n")
        p.chmod(0o755)
        out.append(str(p))
    return out


# -- parallel: per-binary cache locks and the pool ---------------------------------------------
def test_concurrent_lookups_of_one_binary_probe_it_once(tmp_path):
    (b,) = _fake_bins(tmp_path, 1)
    gate = threading.Event()
    fake = _FakeProbe({b: gate})
    cache = QemuCapsCache(None, probe_fn=fake)
    first = threading.Thread(target=cache.lookup, args=(b,))
    first.start()
    assert fake.entered_event(b).wait(WAIT_S)
    second = threading.Thread(target=cache.lookup, args=(b,))
    second.start()
    gate.set()
    first.join(WAIT_S)
    second.join(WAIT_S)
    assert fake.calls == [b]
    assert cache.stats["probe"] == 1 and cache.stats["lookups"] == 2


def test_different_binaries_probe_at_once(tmp_path):
    a, b = _fake_bins(tmp_path, 2)
    gate_a = threading.Event()
    fake = _FakeProbe({a: gate_a})
    cache = QemuCapsCache(None, probe_fn=fake)
    t = threading.Thread(target=cache.lookup, args=(a,))
    t.start()
    assert fake.entered_event(a).wait(WAIT_S)
    other = threading.Thread(target=cache.lookup, args=(b,))
    other.start()
    # a is still being probed: b's probe starts anyway (per-binary locks: a hung emulator stalls no other)
    started = fake.entered_event(b).wait(WAIT_S)
    gate_a.set()
    t.join(WAIT_S)
    other.join(WAIT_S)
    assert started
    assert sorted(fake.calls) == sorted([a, b])


def test_pool_size_default_env_and_bad_values(monkeypatch):
    monkeypatch.delenv("WORKBENCH_PROBE_WORKERS", raising=False)
    assert pool_size() == (os.cpu_count() or 1)
    assert pool_size(3) == 3
    monkeypatch.setenv("WORKBENCH_PROBE_WORKERS", "5")
    assert pool_size() == 5
    monkeypatch.setenv("WORKBENCH_PROBE_WORKERS", "many")
    with pytest.raises(UsageError, match="WORKBENCH_PROBE_WORKERS"):
        pool_size()
    with pytest.raises(UsageError, match="at least 1"):
        pool_size(0)


def test_pool_returns_each_binary_once_and_errors_as_values(make_install, tmp_path):
    inst = make_install(targets=["aarch64", "arm"], misbehave={"arm": "exit-at-start"})
    cache = QemuCapsCache(None)
    bins = _binaries(inst)
    got = lookup_all(cache, bins + bins, workers=4)
    assert set(got) == set(bins)
    assert got[str(inst / "qemu-system-aarch64")].arch == "aarch64"
    from workbench.errors import ProbeError
    assert isinstance(got[str(inst / "qemu-system-arm")], ProbeError)


def test_parallel_builds_the_same_capabilities_with_the_same_launches(make_install, tmp_path):
    inst = make_install(6)
    par = QemuDriver.startup(DriverOptions(str(inst), "parallel", tmp_path / "p", probe_workers=3))
    seq = QemuDriver.startup(DriverOptions(str(inst), "per-emulator", tmp_path / "s"))
    assert par.get_capabilities() == seq.get_capabilities()
    assert par.cache.stats["launches"] == seq.cache.stats["launches"] > 0
    assert par.cache.stats["probe"] == seq.cache.stats["probe"] == 6


# -- background --------------------------------------------------------------------------
def test_warmer_bump_takes_a_queued_binary_for_the_caller(tmp_path):
    a, b, c = _fake_bins(tmp_path, 3)
    gate = threading.Event()
    fake = _FakeProbe({a: gate})
    cache = QemuCapsCache(None, probe_fn=fake)
    w = Warmer(workers=1)
    w.start(cache, [a, b, c])
    assert fake.entered_event(a).wait(WAIT_S)
    w.bump(c)           # the caller needs c now: it probes it itself, ahead of b
    cache.lookup(c)
    gate.set()
    done = w.wait([a, b, c])
    w.stop()
    assert fake.calls[:2] == [a, c] and sorted(fake.calls) == sorted([a, b, c])
    assert all(done[x].binary == x for x in (a, b, c))


def test_background_stop_leaves_no_emulator_running(make_install, tmp_path):
    inst = make_install(8, latency="recorded")  # sleeping emulators: stop lands mid-probe
    drv = QemuDriver.startup(DriverOptions(str(inst), "background", tmp_path / "c", probe_workers=2))
    drv.stop()
    assert processes_mentioning(str(inst)) == []
    assert drv.strategy.warmer.pending() == 0


def test_background_answers_one_emulator_calls_and_waits_for_all(make_install, tmp_path):
    inst = make_install(5)
    drv = QemuDriver.startup(DriverOptions(str(inst), "background", tmp_path / "c", probe_workers=2))
    try:
        assert "qemu-system-aarch64" in drv.get_domain_capabilities(arch="aarch64")
        caps = drv.get_capabilities()
        assert caps.count("<guest>") == 7
        assert drv.cache.stats["probe"] == 5  # each emulator once, whoever probed it
    finally:
        drv.stop()


def test_daemon_sigterm_stops_the_warmup(make_install, tmp_path):
    import signal

    inst = make_install(8, latency="recorded")
    sock = Path(os.environ.get("TMPDIR", "/tmp")) / f"wb-bg-{os.getpid()}.sock"
    proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", "daemon", "--socket", str(sock),
                             "--install", str(inst), "--strategy", "background",
                             "--cache-dir", str(tmp_path / "c")], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    assert processes_mentioning(str(inst)) == []


# -- schema-reuse --------------------------------------------------------------------------
def test_schema_reuse_skips_build_constant_commands_and_builds_the_same_caps(make_install, tmp_path):
    from workbench import trace

    inst = make_install(targets=["x86_64"])
    b = str(inst / "qemu-system-x86_64")
    cache_dir = tmp_path / "state" / "cache"
    first = QemuDriver.startup(DriverOptions(str(inst), "schema-reuse", cache_dir))
    trace.TRACER.reset()
    caps1 = first.cache.lookup(b)
    asked_first = trace.TRACER.counters["qmp.commands"]
    for f in cache_dir.glob("*.xml"):  # a cold cache, the store beside it kept
        f.unlink()
    second = QemuDriver.startup(DriverOptions(str(inst), "schema-reuse", cache_dir))
    trace.TRACER.reset()
    caps2 = second.cache.lookup(b)
    assert trace.TRACER.counters["store.hit"] == 1 and trace.TRACER.counters["probe.reused"] > 20
    assert trace.TRACER.counters["qmp.commands"] < asked_first / 2
    assert caps2.to_xml() == caps1.to_xml()


def test_schema_store_misses_on_another_build_or_a_corrupt_file(make_install, tmp_path):
    import json

    from workbench import trace

    inst = make_install(targets=["aarch64"])
    b = str(inst / "qemu-system-aarch64")
    cache_dir = tmp_path / "state" / "cache"
    QemuDriver.startup(DriverOptions(str(inst), "schema-reuse", cache_dir)).cache.lookup(b)
    (entry,) = (tmp_path / "state" / "cache.replies").glob("*.json")
    doc = json.loads(entry.read_text())
    doc["package"] = "some other build"
    entry.write_text(json.dumps(doc))
    for bad in (None, "{not json"):
        if bad is not None:
            entry.write_text(bad)
        for f in cache_dir.glob("*.xml"):
            f.unlink()
        trace.TRACER.reset()
        QemuDriver.startup(DriverOptions(str(inst), "schema-reuse", cache_dir)).cache.lookup(b)
        assert trace.TRACER.counters["probe.reused"] == 0


# -- prebuilt ------------------------------------------------------------------------------
def test_prebuilt_serves_foreign_arches_and_falls_back_on_changed_bytes(make_install, tmp_path):
    from workbench.qemu.designs.prebuilt import build_prebuilt

    inst = make_install(targets=["aarch64", "arm", "ppc64"])
    assert all(b.error is None for b in build_prebuilt(inst))
    drv = QemuDriver.startup(DriverOptions(str(inst), "prebuilt", tmp_path / "c"))
    ref = QemuDriver.startup(DriverOptions(str(inst), "per-emulator", tmp_path / "r"))
    assert drv.get_capabilities() == ref.get_capabilities()
    assert drv.cache.stats["prebuilt"] == 3 and drv.cache.stats["probe"] == 0
    ppc = inst / "qemu-system-ppc64"  # other bytes (a local rebuild): the file is not trusted
    ppc.write_bytes(ppc.read_bytes() + b"\n# rebuilt\n")
    (inst / "qemu-caps" / "qemu-system-arm.xml").write_text("<prebuiltCaps>")  # corrupt
    again = QemuDriver.startup(DriverOptions(str(inst), "prebuilt", tmp_path / "c2"))
    again.get_capabilities()
    assert again.cache.stats["prebuilt"] == 1 and again.cache.stats["probe"] == 2


def test_prebuild_cli_bad_dir_is_a_clear_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "workbench.cli", "prebuild", str(tmp_path / "nope")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "not a directory" in r.stderr and "Traceback" not in r.stderr


# -- per-emulator-fixed --------------------------------------------------------------------
def test_fixed_apis_probe_only_what_they_need(make_install, tmp_path):
    inst = make_install(5)
    drv = QemuDriver.startup(DriverOptions(str(inst), "per-emulator-fixed", tmp_path / "c"))
    ref = QemuDriver.startup(DriverOptions(str(inst), "per-emulator", tmp_path / "r"))
    assert drv.node_get_security_model() == ref.node_get_security_model()
    host_only = drv.get_capabilities(flags=["uuid", "secmodel"])
    assert drv.cache.stats["lookups"] == 0 and "<guest>" not in host_only and "<secmodel>" in host_only
    assert drv.get_version() == ref.get_version() == 7002022
    assert drv.cache.stats["probe"] == 1 and ref.cache.stats["probe"] == 5
    assert drv.get_capabilities() == ref.get_capabilities()
    guests_only = drv.get_capabilities(flags=["guests"])
    assert guests_only.count("<guest>") == 7 and "<host>" not in guests_only
    from workbench.errors import InvalidArgument
    with pytest.raises(InvalidArgument, match="unknown flag"):
        drv.get_capabilities(flags=["guests", "cpus"])


@pytest.mark.parametrize("strategy,probes", [("per-emulator", 5), ("per-emulator-fixed", 1),
                                             ("fixed-shipped", 1)])
def test_the_daemon_probes_ahead_only_what_a_call_looks_up(strategy, probes, make_install, tmp_path):
    """Before its lock the daemon probes every emulator for the calls that look them all up,
    as the strategy says: not for the fixed strategies' get_version, security model and
    host-only capabilities (fixed-shipped is per-emulator-fixed there)."""
    from conftest import start_daemon
    from workbench.daemon import call

    inst = make_install(5)
    sock = tmp_path / "d.sock"
    p = start_daemon(inst, sock, tmp_path, "--strategy", strategy)
    try:
        call(sock, "get_version", {})
        call(sock, "node_get_security_model", {})
        call(sock, "get_capabilities", {"flags": ["uuid"]})
        assert call(sock, "stats", {})["cache"]["probe"] == probes
    finally:
        p.terminate()
        p.communicate(timeout=60)


def test_fixed_shipped_probes_with_the_packages_replies_when_caps_cannot_be_used(make_install, tmp_path):
    from workbench import trace
    from workbench.qemu.designs.prebuilt import build_prebuilt

    inst = make_install(targets=["x86_64", "aarch64"])
    build_prebuilt(inst)
    (inst / "qemu-caps" / "qemu-system-aarch64.xml").unlink()  # as if invalid on this host
    trace.TRACER.reset()
    drv = QemuDriver.startup(DriverOptions(str(inst), "fixed-shipped", tmp_path / "c"))
    ref = QemuDriver.startup(DriverOptions(str(inst), "per-emulator", tmp_path / "r"))
    assert drv.get_domain_capabilities(arch="aarch64") == ref.get_domain_capabilities(arch="aarch64")
    assert trace.TRACER.counters["store.hit"] >= 1 and trace.TRACER.counters["probe.reused"] > 20
    assert drv.get_version() == ref.get_version()
