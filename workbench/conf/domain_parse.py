"""Domain XML parse: hardened lxml (no DTD subset, no entities, a size limit checked by stat
first), errors as FILE:LINE:COLUMN, typed records from the elements capabilities touch."""
from __future__ import annotations
import os
import uuid as _uuid
from pathlib import Path

from lxml import etree

from workbench import trace
from workbench.errors import XMLError

from workbench.conf.domain import (Address, AnyAddress, CPUDef, CPUFeature, CharDevDef, ControllerDef, DEFAULT_MAX_BYTES, DiskDef, DomainDef, Elem, GraphicsDef, InterfaceDef, OSDef, PCIAddress, Raw, SecLabel, VIRT_TYPES, xml_parser)
from workbench.conf.domain_format import (CHR_RANK, CPU_RANK, CTRL_RANK, DEV_RANK, DISK_RANK, NET_RANK, OS_RANK, SEC_RANK, TOP_RANK, sorted_raws)

# ---------------------------------------------------------------------------------------------
# Parsing

def _line_col(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    return line, offset - (data.rfind(b"\n", 0, offset) + 1) + 1


class _Ctx:
    """Per-parse state: where errors point, and whether raw elements must be unlinked."""

    __slots__ = ("source", "data", "unlink")

    def __init__(self, source: str, data: bytes, unlink: bool) -> None:
        self.source = source
        self.data = data
        self.unlink = unlink

    def fail(self, el: etree._Element, message: str) -> XMLError:
        line = el.sourceline or 1
        column = 1
        lines = self.data.split(b"\n")
        if isinstance(el.tag, str) and 0 < line <= len(lines):
            pos = lines[line - 1].find(b"<" + etree.QName(el).localname.encode())
            column = pos + 1 if pos >= 0 else 1
        return XMLError(self.source, line, column, message)

    def raw(self, el: etree._Element) -> Raw:
        if self.unlink:
            # Detached elements carry only the namespace declarations they use; left in place,
            # tostring would copy every xmlns of <domain> onto each of them.
            el.getparent().remove(el)
        return Raw(el)


def _prescan(data: bytes, source: str) -> None:
    """Refuse entity declarations and external DTDs before libxml2 sees a byte of them."""
    for needle, why in ((b"<!ENTITY", "entity declarations are not allowed"),
                        (b"<!DOCTYPE", None)):
        pos = data.find(needle)
        if pos < 0:
            continue
        if why is None:
            end = data.find(b">", pos)
            decl = data[pos:end if end >= 0 else len(data)]
            if b"SYSTEM" not in decl and b"PUBLIC" not in decl and b"[" not in decl:
                continue  # a bare <!DOCTYPE domain> is harmless
            why = "DOCTYPE with an external DTD or an internal subset is not allowed"
        line, col = _line_col(data, pos)
        raise XMLError(source, line, col, why)


def _parse_bytes(data: bytes, source: str) -> etree._Element:
    parser = xml_parser()
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as e:
        errs = [x for x in parser.error_log if x.level >= etree.ErrorLevels.ERROR]
        if errs:
            first = errs[0]
            raise XMLError(source, first.line, first.column, first.message.strip()) from None
        line, col = e.position
        raise XMLError(source, line, col, e.msg) from None
    return root


def _check_dtd(root: etree._Element, source: str) -> None:
    """Backstop for encodings the byte prescan cannot read (UTF-16/32)."""
    info = root.getroottree().docinfo
    dtd = info.internalDTD
    if info.system_url or info.public_id or (dtd is not None and any(dtd.iterentities())):
        raise XMLError(source, 1, 1, "DOCTYPE with entities or an external DTD is not allowed")
    for ent in root.iter(etree.Entity):
        raise XMLError(source, ent.sourceline or 1, 1,
                             f"entity reference &{ent.name}; is not allowed")


def parse_domain(xml: bytes | str, *, source: str = "<string>",
                 max_bytes: int = DEFAULT_MAX_BYTES) -> DomainDef:
    """Parse domain XML into a DomainDef; raise XMLError for anything refused."""
    with trace.span("domain.parse", source=source):
        if len(xml) > max_bytes:
            raise XMLError(source, 0, 0,
                                 f"document is {len(xml)} bytes, over the limit of {max_bytes}")
        data = xml.encode() if isinstance(xml, str) else xml
        if len(data) > max_bytes:
            raise XMLError(source, 0, 0,
                                 f"document is {len(data)} bytes, over the limit of {max_bytes}")
        _prescan(data, source)
        root = _parse_bytes(data, source)
        if b"<!DOCTYPE" in data or data[:1] in (b"\xff", b"\xfe", b"\x00") or data[1:2] == b"\x00":
            _check_dtd(root, source)
        ctx = _Ctx(source, data, bool(root.nsmap))
        d = _domain(ctx, root)
        d.source = source
        return d


def read_domain_file(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """A file's bytes, refused by its stat size before anything is read."""
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise XMLError(str(path), 0, 0,
                             f"file is {size} bytes, over the limit of {max_bytes}")
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)  # the file may have grown since stat
    if len(data) > max_bytes:
        raise XMLError(str(path), 0, 0, f"file grew over the limit of {max_bytes}")
    return data




def parse_domain_file(path: str | os.PathLike[str], *,
                      max_bytes: int = DEFAULT_MAX_BYTES) -> DomainDef:
    """Parse a file, refusing it by its stat size before reading anything."""
    data = read_domain_file(path, max_bytes=max_bytes)
    return parse_domain(data, source=str(path), max_bytes=max_bytes)


_UNITS = {"b": 1, "bytes": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1024**2, "mib": 1024**2,
          "mb": 1000**2, "g": 1024**3, "gib": 1024**3, "gb": 1000**3, "t": 1024**4,
          "tib": 1024**4, "tb": 1000**4, "p": 1024**5, "pib": 1024**5, "pb": 1000**5,
          "e": 1024**6, "eib": 1024**6, "eb": 1000**6}
_MAX_BYTES_VALUE = 2**64 - 1  # libvirt scales into an unsigned long long


def _memory_kib(ctx: _Ctx, el: etree._Element) -> int:
    text = (el.text or "").strip()
    if not (text.isascii() and text.isdigit()):
        raise ctx.fail(el, f"invalid value '{text}' for <{el.tag}>: expected an unsigned integer")
    unit = el.get("unit")
    scale = 1024 if unit is None else _UNITS.get(unit.lower())
    if scale is None:
        raise ctx.fail(el, f"unknown unit '{unit}' for <{el.tag}>")
    value = int(text) * scale
    if value > _MAX_BYTES_VALUE:
        raise ctx.fail(el, f"value '{text}' for <{el.tag}> is too large")
    return -(-value // 1024)  # libvirt rounds up to whole KiB


def _int(ctx: _Ctx, el: etree._Element, value: str, what: str) -> int:
    v = value.strip()
    if v.isascii() and v.isdigit():
        return int(v)
    raise ctx.fail(el, f"invalid {what} '{value}': expected an unsigned integer")


def _elem(ctx: _Ctx, el: etree._Element) -> Elem:
    text = el.text
    if text is not None and not text.strip():
        text = None
    kids = [ctx.raw(c) for c in list(el)] if len(el) else []
    return Elem(dict(el.attrib), text, kids)


def _pci_int(ctx: _Ctx, el: etree._Element, name: str, limit: int) -> int:
    v = el.get(name)
    if v is None:
        return 0
    s = v.strip().lower()
    try:
        n = int(s, 16) if s.startswith("0x") else int(s, 10)
    except ValueError:
        n = -1
    if not 0 <= n <= limit:
        raise ctx.fail(el, f"invalid PCI address {name} '{v}'")
    return n


_PCI_ATTRS = frozenset({"type", "domain", "bus", "slot", "function", "multifunction"})


def _address(ctx: _Ctx, el: etree._Element) -> AnyAddress:
    a = dict(el.attrib)
    if a.get("type") == "pci" and not len(el) and _PCI_ATTRS.issuperset(a):
        return PCIAddress(_pci_int(ctx, el, "domain", 0xFFFF), _pci_int(ctx, el, "bus", 0xFF),
                          _pci_int(ctx, el, "slot", 0x1F), _pci_int(ctx, el, "function", 7),
                          a.get("multifunction"))
    t = a.pop("type", None)
    return Address(t, a, [ctx.raw(c) for c in list(el)])


def _os(ctx: _Ctx, el: etree._Element) -> OSDef:
    o = OSDef(extra_attrs=dict(el.attrib))
    for c in list(el):
        tag = c.tag
        if tag == "type" and o.type is None:
            o.type = (c.text or "").strip()
            o.arch = c.get("arch")
            o.machine = c.get("machine")
        elif tag == "boot" and len(c.attrib) == 1 and "dev" in c.attrib and not len(c):
            o.boot.append(c.get("dev"))
        elif tag == "loader" and o.loader is None:
            o.loader = _elem(ctx, c)
        elif tag == "nvram" and o.nvram is None:
            o.nvram = _elem(ctx, c)
        else:
            o.extra.append(ctx.raw(c))
    if not o.type:
        raise ctx.fail(el, "an os <type> must be specified")
    sorted_raws(o.extra, OS_RANK)
    return o


def _features(ctx: _Ctx, el: etree._Element, d: DomainDef) -> None:
    feats: dict[str, Elem] = {}
    for c in list(el):
        tag = c.tag
        if isinstance(tag, str) and tag[0] != "{" and tag not in feats:
            feats[tag] = _elem(ctx, c)
        else:
            d.features_extra.append(ctx.raw(c))
    d.features = feats


def _cpu(ctx: _Ctx, el: etree._Element) -> CPUDef:
    a = dict(el.attrib)
    cpu = CPUDef(a.pop("mode", None), a.pop("match", None), a.pop("check", None), extra_attrs=a)
    seen_model = False
    for c in list(el):
        tag = c.tag
        if tag == "model" and not seen_model and not len(c) and set(c.attrib) <= {"fallback", "vendor_id"}:
            seen_model = True
            cpu.model = c.text
            cpu.model_fallback = c.get("fallback")
            cpu.model_vendor_id = c.get("vendor_id")
        elif tag == "vendor" and cpu.vendor is None and not len(c) and not c.attrib:
            cpu.vendor = c.text or ""
        elif tag == "topology" and cpu.topology is None and not len(c):
            cpu.topology = dict(c.attrib)
        elif tag == "feature" and not len(c) and set(c.attrib) <= {"name", "policy"} and c.get("name"):
            cpu.features.append(CPUFeature(c.get("name"), c.get("policy")))
        else:
            cpu.extra.append(ctx.raw(c))
    sorted_raws(cpu.extra, CPU_RANK)
    return cpu


def _seclabel(ctx: _Ctx, el: etree._Element) -> SecLabel:
    a = dict(el.attrib)
    s = SecLabel(a.pop("type", None), a.pop("model", None), a.pop("relabel", None), extra_attrs=a)
    for c in list(el):
        tag = c.tag
        if tag in ("label", "imagelabel", "baselabel") and getattr(s, tag) is None and not len(c) and not c.attrib:
            setattr(s, tag, c.text or "")
        else:
            s.extra.append(ctx.raw(c))
    sorted_raws(s.extra, SEC_RANK)
    return s


def _disk(ctx: _Ctx, el: etree._Element) -> DiskDef:
    a = dict(el.attrib)
    dk = DiskDef(a.pop("type", None), a.pop("device", None), extra_attrs=a)
    for c in list(el):
        tag = c.tag
        if tag == "source" and dk.source is None:
            dk.source = _elem(ctx, c)
        elif tag == "target" and dk.target is None:
            dk.target = _elem(ctx, c)
        elif tag == "driver" and dk.driver is None:
            dk.driver = _elem(ctx, c)
        elif tag == "address" and dk.address is None:
            dk.address = _address(ctx, c)
        else:
            dk.extra.append(ctx.raw(c))
    sorted_raws(dk.extra, DISK_RANK)
    return dk


def _interface(ctx: _Ctx, el: etree._Element) -> InterfaceDef:
    a = dict(el.attrib)
    n = InterfaceDef(a.pop("type", None), extra_attrs=a)
    for c in list(el):
        tag = c.tag
        if tag in ("mac", "source", "target", "model") and getattr(n, tag) is None:
            setattr(n, tag, _elem(ctx, c))
        elif tag == "address" and n.address is None:
            n.address = _address(ctx, c)
        else:
            n.extra.append(ctx.raw(c))
    sorted_raws(n.extra, NET_RANK)
    return n


def _controller(ctx: _Ctx, el: etree._Element) -> ControllerDef:
    a = dict(el.attrib)
    idx = a.pop("index", None)
    ct = ControllerDef(a.pop("type", None), None if idx is None else _int(ctx, el, idx, "controller index"),
                       a.pop("model", None), extra_attrs=a)
    for c in list(el):
        if c.tag == "address" and ct.address is None:
            ct.address = _address(ctx, c)
        else:
            ct.extra.append(ctx.raw(c))
    sorted_raws(ct.extra, CTRL_RANK)
    return ct


def _chardev(ctx: _Ctx, el: etree._Element) -> CharDevDef:
    a = dict(el.attrib)
    ch = CharDevDef(a.pop("type", None), extra_attrs=a)
    for c in list(el):
        tag = c.tag
        if tag == "source" and ch.source is None:
            ch.source = _elem(ctx, c)
        elif tag == "target" and ch.target is None:
            ch.target = _elem(ctx, c)
        elif tag == "address" and ch.address is None:
            ch.address = _address(ctx, c)
        else:
            ch.extra.append(ctx.raw(c))
    sorted_raws(ch.extra, CHR_RANK)
    return ch


def _graphics(ctx: _Ctx, el: etree._Element) -> GraphicsDef:
    a = dict(el.attrib)
    return GraphicsDef(a.pop("type", None), a, [ctx.raw(c) for c in list(el)])


MAX_DEVICES = 4096  # far above any real guest; a 300k-device domain held the driver lock 16 s


def _devices(ctx: _Ctx, el: etree._Element, d: DomainDef) -> None:
    if len(el) > MAX_DEVICES:
        raise ctx.fail(el, f"<devices> has {len(el)} children, over the limit of {MAX_DEVICES}")
    for c in list(el):
        tag = c.tag
        if tag == "disk":
            d.disks.append(_disk(ctx, c))
        elif tag == "interface":
            d.interfaces.append(_interface(ctx, c))
        elif tag == "controller":
            d.controllers.append(_controller(ctx, c))
        elif tag == "serial":
            d.serials.append(_chardev(ctx, c))
        elif tag == "console":
            d.consoles.append(_chardev(ctx, c))
        elif tag == "channel":
            d.channels.append(_chardev(ctx, c))
        elif tag == "graphics":
            d.graphics.append(_graphics(ctx, c))
        elif tag == "emulator" and d.emulator is None and not len(c) and not c.attrib:
            d.emulator = c.text or ""
        else:
            d.devices_extra.append(ctx.raw(c))
    sorted_raws(d.devices_extra, DEV_RANK)


def _domain(ctx: _Ctx, root: etree._Element) -> DomainDef:
    if root.tag != "domain":
        raise ctx.fail(root, f"expected root element <domain>, found <{root.tag}>")
    a = dict(root.attrib)
    virt_type = a.pop("type", None)
    if virt_type is None:
        raise ctx.fail(root, "missing domain type attribute")
    if virt_type not in VIRT_TYPES:
        raise ctx.fail(root, f"unknown domain type '{virt_type}'")
    dom_id = a.pop("id", None)
    d = DomainDef(virt_type, "", extra_attrs=a,
                  namespaces={k: v for k, v in root.nsmap.items() if k is not None})
    if dom_id is not None:
        d.id = _int(ctx, root, dom_id, "domain id")
    have_name = have_os = have_vcpu = False
    for c in list(root):
        tag = c.tag
        if tag == "name" and not have_name:
            have_name = True
            d.name = c.text or ""
            if not d.name.strip():
                raise ctx.fail(c, "missing domain name")
            if "/" in d.name:
                raise ctx.fail(c, f"name '{d.name}' must not contain '/'")
            if d.name.startswith("."):  # its config file would be hidden, skipped at the next start
                raise ctx.fail(c, f"name '{d.name}' must not start with '.'")
        elif tag == "uuid" and d.uuid is None:
            try:
                d.uuid = str(_uuid.UUID((c.text or "").strip()))
            except ValueError:
                raise ctx.fail(c, f"malformed uuid '{c.text}'") from None
        elif tag == "memory" and d.memory_kib is None and set(c.attrib) <= {"unit", "dumpCore"}:
            d.memory_kib = _memory_kib(ctx, c)
            d.memory_dump_core = c.get("dumpCore")
        elif tag == "currentMemory" and d.current_memory_kib is None and set(c.attrib) <= {"unit"}:
            d.current_memory_kib = _memory_kib(ctx, c)
        elif tag == "vcpu" and not have_vcpu:
            have_vcpu = True
            d.vcpus = _int(ctx, c, c.text or "", "vcpu count")
            d.vcpu_attrs = dict(c.attrib)
        elif tag == "os" and not have_os:
            have_os = True
            d.os = _os(ctx, c)
        elif tag == "features" and d.features is None and not c.attrib:
            _features(ctx, c, d)
        elif tag == "cpu" and d.cpu is None:
            d.cpu = _cpu(ctx, c)
        elif tag == "seclabel":
            d.seclabels.append(_seclabel(ctx, c))
        elif tag == "devices" and not c.attrib:
            _devices(ctx, c, d)
        else:
            d.extra.append(ctx.raw(c))
    if not have_name:
        raise ctx.fail(root, "missing <name> element")
    if not have_os:
        raise ctx.fail(root, "an os <type> must be specified")
    sorted_raws(d.extra, TOP_RANK)
    return d




def parse_address(source: str, el: etree._Element) -> AnyAddress:
    """An <address> element of an already parsed document (post-parse reads raw devices' ones)."""
    return _address(_Ctx(source, b"", False), el)
