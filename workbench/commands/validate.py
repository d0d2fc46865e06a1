"""`workbench validate`: differential checks of the model against the installed libvirt."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from workbench.args import libvirt_option, name_list
from workbench.paths import DOMAINS_DIR


def _checks(text: str) -> tuple[str, ...]:
    from workbench.libvirt9.validate import CHECKS

    return tuple(name_list(text, "checks", CHECKS))


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "validate", help="compare the model with the installed libvirt on the same binaries",
        description="Run the installed libvirt (virsh, qemu:///embed) and the model (per-emulator "
                    "strategy) on the binaries of --install and compare: the guest list of "
                    "capabilities, the default machine and emulator of a minimal domain per arch "
                    "and virt type, the probe command sequence per binary (libvirt's debug log) and "
                    "define verdicts on the corpus. Exit 0 when every difference is absent or "
                    "deliberate (docs/model.md), 1 on any other, 2 when libvirt is not installed. "
                    "With several --libvirt builds each is validated in turn and their libvirt "
                    "columns are compared row by row (a patched build must answer as the stock "
                    "one does); any difference between builds also exits 1.")
    where = s.add_mutually_exclusive_group(required=True)
    where.add_argument("--install", type=Path,
                       help="directory of qemu-system-* binaries or links (e.g. links to /usr/bin's)")
    where.add_argument("--libvirt-tests", type=Path, metavar="DIR",
                       help="libvirt 9.0 source's tests/ directory (scripts/fetch-libvirt-source.sh "
                            "prints the source's path): probe every qemucapabilitiesdata/*.replies "
                            "with the workbench's probe and compare with libvirt's caps_*.xml and "
                            "domaincapsdata/*.xml, per file and aspect (needs no libvirt installed)")
    s.add_argument("--corpus", type=Path, default=DOMAINS_DIR,
                   help="domain XML corpus for the define check (default data/domains)")
    s.add_argument("--checks", type=_checks, default=None,
                   help="comma-separated subset of guests,default,probe,define (default: all)")
    libvirt_option(s)
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    s.add_argument("--all-rows", action="store_true", help="print agreeing rows too (table output)")
    s.set_defaults(func=validate)


def validate(args: argparse.Namespace) -> int:
    if args.libvirt_tests is not None:
        return _validate_libvirt_tests(args)
    from workbench.libvirt9 import builds
    from workbench.libvirt9.validate import CHECKS, compare_builds, format_table, validate as run

    chosen = builds.parse(args.libvirt)
    reports = [run(args.install, args.corpus, args.checks or CHECKS, build=b) for b in chosen]
    differ = compare_builds(reports, [b.label for b in chosen]) if len(chosen) > 1 else []
    if args.json:
        out = [dict(r.to_json(), system=b.label) for r, b in zip(reports, chosen)]
        print(json.dumps(out[0] if len(out) == 1 else {"reports": out, "builds_differ": differ}, indent=1))
    else:
        for r, b in zip(reports, chosen):
            if len(chosen) > 1:
                print(f"== {b.describe()}")
            print(format_table(r, only_differences=not args.all_rows))
        if len(chosen) > 1:
            print(f"\nlibvirt builds compared row by row ({', '.join(b.label for b in chosen)}): "
                  f"{len(differ)} rows differ")
            for d in differ:
                print("  " + " | ".join(f"{k}: {v}" for k, v in d.items()))
    return max([r.exit_code for r in reports] + [1 if differ else 0])


def _validate_libvirt_tests(args: argparse.Namespace) -> int:
    from workbench.libvirt9.oracle import check_tests_dir, format_table, run

    report = run(check_tests_dir(args.libvirt_tests))
    if args.json:
        print(json.dumps(report.to_json(), indent=1))
    else:
        print(format_table(report, only_differences=not args.all_rows))
    return report.exit_code
