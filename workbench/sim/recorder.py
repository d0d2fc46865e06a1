"""Record the prober's conversation with every real `qemu-system-*` binary as a transcript."""
from __future__ import annotations

import datetime as _dt
import gc
import os
import re
import subprocess
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from workbench.conf.arch import target_of
from workbench.errors import LaunchRefused, ProbeError
from workbench.qemu.phases import LaunchPhases
from workbench.sim.replay_timing import measure_work_rate
from workbench.sim.roundtrip import RoundTrip, measure as measure_round_trip
from workbench.sim.transcript import REPEATS, Exchange, Launch, Transcript, transcript_filename
from workbench.qemu.probe import probe
from workbench.qmp import QmpExchange


@dataclass
class RecordOutcome:
    binary: str
    path: Path | None
    error: str | None = None


def find_real_binaries(qemu_dir: Path) -> list[Path]:
    return sorted(p for p in qemu_dir.glob("qemu-system-*") if p.is_file() and os.access(p, os.X_OK))


@dataclass
class _Recording:
    """One binary's recording in progress."""
    binary: Path
    version_text: str
    recorded_at: str
    runs: list[list[Launch]] = field(default_factory=list)  # the kept probes' launches
    caps: Any = None  # the first kept probe's capabilities
    failure: dict | None = None  # QEMU refused the probe command line
    error: str | None = None  # the recording failed


def record_all(qemu_dir: Path, out_dir: Path, repeats: int = REPEATS,
               progress: Callable[[str], None] | None = None, timeout_s: float = 20.0) -> list[RecordOutcome]:
    """Probe every binary 1 + `repeats` times as the prober does (ending each launch with `quit`
    to time the exit) and save each one's medians. One probe is one sample of a noisy machine
    (a binary's start-up runs in bursts 20% apart here) and a replay reproduces whatever its
    recording says, so the probes go round the binaries, `repeats` rounds after one round that
    warms the page cache and is not kept: each binary's samples span the whole recording. The
    socket round trip and the replay's work rate are measured before each round; their medians
    are kept."""
    recs = []
    for binary in find_real_binaries(qemu_dir):
        recorded_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        try:
            version_text = subprocess.run([str(binary), "-version"], capture_output=True, text=True,
                                          timeout=timeout_s, stdin=subprocess.DEVNULL).stdout
        except (OSError, subprocess.SubprocessError) as e:  # that binary's error, not the recording's
            rec = _Recording(binary, "", recorded_at)
            rec.error = f"{binary}: -version failed: {e}"
            recs.append(rec)
            continue
        recs.append(_Recording(binary, version_text, recorded_at))
    round_trips, work_rates = [], []
    for rnd in range(1 + repeats):
        if progress:
            progress(f"round {rnd + 1} of {1 + repeats} ({len(recs)} binaries)")
        if rnd:
            round_trips.append(measure_round_trip(timeout_s=timeout_s))
            work_rates.append(measure_work_rate())
        for rec in recs:
            if rec.failure is None and rec.error is None:
                _probe_once(rec, keep=rnd > 0, timeout_s=timeout_s)
    machine = {"round_trip": RoundTrip.median_of(round_trips).to_json(),
               "work_rate": round(statistics.median(work_rates))}
    outcomes = []
    for rec in recs:
        try:
            path = _save(rec, out_dir, repeats, machine) if rec.error is None else None
        except ProbeError as e:
            rec.error, path = str(e), None
        outcomes.append(RecordOutcome(str(rec.binary), path, rec.error))
    return outcomes


def _probe_once(rec: _Recording, keep: bool, timeout_s: float) -> None:
    seen: list[QmpExchange] = []
    # The recorder's own garbage collection must not land inside a recorded latency: with every
    # run's replies kept, its gen-2 pauses grew to 117 ms by the last round and doubled one
    # binary's query-qmp-schema in every round. Collect between probes, never during one, and
    # freeze what is kept so that the next collection does not walk it again.
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        result = probe(str(rec.binary), quit=True, command_timeout_s=timeout_s,
                       launch_timeout_s=timeout_s, on_exchange=seen.append)
    except LaunchRefused as e:
        # QEMU refused the probe command line: record that, so the replay refuses it too.
        rec.failure = {"status": e.status, "stderr": e.stderr, "after_s": round(e.after_s, 7)}
        return
    except (ProbeError, OSError, subprocess.TimeoutExpired) as e:
        rec.error = str(e)
        return
    finally:
        gc.enable()
    if keep:
        launches = launches_from(result.phases, seen)
        if rec.runs:  # only the first kept run's replies are saved: keep the heap small
            launches = [replace(ln, exchanges=[replace(e, ret=None, error=None) for e in ln.exchanges])
                        for ln in launches]
        rec.runs.append(launches)
        rec.caps = rec.caps or result.caps


def _save(rec: _Recording, out_dir: Path, repeats: int, machine: dict) -> Path:
    target = target_of(rec.binary.name)
    if rec.failure is not None:
        tr = Transcript(target, str(rec.binary), _version_from_text(rec.version_text), rec.version_text,
                        rec.recorded_at, False, [], rec.failure, 1, **machine)
    else:
        major, rest = divmod(rec.caps.version, 1_000_000)
        minor, micro = divmod(rest, 1_000)
        tr = Transcript(target, str(rec.binary),
                        {"major": major, "minor": minor, "micro": micro, "package": rec.caps.package},
                        rec.version_text, rec.recorded_at, rec.caps.kvm,
                        median_launches(str(rec.binary), rec.runs), None, repeats, **machine)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / transcript_filename(tr.target)
    tr.save(path)
    return path


def launches_from(phases: list[LaunchPhases], seen: list[QmpExchange]) -> list[Launch]:
    """Split the exchanges the monitor reported, in order, among the launches that made them."""
    launches, i = [], 0
    for ph in phases:
        mine = seen[i:i + len(ph.commands)]
        i += len(ph.commands)
        exchanges = [Exchange(x.command, x.arguments, x.latency_s, x.reply.ret, x.reply.error)
                     for x in mine]
        launches.append(Launch.from_phases(ph, exchanges))
    return launches


def median_launches(binary: str, runs: list[list[Launch]]) -> list[Launch]:
    """The first run's launches and replies, every time the median over the runs. The runs must
    have made the same launches with the same commands in the same order."""
    first = runs[0]
    shape = [(ln.accel, [(e.execute, e.arguments) for e in ln.exchanges]) for ln in first]
    for run in runs[1:]:
        if [(ln.accel, [(e.execute, e.arguments) for e in ln.exchanges]) for ln in run] != shape:
            raise ProbeError(binary, "record", "the probes asked different commands: not recorded")
    out = []
    for k, ln in enumerate(first):
        same = [run[k] for run in runs]
        exchanges = [replace(e, latency_s=_median([ln_.exchanges[j].latency_s for ln_ in same]))
                     for j, e in enumerate(ln.exchanges)]
        out.append(replace(ln, exchanges=exchanges,
                           ready_s=_median([x.ready_s for x in same]),
                           spawn_s=_median([x.spawn_s for x in same]),
                           greeting_s=_median([x.greeting_s for x in same]),
                           connected_s=_median([x.connected_s for x in same]),
                           quit_s=_median([x.quit_s for x in same]),
                           rss_kib=_median_int([x.rss_kib for x in same])))
    return out


def _median(values: list) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.median(kept) if kept else None


def _median_int(values: list) -> int | None:
    m = _median(values)
    return None if m is None else round(m)


def _version_from_text(text: str) -> dict:
    m = re.search(r"version (\d+)\.(\d+)\.(\d+)(?: \((.*)\))?", text)
    if not m:
        return {"major": 0, "minor": 0, "micro": 0, "package": ""}
    return {"major": int(m[1]), "minor": int(m[2]), "micro": int(m[3]), "package": m[4] or ""}
