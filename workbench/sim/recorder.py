"""Record the prober's conversation with every real `qemu-system-*` binary as a transcript."""
from __future__ import annotations

import datetime as _dt
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from workbench.conf.arch import target_of
from workbench.errors import LaunchRefused, ProbeError
from workbench.qemu.phases import LaunchPhases
from workbench.sim.transcript import Exchange, Launch, Transcript, transcript_filename
from workbench.qemu.probe import probe
from workbench.qmp import QmpExchange


@dataclass
class RecordOutcome:
    binary: str
    path: Path | None
    error: str | None = None


def find_real_binaries(qemu_dir: Path) -> list[Path]:
    return sorted(p for p in qemu_dir.glob("qemu-system-*") if p.is_file() and os.access(p, os.X_OK))


def record_one(binary: Path, out_dir: Path, timeout_s: float = 20.0) -> Path:
    version_text = subprocess.run([str(binary), "-version"], capture_output=True, text=True,
                                  timeout=timeout_s).stdout
    recorded_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    target = target_of(binary.name)
    seen: list[QmpExchange] = []
    try:
        result = probe(str(binary), quit=True, command_timeout_s=timeout_s,
                       launch_timeout_s=timeout_s, on_exchange=seen.append)
    except LaunchRefused as e:
        # QEMU refused the probe command line: record that, so the replay refuses it too.
        failure = {"status": e.status, "stderr": e.stderr, "after_s": round(e.after_s, 7)}
        tr = Transcript(target, str(binary), _version_from_text(version_text), version_text,
                        recorded_at, False, [], failure)
    else:
        caps = result.caps
        major, rest = divmod(caps.version, 1_000_000)
        minor, micro = divmod(rest, 1_000)
        tr = Transcript(target, str(binary),
                        {"major": major, "minor": minor, "micro": micro, "package": caps.package},
                        version_text, recorded_at, caps.kvm, launches_from(result.phases, seen))
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


def _version_from_text(text: str) -> dict:
    m = re.search(r"version (\d+)\.(\d+)\.(\d+)(?: \((.*)\))?", text)
    if not m:
        return {"major": 0, "minor": 0, "micro": 0, "package": ""}
    return {"major": int(m[1]), "minor": int(m[2]), "micro": int(m[3]), "package": m[4] or ""}


def record_all(qemu_dir: Path, out_dir: Path,
               progress: Callable[[str], None] | None = None) -> list[RecordOutcome]:
    outcomes = []
    for binary in find_real_binaries(qemu_dir):
        if progress:
            progress(binary.name)
        try:
            outcomes.append(RecordOutcome(str(binary), record_one(binary, out_dir)))
        except (ProbeError, OSError, subprocess.TimeoutExpired) as e:
            outcomes.append(RecordOutcome(str(binary), None, str(e)))
    return outcomes
