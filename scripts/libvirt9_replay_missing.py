"""Which of libvirt 9.0's probe commands the recorded transcripts cannot answer.

    python scripts/libvirt9_replay_missing.py LIBVIRT_DEBUG_LOG [OUT.json]

LIBVIRT_DEBUG_LOG: a log of libvirt 9.0 probing the REAL binaries (workbench.libvirt9.facts
--log-dir keeps one). For each probe launch, every command (name + arguments) that the
transcript's launch with the same accel has no recorded reply for, in libvirt's order. The
replaying emulators answer such a command with a GenericError, on which libvirt abandons the
probe (it tolerates only DeviceNotFound), so the first missing command fails that binary.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from workbench.emulators.transcript import command_key, load
from workbench.libvirt9 import debuglog
from workbench.paths import TRANSCRIPTS_DIR


def missing(log: Path) -> dict[str, dict]:
    out = {}
    for p in debuglog.parse_file(log):
        name = Path(p.binary).name
        path = TRANSCRIPTS_DIR / f"{name}.json.gz"
        if not path.exists():
            continue
        t = load(path)
        launch = next((ln for ln in t.launches if ln.accel == p.accel), None)
        if launch is None:
            out[name + ("+tcg" if p.force_tcg else "")] = {
                "accel": p.accel, "missing": "no recorded launch with this accel"}
            continue
        keys = {command_key(e.execute, e.arguments) for e in launch.exchanges}
        out[name + ("+tcg" if p.force_tcg else "")] = {
            "accel": p.accel,
            "missing": [{"execute": c.name, "arguments": c.args} for c in p.commands
                        if c.name != "qmp_capabilities" and command_key(c.name, c.args) not in keys]}
    return out


def main() -> None:
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    text = json.dumps(missing(Path(sys.argv[1])), indent=1) + "\n"
    if len(sys.argv) == 3:
        Path(sys.argv[2]).write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
