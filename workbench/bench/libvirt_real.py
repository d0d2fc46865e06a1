"""Real libvirt 9.0 (embedded QEMU driver) on the sweep's installs: startup and each API, cold or warm.

    python -m workbench.bench.libvirt_real --emulators 30 --cache cold [--install DIR] [pyperf options]

The same arguments as the model's benchmark scripts, so the sweep runs it like them: without
--install it measures the simulated install of --emulators replaying emulators (the model's own
install: libvirt probing our replays); --install DIR measures real binaries. One value = one
libvirt worker process under a child subreaper (workbench.libvirt9); the value is the binding
call's own time. Rows carry `wb_system` = "libvirt 9.0" (the model's rows: "model") and the
strategy label "libvirt-9.0" (libvirt 9.0 ships per-emulator caching with virCaps kept for
GetCapabilities and GetVersion). Skipped with exit 0 and a message when libvirt is absent.
"""
from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pyperf

from workbench.bench.common import ensure_install
from workbench.errors import unwind_on_sigterm
from workbench.libvirt9 import backend, measure
from workbench.params import BenchParams, param_name

STRATEGY = "libvirt-9.0"


def _pass_flags(cmd: list[str], args) -> None:
    cmd.extend(BenchParams.from_args(args).to_argv() + ["--case", args.case])
    if args.install is not None:
        cmd.extend(["--install", str(args.install)])


def main() -> None:
    reason = backend.unavailable_reason()
    if reason:
        print(f"libvirt_real skipped: {reason}", file=sys.stderr)
        return
    runner = pyperf.Runner(program_args=("-m", "workbench.bench.libvirt_real"), add_cmdline_args=_pass_flags)
    p = runner.argparser
    # --cache-root is taken and unused: libvirt's roots are short paths under /tmp (its socket
    # paths must stay under 108 bytes); --strategy only labels libvirt's rows
    BenchParams.add_arguments(p, strategies=[STRATEGY])
    p.add_argument("--case", choices=("all",) + measure.CASES, default="all")
    p.add_argument("--install", type=Path, default=None, help="a directory of real qemu-system-* binaries")
    args = runner.parse_args()
    unwind_on_sigterm()  # a stopped sweep: the libvirt worker and its emulators end with this process
    if args.install is not None:
        install, kind, source = args.install, "real", "measured-real"
    else:
        root = args.install_root
        if root is None:
            root = Path(tempfile.mkdtemp(prefix="lv9i-"))
            atexit.register(shutil.rmtree, root, ignore_errors=True)
        install, kind, source = ensure_install(root, args.emulators, args.latency), "simulated", "measured-replay"
    real = kind == "real"
    params = replace(BenchParams.from_args(args), emulators=measure.n_emulators(install), domains=0,
                     latency="real" if real else args.latency)
    for case in (measure.CASES if args.case == "all" else (args.case,)):
        if args.cache == "warm" and case in measure.COLD_ONLY:
            continue
        roots = measure.Roots(install, args.cache)
        atexit.register(roots.close)  # this process's warm root (pyperf may exit inside bench_time_func)

        def time_func(loops: int, case=case, roots=roots) -> float:
            return sum(measure.time_once(install, roots, case) for _ in range(loops))

        benchmark = measure.BENCHMARK.get(case, "api")
        meta = {"wb_benchmark": benchmark, "wb_phase": "last_answer" if case in measure.SEQUENCES else "total",
                **params.to_metadata(), "wb_emulators": kind, "wb_source": source, "wb_system": measure.SYSTEM}
        if case != "startup":  # the model's rows name the call or scenario in wb_case
            meta["wb_case"] = case
        base = {"driver_startup": "driver_startup", "api": f"api.{case}"}.get(benchmark, f"scenario.{case}")
        runner.bench_time_func(param_name(base, meta), time_func, metadata=meta)


if __name__ == "__main__":
    main()
