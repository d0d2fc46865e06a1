"""What the parse path is handed: libvirt's xmlopt plus its parse opaque, not the driver.

The 2019 series replaced the virCaps parameter of the domain XML APIs with this small, fixed
set of inputs. Built once at the end of driver startup; frozen, so the parse path cannot reach
into the driver. `capabilities` is there only for strategies that keep the whole virCaps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol

if TYPE_CHECKING:
    from workbench.conf.domain import DomainDef
    from workbench.qemu.capabilities import Capabilities
    from workbench.qemu.capsdata import QemuCaps


class ParseHooks(Protocol):
    """The places in the parse path where the 2019 series changed the code: all the parse path
    asks of a strategy (every Strategy is one)."""

    def sec_model(self, ctx: "ParseContext") -> str: ...

    def os_defaults(self, ctx: "ParseContext", d: "DomainDef", validate: bool) -> None: ...

    def default_emulator(self, ctx: "ParseContext", d: "DomainDef") -> str: ...

    def default_machine(self, ctx: "ParseContext", d: "DomainDef", caps: "QemuCaps") -> str | None: ...


@dataclass(frozen=True)
class ParseContext:
    strategy: ParseHooks
    lookup: Callable[[str], "QemuCaps"]     # the per-emulator caps cache (may probe)
    host_arch: str
    search_path: str                        # where emulators are found (an install dir, $PATH)
    def_sec_model: str                      # the first security driver's model
    capabilities: Callable[[], "Capabilities"] | None = None  # full virCaps, if the strategy keeps it
