"""What every benchmark script shares: its flags, its pyperf Runner, installs, cache dirs, timing.

Each script is run as `python -m workbench.bench.NAME [pyperf options] [our flags]`. Our flags
are passed on to pyperf's worker processes (they do not inherit our argv) and recorded as
metadata on every benchmark, so the tidy table is built from metadata, never from file names.
Setup (installs, cache filling, config dirs, driver startup before an API) stays outside the
timed region: every time_func below times only `op`.
"""
from __future__ import annotations

import argparse
import atexit
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

import pyperf

from workbench import trace
from workbench.errors import unwind_on_sigterm
from workbench.params import BenchParams, param_name
from workbench.sim.corpus_picks import renamed_copies, x86_64_domains
from workbench.sim.installs import ensure_install, fill_once, qemu_label
from workbench.analysis.rundir import MODEL
from workbench.qemu.strategy_names import FULL_CAPS

T = TypeVar("T")


def _pass_params(cmd: list[str], args: argparse.Namespace) -> None:
    cmd.extend(BenchParams.from_args(args).to_argv())


@dataclass
class Bench:
    """One benchmark script: its Runner with our parameters parsed, and helpers bound to them."""
    name: str
    strategy: str | None = None  # the one strategy a script is about, whatever --strategy says
    runner: pyperf.Runner = field(init=False)
    args: argparse.Namespace = field(init=False)
    params: BenchParams = field(init=False)
    _root: Path = field(init=False)

    def __post_init__(self) -> None:
        self.runner = pyperf.Runner(program_args=("-m", f"workbench.bench.{self.name}"),
                                    add_cmdline_args=_pass_params)
        BenchParams.add_arguments(self.runner.argparser)
        self.args = self.runner.parse_args()
        unwind_on_sigterm()  # a worker killed mid-probe still ends its emulator and temp folder
        self.args.cache_root.mkdir(parents=True, exist_ok=True)
        # Every process (manager or worker) works in its own dir, removed when it exits.
        self._root = Path(tempfile.mkdtemp(prefix="vcb-", dir=self.args.cache_root))
        atexit.register(shutil.rmtree, self._root, ignore_errors=True)
        if self.args.install_root is None:  # nothing outlives the process: nothing goes stale
            self.args.install_root = self._root / "installs"
        if self.strategy is not None:
            self.args.strategy = self.strategy
        self.params = BenchParams.from_args(self.args)

    def meta(self, benchmark: str, case: str = "", phase: str = "total", real: bool = False,
             **extra: Any) -> dict[str, Any]:
        """The wb_* metadata of one benchmark: what it times, this run's parameters, and where
        the value comes from (`real`: the host's real binaries, which have no latency mode)."""
        m = {"wb_benchmark": benchmark, "wb_phase": phase, **self.params.to_metadata(),
             "wb_emulators": "simulated", "wb_source": "measured-replay", "wb_system": MODEL}
        if real:
            m.update(wb_emulators="real", wb_latency="real", wb_source="measured-real")
        else:  # the installed mix; emulators replaying libvirt's test data borrow times: modelled
            mix = qemu_label(self.params.qemu, self.params.emulators)
            m["wb_qemu"] = mix or "recorded"
            if mix:
                m["wb_source"] = "modelled"
        if case:
            m["wb_case"] = case
        m.update({f"wb_{k}": v for k, v in extra.items()})
        return m

    def add(self, name: str, time_func: Callable[[int], float], *, metadata: dict[str, Any],
            **kwargs: Any) -> None:
        """runner.bench_time_func under the name with its parameters (param_name)."""
        self.runner.bench_time_func(param_name(name, metadata), time_func, metadata=metadata, **kwargs)

    def install(self) -> Path:
        """The sweep's install for this run's parameters (made here when run alone)."""
        return ensure_install(self.args.install_root, self.args.emulators, self.args.latency,
                              self.params.qemu)

    def tmpdir(self, prefix: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self._root))

    def options(self, install: Path, cache_dir: Path | None, config_dir: Path | None = None):
        from workbench.qemu.driver import DriverOptions

        return DriverOptions(search_path=str(install), strategy=self.args.strategy,
                             cache_dir=cache_dir, config_dir=config_dir, teardown=self.args.teardown)


def _made_once(install: Path, tag: str, fill: Callable[[Path], Any]) -> Path:
    """A dir beside `install`, filled once by fill(dir) (atomically), then only copied from.

    Named after the install's own write time: a reinstalled dir never meets a stale one."""
    from workbench.sim.install import MANIFEST

    dest = install.with_name(f"{install.name}.{tag}-{(install / MANIFEST).stat().st_ctime_ns}")
    if dest.is_dir():
        return dest
    return fill_once(dest, fill)


def _startup(install: Path, strategy: str, cache_dir: Path, config_dir: Path | None = None):
    from workbench.qemu.driver import DriverOptions, QemuDriver

    # Untimed set-up: what the cache holds does not depend on how each probe ended, so the
    # quickest teardown (the pidfd fix) is used here whatever is being measured.
    driver = QemuDriver.startup(DriverOptions(search_path=str(install), strategy=strategy,
                                              cache_dir=cache_dir, config_dir=config_dir,
                                              teardown="pidfd"))
    driver.stop()  # a background warm-up must not write into the dir once it is copied
    return driver


def warm_template(install: Path) -> Path:
    """A caps cache holding every emulator the arch walk finds in `install` (what a full-caps
    startup probes): each warm run copies it into its own dir."""
    return _made_once(install, "warm", lambda d: _startup(install, FULL_CAPS, d))


def preload() -> None:
    """Import what the first probe or parse would import lazily, so value 1 does not pay it."""
    import workbench.conf.host  # noqa: F401
    import workbench.qemu.probe  # noqa: F401


@dataclass
class CacheDirs:
    """Per-value cache dirs: cold = a fresh empty dir each value; warm = one dir filled once."""
    bench: Bench
    install: Path
    _warm: Path | None = None

    def new(self) -> Path:
        if self.bench.args.cache == "cold":
            return self.bench.tmpdir("c-")
        if self._warm is None:
            self._warm = self.bench.tmpdir("w-")
            shutil.copytree(warm_template(self.install), self._warm, dirs_exist_ok=True)
        return self._warm

    def done(self, d: Path) -> None:
        if d != self._warm:
            shutil.rmtree(d, ignore_errors=True)


@dataclass
class StartedDrivers:
    """Drivers in the state right after a startup on a cold or warm cache.

    Cold: one real cold startup per install and strategy (made once, beside the install)
    leaves a cache dir behind; every driver starts on a copy of it. Its memory then holds exactly what the cold startup
    probed (all of virCaps for full caps, nothing for per-emulator, whatever a new strategy
    probes), without paying a full probe in the untimed setup of every value.
    """
    bench: Bench
    install: Path
    config_dir: Path | None = None
    _snapshot: Path | None = None
    _warm: CacheDirs | None = None

    def new(self):
        from workbench.qemu.driver import QemuDriver

        b = self.bench
        if b.args.cache == "warm":
            self._warm = self._warm or CacheDirs(b, self.install)
            d = self._warm.new()
        else:
            if self._snapshot is None:  # one real cold startup per install and strategy
                self._snapshot = _made_once(self.install, f"after-cold-{b.args.strategy}",
                                            lambda d: _startup(self.install, b.args.strategy, d))
            d = b.tmpdir("c-")
            shutil.copytree(self._snapshot, d, dirs_exist_ok=True)
        driver = QemuDriver.startup(b.options(self.install, d, self.config_dir))
        trace.TRACER.reset()  # what follows sees only its own spans
        return driver

    def done(self, driver) -> None:
        driver.stop()  # a background warm-up stops before its cache dir goes
        if self.bench.args.cache == "cold":
            shutil.rmtree(driver.options.cache_dir, ignore_errors=True)


def measure(loops: int, setup: Callable[[], T], op: Callable[[T], Any],
            cleanup: Callable[[T], Any] | None = None, after: Callable[[], Any] | None = None) -> float:
    """Sum of `op` times over `loops` values; setup, `after` and cleanup are not timed."""
    total = 0.0
    for _ in range(loops):
        state = setup()
        t0 = time.perf_counter()
        op(state)
        total += time.perf_counter() - t0
        if after is not None:
            after()
        if cleanup is not None:
            cleanup(state)
    return total


def measure_span(loops: int, setup: Callable[[], T], op: Callable[[T], Any], span: str,
                 cleanup: Callable[[T], Any] | None = None) -> float:
    """Like `measure`, but the time is what the tracer's `span` spans took inside `op`."""
    total_ns = 0
    for _ in range(loops):
        state = setup()
        trace.TRACER.reset()
        op(state)
        total_ns += sum(r.duration_ns for r in trace.TRACER.iter_spans(span))
        if cleanup is not None:
            cleanup(state)
    return total_ns / 1e9


def make_config_dir(bench: Bench, m: int) -> Path | None:
    if m <= 0:
        return None
    d = bench.tmpdir("cfg-")
    for name, xml in renamed_copies(x86_64_domains(), m):
        (d / f"{name}.xml").write_bytes(xml)
    return d
