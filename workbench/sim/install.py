"""Install simulated `qemu-system-*` binaries: one self-contained replaying script per target.

Each file embeds its transcript (base64 of the .json.gz bytes) and calls
`workbench.sim.replay.main`, so replacing or touching one file changes that binary alone
(its ctime is what a capabilities cache keys on). The shebang runs this interpreter with `-IS`
(isolated, no site: fastest startup; Linux passes at most one shebang argument), so the script
puts the repository root on sys.path itself.
"""
from __future__ import annotations

import base64
import datetime as _dt
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from workbench import atomicfile
from workbench.errors import BadValue
from workbench.sim import replay
from workbench.sim.catalog import INSTALL_ORDER, MAX_SIMULATED
from workbench.sim.transcript import transcript_filename
from workbench.paths import TRANSCRIPTS_DIR

MANIFEST = "install.json"
_REPO_ROOT = Path(replay.__file__).resolve().parents[2]  # parent of the `workbench` package

_SCRIPT = """#!{python} -IS
# qemu-system-{target}: replays a recorded QEMU. Written by workbench.sim.install.
import sys
sys.path.insert(0, {root!r})
from binascii import a2b_base64
from workbench.sim.replay import main
TRANSCRIPT = {data!r}
sys.exit(main(sys.argv, a2b_base64(TRANSCRIPT), {latency!r}, {misbehave!r}))
"""


@dataclass
class Install:
    dest: Path
    targets: list[str]
    latency: str
    paths: list[Path]


@dataclass
class TargetInfo:
    target: str
    position: int  # 1-based place in INSTALL_ORDER
    has_transcript: bool
    transcript: Path


def list_targets(transcripts_dir: Path = TRANSCRIPTS_DIR) -> list[TargetInfo]:
    """The install order, with whether each target has a recorded transcript."""
    out = []
    for i, t in enumerate(INSTALL_ORDER, 1):
        p = Path(transcripts_dir) / transcript_filename(t)
        out.append(TargetInfo(t, i, p.is_file(), p))
    return out


def _choose(emulators: int | str, targets: list[str] | None) -> list[str]:
    if targets is not None:
        unknown = [t for t in targets if t not in INSTALL_ORDER]
        if unknown or not targets or len(set(targets)) != len(targets):
            raise BadValue(f"targets must be distinct names from the install order; bad: {unknown or targets}")
        return list(targets)
    if emulators == "all":
        return list(INSTALL_ORDER)
    if isinstance(emulators, bool) or not isinstance(emulators, int):
        raise BadValue(f"emulators must be an integer 1..{MAX_SIMULATED} or 'all', not {emulators!r}")
    if not 1 <= emulators <= MAX_SIMULATED:
        raise BadValue(f"emulators must be 1..{MAX_SIMULATED} (or 'all' for all {len(INSTALL_ORDER)}), "
                         f"not {emulators}")
    return list(INSTALL_ORDER[:emulators])


def install(dest: Path, emulators: int | str = MAX_SIMULATED, latency: str = "recorded",
            transcripts_dir: Path = TRANSCRIPTS_DIR, misbehave: dict[str, str] | None = None,
            targets: list[str] | None = None, qemu: str = "",
            libvirt_tests: Path | None = None, qemu_ignore_absent: bool = False) -> Install:
    """Write `dest/qemu-system-<target>` for the first `emulators` targets (or `targets`).

    `qemu` (libvirt_replies.parse_qemu_spec): the targets that replay libvirt 9.0's test data
    of that QEMU version (from `libvirt_tests`, default libvirt_replies.default_tests_dir())
    instead of the 7.2 recording; their times are borrowed, and the manifest says `modelled`.

    Reinstalling into the same directory replaces the files and removes binaries that the
    previous install wrote and this one does not.
    """
    chosen = _choose(emulators, targets)
    misbehave = dict(misbehave or {})
    try:  # the replay keeps to the standard library (its start-up is timed): its ValueErrors
        replay.parse_latency(latency)
        for mode in misbehave.values():
            replay.check_misbehave(mode)
    except ValueError as e:
        raise BadValue(str(e)) from None
    for t in misbehave:
        if t not in chosen:
            raise BadValue(f"misbehave names {t!r}, which is not being installed")
    transcripts_dir = Path(transcripts_dir)
    missing = [t for t in chosen if not (transcripts_dir / transcript_filename(t)).is_file()]
    if missing:
        raise FileNotFoundError(f"no transcript in {transcripts_dir} for: {', '.join(missing)}")
    from workbench.sim import libvirt_replies

    versions = libvirt_replies.parse_qemu_spec(qemu, chosen, qemu_ignore_absent)
    tests_dir = Path(libvirt_tests) if libvirt_tests else libvirt_replies.default_tests_dir()
    data = {t: libvirt_replies.transcript_gz(tests_dir, t, versions[t], transcripts_dir)
            if t in versions else (transcripts_dir / transcript_filename(t)).read_bytes() for t in chosen}
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    previous = _previous_targets(dest)
    paths = []
    for t in chosen:
        path = dest / f"qemu-system-{t}"
        write_emulator(path, data[t], latency, misbehave.get(t))
        paths.append(path)
    for t in previous - set(chosen):
        (dest / f"qemu-system-{t}").unlink(missing_ok=True)
    manifest = {"targets": chosen, "latency": latency,
                "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "transcripts": str(transcripts_dir.resolve()), "misbehave": misbehave,
                "python": sys.executable,
                # targets replaying libvirt's test data: their QEMU and whose times they borrow
                "qemu": {t: {"version": v, "replies": str(tests_dir), "timings": "modelled"}
                         for t, v in versions.items()}}
    _write_atomic(dest / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode(), 0o644)
    return Install(dest, chosen, latency, paths)


def write_emulator(path: Path, transcript_gz: bytes, latency: str = "recorded",
                   misbehave: str | None = None) -> None:
    """Write one replaying executable at `path` serving `transcript_gz` (a .json.gz's bytes)."""
    data = base64.b64encode(transcript_gz)
    script = _SCRIPT.format(python=sys.executable, target=path.name.removeprefix("qemu-system-"),
                            root=str(_REPO_ROOT), data=data, latency=latency, misbehave=misbehave)
    _write_atomic(path, script.encode(), 0o755)


def _previous_targets(dest: Path) -> set[str]:
    """The manifest's targets, only those the catalog knows (the file is not trusted,
    `"a/../../v.txt"` must never become a path we delete)."""
    from workbench.sim.catalog import INSTALL_ORDER
    try:
        targets = json.loads((dest / MANIFEST).read_text())["targets"]
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    if not isinstance(targets, list):
        return set()
    return {t for t in targets if isinstance(t, str) and t in INSTALL_ORDER and "/" not in t}


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    with atomicfile.replacing(path) as f:  # created exclusively: a planted link is never followed
        f.write(data)
        os.chmod(f.fileno(), mode)
