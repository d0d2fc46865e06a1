"""libvirt 9.0's own C domain XML parse path, timed beside the model's: define + undefine of the
corpus domains on `test:///default` (parse, post-parse and validate in C, no QEMU probing, no
disk), in process through the Python binding.

    python -m workbench.libvirt9.parse_time [--domains x86_64-minimal,x86_64-server,x86_64-devices] [--calls 200]

Prints a markdown table (median and quartiles of defineXML per domain, µs) and the libvirt
version; docs/measured.md keeps the figures with the date and machine they were taken on.
The test driver accepts only `<domain type='test'>`: the domain's type is rewritten to it.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import time

from workbench.errors import Unsupported, UsageError, WorkbenchError
from workbench.paths import DOMAINS_DIR

DEFAULT_DOMAINS = ("x86_64-minimal", "x86_64-server", "x86_64-devices")
TYPE = re.compile(r"<domain\s+type=(['\"])\w+\1")


def time_defines(domains: list[str], calls: int) -> list[tuple[str, int, list[float]]]:
    """Per domain: its line count and `calls` defineXML times in seconds (each undefined again)."""
    try:
        import libvirt
    except ImportError:
        raise Unsupported("the libvirt Python binding is not installed (pip install '.[libvirt]')") from None
    libvirt.registerErrorHandler(lambda *_: None, None)  # errors come back as exceptions
    conn = libvirt.open("test:///default")
    out = []
    try:
        for name in domains:
            path = DOMAINS_DIR / f"{name}.xml"
            if not path.is_file():
                raise UsageError(f"--domains: no corpus domain {name!r} ({path})")
            xml = TYPE.sub("<domain type='test'", path.read_text(), count=1)
            times = []
            for _ in range(calls):
                t = time.perf_counter()
                dom = conn.defineXML(xml)
                times.append(time.perf_counter() - t)
                dom.undefine()
            out.append((name, len(path.read_text().splitlines()), times))
    except libvirt.libvirtError as e:
        raise WorkbenchError(f"libvirt test:///default: {e}") from None
    finally:
        conn.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m workbench.libvirt9.parse_time", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--domains", default=",".join(DEFAULT_DOMAINS), help="corpus domains (data/domains/NAME.xml)")
    p.add_argument("--calls", type=int, default=200, help="defineXML calls per domain (default 200)")
    args = p.parse_args(argv)
    if args.calls < 4:
        print("parse_time: --calls must be at least 4", file=sys.stderr)
        return 2
    try:
        import libvirt

        rows = time_defines([d for d in args.domains.split(",") if d], args.calls)
        v = libvirt.getVersion()
    except WorkbenchError as e:
        print(f"parse_time: {e}", file=sys.stderr)
        return e.exit_code
    except ImportError:
        print("parse_time: the libvirt Python binding is not installed", file=sys.stderr)
        return 2
    print(f"libvirt {v // 1000000}.{v // 1000 % 1000}.{v % 1000}, test:///default, defineXML, "
          f"{args.calls} calls per domain")
    print("| domain | lines | median (µs) | Q1 (µs) | Q3 (µs) |\n|---|---:|---:|---:|---:|")
    for name, lines, t in rows:
        q1, med, q3 = statistics.quantiles(t, n=4)
        print(f"| {name} | {lines} | {med * 1e6:,.0f} | {q1 * 1e6:,.0f} | {q3 * 1e6:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
