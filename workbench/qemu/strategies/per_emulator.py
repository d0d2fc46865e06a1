"""After the series (libvirt >= 6.0): the parser gets a small config and the per-emulator cache.

Nothing is probed at startup. The arch defaults to the host's, the emulator comes from a PATH
search (ignoring the virt type), the machine from that emulator's own capabilities, and support
is checked at validate against that emulator only.
"""
from __future__ import annotations

from workbench.errors import ParseError
from workbench.qemu.search import default_emulator
from workbench.qemu.strategies.base import Strategy
from workbench.qemu.strategy_names import PER_EMULATOR


class PerEmulator(Strategy):
    name = PER_EMULATOR
    description = "look up only the emulator each domain uses in the caps cache (after the series)"

    def sec_model(self, ctx) -> str:
        return ctx.def_sec_model

    def os_defaults(self, ctx, d, validate: bool) -> None:
        d.os.arch = d.os.arch or ctx.host_arch

    def default_emulator(self, ctx, d) -> str:
        found = default_emulator(d.os.arch, ctx.host_arch, ctx.search_path)
        if found is None:
            raise ParseError(f"No emulator found for arch '{d.os.arch}'")
        return found

    def default_machine(self, ctx, d, caps) -> str | None:
        m = caps.preferred_machine(d.virt_type)
        return m.name if m else None
