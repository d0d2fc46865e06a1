"""Which emulators the driver may execute: only those on its search path, or allow-listed.

A daemon client names an emulator (get_domain_capabilities' `emulator`, `<emulator>` in a
domain) and the driver then executes it as the daemon's user. So the path is resolved
(symlinks, `..`) and must land in a search-path directory or be on the explicit allow-list.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from workbench.errors import InvalidArgument
from workbench.qemu.search import RHEL_KVM, split_search_path


@dataclass(frozen=True)
class EmulatorPolicy:
    search_path: str | None
    allowed: tuple[str, ...] = ()
    _dirs: frozenset[str] = field(init=False, default=frozenset())
    _files: frozenset[str] = field(init=False, default=frozenset())

    def __post_init__(self) -> None:
        object.__setattr__(self, "_dirs", frozenset(os.path.realpath(d) for d in split_search_path(self.search_path)))
        object.__setattr__(self, "_files", frozenset(os.path.realpath(p) for p in (*self.allowed, RHEL_KVM)))

    def check(self, emulator: str) -> str:
        """The emulator as given, if executing it is allowed; InvalidArgument otherwise."""
        if not isinstance(emulator, str) or not emulator or "\0" in emulator:
            raise InvalidArgument(f"invalid emulator {emulator!r}")
        real = os.path.realpath(emulator)
        if real in self._files or (os.path.dirname(real) in self._dirs
                                   and os.path.basename(real).startswith("qemu-system-")):
            return emulator
        raise InvalidArgument(f"emulator '{emulator}' (resolves to '{real}') is not in the driver's "
                              "search path nor allowed with --allow-emulator")
