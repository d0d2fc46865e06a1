"""libvirt 9.0's own capability flag names, read from its source (src/qemu/qemu_capabilities.c).

The oracle check compares the flags the workbench derives with the ones libvirt's `caps_*.xml`
holds under libvirt's names. The names, and which QMP command or QOM type sets which flag, are
libvirt's own tables: the string list `VIR_ENUM_IMPL(virQEMUCaps, ...)` (each string followed by
a comment naming its enum constant; constants prefixed X_ are retired and never set) and the
`virQEMUCapsCommands[]` and `virQEMUCapsObjectTypes[]` tables ({"name", QEMU_CAPS_X}).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import UsageError

_ENUM_STRING = re.compile(r'"([^"]+)",\s*/\*\s*(X?_?QEMU_CAPS_[A-Z0-9_]+)\s*\*/')
_TABLE_ROW = re.compile(r'\{\s*"([^"]+)",\s*(QEMU_CAPS_[A-Z0-9_]+)\s*\}')


@dataclass
class FlagTables:
    names: dict[str, str] = field(default_factory=dict)     # QEMU_CAPS_X -> "flag-name"
    retired: set[str] = field(default_factory=set)          # X_ flags' names
    commands: dict[str, str] = field(default_factory=dict)  # QMP command -> flag name
    types: dict[str, str] = field(default_factory=dict)     # QOM type -> flag name

    @property
    def live(self) -> set[str]:
        """libvirt 9.0's flags that can still be set (X_ ones are retired)."""
        return set(self.names.values()) - self.retired


def read(libvirt_src: Path) -> FlagTables:
    """The tables from a libvirt source tree (the directory holding src/ and tests/)."""
    path = Path(libvirt_src) / "src" / "qemu" / "qemu_capabilities.c"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read libvirt's flag tables: {e}") from None
    t = FlagTables()
    enum = _block(path, text, "VIR_ENUM_IMPL(virQEMUCaps,")
    for name, const in _ENUM_STRING.findall(enum):
        t.names[const.removeprefix("X_")] = name
        if const.startswith("X_"):
            t.retired.add(name)
    for table, into in (("virQEMUCapsCommands[] = {", t.commands),
                        ("virQEMUCapsObjectTypes[] = {", t.types)):
        for qmp_name, const in _TABLE_ROW.findall(_block(path, text, table)):
            if const in t.names:
                into[qmp_name] = t.names[const]
    if len(t.names) < 100 or not t.commands or not t.types:
        raise UsageError(f"{path}: libvirt's flag tables not found where expected")
    return t


def _block(path: Path, text: str, start: str) -> str:
    i = text.find(start)
    if i < 0:
        raise UsageError(f"{path}: no {start!r}")
    j = text.find(");" if start.startswith("VIR_ENUM") else "};", i)
    return text[i:j]


def as_libvirt(flags: frozenset[str] | set[str], tables: FlagTables) -> set[str]:
    """The workbench's flags (`cmd.X`, `type.Y`, `kvm`, `tcg`) under libvirt's names; flags
    libvirt has no name for are left out."""
    out = set()
    for f in flags:
        kind, _, name = f.partition(".")
        if kind == "cmd" and name in tables.commands:
            out.add(tables.commands[name])
        elif kind == "type" and name in tables.types:
            out.add(tables.types[name])
        elif f in ("kvm", "tcg"):
            out.add(f)
    return out - tables.retired


def derivable(command_flags: tuple[str, ...], type_flags: tuple[str, ...],
              tables: FlagTables) -> set[str]:
    """libvirt's live flags the workbench derives at all (from its command and type lists)."""
    flags = {f"cmd.{c}" for c in command_flags} | {f"type.{t}" for t in type_flags} | {"kvm", "tcg"}
    return as_libvirt(flags, tables)
