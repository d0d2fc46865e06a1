"""`workbench teardown-hazard`: real libvirt 9.0's probe teardown under parents that reap late or never."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from workbench.args import libvirt_option, positive_int, reaper_setting
from workbench.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "teardown-hazard", help="real libvirt's probe teardown when QEMU's parent reaps promptly, late or never",
        description="Run real libvirt 9.0 (each --libvirt build) on --install with a cold cache "
                    "(open + getCapabilities) under a parent that reaps the daemonized probe QEMU "
                    "at once (prompt), SECONDS after its exit (late:SECONDS) or never, and report per build "
                    "and mode: libvirt's teardown wait per probe launch (its debug log), the "
                    "getCapabilities time, how long the parent held each exited QEMU, and the "
                    "zombies and processes left when the worker ended. Stock libvirt 9.0 polls "
                    "kill(pid, 0), which a zombie answers: under 'never' it waits 40 s per probe "
                    "launch; keep the install small (one emulator: ~1 min). Exit 2 when no build "
                    "can run here.",
)
    s.add_argument("--install", type=Path, required=True,
                   help="directory of qemu-system-* binaries or links (workbench install DIR, or links to /usr/bin's)")
    libvirt_option(s)
    s.add_argument("--reaper", type=reaper_setting, action="append", default=None, metavar="SETTING",
                   help="who collects the exited probe QEMU: prompt, late:SECONDS or never, as the "
                        "model's --reaper; repeat for several (default: prompt, late:1 and never)")
    s.add_argument("--repeat", type=positive_int, default=1, help="cold runs per build and mode (default 1)")
    s.add_argument("--json", action="store_true", help="print the rows as JSON")
    s.set_defaults(func=teardown_hazard)


def teardown_hazard(args: argparse.Namespace) -> int:
    from workbench.libvirt9 import builds, hazard
    from workbench.libvirt9.virsh import LibvirtUnavailable

    install = args.install.resolve()
    if not install.is_dir() or not any(install.glob("qemu-system-*")):
        raise UsageError(f"{args.install}: not a directory holding qemu-system-* emulators")
    chosen = builds.parse(args.libvirt)
    from workbench.qemu.teardown import ReaperSetting

    settings = args.reaper or [ReaperSetting.parse(t) for t in hazard.DEFAULT_REAPERS]
    rows = hazard.measure(install, chosen, settings, args.repeat)
    if all(r.skipped for r in rows):
        raise LibvirtUnavailable("no libvirt build can run here: "
                                 + "; ".join(sorted({r.skipped for r in rows if r.skipped})))
    if args.json:
        print(json.dumps({"install": str(install), "rows": [r.to_json() for r in rows]}, indent=1))
    else:
        print(hazard.format_table(rows, install))
    return 0
