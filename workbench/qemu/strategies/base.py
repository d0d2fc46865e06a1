"""What a capabilities strategy decides: the places where libvirt's 2019 series changed the code.

Everything else in the driver and the parse path is shared. A new strategy (parallel probing,
background warm-up, a prebuilt cache) is one new module in this package defining a subclass
with a `name`; it then shows up in the CLI, the benchmarks and the notebooks.

The parse-path hooks take the frozen ParseContext, never the driver; the driver-side hooks
(startup, stop, how many emulators are looked up at once, and the APIs libvirt answers from
virCaps) see the driver. Their defaults are what libvirt does today, so full-caps and
per-emulator inherit them unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Protocol, Sequence

if TYPE_CHECKING:
    from workbench.conf.domain import DomainDef
    from workbench.qemu.cache import QemuCapsCache
    from workbench.qemu.capabilities import Capabilities, LookupMany
    from workbench.qemu.capsdata import QemuCaps
    from workbench.qemu.context import ParseContext
    from workbench.qemu.options import DriverOptions


class DriverView(Protocol):
    """All a strategy's driver-side hooks may use of the driver (QemuDriver is one): the cache,
    the host arch, the search path and options, a policy-checked lookup and virCaps. A strategy
    never imports the driver; the driver hands itself over as this."""
    cache: "QemuCapsCache"
    host_arch: str

    @property
    def search_path(self) -> str: ...

    @property
    def options(self) -> "DriverOptions": ...

    def lookup(self, emulator: str) -> "QemuCaps": ...

    def capabilities(self, refresh: bool = False) -> "Capabilities": ...


@dataclass(frozen=True)
class CacheHooks:
    """What a strategy adds around the caps cache's probe (the QemuCapsCache fields of the same
    names): capabilities found before probing, extra probe() arguments, and what a probe leaves."""
    before_probe: Callable[[str], "QemuCaps | None"] | None = None
    probe_kwargs: Callable[[str], dict] | None = None
    after_probe: Callable[[object], None] | None = None

    def cache_fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


class Strategy:
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    keeps_full_caps: ClassVar[bool] = False  # the parse context then carries virCaps
    # What can answer stale, beyond the cache's own checks (ctime, KVM, kernel, microcode):
    # an assessment for the trade-offs table, not a measurement.
    staleness: ClassVar[str] = "none beyond the caps cache's own validity checks"
    uses_package_files: ClassVar[bool] = False  # reads what `workbench prebuild` ships

    def __init__(self, options: "DriverOptions") -> None:
        """A strategy is made for one driver, with its DriverOptions: what it keeps (a pool size,
        a reply store) is set here, never inside a hook."""

    def cache_hooks(self) -> CacheHooks:
        """What this strategy adds around the caps cache's probe."""
        return CacheHooks()

    def on_startup(self, driver: "DriverView") -> None:
        """Extra driver-startup work (full caps: build virCaps by probing every emulator)."""

    def on_stop(self, driver: "DriverView") -> None:
        """Stop whatever the strategy started (threads, emulators in flight) before returning."""

    def lookup_one(self, driver: "DriverView", binary: str) -> "QemuCaps":
        """A lookup for one emulator (the parse path, domain capabilities)."""
        return driver.cache.lookup(binary)

    def lookup_many(self, driver: "DriverView") -> "LookupMany | None":
        """How the arch walk looks up its binaries: None = one after the other (libvirt)."""
        return None

    # -- the APIs that libvirt answers from virCaps ------------------------------------------
    def looks_up_every_emulator(self, api: str, flags: Sequence[str] | None = None) -> bool:
        """Whether the driver API `api` (with get_capabilities' `flags`) looks up every emulator:
        libvirt's build virCaps for get_capabilities, get_version and the security model. The
        daemon probes them before taking its lock, so a slow probe never holds other clients."""
        return api in ("get_capabilities", "get_version", "node_get_security_model")

    def get_version(self, driver: "DriverView") -> int:
        """libvirt 6.x-12.x: build (or reuse) full virCaps, just to find the host-arch guest."""
        caps = driver.capabilities()
        for g in caps.guests:
            if g.arch == driver.host_arch:
                return driver.cache.lookup(g.emulator).version
        return 0

    def security_model(self, driver: "DriverView") -> dict[str, str]:
        """libvirt reads the host's first <secmodel> out of virCaps."""
        m = driver.capabilities().host.sec_models[0]
        return {"model": m.model, "doi": m.doi}

    def capabilities_xml(self, driver: "DriverView", flags: Sequence[str] | None) -> str:
        """virConnectGetCapabilities: rebuilds everything. libvirt's API takes no flags, so
        `flags` (the parts a client may ask of the fine-grained designs, checked by the daemon)
        are ignored: the answer is the whole document, a superset of what was asked."""
        return driver.capabilities(refresh=True).to_xml()

    def sec_model(self, ctx: "ParseContext") -> str:
        """Default model for a <seclabel> without one (parse step 4)."""
        raise NotImplementedError

    def os_defaults(self, ctx: "ParseContext", d: "DomainDef", validate: bool) -> None:
        """Parse step 3: fill <os arch> (and, before the series, the machine)."""
        raise NotImplementedError

    def default_emulator(self, ctx: "ParseContext", d: "DomainDef") -> str:
        """Post-parse step 6: the emulator when the XML names none."""
        raise NotImplementedError

    def default_machine(self, ctx: "ParseContext", d: "DomainDef", caps: "QemuCaps") -> str | None:
        """Post-parse step 9: the machine when the XML (and step 3) left it empty."""
        raise NotImplementedError
