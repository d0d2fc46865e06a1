"""Where a replay's probe differs from the real binary's, phase by phase (`workbench fidelity`).

For each target: one probe of the real /usr/bin/qemu-system-<target> and one of its replaying
emulator (recorded latency), alternated (which side goes first alternates too), `--repeats`
times, each in a fresh Python process as a benchmark worker does; the medians per phase on both
sides and as recorded, and each side's values in round order (`real_values`, `simulated_values`:
the pairs from which `workbench fidelity` gives the paired ratio replay / real with its 95% CI and
a verdict, workbench.analysis.stats.fidelity_verdict: faithful within 5%, differs, inconclusive). The
replay fidelity benchmark times whole probes; this says which phase a difference is in.
Measured (real binary, replaying emulator) and recorded (the transcript); nothing modelled.
"""
from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from workbench.errors import UsageError
from workbench.sim.install import install
from workbench.sim.transcript import load, transcript_filename
from workbench.paths import TRANSCRIPTS_DIR

REAL_DIR = Path("/usr/bin")
PHASES = ("total", "start to ready", "connect + greeting", "commands", "prober between commands",
          "kill and clean up")

# One probe in a fresh process; prints its phases (seconds) as JSON.
_ONE_PROBE = r"""
import json, sys, time
import workbench.qemu.process as process
from workbench.qemu.probe import probe
cleanup_s = []
def timed_cleanup(*args, _orig=process.cleanup):
    t = time.perf_counter_ns(); _orig(*args); cleanup_s.append((time.perf_counter_ns() - t) / 1e9)
process.cleanup = timed_cleanup
t = time.perf_counter_ns()
result = probe(sys.argv[1])
total = (time.perf_counter_ns() - t) / 1e9
out = {"total": total, "kill and clean up": sum(cleanup_s), "start to ready": 0.0,
       "connect + greeting": 0.0, "commands": 0.0, "prober between commands": 0.0}
for ph in result.phases:
    cmds = sum(c.latency_s for c in ph.commands)
    last = ph.commands[-1].received_ns if ph.commands else ph.greeting_ns
    out["start to ready"] += ph.daemonize_s
    out["connect + greeting"] += (ph.greeting_ns - ph.daemonized_ns) / 1e9
    out["commands"] += cmds
    out["prober between commands"] += (last - ph.greeting_ns) / 1e9 - cmds
print(json.dumps(out))
"""


def recorded_phases(target: str, transcripts: Path = TRANSCRIPTS_DIR) -> dict[str, float]:
    tr = load(transcripts / transcript_filename(target))
    return {"start to ready": sum(ln.ready_s for ln in tr.launches),
            "connect + greeting": sum(ln.greeting_s - ln.ready_s for ln in tr.launches),
            "commands": sum(e.latency_s for ln in tr.launches for e in ln.exchanges)}


def _probe_in_fresh_process(binary: Path) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", _ONE_PROBE, str(binary)], capture_output=True,
                          text=True, timeout=120)
    if done.returncode != 0:
        raise UsageError(f"probing {binary} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout)


def compare(targets: list[str], repeats: int) -> list[dict]:
    """Rows of (target, phase, real, simulated, recorded) medians in seconds."""
    with tempfile.TemporaryDirectory(prefix="fidelity-") as tmp:
        sim = install(Path(tmp), latency="recorded", targets=targets).dest
        runs: dict[tuple[str, str], list[dict]] = {}
        for i in range(repeats):
            for t in targets:
                sides = [("real", REAL_DIR / f"qemu-system-{t}"), ("simulated", sim / f"qemu-system-{t}")]
                for side, binary in sides[::-1] if i % 2 else sides:
                    runs.setdefault((t, side), []).append(_probe_in_fresh_process(binary))
    rows = []
    for t in targets:
        rec = recorded_phases(t)
        for phase in PHASES:
            pairs = [[r[phase] for r in runs[(t, side)]] for side in ("real", "simulated")]
            rows.append({"target": t, "phase": phase, "real_s": statistics.median(pairs[0]),
                         "simulated_s": statistics.median(pairs[1]), "recorded_s": rec.get(phase),
                         "real_values": pairs[0], "simulated_values": pairs[1]})
    return rows


def format_rows(rows: list[dict]) -> str:
    lines = [f"{'target':9} {'phase':26} {'real ms':>9} {'sim ms':>9} {'sim-real':>9} {'recorded':>9} "
             f"{'sim/real [95% CI]':>22} verdict"
             "   (real, sim: measured medians; ratio: paired; recorded: the transcript)"]
    for r in rows:
        rec = "" if r["recorded_s"] is None else f"{r['recorded_s'] * 1e3:9.2f}"
        ci = "-" if math.isnan(r.get("ci_low", math.nan)) else f"{r['ratio']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        lines.append(f"{r['target']:9} {r['phase']:26} {r['real_s'] * 1e3:9.2f} {r['simulated_s'] * 1e3:9.2f} "
                     f"{(r['simulated_s'] - r['real_s']) * 1e3:+9.2f} {rec:>9} {ci:>22} {r.get('verdict', '')}")
    return "\n".join(lines)


def check_targets(targets: list[str]) -> None:
    missing = [t for t in targets if not (REAL_DIR / f"qemu-system-{t}").is_file()]
    if missing:
        raise UsageError(f"no real binary in {REAL_DIR} for: {', '.join(missing)}")
    absent = [t for t in targets if not (TRANSCRIPTS_DIR / transcript_filename(t)).is_file()]
    if absent:
        raise UsageError(f"no transcript in {TRANSCRIPTS_DIR} for: {', '.join(absent)}")
