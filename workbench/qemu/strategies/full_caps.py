"""Before the series (libvirt <= 5.10): the parser is handed the whole virCaps object.

Startup probes every emulator found by the arch walk to build it. Defaults come from virCaps:
the arch and machine from the default emulator *for that arch*, whatever <emulator> says, and
(ostype, arch, virt type) is checked at parse time, so kvm for a foreign arch fails there.
"""
from __future__ import annotations

from workbench.errors import CapsLookupError, ParseError
from workbench.qemu.strategies.base import Strategy
from workbench.qemu.strategy_names import FULL_CAPS


class FullCaps(Strategy):
    name = FULL_CAPS
    description = "build virCaps at startup by probing every emulator (before the series)"
    keeps_full_caps = True
    staleness = ("virCaps is built once and reused by the parse path and get_version until a "
                 "get_capabilities rebuilds it: an emulator changed meanwhile is not seen")

    def on_startup(self, driver) -> None:
        driver.capabilities(refresh=True)

    def sec_model(self, ctx) -> str:
        return ctx.capabilities().host.sec_models[0].model

    def os_defaults(self, ctx, d, validate: bool) -> None:
        try:
            guest, machine = ctx.capabilities().domain_data_lookup(
                d.os.type, d.os.arch, d.virt_type, None, d.os.machine)
        except CapsLookupError as e:
            if validate:
                raise ParseError(str(e)) from None
            return
        d.os.arch = d.os.arch or guest.arch
        d.os.machine = d.os.machine or machine

    def default_emulator(self, ctx, d) -> str:
        try:
            guest, _ = ctx.capabilities().domain_data_lookup(d.os.type, d.os.arch, d.virt_type)
        except CapsLookupError as e:
            raise ParseError(str(e)) from None
        return guest.emulator

    def default_machine(self, ctx, d, caps) -> str | None:
        return None  # step 3 filled it from virCaps; libvirt 5.6 errored "missing machine type"
