"""The QEMU driver's domain XML parse path: parse, post-parse, validate, format.

Steps are numbered as in libvirt-capabilities.md section (d). The strategy is consulted at
exactly the steps the 2019 series changed (3, 4, 6, 9); everything else is shared. Each phase
is one trace span ("parse", "post-parse", "validate", "format"); no per-element spans.
"""
from __future__ import annotations

from workbench import trace
from workbench.conf.arch import LIBVIRT_ARCHES
from workbench.conf.domain import DomainDef
from workbench.conf.domain_format import format_domain
from workbench.conf.domain_parse import parse_domain
from workbench.conf.domain_postparse import (assign_controller_indexes, assign_pci_addresses,
                                             clear_auto_ifnames, fill_seclabel_model)
from workbench.errors import ParseError, ProbeError, ValidateError
from workbench.qemu.context import ParseContext

_KNOWN_ARCHES = frozenset(LIBVIRT_ARCHES)
# Arches an emulator serves besides its own (virQEMUCapsIsArchSupported).
_ALSO_SERVES = {"x86_64": {"i686"}, "aarch64": {"armv7l"}, "ppc64": {"ppc64le"}}
_PCI_ARCHES = {"x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "riscv64", "riscv32",
               "mips", "mipsel", "mips64", "mips64el", "alpha", "sparc64"}


def parse_domain_xml(ctx: ParseContext, xml: bytes | str, *, source: str = "<string>",
                     validate: bool = True, allow_post_parse_fail: bool = False) -> DomainDef:
    """Parse and post-parse (and validate, unless told not to) one domain definition."""
    strategy = ctx.strategy
    with trace.span("parse", source=source):
        d = parse_domain(xml, source=source)                        # steps 1-2
        if d.os.arch and d.os.arch not in _KNOWN_ARCHES:            # virArchFromString
            raise ParseError(f"Unknown architecture {d.os.arch}")
        strategy.os_defaults(ctx, d, validate)                   # step 3
        fill_seclabel_model(d, strategy.sec_model(ctx))          # step 4
        clear_auto_ifnames(d, net_prefix=None)                      # step 5 (QEMU: no prefix)
    with trace.span("post-parse", source=source):
        post_parse(ctx, d, allow_post_parse_fail)
    if validate:
        with trace.span("validate", source=source):
            validate_domain(ctx, d)
    return d


def post_parse(ctx: ParseContext, d: DomainDef, allow_fail: bool) -> None:
    if not d.emulator:                                              # step 6
        d.emulator = ctx.strategy.default_emulator(ctx, d)
    try:
        caps = ctx.lookup(d.emulator)                               # step 7: data-alloc
    except ProbeError as e:
        if allow_fail:  # startup: keep the domain, redo post-parse at start (postParseFailed)
            d.post_parse_failed = True
            return
        raise ParseError(str(e)) from None
    assign_controller_indexes(d)                                    # step 8
    machine = d.os.machine or ctx.strategy.default_machine(ctx, d, caps)  # step 9
    if not machine:
        raise ParseError("missing machine type")
    d.os.machine = caps.canonical_machine(d.virt_type, machine) or machine
    if d.os.arch in _PCI_ARCHES:                                    # step 11
        assign_pci_addresses(d)


def validate_domain(ctx: ParseContext, d: DomainDef) -> None:
    """Step 12-13: check the domain against its own emulator's capabilities."""
    caps = ctx.lookup(d.emulator)
    if d.os.type != "hvm":
        raise ValidateError(f"Emulator '{d.emulator}' does not support os type '{d.os.type}'")
    if d.os.arch != caps.arch and d.os.arch not in _ALSO_SERVES.get(caps.arch, ()):
        raise ValidateError(f"Emulator '{d.emulator}' does not support arch '{d.os.arch}'")
    if not caps.supports_virt_type(d.virt_type):
        raise ValidateError(f"Emulator '{d.emulator}' does not support virt type '{d.virt_type}'")
    if caps.machine(d.virt_type, d.os.machine) is None:
        raise ValidateError(f"Emulator '{d.emulator}' does not support machine type '{d.os.machine}'")
    cpu = d.cpu
    if cpu is not None and cpu.model and cpu.mode in (None, "custom"):
        if cpu.model not in caps.cpu_model_names(d.virt_type):
            raise ValidateError(f"CPU model '{cpu.model}' is not supported by '{d.emulator}'")
    for _ in range(device_count(d)):                                # step 13: one lookup each
        ctx.lookup(d.emulator)


def device_count(d: DomainDef) -> int:
    return len(d.devices)


def format_domain_xml(d: DomainDef) -> str:
    with trace.span("format"):
        return format_domain(d)
