"""QMP replies checked before the probe uses them.

An emulator is untrusted input: every reply the probe reads is checked against the shape the
probe expects (types, ranges, arch names), and a violation is a ProbeError naming the binary,
the command and the field. Replies the probe only counts (schema, tpm, ...) pass unchecked.
"""
from __future__ import annotations

import re
from typing import Any

from workbench.errors import ProbeError

MAX_VERSION_PART = 9999     # QEMU's major/minor/micro are small numbers
_ARCH = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")
_NAME_MAX = 1024
# Characters XML 1.0 cannot hold (C0 controls but tab/newline/return, lone surrogates, the two
# non-characters): a name holding one would fail later, when the cache or an API writes XML.
_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_Spec = Any  # type | ("list", spec) | ("dict", {field: (spec, required)})


def _str(binary: str, cmd: str, field: str, v: Any) -> None:
    if not isinstance(v, str) or len(v) > _NAME_MAX:
        raise ProbeError(binary, cmd, f"malformed reply: {field} must be a string, got {_show(v)}")
    _xml_safe(binary, cmd, field, v)


def _xml_safe(binary: str, cmd: str, field: str, v: str) -> None:
    bad = _XML_UNSAFE.search(v)
    if bad is not None:
        raise ProbeError(binary, cmd, f"malformed reply: {field} holds {bad.group()!a}, which XML "
                                      f"cannot carry: {ascii(v)[:60]}")


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _fields(binary: str, cmd: str, where: str, v: Any, fields: dict[str, tuple[type, bool]]) -> None:
    if not isinstance(v, dict):
        raise ProbeError(binary, cmd, f"malformed reply: {where} must be an object, got {_show(v)}")
    for name, (kind, required) in fields.items():
        if name not in v:
            if required:
                raise ProbeError(binary, cmd, f"malformed reply: {where}.{name} missing")
            continue
        x = v[name]
        ok = isinstance(x, kind) and not (kind is int and isinstance(x, bool))
        if kind is str and ok and len(x) > _NAME_MAX:
            ok = False
        if kind is int and ok and not 0 <= x <= 1 << 32:
            ok = False
        if not ok:
            raise ProbeError(binary, cmd, f"malformed reply: {where}.{name} must be {kind.__name__}, got {_show(x)}")
        if kind is str:
            _xml_safe(binary, cmd, f"{where}.{name}", x)


def _list_of(binary: str, cmd: str, v: Any, fields: dict[str, tuple[type, bool]]) -> None:
    if not isinstance(v, list):
        raise ProbeError(binary, cmd, f"malformed reply: must be a list, got {_show(v)}")
    for i, item in enumerate(v):
        _fields(binary, cmd, f"[{i}]", item, fields)


_NAMED = {"name": (str, True)}
_MACHINE = {"name": (str, True), "alias": (str, False), "is-default": (bool, False),
            "cpu-max": (int, False), "hotpluggable-cpus": (bool, False), "default-cpu-type": (str, False)}
_CPU = {"name": (str, True), "typename": (str, False), "unavailable-features": (list, False)}


def check_reply(binary: str, cmd: str, ret: Any) -> None:
    """Raise ProbeError(binary, cmd, ...) unless `ret` has the shape the probe relies on."""
    if cmd == "query-version":
        _fields(binary, cmd, "return", ret, {"qemu": (dict, True), "package": (str, False)})
        _fields(binary, cmd, "qemu", ret["qemu"], {k: (int, True) for k in ("major", "minor", "micro")})
        for k in ("major", "minor", "micro"):
            if ret["qemu"][k] > MAX_VERSION_PART:
                raise ProbeError(binary, cmd, f"malformed reply: qemu.{k} = {_show(ret['qemu'][k])} is out of range")
    elif cmd == "query-target":
        _fields(binary, cmd, "return", ret, {"arch": (str, True)})
        if not _ARCH.match(ret["arch"]):
            raise ProbeError(binary, cmd, f"malformed reply: arch {_show(ret['arch'])} is not an architecture name")
    elif cmd == "query-kvm":
        _fields(binary, cmd, "return", ret, {"enabled": (bool, True), "present": (bool, True)})
    elif cmd in ("query-commands", "qom-list-types", "device-list-properties"):
        _list_of(binary, cmd, ret, _NAMED)
    elif cmd == "query-machines":
        _list_of(binary, cmd, ret, _MACHINE)
    elif cmd == "query-cpu-definitions":
        _list_of(binary, cmd, ret, _CPU)
        for i, c in enumerate(ret):
            for f in c.get("unavailable-features") or ():
                _str(binary, cmd, f"[{i}].unavailable-features[]", f)
    elif cmd == "query-gic-capabilities":
        _list_of(binary, cmd, ret, {})
    elif cmd == "query-sev-capabilities":
        _fields(binary, cmd, "return", ret, {})
    elif cmd == "query-cpu-model-expansion":
        _fields(binary, cmd, "return", ret, {"model": (dict, True)})
        _fields(binary, cmd, "model", ret["model"], {"name": (str, True)})
