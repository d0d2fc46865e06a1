"""Scenarios: a daemon spawned, then one client's calls, timed to its last answer.

The client is KubeVirt's: get_version, get_domain_capabilities for the host arch (what
`virsh domcapabilities` asks with no arguments), then one define_xml. Each value spawns
`workbench daemon` on its own state dir, waits for `ready`, makes the calls, and stops the
clock at the last answer; then (untimed) asks the daemon's `stats` and stops it with SIGTERM.

  cold_container   an empty state dir: a virt-launcher pod's daemon.
  package_upgrade  a state dir filled by the same client beforehand (caps cache, and the reply
                   store of schema-reuse), then every binary touched (a new ctime, the same
                   bytes: how a reinstall, or an upgrade as the cache sees it, invalidates every
                   entry). A real upgrade also changes the bytes: schema-reuse's store would
                   then miss; prebuilt files shipped with the new package would still match.
                   Runs on a private copy of the install, so shared installs keep their ctimes.
  steady_host      a cache holding every emulator (what full-caps' startup probes), untouched.
  version_upgrade  only with --qemu (emulators replaying libvirt 9.0's test data): as
                   package_upgrade, but the state is the client's on the old versions and the
                   install is upgraded to the next QEMU version libvirt's data holds for each
                   such target (7.1.0 -> 7.2.0, 7.2.0 -> 8.0.0, ...): new bytes and replies, so
                   schema-reuse's store misses; prebuilt files are rebuilt for the new package
                   (untimed, the packager's step). Its times are modelled (borrowed).

prebuilt and fixed-shipped run on an install whose `qemu-caps/` was built once (`workbench prebuild`, untimed:
the packager's step). Emulator launches are counted by the daemon (cache stat `launches`, each
probe adding the emulator processes it started) in one untimed counting run per scenario, and
recorded as metadata with its per-call latencies and the daemon's own CPU seconds (the
emulators' CPU is not included): wb_launches, wb_ready_s, wb_first_answer_s, wb_worst_call_s,
wb_last_answer_s, wb_daemon_cpu_s, wb_probes. The counting run is made once per pyperf
manager (not once per worker: it costs as much as a value) and handed to its workers in a file
under --cache-root; a worker run on its own (no manager) counts for itself.

--case NAME runs one scenario only (the main job asks only for cold_container); --count no leaves
the counting run out (the main job: it costs as much as a value, and page one needs no counts).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from workbench.bench.common import Bench, warm_template
from workbench.sim.corpus_picks import pick, x86_64_domains
from workbench.bench.daemon_client import Daemon

SCENARIOS = ("cold_container", "package_upgrade", "steady_host")
CACHE_STATE = {"cold_container": "cold", "package_upgrade": "stale", "steady_host": "warm"}
# The untimed client run that leaves a state behind ends its probes with the pidfd fix whatever is
# measured: what the state holds (cache entries, reply store) does not depend on how a probe ended,
# and libvirt 9.0's 200 ms poll per launch would cost wall time (~6 s per worker at 30 emulators)
# that no value contains.
SETUP_TEARDOWN = "pidfd"


@dataclass
class Outcome:
    ready_s: float
    calls_s: list[float]          # each call's own latency, in order
    last_s: float                 # spawn -> last answer
    stats: dict = field(default_factory=dict)
    cpu_s: float = 0.0


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_client(install: Path, strategy: str, state: Path, define_xml: str, teardown: str) -> Outcome:
    """Spawn a daemon on `state`, ask what a KubeVirt pod asks, stop it; time each step."""
    calls = (("get_version", {}), ("get_domain_capabilities", {}), ("define_xml", {"xml": define_xml}))
    d = Daemon(install, state / "cache", strategy, config_dir=state / "etc", teardown=teardown)
    t0 = time.perf_counter()
    try:
        d.start()
        ready = time.perf_counter() - t0
        lat = []
        for method, params in calls:
            t = time.perf_counter()
            d.call(method, params)
            lat.append(time.perf_counter() - t)
        last = time.perf_counter() - t0
        assert d.proc is not None
        out = Outcome(ready, lat, last, cpu_s=_cpu_s(d.proc.pid))
        out.stats = d.call("stats")["cache"]
    finally:
        d.stop()
    return out


def touch_all(install: Path) -> None:
    for p in install.glob("qemu-system-*"):
        os.utime(p)  # a new ctime (and mtime), the same bytes


def upgrades(spec: str, n: int | str) -> dict[str, tuple[str, str]]:
    """{target: (old, new)} for the targets of an install of n whose --qemu version has a next
    version in libvirt's test data."""
    from workbench.bench.common import qemu_label
    from workbench.sim import libvirt_replies as lr

    tests = lr.default_tests_dir()
    out = {}
    for part in filter(None, qemu_label(spec, n).split("+")):
        target, _, old = part.partition("@")
        new = lr.next_version(tests, target, old)
        if new:
            out[target] = (old, new)
    return out


def upgrade_install(install: Path, spec: str) -> None:
    """Replace each upgradable emulator by the next QEMU version's (new bytes, new ctime)."""
    from workbench.paths import TRANSCRIPTS_DIR
    from workbench.sim import libvirt_replies as lr
    from workbench.sim.install import MANIFEST, write_emulator

    latency = json.loads((install / MANIFEST).read_text()).get("latency", "recorded")
    for target, (_, new) in upgrades(spec, len(list(install.glob("qemu-system-*")))).items():
        write_emulator(install / f"qemu-system-{target}",
                       lr.transcript_gz(lr.default_tests_dir(), target, new, TRANSCRIPTS_DIR), latency)


def ensure_prebuilt(install: Path) -> None:
    from workbench.qemu.designs.prebuilt import SUBDIR, build_prebuilt

    if not (install / SUBDIR).is_dir():
        build_prebuilt(install)


@dataclass
class Scenario:
    bench: Bench
    name: str
    install: Path
    define_xml: str
    _private: Path | None = None
    _state: Path | None = None

    def state(self) -> Path:
        """A state dir ready for one timed value of this scenario (untimed setup)."""
        b, s = self.bench, self.bench.args.strategy
        if self.name == "cold_container":
            return b.tmpdir("st-")
        if self.name == "steady_host":
            d = b.tmpdir("st-")
            shutil.copytree(warm_template(self.install), d / "cache")
            return d
        if self.name == "version_upgrade":
            return self._upgraded_state()
        if self._state is None:  # package_upgrade: the host as the client left it, once
            self._private = b.tmpdir("inst-") / self.install.name
            shutil.copytree(self.install, self._private, symlinks=True)
            self._state = b.tmpdir("st-")
            run_client(self._private, s, self._state, self.define_xml, SETUP_TEARDOWN)
        for f in (self._state / "etc").glob("*.xml"):
            f.unlink()  # the client defines the same domain again
        touch_all(self._private)
        return self._state

    def _upgraded_state(self) -> Path:
        """A copy of the client's state on the old versions, with the install upgraded (once)."""
        b, s = self.bench, self.bench.args.strategy
        if self._state is None:
            self._private = b.tmpdir("inst-") / self.install.name
            shutil.copytree(self.install, self._private, symlinks=True)
            self._state = b.tmpdir("st-")
            run_client(self._private, s, self._state, self.define_xml, SETUP_TEARDOWN)
            upgrade_install(self._private, b.params.qemu)
            from workbench.qemu.strategies import STRATEGIES
            if STRATEGIES[s].uses_package_files:  # the new package ships its own
                from workbench.qemu.designs.prebuilt import SUBDIR
                shutil.rmtree(self._private / SUBDIR, ignore_errors=True)
                ensure_prebuilt(self._private)
        d = b.tmpdir("st-")
        shutil.copytree(self._state, d, dirs_exist_ok=True, symlinks=True)
        for f in (d / "etc").glob("*.xml"):
            f.unlink()  # the client defines the same domain again
        return d

    def run(self) -> Outcome:
        state = self.state()
        upgraded = self.name in ("package_upgrade", "version_upgrade")
        inst = self._private if upgraded else self.install
        try:
            return run_client(inst, self.bench.args.strategy, state, self.define_xml,
                              self.bench.args.teardown)
        finally:
            if state != self._state:
                shutil.rmtree(state, ignore_errors=True)


def _counted_meta(out: Outcome) -> dict:
    return {"launches": int(out.stats.get("launches", 0)), "probes": int(out.stats.get("probe", 0)),
            "ready_s": round(out.ready_s, 6), "first_answer_s": round(out.ready_s + out.calls_s[0], 6),
            "worst_call_s": round(max(out.calls_s), 6), "last_answer_s": round(out.last_s, 6),
            "daemon_cpu_s": round(out.cpu_s, 3)}


def main() -> None:
    b = Bench("scenarios")
    args = b.runner.args
    install = b.install()
    from workbench.qemu.strategies import STRATEGIES

    if STRATEGIES[b.args.strategy].uses_package_files:  # the packager made them (untimed)
        ensure_prebuilt(install)
    domains = x86_64_domains()
    define_xml = pick(domains, 1)[0].xml.decode()
    jumps = upgrades(b.params.qemu, b.params.emulators)
    names = SCENARIOS + (("version_upgrade",) if jumps else ())
    if b.params.case != "all" and b.params.case not in names:
        b.runner.argparser.error(f"--case: expected one of {', '.join(names)} or all, got {b.params.case!r}")
    chosen = [s for s in names if b.params.case in ("all", s)]
    counting = b.params.count == "yes"
    manager = not args.worker and not args.in_process and counting
    counted_dir = b.params.cache_root / f"counted-{os.getpid() if manager else os.getppid()}"
    if manager:
        counted_dir.mkdir(parents=True, exist_ok=True)
        import atexit

        atexit.register(shutil.rmtree, counted_dir, ignore_errors=True)
    for i, name in enumerate(chosen):
        sc = Scenario(b, name, install, define_xml)
        meta = b.meta("scenario", case=name, phase="last_answer")
        meta["wb_cache"] = CACHE_STATE.get(name, "stale")  # the scenario's own, not --cache
        if name == "version_upgrade":
            meta["wb_upgrade"] = "+".join(f"{t}@{o}->{n}" for t, (o, n) in sorted(jumps.items()))
        counted = counted_dir / f"{name}.json"
        if manager:  # once, for every worker this manager starts
            counted.write_text(json.dumps(_counted_meta(sc.run())))
            sc = Scenario(b, name, install, define_xml)  # the workers start from scratch
        elif counting and (args.in_process or args.worker_task in (None, i)):
            try:
                found = json.loads(counted.read_text())
            except (OSError, ValueError):  # a worker run by hand: count here
                found = _counted_meta(sc.run())
            meta.update({f"wb_{k}": v for k, v in found.items()})

        def time_func(loops: int, sc=sc) -> float:
            return sum(sc.run().last_s for _ in range(loops))
        b.add(f"scenario.{name}", time_func, metadata=meta)


if __name__ == "__main__":
    main()
