"""Real libvirt 9.0 (embedded QEMU driver) on an install: startup or one API, cold or warm.

    python -m workbench.bench.libvirt_real --install DIR --case get_capabilities --cache cold
        [--kind real|simulated] [pyperf options]

One value = one worker process under a child subreaper (see workbench.libvirt9); the value is
the binding call's own time. Rows carry `wb_system` = "libvirt 9.0" (the model's rows: "model").
Skipped with exit 0 and a message when libvirt or its Python binding is absent.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pyperf

from workbench.libvirt9 import backend, measure


def _pass_flags(cmd: list[str], args) -> None:
    cmd.extend(["--install", str(args.install), "--case", args.case, "--cache", args.cache,
                "--kind", args.kind])


def main() -> None:
    reason = backend.unavailable_reason()
    if reason:
        print(f"libvirt_real skipped: {reason}", file=sys.stderr)
        return
    runner = pyperf.Runner(program_args=("-m", "workbench.bench.libvirt_real"),
                           add_cmdline_args=_pass_flags, processes=1, values=3, warmups=0, loops=1)
    p = runner.argparser
    p.add_argument("--install", type=Path, required=True, help="directory of qemu-system-* binaries")
    p.add_argument("--case", choices=measure.CASES, default="get_capabilities")
    p.add_argument("--cache", choices=("cold", "warm"), default="cold")
    p.add_argument("--kind", choices=("real", "simulated"), default="real",
                   help="what the install holds: real binaries or replaying emulators")
    args = runner.parse_args()
    roots = measure.Roots(args.install, args.cache)

    def time_func(loops: int) -> float:
        return sum(measure.time_once(args.install, roots, args.case) for _ in range(loops))

    n = measure.n_emulators(args.install)
    meta = {"wb_benchmark": "driver_startup" if args.case == "startup" else "api",
            "wb_case": args.case, "wb_phase": "total", "wb_n_emulators": n,
            "wb_cache": args.cache, "wb_emulators": args.kind, "wb_domains": 0,
            "wb_system": measure.SYSTEM}
    runner.bench_time_func(f"libvirt9.{args.case}.{args.cache}.n{n}", time_func, metadata=meta)


if __name__ == "__main__":
    main()
