"""The QEMU driver: startup (qemuStateInitialize) and the APIs that use capabilities.

Startup creates the directories and the caps cache, asks the strategy for its extra work (full
caps builds virCaps here, probing every emulator), then loads the persistent domain configs
with validation skipped and post-parse failure tolerated, as libvirt does. Each API is traced
with the cache lookups and probes it caused.
"""
from __future__ import annotations

import os
import stat
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from workbench import trace
from workbench.conf.domain import DomainDef
from workbench.conf.domain_parse import read_domain_file
from workbench.errors import NoSuchDomain, OperationFailed, UsageError, ParseError, Unsupported, WorkbenchError
from workbench.qemu.cache import QemuCapsCache
from workbench.qemu.capabilities import Capabilities, build_capabilities
from workbench.qemu.context import ParseContext
from workbench.qemu.domain_parse import format_domain_xml, parse_domain_xml
from workbench.qemu.domcaps import domain_capabilities_xml
from workbench.qemu.options import DriverOptions
from workbench.qemu.search import default_emulator
from workbench.qemu.strategies import Strategy, get_strategy
from workbench.qemu.trust import EmulatorPolicy


@dataclass
class QemuDriver:
    """A started driver: build one with `QemuDriver.startup(options)`."""
    options: DriverOptions
    strategy: Strategy
    host_arch: str
    cache: QemuCapsCache
    def_sec_model: str
    parse_context: ParseContext = field(init=False)
    domains: dict[str, DomainDef] = field(default_factory=dict)
    load_errors: dict[str, str] = field(default_factory=dict)
    _caps: Capabilities | None = None
    _domcaps: dict[tuple, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.policy = EmulatorPolicy(self.options.search_path, tuple(self.options.allowed_emulators))
        self.parse_context = ParseContext(
            strategy=self.strategy, lookup=self.lookup, host_arch=self.host_arch,
            search_path=self.options.search_path, def_sec_model=self.def_sec_model,
            capabilities=self.capabilities if self.strategy.keeps_full_caps else None)

    def lookup(self, emulator: str):
        """The lookup behind every API and parse: only emulators the policy allows run, looked up
        as the strategy does (background: bumped to the front of its queue)."""
        return self.strategy.lookup_one(self, self.policy.check(emulator))

    @property
    def search_path(self) -> str:
        return self.options.search_path

    # -- startup (qemuStateInitialize) --------------------------------------------------
    @classmethod
    def startup(cls, options: DriverOptions) -> "QemuDriver":
        o = options
        strategy = get_strategy(o.strategy, o)
        with trace.span("driver.startup", strategy=strategy.name):
            for d in (o.cache_dir, o.config_dir):
                if d is not None:
                    try:
                        Path(d).mkdir(parents=True, exist_ok=True)
                    except OSError as e:
                        raise UsageError(f"{d}: {e.strerror or e}") from None
            host_arch = _host_arch(o.host_root)
            driver = cls(options=o, strategy=strategy, host_arch=host_arch,
                         cache=QemuCapsCache(o.cache_dir, host_arch=host_arch,
                                             probe_timeout_s=o.probe_timeout_s,
                                             teardown=o.teardown,
                                             **strategy.cache_hooks().cache_fields()),
                         def_sec_model=o.sec_models[0][0])
            with trace.span("driver.strategy_startup"):
                strategy.on_startup(driver)
            with trace.span("driver.load_configs"):
                driver._load_configs()
        return driver

    def _load_configs(self) -> None:
        if self.options.config_dir is None:
            return
        for path in sorted(Path(self.options.config_dir).glob("*.xml")):
            if path.name.startswith("."):  # our own temp files (.tmp-*.xml): never domains
                continue
            try:
                if not stat.S_ISREG(path.lstat().st_mode):  # a FIFO would hang the read
                    raise ParseError("not a regular file")
                d = parse_domain_xml(self.parse_context, read_domain_file(path), source=str(path),
                                     validate=False, allow_post_parse_fail=True)
                self._check_unique(d)
            except (WorkbenchError, OSError) as e:
                self.load_errors[str(path)] = str(e)  # libvirt logs it and skips the config
                print(f"workbench: warning: skipped config {path}: {e}", file=sys.stderr)
                continue
            self.domains[d.name] = d

    def _check_unique(self, d: DomainDef) -> None:
        """virDomainObjListAddLocked: a name or UUID already taken by another domain is refused."""
        if d.uuid is not None:
            for other in self.domains.values():
                if other.uuid == d.uuid and other.name != d.name:
                    raise OperationFailed(f"domain '{other.name}' is already defined with uuid {d.uuid}")
        same = self.domains.get(d.name)
        if same is not None and d.uuid is not None and same.uuid is not None and same.uuid != d.uuid:
            raise OperationFailed(f"domain '{d.name}' already exists with uuid {same.uuid}")

    # -- the capabilities object (still built by some APIs after the series) -----------
    def capabilities(self, refresh: bool = False) -> Capabilities:
        """virQEMUDriverGetCapabilities: rebuild on refresh, or when there is none or no guests."""
        if refresh or self._caps is None or not self._caps.guests:
            from workbench.conf.host import probe_host  # only the APIs that need the host load it
            o = self.options
            self._caps = build_capabilities(
                self.cache, lambda: probe_host(o.host_root, sec_models=o.sec_models), self.search_path,
                self.strategy.lookup_many(self))
            self._domcaps.clear()
        return self._caps

    def stop(self) -> None:
        """Stop the strategy's work (a background warm-up): no emulator is left running."""
        self.strategy.on_stop(self)

    # -- APIs ------------------------------------------------------------------------
    @contextmanager
    def _api(self, name: str) -> Iterator[None]:
        before = self.cache.stats.copy()
        with trace.span("api", method=name, strategy=self.strategy.name) as sp:
            try:
                yield
            finally:
                sp.set(lookups=self.cache.stats["lookups"] - before["lookups"],
                       probes=self.cache.stats["probe"] - before["probe"])

    def get_capabilities(self, flags: list[str] | None = None) -> str:
        """virConnectGetCapabilities. `flags` (host part names and/or "guests"; None: everything)
        mean something only to the strategies that build just what is asked (per-emulator-fixed
        reads them with the fine-grained host API designs); libvirt's own answer the whole
        document, as its API takes no flags."""
        with self._api("get_capabilities"):
            return self.strategy.capabilities_xml(self, flags)

    def get_domain_capabilities(self, emulator: str | None = None, arch: str | None = None,
                                machine: str | None = None, virttype: str | None = None) -> str:
        with self._api("get_domain_capabilities"):
            arch = arch or self.host_arch
            emulator = emulator or default_emulator(arch, self.host_arch, self.search_path)
            if emulator is None:
                raise Unsupported(f"No emulator found for arch '{arch}'")
            caps = self.lookup(emulator)
            virttype = virttype or ("kvm" if caps.kvm else "qemu")
            if not caps.supports_virt_type(virttype):
                raise Unsupported(f"Emulator '{emulator}' does not support virt type '{virttype}'")
            m = caps.machine(virttype, machine) if machine else caps.preferred_machine(virttype)
            if m is None:
                raise Unsupported(f"Emulator '{emulator}' does not support machine type '{machine}'")
            key = (id(caps), emulator, arch, m.name, virttype)  # memoised per qemuCaps object
            if key not in self._domcaps:
                self._domcaps[key] = domain_capabilities_xml(caps, emulator, arch, m, virttype)
            return self._domcaps[key]

    def get_version(self) -> int:
        """Still builds full caps in libvirt 6.x-9.x, just to find the host-arch emulator."""
        with self._api("get_version"):
            return self.strategy.get_version(self)

    def node_get_security_model(self) -> dict[str, str]:
        with self._api("node_get_security_model"):
            return self.strategy.security_model(self)

    def define_xml(self, xml: str) -> str:
        with self._api("define_xml"):
            d = parse_domain_xml(self.parse_context, xml, source="define_xml", validate=True)
            self._check_unique(d)
            self._save_config(d)
            self.domains[d.name] = d
            return d.name

    def get_xml_desc(self, name: str) -> str:
        with self._api("get_xml_desc"):
            return format_domain_xml(self._domain(name))

    def list_domains(self) -> list[str]:
        with self._api("list_domains"):
            return sorted(self.domains)

    def undefine(self, name: str) -> None:
        with self._api("undefine"):
            self._domain(name)
            if self.options.config_dir is not None:
                (Path(self.options.config_dir) / f"{name}.xml").unlink(missing_ok=True)
            del self.domains[name]

    # -- helpers ---------------------------------------------------------------------
    def _domain(self, name: str) -> DomainDef:
        try:
            return self.domains[name]
        except KeyError:
            raise NoSuchDomain(f"Domain not found: no domain with matching name '{name}'") from None

    def _save_config(self, d: DomainDef) -> None:
        if self.options.config_dir is None:
            return
        target = Path(self.options.config_dir) / f"{d.name}.xml"
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".xml", dir=target.parent)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(format_domain_xml(d))
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)  # a failed define leaves nothing behind
            raise


def _host_arch(host_root: str) -> str:
    if host_root in ("/", ""):
        return os.uname().machine
    from workbench.conf.host import probe_arch
    return probe_arch(host_root)
