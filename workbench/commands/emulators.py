"""Commands on emulators themselves: record (real QEMU -> transcripts), install (replaying
emulators), probe (libvirt's QMP sequence, through the cache)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from workbench.args import (TEARDOWN_HELP, emulator_count, latency, positive_int, qemu_spec, target_list,
                                     reaper_setting, teardown_mode)
from workbench.errors import ProbeError, UsageError
from workbench.sim.catalog import INSTALL_ORDER, MAX_SIMULATED
from workbench.sim.transcript import REPEATS


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("record", help="record probe transcripts from the real qemu-system-* binaries",
                       description="Probe every real qemu-system-* binary with libvirt's sequence, in "
                                   "rounds, and save one gzip JSON transcript per binary: its replies, "
                                   "every time the median over the rounds, the socket round trip and "
                                   "this machine's speed (what a replay needs to reproduce it).")
    s.add_argument("--qemu-dir", type=Path, default=Path("/usr/bin"),
                   help="where the real binaries are (default: /usr/bin)")
    s.add_argument("-o", "--output", type=Path, required=True, help="directory for the .json.gz transcripts")
    s.add_argument("--repeats", type=positive_int, default=REPEATS,
                   help=f"probes per binary whose median times are kept, taken in rounds over all "
                        f"the binaries after one warm-up round (default {REPEATS}); record on a quiet machine")
    s.set_defaults(func=record)

    s = sub.add_parser("install", help="write a simulated install of N replaying emulators",
                       description="Write N executables qemu-system-<target> that speak QMP and replay "
                                   "recordings of Debian 12's QEMU 7.2.")
    s.add_argument("dir", type=Path, help="directory to write qemu-system-<target> executables into")
    s.add_argument("--emulators", type=emulator_count, default=MAX_SIMULATED,
                   help=f"how many, 1 to {MAX_SIMULATED}, in the fixed order starting with x86_64 "
                        f"('all': {len(INSTALL_ORDER)}; default {MAX_SIMULATED})")
    s.add_argument("--latency", type=latency, default="recorded",
                   help="recorded: replay recorded timings (default); none: answer at once; FACTOR: scale them")
    s.add_argument("--qemu", type=qemu_spec, default="", metavar="VERSION|TARGET=VERSION,...",
                   help="replay libvirt 9.0's test data (tests/qemucapabilitiesdata) of this QEMU "
                        "version instead of the 7.2 recording: '8.0.0' for every target, or "
                        "'x86_64=8.0.0,aarch64=4.2.0' for those targets (the others replay 7.2). "
                        "Their times are borrowed from the 7.2 recording of the same target: "
                        "modelled, not measured (docs/model.md)")
    s.add_argument("--libvirt-tests", type=Path, default=None, metavar="DIR",
                   help="libvirt 9.0 source's tests/ (default: where scripts/fetch-libvirt-source.sh "
                        "puts it)")
    s.set_defaults(func=install)

    s = sub.add_parser("probe", help="probe binaries with libvirt's QMP sequence (through the cache if --cache-dir)",
                       description="Probe emulators as libvirt does and print what each supports.")
    s.add_argument("binaries", nargs="+", type=Path,
                   help="emulator executables, real or simulated, or an install directory (all its qemu-system-*)")
    s.add_argument("--cache-dir", type=Path, help="use and fill this capabilities cache directory")
    s.add_argument("--json", action="store_true", help="print one JSON record per binary")
    s.add_argument("--timeout", type=float, default=10.0, help="time limit per probe step, seconds (default 10)")
    s.add_argument("--teardown", type=teardown_mode, default="libvirt9", help=TEARDOWN_HELP)
    s.add_argument("--reaper", type=reaper_setting, default=None, metavar="prompt|late:SECONDS|never",
                   help="who collects each probed QEMU after it exits (this process, a child "
                        "subreaper): at once (prompt, the default; $WORKBENCH_REAPER sets it too), "
                        "SECONDS after the exit, or never (as a container's PID 1 that does not "
                        "wait: libvirt9's teardown then waits its whole 40 s)")
    s.set_defaults(func=probe)

    s = sub.add_parser("fidelity", help="compare replaying emulators with the real binaries, phase by phase",
                       description="Probe each target's real /usr/bin/qemu-system-<target> and its replaying "
                                   "emulator (recorded latency), interleaved, each probe in a fresh process; "
                                   "print the medians per phase (start to ready, connect + greeting, commands, "
                                   "the prober's own work between commands, kill and clean up) on both sides "
                                   "and as recorded. The replay_fidelity benchmark times whole probes; this "
                                   "says which phase a difference is in.")
    s.add_argument("--targets", type=target_list, default=["sh4eb", "alpha", "m68k", "x86_64"],
                   help="comma-separated targets with a real binary here (default: sh4eb,alpha,m68k,x86_64)")
    s.add_argument("--repeats", type=positive_int, default=None,
                   help="probes per target and side (default 7); with --parallel, rounds (default 3)")
    s.add_argument("--json", action="store_true", help="print the rows as JSON (seconds)")
    s.add_argument("--parallel", action="store_true",
                   help="instead: the parallel strategy's cold get_capabilities with 1, 2, 4, 8 probe "
                        "workers on the real binaries and on the replays, alternated, --repeats rounds "
                        "(default 3 here): each side's speed-up and the replays' speed-up over the real one")
    s.add_argument("--emulators", type=emulator_count, default=None,
                   help="with --parallel: emulators in both installs (default 30)")
    s.set_defaults(func=fidelity)

    s = sub.add_parser("prebuild", help="write prebuilt capabilities beside an install's emulators",
                       description="What a packager runs at build time: probe every qemu-system-* in DIR "
                                   "(KVM taken as unusable) and write DIR/qemu-caps/<name>.xml, keyed by "
                                   "the binary's sha256 and QEMU's version and package (strategy prebuilt).")
    s.add_argument("dir", type=Path, help="directory holding the qemu-system-* binaries")
    s.add_argument("--timeout", type=float, default=30.0, help="time limit per probe step, seconds (default 30)")
    s.set_defaults(func=prebuild)


def record(args: argparse.Namespace) -> int:
    from workbench.sim.recorder import find_real_binaries, record_all

    if not find_real_binaries(args.qemu_dir):
        raise UsageError(f"no qemu-system-* executables in {args.qemu_dir}")
    outcomes = record_all(args.qemu_dir, args.output, args.repeats,
                          progress=lambda n: print(f"recording {n}", file=sys.stderr))
    for o in outcomes:
        print(f"{o.binary}: {o.path if o.path else 'FAILED: ' + str(o.error)}")
    return 0 if all(o.path for o in outcomes) else 1


def fidelity(args: argparse.Namespace) -> int:
    if args.parallel:
        from workbench.bench import fidelity_parallel as fp

        n = args.emulators or 30
        rows = fp.scaling_rows(fp.measure(n, args.repeats or 3))
        print(json.dumps(rows, indent=1) if args.json else fp.format_rows(rows, n))
        return 0
    from workbench.sim.fidelity_phases import check_targets, compare, format_rows

    from workbench.analysis.stats import fidelity_verdict, paired_ratio

    check_targets(args.targets)
    rows = compare(args.targets, args.repeats or 7)
    for r in rows:  # the rounds pair the sides: one real and one replay probe, alternated
        eff = paired_ratio(r["real_values"], r["simulated_values"])
        r.update(ratio=eff.ratio, ci_low=eff.ci_low, ci_high=eff.ci_high, verdict=fidelity_verdict(eff))
    print(json.dumps(rows, indent=1) if args.json else format_rows(rows))
    return 0


def install(args: argparse.Namespace) -> int:
    from workbench.sim.install import install as do_install

    try:
        inst = do_install(args.dir, args.emulators, latency=args.latency, qemu=args.qemu,
                          libvirt_tests=args.libvirt_tests)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(f"installed {len(inst.targets)} emulators into {args.dir} (latency {args.latency})")
    from workbench.sim.libvirt_replies import parse_qemu_spec

    for target, version in parse_qemu_spec(args.qemu, inst.targets).items():
        print(f"  qemu-system-{target}: QEMU {version} from libvirt's test data, times modelled "
              f"(borrowed from the 7.2 recording)")
    return 0


def _binaries(paths: list[Path]) -> list[str]:
    """Binaries as given; an install directory stands for its qemu-system-* executables."""
    out = []
    for p in paths:
        if p.is_dir():
            found = sorted(q for q in p.glob("qemu-system-*") if q.is_file())
            if not found:
                raise UsageError(f"{p}: a directory with no qemu-system-* executables")
            out += [str(q.absolute()) for q in found]
        else:
            out.append(str(p.absolute()))
    return out


def _caps_record(caps) -> dict:
    d = dataclasses.asdict(caps)
    d["flags"] = sorted(caps.flags)
    return d


def _version_text(v: int) -> str:
    """QEMU's version number as libvirt stores it (major*1e6 + minor*1e3 + micro) -> 7.2.22."""
    return f"{v // 1_000_000}.{v // 1000 % 1000}.{v % 1000}"


def probe(args: argparse.Namespace) -> int:
    from workbench.qemu.cache import QemuCapsCache

    from workbench.qemu import teardown

    if args.reaper is not None:
        teardown.set_reaper(args.reaper)
    cache = QemuCapsCache(args.cache_dir, probe_timeout_s=args.timeout, teardown=args.teardown)
    status = 0
    for path in _binaries(args.binaries):
        try:
            caps = cache.lookup(path)
        except ProbeError as e:
            status = 1
            if args.json:
                print(json.dumps({"binary": path, "error": str(e), "step": e.step}))
            else:
                print(f"workbench: {e}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps(_caps_record(caps)))
        else:
            default = caps.preferred_machine("kvm" if caps.kvm else "qemu")
            print(f"{path}: arch {caps.arch}, QEMU {_version_text(caps.version)}, kvm {'yes' if caps.kvm else 'no'}, "
                  f"{len(caps.machines_for('qemu'))} machines (default {default.name if default else '-'}), "
                  f"{len(caps.cpu_model_names('qemu'))} CPU models, {len(caps.flags)} flags")
    s = cache.stats
    print(f"lookups {s['lookups']}: memory {s['memory']}, disk {s['disk']}, probed {s['probe']}, "
          f"invalid {s['invalid']}, discarded {s['discarded']}", file=sys.stderr)
    return status


def prebuild(args: argparse.Namespace) -> int:
    from workbench.qemu.designs.prebuilt import build_prebuilt

    if not args.dir.is_dir():
        raise UsageError(f"{args.dir}: not a directory")
    built = build_prebuilt(args.dir, args.timeout)
    if not built:
        raise UsageError(f"{args.dir}: no qemu-system-* executables to prebuild")
    for b in built:
        print(f"{b.binary}: {b.path}" if b.error is None else f"{b.binary}: FAILED {b.error}")
    return 1 if any(b.error for b in built) else 0
