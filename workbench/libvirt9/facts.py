"""Gather the facts the model must follow, from libvirt 9.0 on an install of real binaries.

    python -m workbench.libvirt9.facts [--emulators-from /usr/bin] [--out data/libvirt9/facts.json]

Everything here is measured on this host's libvirt and binaries (nothing is written by hand):
the probe command sequence per binary (debug log), the guest list of getCapabilities, the
machine and emulator libvirt picks for a minimal domain per arch and virt type, define verdicts
for the corpus, and per-probe phase timings.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from workbench.libvirt9 import backend, capsxml, debuglog
from workbench.paths import DOMAINS_DIR

MINIMAL = ("<domain type='{vt}'><name>t</name><memory>65536</memory>"
           "<os><type arch='{arch}'>hvm</type></os></domain>")


def link_install(src: Path, dest: Path, limit: int | None = None) -> list[str]:
    """Symlink the `qemu-system-*` executables of `src` into `dest` (sorted; first `limit`)."""
    names = sorted(p.name for p in src.glob("qemu-system-*") if p.is_file())[:limit]
    dest.mkdir(parents=True, exist_ok=True)
    for n in names:
        (dest / n).symlink_to(src / n)
    return names


def corpus_files() -> list[Path]:
    return sorted(DOMAINS_DIR.rglob("*.xml"))


def gather(install: Path, root: Path, log: Path) -> dict:
    t0 = time.perf_counter()
    cold = backend.run_job(install, root, [{"op": "open"}, {"op": "capabilities"}], log_file=log)
    wall = time.perf_counter() - t0
    if not all(r.ok for r in cold):
        raise backend.LibvirtError(f"getCapabilities failed: {[r.error for r in cold]}")
    guests = capsxml.guests(cold[1].result)
    probes = debuglog.parse_file(log)
    steps = []
    for g in guests:
        for vt in ("qemu", "kvm"):
            steps.append({"op": "define", "label": f"minimal/{g.arch}/{vt}",
                          "xml": MINIMAL.format(vt=vt, arch=g.arch)})
    files = corpus_files()
    for f in files:
        steps.append({"op": "define", "label": f"corpus/{f.relative_to(DOMAINS_DIR)}",
                      "xml": f.read_text(errors="replace"), "readback": False})
    warm = backend.run_job(install, root, [{"op": "open"}] + steps)
    defaults = {}
    corpus = {}
    for r in warm[1:]:
        kind, rest = r.label.split("/", 1)
        if kind == "minimal":
            machine, emulator = capsxml.machine_and_emulator(r.result) if r.ok else (None, None)
            defaults[rest] = {"ok": r.ok, "machine": machine, "emulator": emulator, "error": r.error}
        else:
            corpus[rest] = {"ok": r.ok, "error": r.error}
    return {
        "cold_getcapabilities_s": {"open": cold[0].time_s, "getCapabilities": cold[1].time_s,
                                   "worker_wall": wall},
        "guests": [asdict(g) for g in guests],
        "probes": debuglog.to_json(probes),
        "minimal_domain_defaults": defaults,
        "corpus_define": corpus,
    }


def summarise_probes(probes: list[dict]) -> dict:
    per = {}
    for p in probes:
        per.setdefault(Path(p["binary"]).name + ("+tcg" if p["force_tcg"] else ""), []).append(
            p["phases"])
    return {b: {k: statistics.median(v[k] for v in ph if v[k] is not None)
                for k in ph[0] if any(v[k] is not None for v in ph)} for b, ph in per.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m workbench.libvirt9.facts")
    ap.add_argument("--emulators-from", type=Path, default=Path("/usr/bin"))
    ap.add_argument("--out", type=Path, default=Path("data/libvirt9/facts.json"))
    ap.add_argument("--log-dir", type=Path, default=None, help="keep the raw debug logs here")
    args = ap.parse_args(argv)
    reason = backend.unavailable_reason()
    if reason:
        print(f"skipped: {reason}", file=sys.stderr)
        sys.exit(1)
    tmp = Path(tempfile.mkdtemp(prefix="lv9f", dir="/tmp"))
    try:
        install = tmp / "i"
        names = link_install(args.emulators_from, install)
        root = backend.new_root()
        log = (args.log_dir or tmp) / "facts.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.unlink(missing_ok=True)  # libvirt appends to its log file
        facts = gather(install, root, log)
        shutil.rmtree(root, ignore_errors=True)
        install = install.resolve()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    import libvirt
    v = libvirt.getVersion()
    facts = {"system": backend.SYSTEM, "libvirt_version": f"{v // 1000000}.{v // 1000 % 1000}.{v % 1000}",
             "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "host": platform.node(), "install": {"from": str(args.emulators_from), "links": names},
             "note": "measured on real binaries, embedded driver under a child subreaper; "
                     "timings on a loaded shared 2-core machine",
             **facts, "probe_phase_medians_s": summarise_probes(facts["probes"])}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # temporary paths -> placeholders, so the committed file changes only when libvirt does
    text = json.dumps(facts, indent=1).replace(str(install), "{install}").replace(str(root), "{root}")
    args.out.write_text(text + "\n")
    print(f"wrote {args.out}: {len(facts['guests'])} guests, {len(facts['probes'])} probe launches, "
          f"{sum(c['ok'] for c in facts['corpus_define'].values())}/{len(facts['corpus_define'])} "
          f"corpus domains defined")


if __name__ == "__main__":
    main()
