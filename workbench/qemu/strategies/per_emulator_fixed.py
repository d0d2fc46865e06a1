"""Per-emulator with the series' leftovers fixed: no API builds virCaps unless it returns it.

- get_version: the version of the host-arch default emulator, from its own cache entry (one
  lookup), where libvirt builds the whole virCaps to find that same emulator. Same answer: 0
  when no host-arch emulator is found or its probe fails (virCaps then has no host-arch guest).
- node_get_security_model: from the security drivers the daemon was configured with, which is
  where virCaps' <secmodel> comes from in the first place.
- get_capabilities(flags): builds only the parts asked (host_api's designs): host parts only,
  no emulator probed, when "guests" is not asked; everything when no flags are given.
The parse path is per-emulator's, unchanged.
"""
from __future__ import annotations

from typing import Sequence

from lxml import etree

from workbench.errors import ProbeError
from workbench.qemu.capabilities import Capabilities, build_guests
from workbench.qemu.search import default_emulator
from workbench.qemu.strategies.base import DriverView
from workbench.qemu.strategies.per_emulator import PerEmulator


class PerEmulatorFixed(PerEmulator):
    name = "per-emulator-fixed"
    description = "per-emulator; get_version, security model and get_capabilities(flags) without full virCaps"

    def looks_up_every_emulator(self, api: str, flags: Sequence[str] | None = None) -> bool:
        # get_version and the security model find the one emulator they need, or none; the
        # capabilities only the guests need emulators
        return api == "get_capabilities" and (flags is None or (isinstance(flags, list) and "guests" in flags))

    def get_version(self, driver) -> int:
        binary = default_emulator(driver.host_arch, driver.host_arch, driver.search_path)
        if binary is None:
            return 0
        try:
            return driver.lookup(binary).version
        except ProbeError:
            return 0

    def security_model(self, driver) -> dict[str, str]:
        model, doi, _labels = driver.options.sec_models[0]
        return {"model": model, "doi": doi}

    def capabilities_xml(self, driver: DriverView, flags: Sequence[str] | None) -> str:
        if flags is None:
            return super().capabilities_xml(driver, flags)
        from workbench.qemu.designs.host_api import HostApi, capabilities_parts  # only when asked

        parts = capabilities_parts(flags)  # raises InvalidArgument naming a bad flag

        host_parts = tuple(p for p in parts if p != "guests")
        host = etree.fromstring(HostApi(driver).host_xml(host_parts, memo=False)) if host_parts else None
        guests = []
        if "guests" in parts:
            guests, _ = build_guests(driver.cache, driver.host_arch, driver.search_path,
                                     self.lookup_many(driver))
        xml = Capabilities(None, driver.host_arch, guests).to_xml()
        if host is None:
            return xml
        root = etree.fromstring(xml)
        root.insert(0, host)
        return etree.tostring(root, pretty_print=True, encoding="unicode")
