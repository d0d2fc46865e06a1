"""Real libvirt 9.0 (embedded QEMU driver) on the sweep's installs: startup and each API, cold or warm.

    python -m workbench.bench.libvirt_real --emulators 30 --cache cold [--install DIR]
                                           [--libvirt PREFIX|system[,...]] [pyperf options]

The same arguments as the model's benchmark scripts, so the sweep runs it like them: without
--install it measures the simulated install of --emulators replaying emulators (the model's own
install: libvirt probing our replays); --install DIR measures real binaries. One value = one
libvirt worker process under a child subreaper (workbench.libvirt9); the value is the binding
call's own time. Rows carry `wb_system` = "libvirt 9.0" (the model's rows: "model") and the
strategy label "libvirt-9.0" (libvirt 9.0 ships per-emulator caching with virCaps kept for
GetCapabilities and GetVersion). --libvirt (BenchParams.libvirt) picks the builds measured: a
prefix made by scripts/build-libvirt.sh gives rows whose `wb_system` is its label ("libvirt 9.0 +
pidfd-teardown") and whose name carries build=SERIES; without it, the system's libvirt 9.0. A
build that cannot run here is skipped with the reason on stderr (exit 0); never faked.
"""
from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pyperf

from workbench.errors import WorkbenchError, unwind_on_sigterm
from workbench.libvirt9 import backend, builds, measure
from workbench.params import BenchParams, param_name
from workbench.sim.installs import ensure_install

STRATEGY = "libvirt-9.0"


def _pass_flags(cmd: list[str], args) -> None:
    cmd.extend(BenchParams.from_args(args).to_argv() + ["--case", args.case])
    if args.install is not None:
        cmd.extend(["--install", str(args.install)])


def _libvirt_arg(argv: list[str]) -> list[str] | None:
    """--libvirt (BenchParams.libvirt: comma-separated), read before pyperf parses: whether
    anything can be measured is decided first."""
    values = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--libvirt"]
    values += [a.split("=", 1)[1] for a in argv if a.startswith("--libvirt=")]
    last = values[-1] if values else ""
    return [v for v in last.split(",") if v] or None


def main() -> None:
    try:
        chosen = builds.parse(_libvirt_arg(sys.argv[1:]))
    except WorkbenchError as e:
        print(f"libvirt_real: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    runnable = []
    for build in chosen:
        reason = backend.unavailable_reason(build)
        if reason:
            print(f"libvirt_real skipped {build.label}: {reason}", file=sys.stderr)
        else:
            runnable.append(build)
    if not runnable:
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
    for build in runnable:
        for case in (measure.CASES if args.case == "all" else (args.case,)):
            if args.cache == "warm" and case in measure.COLD_ONLY:
                continue
            roots = measure.Roots(install, args.cache, build)
            atexit.register(roots.close)  # this process's warm root (pyperf may exit inside bench_time_func)

            def time_func(loops: int, case=case, roots=roots, build=build) -> float:
                return sum(measure.time_once(install, roots, case, build) for _ in range(loops))

            benchmark = measure.BENCHMARK.get(case, "api")
            meta = {"wb_benchmark": benchmark, "wb_phase": "last_answer" if case in measure.SEQUENCES else "total",
                    **params.to_metadata(), "wb_emulators": kind, "wb_source": source, "wb_system": build.label}
            if case != "startup":  # the model's rows name the call or scenario in wb_case
                meta["wb_case"] = case
            base = {"driver_startup": "driver_startup", "api": f"api.{case}"}.get(benchmark, f"scenario.{case}")
            name = param_name(base, meta)
            if not build.is_system:  # a stock build shares the system's label: the name tells them apart
                meta["wb_libvirt_prefix"] = str(build.prefix)
                name = f"{name[:-1]},build={build_name(build)}]" if name.endswith("]") else \
                    f"{name}[build={build_name(build)}]"
            runner.bench_time_func(name, time_func, metadata=meta)


def build_name(build: builds.LibvirtBuild) -> str:
    """'stock', or the patch series applied ('pidfd-teardown'), from the build's label."""
    rest = build.label[len(builds.SYSTEM_LABEL):].strip(" +")
    return rest.replace(" + ", "+") or "stock"


if __name__ == "__main__":
    main()
