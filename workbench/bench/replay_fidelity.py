"""One probe of each of the 30 default targets, real binary and simulated one, interleaved.

Real: /usr/bin/qemu-system-<target> (left out, with a note on stderr, where absent).
Simulated: the replaying emulator of an install made with --latency (default: recorded).
Each value is one probe as libvirt does it (two launches where KVM is usable).
"""
from __future__ import annotations

import sys
from pathlib import Path

from workbench import trace
from workbench.bench.common import Bench, measure
from workbench.sim.installs import ensure_install
from workbench.sim.catalog import INSTALL_ORDER, MAX_SIMULATED

REAL_DIR = Path("/usr/bin")


def main() -> None:
    from workbench.qemu.cache import KvmCheck
    from workbench.qemu.probe import probe

    b = Bench("replay_fidelity")
    sim_dir = ensure_install(b.args.install_root, MAX_SIMULATED, b.args.latency)
    kvm = KvmCheck().usable()

    def setup() -> None:
        trace.TRACER.reset()

    targets = INSTALL_ORDER[:MAX_SIMULATED]
    if b.args.targets != "all":
        targets = [t for t in targets if t in b.args.targets.split(",")]
    for target in targets:
        real = REAL_DIR / f"qemu-system-{target}"
        sides = [("simulated", sim_dir / real.name)]
        if real.is_file():
            sides.insert(0, ("real", real))
        elif not b.args.worker:
            print(f"replay_fidelity: no {real}: real side left out", file=sys.stderr)
        for kind, binary in sides:
            meta = b.meta("replay_fidelity", case=target, real=kind == "real", n_emulators=1)
            del meta["wb_strategy"], meta["wb_cache"], meta["wb_domains"]  # one binary, no driver
            b.add(
                f"replay_fidelity.{target}.{kind}",
                lambda loops, binary=str(binary): measure(
                    loops, setup, lambda _: probe(binary, kvm_usable=kvm, teardown=b.args.teardown)),
                metadata=meta)


if __name__ == "__main__":
    main()
