"""What a capabilities strategy decides: the places where libvirt's 2019 series changed the code.

Everything else in the driver and the parse path is shared. A new strategy (parallel probing,
background warm-up, a prebuilt cache) is one new module in this package defining a subclass
with a `name`; it then shows up in the CLI, the benchmarks and the notebooks.

The parse-path hooks take the frozen ParseContext, never the driver; only `on_startup` sees the
driver, because startup is the driver's own work.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from workbench.conf.domain import DomainDef
    from workbench.qemu.capsdata import QemuCaps
    from workbench.qemu.context import ParseContext
    from workbench.qemu.driver import QemuDriver


class Strategy:
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    keeps_full_caps: ClassVar[bool] = False  # the parse context then carries virCaps

    def on_startup(self, driver: "QemuDriver") -> None:
        """Extra driver-startup work (full caps: build virCaps by probing every emulator)."""

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
