"""Probe one emulator with libvirt 9.0's QMP sequence (virQEMUCapsInitQMPMonitor and ...TCG).

Launch #1 uses accel=kvm:tcg; if it reports KVM and the binary has TCG, launch #2 (accel=tcg)
asks again for what differs under TCG (CPU models, host-model expansion, machines). Each step
has a time limit; every launch ends with the teardown `teardown` names (qemu/teardown.py: by
default libvirt 9.0's SIGTERM and 200 ms existence checks) and its private directory removed.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from workbench import trace
from workbench.conf.arch import arch_from_qemu
from workbench.qemu import process
from workbench.qemu.teardown import DEFAULT_MODE as DEFAULT_TEARDOWN
from workbench.qemu.capsdata import SELF_VERSION, CpuModel, Machine, QemuCaps
from workbench.errors import ProbeError
from workbench.qemu import hostfacts
from workbench.qemu.hostfacts import kernel_version, microcode_version
from workbench.qemu.phases import CommandTiming, LaunchPhases
from workbench.qemu.replycheck import check_reply
from workbench.qmp import QmpExchange, QMPSession, Reply


# Commands whose presence libvirt records as a flag (a subset of virQEMUCapsCommands).
COMMAND_FLAGS = (
    "query-vnc", "query-spice", "query-cpu-definitions", "query-named-block-nodes",
    "query-iothreads", "query-hotpluggable-cpus", "query-qmp-schema",
    "query-cpu-model-expansion", "query-cpu-model-baseline", "query-cpu-model-comparison",
    "query-sev-capabilities", "query-display-options", "blockdev-reopen", "set-action",
    "query-dirty-rate", "calc-dirty-rate", "query-stats", "query-sgx-capabilities",
    "query-gic-capabilities", "query-tpm-models", "query-migrate-capabilities",
    "query-command-line-options", "system_wakeup", "transaction", "blockdev-add",
)

# QOM types whose presence libvirt records as a flag (a subset of virQEMUCapsObjectTypes).
TYPE_FLAGS = (
    "virtio-blk-pci", "virtio-net-pci", "virtio-scsi-pci", "virtio-blk-ccw", "virtio-net-ccw",
    "virtio-scsi-ccw", "virtio-blk-device", "virtio-net-device", "virtio-scsi-device",
    "virtio-serial-pci", "virtio-serial-device", "virtio-balloon-pci", "virtio-balloon-ccw",
    "virtio-balloon-device", "virtio-rng-pci", "virtio-rng-ccw", "virtio-rng-device",
    "virtio-gpu-pci", "virtio-gpu-device", "virtio-gpu-ccw", "virtio-vga", "virtio-keyboard-pci",
    "virtio-mouse-pci", "virtio-tablet-pci", "virtio-input-host-pci", "virtio-mem-pci",
    "virtio-iommu-pci", "virtio-pmem-pci", "vhost-vsock-pci", "vhost-user-fs-device",
    "vhost-scsi-pci", "vfio-pci", "vfio-ccw", "vfio-ap", "pci-bridge", "pcie-root-port",
    "pcie-pci-bridge", "ioh3420", "x3130-upstream", "xio3130-downstream", "pxb", "pxb-pcie",
    "i82801b11-bridge", "ich9-ahci", "ich9-usb-ehci1", "ich9-intel-hda", "intel-hda", "hda-duplex",
    "hda-micro", "hda-output", "ac97", "ES1370", "sb16", "usb-tablet", "usb-kbd", "usb-mouse",
    "usb-storage", "usb-host", "usb-redir", "usb-hub", "usb-audio", "nec-usb-xhci", "qemu-xhci",
    "piix3-usb-uhci", "piix4-usb-uhci", "pci-ohci", "usb-ehci", "scsi-hd", "scsi-cd",
    "scsi-generic", "scsi-block", "lsi53c895a", "megasas", "mptsas1068", "am53c974", "dc390", "ide-hd",
    "ide-cd", "isa-fdc", "floppy", "VGA", "cirrus-vga", "vmware-svga", "qxl", "qxl-vga",
    "ramfb", "bochs-display", "e1000", "e1000e", "rtl8139", "ne2k_pci", "pcnet", "i6300esb",
    "ib700", "diag288", "isa-serial", "pci-serial", "spapr-vty", "sclpconsole", "sclplmconsole",
    "tpm-tis", "tpm-crb", "tpm-spapr", "tpm-tis-device", "intel-iommu", "amd-iommu",
    "spapr-pci-host-bridge", "virtual-css-bridge", "mch", "i440FX-pcihost", "q35-pcihost",
    "ICH9-LPC", "PIIX4_PM", "kvm-pit", "pvpanic", "pvpanic-pci", "nvdimm", "pc-dimm",
    "virtio-mem", "sev-guest", "sgx-epc", "memory-backend-file", "memory-backend-memfd",
    "memory-backend-ram", "memory-backend-epc", "iothread", "tcg-accel", "kvm-accel",
    "max-x86_64-cpu", "max-arm-cpu", "spapr-tpm-proxy", "vmcoreinfo", "isa-debugcon",
    "virtio-crypto-pci", "cryptodev-backend-builtin", "pr-manager-helper", "dbus-vmstate",
    "input-linux", "ccid-card-passthru", "usb-ccid", "chardev-spicevmc", "vhost-user-gpu",
    "vhost-user-vga", "sev-snp-guest", "s390-pv-guest", "pef-guest", "virtio-sound-pci",
    "gpex-pcihost", "zpci", "virtio-scsi-device",
)

# device-list-properties calls, in libvirt 9.0's order (virQEMUCapsDeviceProps): the device, and
# the QOM types any of which sets the capability that gates the call (None: always asked; a
# DeviceNotFound answer then counts as "no properties"). The gate is a capability, not the
# device itself: virtio-net-ccw is asked wherever any virtio-net device exists.
_VIRTIO_NET = ("virtio-net-pci", "virtio-net-ccw", "virtio-net-device")
_VIRTIO_SCSI = ("virtio-scsi-pci", "virtio-scsi-ccw", "virtio-scsi-device")
_VIRTIO_GPU = ("virtio-gpu-pci", "virtio-gpu-device")
DEVICE_PROPS: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("virtio-blk-pci", None), ("virtio-net-pci", _VIRTIO_NET), ("virtio-scsi-pci", _VIRTIO_SCSI),
    ("virtio-blk-ccw", ("virtio-blk-ccw",)), ("virtio-net-ccw", _VIRTIO_NET),
    ("virtio-scsi-ccw", _VIRTIO_SCSI), ("vfio-pci", ("vfio-pci",)), ("scsi-hd", None),
    ("ide-hd", None), ("PIIX4_PM", None), ("usb-redir", ("usb-redir",)),
    ("usb-storage", ("usb-storage",)), ("kvm-pit", None), ("VGA", ("VGA",)),
    ("vmware-svga", ("vmware-svga",)), ("qxl", ("qxl",)), ("virtio-gpu-pci", _VIRTIO_GPU),
    ("virtio-gpu-device", _VIRTIO_GPU), ("ICH9-LPC", None), ("virtio-balloon-pci", None),
    ("virtio-balloon-ccw", None), ("virtio-balloon-device", None),
    ("intel-iommu", ("intel-iommu",)), ("spapr-pci-host-bridge", ("spapr-pci-host-bridge",)),
    ("virtio-gpu-ccw", ("virtio-gpu-ccw",)), ("mch", ("mch",)), ("nvdimm", ("nvdimm",)),
    ("pcie-root-port", ("pcie-root-port",)), ("usb-host", None),
    ("vhost-user-fs-device", ("vhost-user-fs-device",)), ("virtio-mem-pci", ("virtio-mem-pci",)),
    ("virtio-iommu-pci", ("virtio-iommu-pci",)),
)

# qom-list-properties on object types, each gated by the type's presence.
OBJECT_PROPS = ("memory-backend-file", "memory-backend-memfd", "max-x86_64-cpu", "max-arm-cpu")

# Machine types whose properties libvirt 9.0 asks for, in its order: a machine name resolved to
# its canonical name ("virt" -> "virt-7.2") when the emulator has it; "none" always.
MACHINE_PROPS = ("pseries", "virt", "none")

# libvirt 9.0's preferred default machine per arch (its preferredMachines table), keyed by the
# arch of the emulator's own caps (qemu-system-arm: armv7l). QEMU's is-default machine is used
# when the emulator lacks the preferred one (QEMU 7.2 has no spike_v1.10: RISC-V gets `spike`).
PREFERRED_MACHINE = {
    "alpha": "clipper", "armv6l": "integratorcp", "armv7l": "integratorcp",
    "armv7b": "integratorcp", "aarch64": "integratorcp", "cris": "axis-dev88", "i686": "pc",
    "lm32": "lm32-evr", "m68k": "mcf5208evb", "microblaze": "petalogix-s3adsp1800",
    "microblazeel": "petalogix-s3adsp1800", "mips": "malta", "mipsel": "malta",
    "mips64": "malta", "mips64el": "malta", "openrisc": "or1k-sim", "ppc": "g3beige",
    "ppcle": "g3beige", "ppc64": "pseries", "ppc64le": "pseries", "ppcemb": "bamboo",
    "riscv32": "spike_v1.10", "riscv64": "spike_v1.10", "s390x": "s390-ccw-virtio",
    "sh4": "shix", "sh4eb": "shix", "sparc": "SS-5", "sparc64": "sun4u", "unicore32": "puv3",
    "x86_64": "pc", "xtensa": "sim", "xtensaeb": "sim",
}

# Commands libvirt 9.0 sends that replays recorded with the old sequence may lack: a QMP error
# to these is tolerated (libvirt tolerates only some of them; see docs/model.md).
TOLERATED = frozenset({"query-qmp-schema", "qom-list-properties", "query-sgx-capabilities",
                       "query-sev-capabilities", "query-cpu-model-expansion"})

DEFAULT_TIMEOUTS = {"launch": 10.0, "command": 10.0}


# Answers the probe may be handed instead of asking (schema-reuse): called once with the
# emulator's (version, package) after query-version; returns {reply_key: reply}.
KnownReplies = Callable[[int, str], Mapping[str, "Reply"]]


def reply_key(cmd: str, args: dict | None = None) -> str:
    return cmd if not args else f"{cmd} {json.dumps(args, sort_keys=True)}"


@dataclass
class ProbeResult:
    caps: QemuCaps
    phases: list[LaunchPhases]  # one per launch, in order
    replies: dict[str, Reply] = field(default_factory=dict)  # launch 1's, by reply_key
    reused: int = 0          # commands answered from known_replies, not asked


def probe(binary: str, *, kvm_usable: bool | None = None, command_timeout_s: float = 10.0,
          launch_timeout_s: float = 10.0, quit: bool = False,
          on_exchange: Callable[[QmpExchange], None] | None = None,
          known_replies: KnownReplies | None = None,
          teardown: str = DEFAULT_TEARDOWN) -> ProbeResult:
    """Probe one binary as libvirt does; raises ProbeError naming the binary and the step.

    `quit`: end each launch with `quit` and time the exit (the recorder does; libvirt, and so
    the prober by default, ends it with `teardown`). `on_exchange` sees every command and its reply.
    `known_replies`: answers to skip asking for, once query-version says which build this is.
    """
    try:
        st = os.stat(binary)
    except OSError as e:
        raise ProbeError(binary, "stat", e.strerror or str(e)) from None
    if not os.access(binary, os.X_OK):
        raise ProbeError(binary, "stat", "not executable")
    mod_dir = hostfacts.module_dir_ctime()  # taken before probing, as libvirt does
    with trace.span("probe", binary=binary) as sp:
        trace.count("probe")
        l1 = _launch_and_talk(binary, "kvm:tcg", _main_sequence, launch_timeout_s,
                              command_timeout_s, quit, on_exchange, teardown,
                              context={"_known_fn": known_replies})
        replies: dict[str, Any] = l1.replies
        kvm = replies["kvm"] and (kvm_usable is None or kvm_usable)
        launches = [l1]
        if kvm and "tcg-accel" in replies["types"]:  # libvirt 9.0: a TCG-only second launch
            launches.append(_launch_and_talk(binary, "tcg", _tcg_sequence, launch_timeout_s,
                                             command_timeout_s, quit, on_exchange, teardown,
                                             context=replies))
        caps = _build_caps(binary, st.st_ctime_ns, kvm, [ln.replies for ln in launches], mod_dir)
        caps.probe_launches = len(launches)
        sp.set(arch=caps.arch, launches=len(launches), commands=sum(ln.n_commands for ln in launches),
               reused=replies.get("_reused", 0))
    return ProbeResult(caps, [ln.phases for ln in launches], replies.get("_replies", {}),
                       replies.get("_reused", 0))


@dataclass
class _LaunchOutcome:
    replies: dict[str, Any]
    n_commands: int
    phases: LaunchPhases


def _launch_and_talk(binary: str, accel: str, sequence, launch_timeout_s: float,
                     command_timeout_s: float, quit: bool,
                     on_exchange: Callable[[QmpExchange], None] | None, teardown: str,
                     context: dict[str, Any] | None = None) -> _LaunchOutcome:
    with trace.span("probe.launch", binary=binary, accel=accel):
        trace.count("probe.launches")
        proc = None
        try:  # launched inside the try: a SIGTERM just after the launch still ends the emulator
            with trace.span("probe.spawn", binary=binary, accel=accel):
                proc = process.launch(binary, accel, launch_timeout_s)
            session = QMPSession(binary, command_timeout_s, on_exchange=on_exchange)
            phases = LaunchPhases(accel, proc.t0_ns, proc.spawned_ns, proc.daemonized_ns)
            replies = run_terminable(_talk(session, proc, sequence, context or {}, quit, phases))
        finally:
            if proc is not None:  # else launch() cleaned up after itself
                with trace.span("probe.teardown", binary=binary, mode=teardown):
                    process.cleanup(proc.tmpdir, proc.pid, teardown)
    phases.connected_ns, phases.greeting_ns = session.connected_ns, session.greeting_ns
    phases.greeting = session.greeting
    phases.commands = [CommandTiming(*t) for t in session.timings]
    return _LaunchOutcome(replies, replies["_n"], phases)


def run_terminable(coro: Any) -> Any:
    """asyncio.run, with SIGTERM (in the main thread) cancelling the coroutine and then raising
    errors._Terminated from here, also when the coroutine had already finished: a SIGTERM is
    never lost. The handler only schedules the cancellation: a handler raising inside the event
    loop's own code (a socket write, a callback) leaves a half-run task that asyncio reports with
    a traceback. It is swapped in and out with signal.signal alone (the loop's own
    add/remove_signal_handler restores SIG_DFL between, a window where SIGTERM kills outright)."""
    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(coro)
    from workbench.errors import _Terminated
    before = signal.getsignal(signal.SIGTERM)
    if before in (signal.SIG_IGN, signal.SIG_DFL, None):  # already unwinding, or not ours to change
        return asyncio.run(coro)
    terminated: list[bool] = []
    running: list[tuple[asyncio.AbstractEventLoop, asyncio.Task]] = []

    def on_sigterm(signum: int, frame: Any) -> None:
        terminated.append(True)
        for loop, task in running:
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # the loop has closed: the check after asyncio.run raises
                pass

    async def main() -> Any:
        running.append((asyncio.get_running_loop(), asyncio.current_task()))
        if terminated:  # arrived before the loop could be told
            coro.close()
            raise asyncio.CancelledError
        return await coro

    signal.signal(signal.SIGTERM, on_sigterm)
    result = None
    try:
        result = asyncio.run(main())
    except BaseException:  # the cancellation, or what the cancelled coroutine turned it into
        if not terminated:
            raise
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN if terminated else before)
    if terminated:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one unwinding at a time
        raise _Terminated()
    return result


async def _talk(session: QMPSession, proc: process.EmulatorProcess, sequence,
                context: dict[str, Any], quit: bool, phases: LaunchPhases) -> dict[str, Any]:
    await session.connect(proc.socket)
    replies: dict[str, Any] = {"_n": 0}
    try:
        await sequence(session, replies, context)
        if quit:  # the recorder measures quit -> exit; the prober otherwise ends it like libvirt
            phases.rss_kib = process.rss_kib(proc.pid)  # what its exit frees (the replay holds as much)
            phases.quit_sent_ns = await session.quit()
            process.wait_exit(proc, session.timeout_s)
            phases.exited_ns = proc.exited_ns
    finally:
        await session.close()
    return replies


async def _ask(session: QMPSession, replies: dict[str, Any], cmd: str, args: dict | None = None) -> Reply:
    key = reply_key(cmd, args)
    known = replies.get("_known")
    if known and key in known:  # schema-reuse: this build's answer is already known
        replies["_reused"] = replies.get("_reused", 0) + 1
        trace.count("probe.reused")
        return known[key]
    replies["_n"] += 1
    try:
        reply = await session.execute(cmd, args)
    except (ProbeError, asyncio.CancelledError):
        raise
    except Exception as e:  # an emulator dying or overflowing mid-reply is its fault
        raise ProbeError(session.binary, cmd, f"{type(e).__name__}: {e}") from None
    if reply.ok:
        check_reply(session.binary, cmd, reply.ret)  # an untrusted reply: typed before any use
    replies.setdefault("_replies", {})[key] = reply
    return reply


def _require(reply: Reply, session: QMPSession, cmd: str) -> Any:
    if not reply.ok:
        raise ProbeError(session.binary, cmd, f"QMP error {reply.error}")
    return reply.ret


def _expect(session: QMPSession, cmd: str, value: Any, kind: type) -> Any:
    if not isinstance(value, kind):
        raise ProbeError(session.binary, cmd, f"malformed reply: expected {kind.__name__}, got {type(value).__name__}")
    return value


async def _main_sequence(s: QMPSession, r: dict[str, Any], _ctx: dict[str, Any]) -> None:
    """virQEMUCapsInitQMPMonitor in libvirt 9.0's order (qmp_capabilities was sent on connect)."""
    v = _expect(s, "query-version", _require(await _ask(s, r, "query-version"), s, "query-version"), dict)
    try:
        q = v["qemu"]
        r["version"] = q["major"] * 1_000_000 + q["minor"] * 1_000 + q["micro"]
    except (KeyError, TypeError):
        raise ProbeError(s.binary, "query-version", "malformed reply: no qemu major/minor/micro") from None
    r["package"] = str(v.get("package", ""))
    if _ctx.get("_known_fn") is not None:
        r["_known"] = _ctx["_known_fn"](r["version"], r["package"])
    t = _expect(s, "query-target", _require(await _ask(s, r, "query-target"), s, "query-target"), dict)
    if "arch" not in t:
        raise ProbeError(s.binary, "query-target", "malformed reply: no arch")
    r["target"] = t["arch"]
    await _ask_tolerant(s, r, "query-qmp-schema")  # third in libvirt 9.0, before query-commands
    cmds = _expect(s, "query-commands", _require(await _ask(s, r, "query-commands"), s, "query-commands"), list)
    commands = {c.get("name") for c in cmds if isinstance(c, dict)}
    r["commands"] = commands
    k = (await _ask(s, r, "query-kvm")).ret or {}
    r["kvm"] = bool(k.get("enabled") and k.get("present"))
    types_reply = _expect(s, "qom-list-types", _require(await _ask(s, r, "qom-list-types"), s, "qom-list-types"), list)
    types = {t.get("name") for t in types_reply if isinstance(t, dict)}
    r["types"] = types
    r["device_props"] = {}
    for typename, gate in DEVICE_PROPS:
        if gate is None or any(g in types for g in gate):
            rep = await _ask(s, r, "device-list-properties", {"typename": typename})
            r["device_props"][typename] = [p.get("name") for p in (rep.ret or []) if isinstance(p, dict)]
    r["object_props"] = {}
    if "qom-list-properties" in commands:
        for typename in OBJECT_PROPS:
            if typename in types:
                rep = await _ask_tolerant(s, r, "qom-list-properties", {"typename": typename})
                r["object_props"][typename] = {p.get("name") for p in (rep.ret or []) if isinstance(p, dict)}
    machines = _expect(s, "query-machines", _require(await _ask(s, r, "query-machines"), s, "query-machines"), list)
    r["machines"] = machines
    if "qom-list-properties" in commands:
        for name in MACHINE_PROPS:
            canonical = name if name == "none" else _canonical_machine(machines, name)
            if canonical:
                await _ask_tolerant(s, r, "qom-list-properties", {"typename": f"{canonical}-machine"})
    if "query-cpu-definitions" in commands:
        r["cpu_defs"] = (await _ask(s, r, "query-cpu-definitions")).ret or []
    for cmd in ("query-tpm-models", "query-tpm-types", "query-command-line-options",
                "query-migrate-capabilities"):
        if cmd in commands:
            await _ask(s, r, cmd)
    if r["target"] in ("aarch64", "arm") and "query-gic-capabilities" in commands:
        r["gic"] = (await _ask(s, r, "query-gic-capabilities")).ret or []
    if "sev-guest" in types and "query-sev-capabilities" in commands:
        r["sev"] = (await _ask_tolerant(s, r, "query-sev-capabilities")).ret  # error: no SEV
    if "sgx-epc" in types and "query-sgx-capabilities" in commands:
        r["sgx"] = (await _ask_tolerant(s, r, "query-sgx-capabilities")).ok  # GenericError: no SGX here
    # libvirt 9.0 asks for the host CPU as a KVM guest sees it in this first launch ("host"),
    # whether or not KVM turned out to be usable, and then for the Hyper-V passthrough view.
    await _expand_host_cpu(s, r, commands, "host", r["object_props"])
    if r["target"] in ("x86_64", "i386", "aarch64", "arm") and "query-cpu-model-expansion" in commands:
        await _ask_tolerant(s, r, "query-cpu-model-expansion", {
            "type": "full", "model": {"name": "host",
                                      "props": {"migratable": False, "hv-passthrough": True}}})


async def _ask_tolerant(s: QMPSession, r: dict[str, Any], cmd: str, args: dict | None = None) -> Reply:
    """A command whose QMP error the probe survives (see TOLERATED)."""
    rep = await _ask(s, r, cmd, args)
    if not rep.ok and cmd not in TOLERATED:
        raise ProbeError(s.binary, cmd, f"QMP error {rep.error}")
    return rep


def _canonical_machine(machines: list, name: str) -> str | None:
    """virQEMUCapsGetCanonicalMachine over the raw query-machines reply; None if absent."""
    for m in machines:
        if isinstance(m, dict) and name in (m.get("name"), m.get("alias")):
            return m.get("name")
    return None


async def _expand_host_cpu(s: QMPSession, r: dict[str, Any], commands: set, model: str,
                           object_props: dict[str, set]) -> None:
    """virQEMUCapsProbeQMPHostCPU: the expansion type depends on the arch; x86 without the
    canonical-feature-name property (qemu-system-i386) expands statically, then fully. Only x86
    expands a second time without migratable features (libvirt's test data for aarch64 and s390x
    holds one expansion per launch)."""
    target = r["target"]
    if "query-cpu-model-expansion" not in commands:
        return
    if target in ("x86_64", "i386"):
        canonical = "unavailable-features" in object_props.get("max-x86_64-cpu", set())
        kind = "static" if canonical else "static-full"
    elif target in ("aarch64", "arm"):
        kind = "full"
    else:
        kind = "static"
    first = await _expansion(s, r, kind, {"name": model})
    if first is None:
        return
    r["host_cpu"] = first.get("name", model)
    if target in ("x86_64", "i386"):  # only x86 asks which features are migratable
        await _expansion(s, r, kind, {"name": model, "props": {"migratable": False}})


async def _expansion(s: QMPSession, r: dict[str, Any], kind: str, model: dict) -> dict | None:
    """One qemuMonitorGetCPUModelExpansion; None when QEMU cannot expand (an error reply)."""
    rep = await _ask_tolerant(s, r, "query-cpu-model-expansion",
                              {"type": "static" if kind == "static-full" else kind, "model": model})
    got = rep.ret.get("model") if rep.ok and isinstance(rep.ret, dict) else None
    if not isinstance(got, dict):
        return None
    if kind == "static-full":  # the static result, expanded once more in full
        rep = await _ask_tolerant(s, r, "query-cpu-model-expansion",
                                  {"type": "full", "model": {"name": got.get("name"),
                                                             "props": got.get("props", {})}})
    return got


async def _tcg_sequence(s: QMPSession, r: dict[str, Any], ctx: dict[str, Any]) -> None:
    """virQEMUCapsInitQMPMonitorTCG: what differs when only TCG is available."""
    commands = ctx.get("commands", set())
    r["target"] = ctx.get("target", "")
    if "query-cpu-definitions" in commands:
        r["cpu_defs"] = (await _ask(s, r, "query-cpu-definitions")).ret or []
    await _expand_host_cpu(s, r, commands, "max", ctx.get("object_props", {}))
    r["machines"] = _expect(s, "query-machines",
                            _require(await _ask(s, r, "query-machines"), s, "query-machines"), list)


def _machines(arch: str, raw: list) -> list[Machine]:
    """The machine list with libvirt 9.0's default first: its preferred machine for the arch
    when the emulator has it (by name or alias), else QEMU's is-default machine."""
    out = []
    for m in raw:
        if not isinstance(m, dict) or m.get("name") in (None, "none"):
            continue
        out.append(Machine(m["name"], m.get("alias"), bool(m.get("is-default")),
                           int(m.get("cpu-max", 1)), bool(m.get("hotpluggable-cpus")),
                           m.get("default-cpu-type")))
    first = default_machine_index(arch, out)
    if first is not None:
        out.insert(0, out.pop(first))
    return out


def default_machine_index(arch: str, machines: list[Machine]) -> int | None:
    preferred = PREFERRED_MACHINE.get(arch)
    if preferred is not None:
        for i, m in enumerate(machines):
            if preferred in (m.name, m.alias):
                return i
    return next((i for i, m in enumerate(machines) if m.is_default), None)


# libvirt's own ppc64 CPU model names (src/cpu_map, arch ppc64): QEMU >= 2.11 reports them in
# lower case and libvirt 9.0 renames them back (virQEMUCapsFetchCPUDefinitions).
PPC64_CPU_MODELS = ("POWER6", "POWER7", "POWER8", "POWER9", "POWER10", "POWERPC_e5500",
                    "POWERPC_e6500")


def _cpu_models(raw: list, arch: str = "") -> list[CpuModel]:
    out = []
    rename = {m.lower(): m for m in PPC64_CPU_MODELS} if arch in ("ppc64", "ppc64le") else {}
    for c in raw:
        if not isinstance(c, dict) or not isinstance(c.get("name"), str):
            continue
        blockers = c.get("unavailable-features")
        out.append(CpuModel(rename.get(c["name"].lower(), c["name"]), c.get("typename") or None,  # libvirt drops an empty one
                            None if blockers is None else not blockers, tuple(blockers or ())))
    return out


def _build_caps(binary: str, ctime_ns: int, kvm: bool, launches: list[dict[str, Any]],
                mod_dir_ctime: int | None = None) -> QemuCaps:
    main = launches[0]
    arch = arch_from_qemu(main["target"])
    types = main["types"]
    flags = {f"cmd.{c}" for c in COMMAND_FLAGS if c in main["commands"]}
    flags |= {f"type.{t}" for t in TYPE_FLAGS if t in types}
    # libvirt clears the SEV and SGX flags when QEMU cannot report their capabilities here.
    if not isinstance(main.get("sev"), dict):
        flags.discard("type.sev-guest")
    if not main.get("sgx"):
        flags.discard("type.sgx-epc")
    if kvm:
        flags.add("kvm")
    tcg = "tcg-accel" in types
    if tcg:
        flags.add("tcg")
    machines = {("kvm" if kvm else "tcg"): _machines(arch, main["machines"])}
    cpus = {("kvm" if kvm else "tcg"): _cpu_models(main.get("cpu_defs", []), arch)}
    host_cpu = {("kvm" if kvm else "tcg"): main["host_cpu"]} if "host_cpu" in main else {}
    if len(launches) > 1:
        t = launches[1]
        machines["tcg"] = _machines(arch, t["machines"])
        cpus["tcg"] = _cpu_models(t.get("cpu_defs", []), arch)
        if "host_cpu" in t:
            host_cpu["tcg"] = t["host_cpu"]
    gic = [g for g in main.get("gic", []) if isinstance(g, dict)]
    sev = main.get("sev") if isinstance(main.get("sev"), dict) else None
    host = dict(cpu_signature=hostfacts.cpu_signature(), kvm_nesting=hostfacts.kvm_nesting(),
                secure_guest=hostfacts.secure_guest()) if kvm else {}
    return QemuCaps(binary=binary, ctime_ns=ctime_ns, self_version=SELF_VERSION,
                    mod_dir_ctime=mod_dir_ctime, self_ctime=hostfacts.self_ctime(), **host,
                    kernel_version=kernel_version(), microcode=microcode_version(),
                    version=main["version"],
                    package=main["package"], arch=arch, kvm=kvm, tcg=tcg,
                    flags=frozenset(flags), machines=machines, cpu_models=cpus,
                    host_cpu=host_cpu, gic=gic, sev=sev)
