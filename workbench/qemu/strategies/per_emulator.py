"""After the series (libvirt >= 6.0): the parser gets a small config and the per-emulator cache.

Nothing is probed at startup. The arch defaults to the host's, the emulator comes from a PATH
search (ignoring the virt type), the machine from that emulator's own capabilities, and support
is checked at validate against that emulator only.
"""
from __future__ import annotations

from workbench.qemu.search import default_emulator
from workbench.qemu.strategies.base import ParseError, Strategy


class PerEmulator(Strategy):
    name = "per-emulator"
    description = "look up only the emulator each domain uses in the caps cache (after the series)"

    def sec_model(self, driver) -> str:
        return driver.def_sec_model

    def os_defaults(self, driver, d, validate: bool) -> None:
        d.os.arch = d.os.arch or driver.host_arch

    def default_emulator(self, driver, d) -> str:
        found = default_emulator(d.os.arch, driver.host_arch, driver.search_path)
        if found is None:
            raise ParseError(f"No emulator found for arch '{d.os.arch}'")
        return found

    def default_machine(self, driver, d, caps) -> str | None:
        m = caps.preferred_machine(d.virt_type)
        return m.name if m else None
