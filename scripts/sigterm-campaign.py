#!/usr/bin/env python3
"""SIGTERM at random points of `probe`, `parse`, `validate` and the daemon; count what is left.

    scripts/sigterm-campaign.py [--tries 30] [--install DIR] [--commands probe,parse,validate,daemon]
                                [--max-delay 1.0] [--seed N]

Each try starts one command on the install (default: a fresh 3-emulator replay install; give
`--install` a directory of links to /usr/bin/qemu-system-* for real QEMU), waits a random delay,
sends SIGTERM, waits for the exit (after 60 s: SIGABRT, which prints every thread's stack, then
SIGKILL; counted as killed), and then counts processes whose command line or environment names
the try's private temporary root (WORKBENCH_TMP, where probes, `validate` and libvirt's embedded
root keep their folders) or the install, temporary directories left in that root, and
tracebacks on stderr. Prints one line per try and the totals; exit 1 when anything was left.

The delay is drawn uniformly from [0, D]: D is --max-delay when given, else each command's own
length, measured once before the tries by a run without SIGTERM (the daemon: until `ready`,
plus 0.5 s of serving), times 1.1, so the points cover the whole command.
`validate` needs libvirt installed (skipped with a note otherwise). The delays are this
script's own sampling of points in time, not synchronisation.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOMAIN = ('<domain type="qemu"><name>vm</name><memory>524288</memory><vcpu>1</vcpu>'
          '<os><type arch="{arch}">hvm</type></os></domain>')


def mentioning(marker: bytes) -> list[int]:
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            for part in ("cmdline", "environ"):
                try:
                    with open(f"/proc/{entry.name}/{part}", "rb") as f:
                        if marker in f.read():
                            out.append(int(entry.name))
                            break
                except OSError:
                    pass
    return out


def argv_for(command: str, install: Path, work: Path) -> list[str] | None:
    binaries = sorted(install.glob("qemu-system-*"))
    first = binaries[0]
    arch = first.name[len("qemu-system-"):]
    if command == "probe":
        return ["probe", str(first)]
    if command == "parse":
        (work / "d.xml").write_text(DOMAIN.format(arch=arch))
        return ["parse", str(work / "d.xml"), "--install", str(install)]
    if command == "validate":
        if shutil.which("virsh") is None:
            return None
        return ["validate", "--install", str(install), "--checks", "guests,probe"]
    return ["daemon", "--socket", str(work / "d.sock"), "--install", str(install), "--strategy", "full-caps"]


def length_of(command: str, install: Path) -> float | None:
    """Seconds one run of `command` takes without SIGTERM (the daemon: until ready, + 0.5 s);
    None when it cannot run here."""
    work = Path(tempfile.mkdtemp(prefix="sigterm-"))
    try:
        (work / "t").mkdir()
        argv = argv_for(command, install, work)
        if argv is None:
            return None
        env = dict(os.environ, WORKBENCH_TMP=str(work / "t"))
        t0 = time.monotonic()
        p = subprocess.Popen([sys.executable, "-m", "workbench.cli", *argv], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, env=env)
        if command == "daemon":
            p.stdout.readline()  # `ready` (or EOF if it failed)
            took = time.monotonic() - t0 + 0.5
            p.terminate()
        else:
            took = None
        p.communicate(timeout=600)
        return took if took is not None else time.monotonic() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def one_try(command: str, install: Path, delay: float) -> dict:
    work = Path(tempfile.mkdtemp(prefix="sigterm-"))
    tmp_root = work / "t"
    tmp_root.mkdir()
    argv = argv_for(command, install, work)
    if argv is None:
        shutil.rmtree(work)
        return {"skipped": "libvirt (virsh) not installed"}
    # faulthandler: a hung try is stopped with SIGABRT first, which prints every thread's stack
    env = dict(os.environ, WORKBENCH_TMP=str(tmp_root), PYTHONFAULTHANDLER="1")
    p = subprocess.Popen([sys.executable, "-m", "workbench.cli", *argv], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(delay)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    killed = False
    try:
        _, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        killed = True
        p.send_signal(signal.SIGABRT)
        try:
            _, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
    stopped_s = time.monotonic() - t0
    left = sorted(set(mentioning(str(work).encode())) | set(mentioning(str(install).encode())))
    dirs = sorted(x.name for x in tmp_root.iterdir())
    out = {"exit": p.returncode, "stopped_s": round(stopped_s, 3), "processes": len(left),
           "tempdirs": len(dirs), "traceback": "Traceback" in err, "killed": killed}
    if dirs:
        out["dirs"] = dirs
    if killed or out["traceback"]:
        out["stderr"] = err[-3000:]
    for pid in left:  # ours to end: they name this try's private folder
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(work, ignore_errors=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tries", type=int, default=30)
    ap.add_argument("--install", type=Path, help="qemu-system-* directory (default: a 3-emulator replay install)")
    ap.add_argument("--commands", default="probe,parse,validate,daemon")
    ap.add_argument("--max-delay", type=float, default=None,
                    help="draw delays from [0, this] s (default: each command's own length x 1.1)")
    ap.add_argument("--seed", type=int, default=25)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    install = args.install
    made = None
    if install is None:
        from workbench.sim.install import install as make_install
        made = Path(tempfile.mkdtemp(prefix="sigterm-inst-"))
        make_install(made, 3, latency="recorded")
        install = made
    commands = args.commands.split(",")
    totals = {"processes": 0, "tempdirs": 0, "traceback": 0, "killed": 0, "tries": 0}
    exits: dict[int, int] = {}  # 143 / 0: unwound; -15: before Python had set its handler (nothing started yet)
    try:
        span = {}
        for c in commands:
            length = args.max_delay if args.max_delay is not None else length_of(c, install.resolve())
            span[c] = None if length is None else length * (1.0 if args.max_delay is not None else 1.1)
            print(f"{c}: delays drawn from [0, {span[c]:.2f}] s" if span[c] is not None else
                  f"{c}: cannot run here (libvirt/virsh not installed): skipped", flush=True)
        for i in range(args.tries):
            command = commands[i % len(commands)]
            if span[command] is None:
                print(f"{i + 1:2d} {command:8s} skipped: libvirt (virsh) not installed", flush=True)
                continue
            delay = rng.uniform(0, span[command])
            r = one_try(command, install.resolve(), delay)
            print(f"{i + 1:2d} {command:8s} at {delay:.3f} s: {r}", flush=True)
            if "skipped" in r:
                continue
            totals["tries"] += 1
            exits[r["exit"]] = exits.get(r["exit"], 0) + 1
            for k in ("processes", "tempdirs", "traceback", "killed"):
                totals[k] += int(r[k])
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
    print(f"totals: {totals}; exit codes: {dict(sorted(exits.items()))}")
    return 1 if any(totals[k] for k in ("processes", "tempdirs", "traceback", "killed")) else 0


if __name__ == "__main__":
    sys.exit(main())
