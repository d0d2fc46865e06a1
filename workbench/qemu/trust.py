"""Which emulators the driver may execute, and exactly which file that is.

A daemon client names an emulator (get_domain_capabilities' `emulator`, `<emulator>` in a
domain) and the driver then executes it as the daemon's user. The check answers with the one
path that is executed and that keys the capabilities cache, never the name as given: a client
swapping a symlink of its own between the check and the exec must not get its file run.

Two names are allowed, as libvirt follows links in its search path:
- an entry `qemu-system-*` of a search-path directory (the directory resolved, the entry itself
  not): the administrator's directory is trusted, links in it included (an install of links to
  the system's binaries, the form `validate` suggests). The identity is that entry;
- any path that resolves (symlinks, `..`) into a search-path directory, or to a file allowed
  with --allow-emulator: the identity is the resolved path, in which nothing is a link.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from workbench.errors import InvalidArgument
from workbench.qemu.search import RHEL_KVM, split_search_path

PREFIX = "qemu-system-"


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
        """The path to execute and to cache under, if running `emulator` is allowed;
        InvalidArgument otherwise."""
        if not isinstance(emulator, str) or not emulator or "\0" in emulator:
            raise InvalidArgument(f"invalid emulator {emulator!r}")
        parent, name = os.path.split(emulator)
        if name.startswith(PREFIX) and name not in (".", ".."):
            entry = os.path.join(os.path.realpath(parent or "."), name)
            if os.path.dirname(entry) in self._dirs:
                return entry
        real = os.path.realpath(emulator)
        if real in self._files or (os.path.dirname(real) in self._dirs
                                   and os.path.basename(real).startswith(PREFIX)):
            return real
        raise InvalidArgument(f"emulator '{emulator}' (resolves to '{real}') is not in the driver's "
                              "search path nor allowed with --allow-emulator")
