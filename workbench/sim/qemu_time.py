"""How much of a replayed measurement is QEMU's own time, computed from the transcripts.

A replay spends, per launch, the recorded start-up (less the prober's fork + exec) and each
command's recorded latency less one socket round trip (the replay_timing model): that is the
replayed QEMU's time. Whatever else a measurement holds is the workbench's own work (the
prober's client, the cache, the driver, process and socket overheads). Kill and clean-up are
not recorded and count as the workbench's.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

from workbench.paths import TRANSCRIPTS_DIR
from workbench.sim.catalog import INSTALL_ORDER
from workbench.sim.replay_timing import launch_round_trip, round_trip_s
from workbench.sim.transcript import load_raw, transcript_filename


def probe_qemu_s(transcript: dict, kvm_usable: bool) -> float:
    """The replayed QEMU's seconds in one probe of this transcript's binary: its launches (the
    second, TCG-only one only where KVM is usable, as the prober decides)."""
    launches = transcript["launches"] if kvm_usable else transcript["launches"][:1]
    total = 0.0
    for ln in launches:
        total += max(0.0, float(ln["ready_s"]) - float(ln.get("spawn_s") or 0.0))
        rt = launch_round_trip(transcript, ln)
        for ex in ln["exchanges"]:
            reply = {"return": ex.get("return")} if ex.get("error") is None else {"error": ex["error"]}
            total += max(0.0, float(ex["latency_s"]) - round_trip_s(rt, len(json.dumps(reply)) + 2))
    return total


@functools.lru_cache(maxsize=None)
def install_qemu_s(n: int, kvm_usable: bool, transcripts_dir: Path = TRANSCRIPTS_DIR) -> float:
    """Seconds of replayed QEMU time in probing every emulator of an install of `n` (the first
    n targets of the install order) once. Kept per process: it reads every transcript (~0.2 s
    for 30), and a report asks for the same counts several times."""
    return sum(probe_qemu_s(load_raw(Path(transcripts_dir) / transcript_filename(t)), kvm_usable)
               for t in INSTALL_ORDER[:n])
