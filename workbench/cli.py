"""`workbench`: the command line. Builds the parser from workbench/commands/ and maps errors.

Exit codes: 0 success, 1 the operation failed (probe, daemon, call), 2 bad input (usage, XML).
This is the one place a WorkbenchError becomes a message and an exit code.
"""
from __future__ import annotations

import argparse
import sys

from workbench.commands import bench, driver, emulators, hazard, report, validate
from workbench.errors import WorkbenchError, _Terminated, unwind_on_sigterm

DESCRIPTION = """\
Measure what QEMU capability probing costs: libvirt's full capabilities object (virCaps, every
emulator probed at startup) against the per-emulator capabilities cache of libvirt >= 6.0.
Simulated emulators are real processes that speak QMP and replay recordings of Debian 12's
QEMU 7.2; real ones are the host's qemu-system-* binaries."""

COMMAND_GROUPS = (emulators, driver, bench, report, validate, hazard)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="workbench", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    unwind_on_sigterm()  # the daemon installs its own in serve()
    try:
        return args.func(args)
    except WorkbenchError as e:
        print(f"workbench: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:  # a file or socket named on the command line: say which, no traceback
        where = f"{e.filename}: " if e.filename else ""
        print(f"workbench: {where}{e.strerror or e}", file=sys.stderr)
        return 2 if isinstance(e, (FileNotFoundError, IsADirectoryError, NotADirectoryError)) else 1
    except _Terminated:
        print("workbench: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
