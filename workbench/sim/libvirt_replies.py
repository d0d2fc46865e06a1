"""libvirt's own test data as emulators: a `caps_<qemu>.<arch>.replies` file as a transcript.

libvirt 9.0's `tests/qemucapabilitiesdata/caps_<qemu>.<arch>.replies` holds every QMP command
libvirt 9.0 sent when probing that QEMU and the reply it got, as JSON objects separated by
blank lines: `{"execute": ..., "id": ...}` then `{"return"|"error": ..., "id": ...}`. A second
`qmp_capabilities` starts the second (TCG-only) launch. libvirt's own test feeds them to its
probe in order; here they become a transcript (`workbench.sim.transcript`) that a replaying
emulator serves like a recording.

The file holds no times. The transcript borrows them from the recorded QEMU 7.2 transcript of
the same target (`data/transcripts/qemu-system-<arch>.json.gz`), by this rule (docs/model.md,
"libvirt's test data"), per launch (the KVM launch's times for the first, the TCG launch's for
the second):
  1. the same command with the same arguments in the same launch of the recording;
  2. else the median of the same command (any arguments) in that launch;
  3. else the same two steps over all launches of the recording;
  4. else the median of every command of the recording.
Start-up, greeting, quit and resident memory are the recording's launch's. Every figure made
with them is `modelled` (the transcript's `origin.timings`), never measured or replayed.
"""
from __future__ import annotations

import json
import os
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import UsageError
from workbench.sim.transcript import (FORMAT, Exchange, Launch, Transcript, command_key, load,
                                      transcript_filename)

CAPS_DIR = "qemucapabilitiesdata"
DOMCAPS_DIR = "domaincapsdata"
_NAME = re.compile(r"caps_(\d+)\.(\d+)\.(\d+)\.([a-z0-9_]+)\.replies\Z")
MAX_FILE_BYTES = 64 << 20  # the largest libvirt 9.0 file is ~1 MB
TIMING_RULE = "libvirt-tests: times borrowed from the QEMU 7.2 recording of the same target"


@dataclass
class RepliesFile:
    path: Path
    version: tuple[int, int, int]  # from the file name (libvirt names it by QEMU's release)
    arch: str                      # from the file name: QEMU's target (query-target's arch)
    launches: list[list[tuple[dict, dict]]] = field(default_factory=list)  # (command, reply)

    @property
    def label(self) -> str:
        return f"{'.'.join(map(str, self.version))}.{self.arch}"

    def commands(self, launch: int) -> list[str]:
        """The launch's commands as `command_key`s, in order (qmp_capabilities left out)."""
        return [command_key(c["execute"], c.get("arguments")) for c, _ in self.launches[launch]]


def name_parts(path: Path) -> tuple[tuple[int, int, int], str]:
    m = _NAME.match(Path(path).name)
    if not m:
        raise UsageError(f"{path}: not a libvirt replies file name (caps_<X.Y.Z>.<arch>.replies)")
    return (int(m[1]), int(m[2]), int(m[3])), m[4]


def parse(path: Path) -> RepliesFile:
    """Read one replies file; UsageError naming the file and the line on anything malformed."""
    path = Path(path)
    version, arch = name_parts(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise UsageError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB, not a replies file")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read: {e}") from None
    objects = _objects(path, text)
    rf = RepliesFile(path, version, arch)
    for i in range(0, len(objects), 2):
        line, cmd = objects[i]
        if not isinstance(cmd, dict) or not isinstance(cmd.get("execute"), str):
            raise UsageError(f"{path}:{line}: expected a command ({{\"execute\": ...}})")
        if i + 1 >= len(objects):
            raise UsageError(f"{path}:{line}: command {cmd['execute']} has no reply")
        rline, rep = objects[i + 1]
        if not isinstance(rep, dict) or not ("return" in rep or "error" in rep):
            raise UsageError(f"{path}:{rline}: expected the reply to {cmd['execute']}")
        if cmd["execute"] == "qmp_capabilities":
            rf.launches.append([])
            continue
        if not rf.launches:
            raise UsageError(f"{path}:{line}: {cmd['execute']} before qmp_capabilities")
        rf.launches[-1].append((cmd, rep))
    if not rf.launches:
        raise UsageError(f"{path}: no qmp_capabilities: not a replies file")
    return rf


def _objects(path: Path, text: str) -> list[tuple[int, Any]]:
    dec = json.JSONDecoder()
    out, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        line = text.count("\n", 0, i) + 1
        try:
            obj, i = dec.raw_decode(text, i)
        except json.JSONDecodeError as e:
            raise UsageError(f"{path}:{text.count(chr(10), 0, e.pos) + 1}: bad JSON: {e.msg}") from None
        out.append((line, obj))


def replies_files(tests_dir: Path) -> list[Path]:
    """Every replies file under `tests_dir/qemucapabilitiesdata`, by architecture then version."""
    d = Path(tests_dir) / CAPS_DIR
    if not d.is_dir():
        raise UsageError(f"{tests_dir}: no {CAPS_DIR}/ here: give libvirt's tests/ directory "
                         f"(scripts/fetch-libvirt-source.sh prints the source's path)")
    files = [p for p in d.glob("caps_*.replies") if _NAME.match(p.name)]
    if not files:
        raise UsageError(f"{d}: no caps_<X.Y.Z>.<arch>.replies files")
    return sorted(files, key=lambda p: (name_parts(p)[1], name_parts(p)[0]))


def find(tests_dir: Path, version: str, arch: str) -> Path:
    """The replies file of QEMU `version` (e.g. 8.0.0) for `arch`; UsageError listing what exists."""
    p = Path(tests_dir) / CAPS_DIR / f"caps_{version}.{arch}.replies"
    if not p.is_file():
        have = sorted(name_parts(f)[1] for f in replies_files(tests_dir)
                      if ".".join(map(str, name_parts(f)[0])) == version)
        raise UsageError(f"libvirt's test data has no QEMU {version} for {arch} ({p}); "
                         f"QEMU {version} exists for: {', '.join(have) or 'no architecture'}")
    return p


def default_tests_dir() -> Path:
    """Where scripts/fetch-libvirt-source.sh unpacks libvirt 9.0 (its tests/ directory)."""
    cache = os.environ.get("LIBVIRT_SRC_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "virtcaps-workbench")
    return Path(cache) / "libvirt-9.0.0" / "tests"


def parse_qemu_spec(spec: str, targets: list[str], ignore_absent: bool = False) -> dict[str, str]:
    """`--qemu`: "8.0.0" (every target) or "x86_64=8.0.0,aarch64=4.2.0" (or with "+"; those targets; the
    others replay the QEMU 7.2 recordings) -> {target: version}. UsageError on bad input.
    `ignore_absent`: a named target not among `targets` is left out (a sweep's smaller installs)."""
    spec = spec.strip()
    if not spec or spec == "recorded":  # the 7.2 recordings only
        return {}
    version = re.compile(r"\d+\.\d+\.\d+\Z")
    if "=" not in spec:
        if not version.match(spec):
            raise UsageError(f"--qemu {spec!r}: expected a QEMU version X.Y.Z or TARGET=X.Y.Z,...")
        return {t: spec for t in targets}
    out: dict[str, str] = {}
    for part in re.split(r"[,+]", spec):  # "+" too: the sweep's --qemus takes a comma-separated list
        target, _, ver = part.strip().partition("=")
        if not version.match(ver) or not target:
            raise UsageError(f"--qemu {spec!r}: {part!r} is not TARGET=X.Y.Z")
        if target not in targets and ignore_absent:
            continue
        if target not in targets:
            raise UsageError(f"--qemu {spec!r}: {target} is not among the installed targets "
                             f"({', '.join(targets)})")
        if target in out:
            raise UsageError(f"--qemu {spec!r}: {target} named twice")
        out[target] = ver
    return out


def next_version(tests_dir: Path, arch: str, version: str) -> str | None:
    """The next QEMU version libvirt's test data holds for `arch` after `version` (None: none)."""
    have = sorted(name_parts(p)[0] for p in replies_files(tests_dir) if name_parts(p)[1] == arch)
    cur = tuple(int(x) for x in version.split("."))
    later = [v for v in have if v > cur]
    return ".".join(map(str, later[0])) if later else None


def spec_label(versions: dict[str, str]) -> str:
    """A run's name for the mix: "aarch64@4.2.0+x86_64@8.0.0" ("" for none)."""
    return "+".join(f"{t}@{v}" for t, v in sorted(versions.items()))


def transcript_gz(tests_dir: Path, target: str, version: str, transcripts_dir: Path) -> bytes:
    """The gzip JSON transcript a replaying emulator of QEMU `version` for `target` serves."""
    import gzip

    t = load_as_transcript(find(tests_dir, version, target), transcripts_dir)
    return gzip.compress(json.dumps(t.to_json(), separators=(",", ":")).encode(), 6)


def to_transcript(rf: RepliesFile, timing: Transcript, kvm_as_recorded: bool = False) -> Transcript:
    """The replies as a transcript with `timing`'s times (the rule in the module docstring).

    `kvm_as_recorded`: the replay answers query-kvm as the file does even where /dev/kvm is not
    usable here (the oracle check compares with what libvirt derived on a host with KVM).
    Otherwise a file of another architecture than this host's says KVM is absent, as that QEMU
    would here (libvirt recorded the aarch64 and s390x files on hosts of their own kind)."""
    launches, how = [], {"same command": 0, "same name": 0, "other launch": 0, "all commands": 0}
    for i, exchanges in enumerate(rf.launches):
        accel = "kvm:tcg" if i == 0 else "tcg"
        base = timing.launch_for(accel)
        exs = []
        for cmd, rep in exchanges:
            latency, rule = _borrowed_latency(timing, base, cmd["execute"], cmd.get("arguments"))
            how[rule] += 1
            if cmd["execute"] == "query-kvm" and not kvm_as_recorded and not _native(rf.arch):
                rep = {"return": {"enabled": False, "present": False}}  # no KVM for it on this host
            exs.append(Exchange(cmd["execute"], cmd.get("arguments"), latency, rep.get("return"),
                                rep.get("error")))
        launches.append(Launch(accel, base.ready_s, base.greeting_s, _greeting(base.greeting, exchanges),
                               exs, base.quit_s, base.spawn_s, base.connected_s, base.rss_kib))
    ver = _version_reply(rf)
    t = Transcript(target=rf.arch, binary=f"libvirt-tests/{rf.path.name}",
                   version={**ver.get("qemu", {}), "package": ver.get("package", "")},
                   version_text=_version_text(ver), recorded_at=timing.recorded_at,
                   kvm_at_record=True, launches=launches, repeats=timing.repeats,
                   round_trip=timing.round_trip, work_rate=timing.work_rate)
    t.origin = {"replies": rf.path.name, "qemu": rf.label.rsplit(".", 1)[0], "arch": rf.arch,
                "timings": "modelled", "timing_rule": TIMING_RULE,
                "timing_from": f"{transcript_filename(timing.target)} (QEMU "
                               f"{timing.version.get('major')}.{timing.version.get('minor')}."
                               f"{timing.version.get('micro')})",
                "timing_matches": how, "kvm_as_recorded": kvm_as_recorded}
    return t


def _native(arch: str) -> bool:
    import platform

    host = platform.machine()
    return arch == host or (host == "x86_64" and arch == "i386")


def _borrowed_latency(t: Transcript, launch: Launch, execute: str, args: dict | None) -> tuple[float, str]:
    key = command_key(execute, args)
    for scope, rules in (([launch], ("same command", "same name")),
                         (t.launches, ("other launch", "other launch"))):
        exact = [e.latency_s for ln in scope for e in ln.exchanges
                 if command_key(e.execute, e.arguments) == key]
        if exact:
            return statistics.median(exact), rules[0]
        named = [e.latency_s for ln in scope for e in ln.exchanges if e.execute == execute]
        if named:
            return statistics.median(named), rules[1]
    every = [e.latency_s for ln in t.launches for e in ln.exchanges]
    return (statistics.median(every) if every else 0.0), "all commands"


def _version_reply(rf: RepliesFile) -> dict:
    for cmd, rep in rf.launches[0]:
        if cmd["execute"] == "query-version" and isinstance(rep.get("return"), dict):
            return rep["return"]
    raise UsageError(f"{rf.path}: no query-version reply in the first launch")


def _version_text(ver: dict) -> str:
    q = ver.get("qemu", {})
    pkg = f" ({ver['package']})" if ver.get("package") else ""
    return f"QEMU emulator version {q.get('major')}.{q.get('minor')}.{q.get('micro')}{pkg}\n"


def _greeting(recorded: dict, exchanges: list[tuple[dict, dict]]) -> dict:
    """The recording's greeting with the replies' version (the file holds no greeting)."""
    g = json.loads(json.dumps(recorded))
    ver = next((r.get("return") for c, r in exchanges if c["execute"] == "query-version"), None)
    if isinstance(ver, dict) and isinstance(g.get("QMP"), dict):
        g["QMP"]["version"] = ver
    return g


def timing_transcript(arch: str, transcripts_dir: Path) -> Transcript:
    """The recorded 7.2 transcript whose times a replies file of `arch` borrows."""
    p = Path(transcripts_dir) / transcript_filename(arch)
    if not p.is_file():
        raise UsageError(f"no recorded transcript {p} to borrow {arch}'s times from")
    return load(p)


def load_as_transcript(path: Path, transcripts_dir: Path, kvm_as_recorded: bool = False) -> Transcript:
    rf = parse(path)
    return to_transcript(rf, timing_transcript(rf.arch, transcripts_dir), kvm_as_recorded)


__all__ = ["FORMAT", "RepliesFile", "parse", "replies_files", "find", "to_transcript",
           "load_as_transcript", "timing_transcript", "name_parts"]
