"""The libvirt version the model follows, and every deliberate deviation from it, in one place.

docs/model.md mirrors this list (a test keeps them in step); notebooks load it with
`deviations_table()`; `workbench validate` marks a disagreement as deliberate only when a record
here covers it (`covers`: "check:subject" glob patterns).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase

MODELLED_VERSION = "9.0.0"
MODELLED = f"libvirt {MODELLED_VERSION} (Debian 12), with QEMU 7.2"


@dataclass(frozen=True)
class Deviation:
    id: str
    aspect: str
    libvirt: str          # what libvirt 9.0 does
    model: str            # what the model does instead
    why: str
    covers: tuple[str, ...] = ()    # "check:subject" globs of validate rows it explains
    messages_only: bool = False     # covers only different messages when both refuse

    def explains(self, check: str, subject: str, verdicts_agree: bool) -> bool:
        if self.messages_only and not verdicts_agree:
            return False
        return any(fnmatchcase(f"{check}:{subject}", pat) for pat in self.covers)


DEVIATIONS: tuple[Deviation, ...] = (
    Deviation(
        "D1", "Strategy full-caps",
        "libvirt 9.0 builds virCaps only for the APIs that still need it",
        "the full-caps strategy builds virCaps at startup and hands it to the parser",
        "it models libvirt <= 5.10, the 'before' of the 2019 series; only the per-emulator "
        "strategy is checked against libvirt 9.0"),
    Deviation(
        "D2", "DTDs and entity declarations in domain XML",
        "accepted (external entities are not loaded)",
        "refused with a parse error",
        "the daemon's trust model treats domain XML as untrusted input; refusing them outright "
        "is simpler to audit than libvirt's parser options",
        covers=("define:bad/external-dtd.xml", "define:bad/xxe-passwd.xml")),
    Deviation(
        "D3", "Wording of XML syntax and schema errors",
        "libxml2's messages through libvirt's wrapper ('(domain_definition):4: ...')",
        "the workbench's own messages with file, line and column",
        "the verdict is what the benchmarks depend on; the messages name the place for users",
        covers=("define:bad/*",), messages_only=True),
    Deviation(
        "D4", "KVM usability in cache validity",
        "checked as libvirt's run user (Debian: libvirt-qemu); with /dev/kvm mode 0600 root "
        "every lookup of a host-native binary re-probes it",
        "checked as the user running the workbench; `workbench validate` configures the "
        "embedded libvirt to run QEMU as that user too",
        "the workbench has no separate run user; the re-probe is a property of the host's "
        "device permissions (docs/measured.md), not of the code path being measured"),
    Deviation(
        "D5", "Probe errors tolerated",
        "only the errors libvirt expects (DeviceNotFound, GenericError for SEV/SGX/CPU "
        "expansion) are tolerated",
        "any QMP error to query-qmp-schema, qom-list-properties, query-sev/sgx-capabilities "
        "and query-cpu-model-expansion is tolerated",
        "replays recorded with the older sequence answer libvirt 9.0's extra commands with "
        "CommandNotFound until data/transcripts is re-recorded"),
    Deviation(
        "D6", "Implicit devices in the definition",
        "post-parse adds USB controller, memballoon, pci-root, audio, panic, default CPU model",
        "the model decides the same verdicts (domain_checks.py) but does not add the devices to "
        "the formatted XML",
        "the formatted XML is compared only in the model's own tests; adding devices would "
        "change every stored definition for no measured effect"),
    Deviation(
        "D7", "Cache validity inputs not modelled",
        "virQEMUCapsIsValid also compares the host's CPUID data ('host cpuid changed')",
        "compares the module dir, its own ctime, binary ctime, KVM usability, host CPU "
        "signature, microcode, kernel, KVM nesting and secure-guest state, not CPUID data",
        "the CPUID leaves would need the cpuid instruction from Python; the signature and "
        "microcode already change whenever the CPU does on this kind of machine"),
    Deviation(
        "D8", "Host-model CPU in domain capabilities",
        "the host CPU translated by libvirt's CPU driver into its own CPU map's model "
        "(e.g. Skylake-Client-IBRS), from the test's fake host CPU",
        "the model name QEMU's host/max expansion returned (e.g. base, host, max)",
        "the workbench has no CPU driver or CPU map; the name does not enter any timed path",
        covers=("domcaps:*:cpu.host-model",)),
    Deviation(
        "D9", "Custom CPU models in domain capabilities on x86 and ppc64",
        "only the models libvirt's CPU map knows for the arch (no versioned aliases such as "
        "Broadwell-v1; on ppc64 only POWER* and POWERPC_e*)",
        "every model QEMU reports (less 'host'), with its usability",
        "the workbench carries no CPU map (src/cpu_map); the list's length changes no cost the "
        "benchmarks measure",
        covers=("domcaps:*.x86_64.xml:cpu.custom", "domcaps:*.ppc64.xml:cpu.custom")),
    Deviation(
        "D10", "Domain capabilities for a virt type the emulator lacks",
        "libvirt's test formats qemu_5.1.0.sparc.xml with <domain>kvm</domain> though that "
        "QEMU has no KVM (the test asks for kvm whatever the emulator)",
        "no machine for kvm on an emulator without KVM: refused",
        "libvirt itself refuses such a request at run time (no KVM guest for sparc)",
        covers=("domcaps:qemu_5.1.0.sparc.xml:machine",)),
)


def find(check: str, subject: str, verdicts_agree: bool = True) -> Deviation | None:
    return next((d for d in DEVIATIONS if d.explains(check, subject, verdicts_agree)), None)


def markdown_table() -> str:
    """The table docs/model.md carries (a test checks it is there, verbatim)."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|")
    lines = ["| id | aspect | libvirt 9.0 | the model | why |", "|---|---|---|---|---|"]
    lines += [f"| {d.id} | {cell(d.aspect)} | {cell(d.libvirt)} | {cell(d.model)} | {cell(d.why)} |"
              for d in DEVIATIONS]
    return "\n".join(lines)


def deviations_table() -> list[dict]:
    """One dict per deviation (id, aspect, libvirt, model, why): a DataFrame's rows."""
    return [{k: v for k, v in asdict(d).items() if k not in ("covers", "messages_only")}
            for d in DEVIATIONS]
