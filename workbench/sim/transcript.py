"""The recorded conversation between the prober and one real QEMU binary.

Stored as gzip-compressed JSON, one file per binary: `data/transcripts/qemu-system-<target>.json.gz`.
Standard library only: the replaying emulator imports this, and it must start as fast as QEMU.

    {"format": 3, "target": "x86_64", "binary": "/usr/bin/qemu-system-x86_64",
     "version": {"major": 7, "minor": 2, "micro": 22, "package": "..."},
     "version_text": "<what -version printed>", "recorded_at": "ISO-8601", "kvm_at_record": true,
     "repeats": 11,                      # every time below is the median of this many probes
     "round_trip": {"points": [[64, 0.0001], ...], "samples": 40},  # see "Recorded latency"
     "work_rate": 4.2e9,                 # bytes of zlib.crc32 per second here (the replay's unit of work)
     "launches": [                      # one per probe process (KVM probe, then TCG-only probe)
       {"accel": "kvm:tcg", "ready_s": 0.021,   # before fork -> daemonized parent exited (socket ready)
        "spawn_s": 0.003,                       # before fork -> exec done (the prober's own cost)
        "connected_s": 0.0215,                  # before fork -> QMP socket connected (format 2)
        "greeting_s": 0.022,                    # before fork -> QMP greeting line read
        "greeting": {...},
        "exchanges": [{"execute": "query-version", "arguments": null,
                       "return": {...}  or  "error": {"class": ..., "desc": ...},
                       "latency_s": 0.0004}],  # see "Recorded latency" below
        "quit_s": 0.004,                         # quit written -> process exited
        "rss_kib": 43836}],                     # its resident memory before quit (format 3)
     "launch_failure": null,   # or {"status", "stderr", "after_s"} when QEMU refused to start
     "origin": null}           # or where a transcript that is no recording came from (libvirt_replies)

Recorded latency (`latency_s`) is measured client-side by the prober: from the request written
to the socket to the reply line read from it, before the client parses the JSON. It includes
QEMU's work on the command and one socket round trip (both directions, kernel and event-loop
wake-ups); it excludes the client's parsing. `round_trip` is that round trip alone, measured just
before with the same client against an echo server that answers at once (median seconds per
reply size, workbench.sim.roundtrip): the replay subtracts it to get QEMU's work. Every instant
of a launch is on one clock (`time.perf_counter_ns`).

Format 3 times are medians over `repeats` probes of the binary, taken in rounds over all the
binaries recorded together, after one round that warms the page cache (not kept); the replies are
the first kept probe's; `round_trip` and `work_rate` are medians of one measurement per round. Format 2 is one
probe per binary and has no `round_trip` (the replay then takes the launch's smallest latency
for it, and no `work_rate`: the replay then watches the clock); it still loads.

Format 1 (before the non-polling launch path): ready_s and greeting_s were taken after a
`Popen.wait(timeout)` sleep loop and so sit on its 1, 2, 4, ... 50 ms checkpoints; greeting_s
also included the qmp_capabilities exchange; there is no connected_s. Format 1 still loads.
"""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = 3
REPEATS = 11  # probes per binary whose median times a recording keeps (after one warm-up)
READABLE_FORMATS = (1, 2, 3)


def command_key(execute: str, arguments: dict | None) -> str:
    return execute + "\0" + json.dumps(arguments or {}, sort_keys=True, separators=(",", ":"))


@dataclass
class Exchange:
    execute: str
    arguments: dict | None
    latency_s: float
    ret: Any = None
    error: dict | None = None

    def to_json(self) -> dict:
        d: dict[str, Any] = {"execute": self.execute, "arguments": self.arguments,
                             "latency_s": round(self.latency_s, 7)}
        if self.error is not None:
            d["error"] = self.error
        else:
            d["return"] = self.ret
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Exchange":
        return cls(d["execute"], d.get("arguments"), float(d["latency_s"]), d.get("return"),
                   d.get("error"))


@dataclass
class Launch:
    accel: str
    ready_s: float
    greeting_s: float
    greeting: dict
    exchanges: list[Exchange] = field(default_factory=list)
    quit_s: float | None = None
    spawn_s: float = 0.0
    connected_s: float | None = None  # None in format 1
    rss_kib: int | None = None  # None before format 3

    @classmethod
    def from_phases(cls, ph: Any, exchanges: list[Exchange]) -> "Launch":
        """From a `workbench.qemu.phases.LaunchPhases` (duck-typed: this module must stay
        standard-library only, the replaying emulator imports it)."""
        return cls(ph.accel, ph.daemonize_s, ph.seconds(ph.greeting_ns), ph.greeting, exchanges,
                   ph.quit_s, ph.spawn_s, ph.seconds(ph.connected_ns), ph.rss_kib)

    def to_json(self) -> dict:
        return {"accel": self.accel, "ready_s": round(self.ready_s, 7), "spawn_s": round(self.spawn_s, 7),
                "connected_s": None if self.connected_s is None else round(self.connected_s, 7),
                "greeting_s": round(self.greeting_s, 7), "greeting": self.greeting,
                "exchanges": [e.to_json() for e in self.exchanges],
                "quit_s": None if self.quit_s is None else round(self.quit_s, 7),
                "rss_kib": self.rss_kib}

    @classmethod
    def from_json(cls, d: dict) -> "Launch":
        return cls(d["accel"], float(d["ready_s"]), float(d["greeting_s"]), d["greeting"],
                   [Exchange.from_json(e) for e in d["exchanges"]], d.get("quit_s"),
                   float(d.get("spawn_s") or 0.0),
                   None if d.get("connected_s") is None else float(d["connected_s"]),
                   None if d.get("rss_kib") is None else int(d["rss_kib"]))


@dataclass
class Transcript:
    target: str
    binary: str
    version: dict
    version_text: str
    recorded_at: str
    kvm_at_record: bool
    launches: list[Launch] = field(default_factory=list)
    # Set when the probe command line itself was refused (microvm refuses accel=tcg):
    # {"status": 1, "stderr": "...", "after_s": 0.02}; launches is then empty.
    launch_failure: dict | None = None
    repeats: int = 1  # probes whose medians the times are
    round_trip: dict | None = None  # {"points": [[bytes, seconds], ...], "samples": n}; None before format 3
    work_rate: float | None = None  # bytes of crc32 per second where recorded; None before format 3
    # Not a recording: where the replies and times came from (workbench.sim.libvirt_replies:
    # {"replies": file, "timings": "modelled", ...}); None for a recording.
    origin: dict | None = None

    def to_json(self) -> dict:
        return {"format": FORMAT, "target": self.target, "binary": self.binary,
                "version": self.version, "version_text": self.version_text,
                "recorded_at": self.recorded_at, "kvm_at_record": self.kvm_at_record,
                "repeats": self.repeats, "round_trip": self.round_trip, "work_rate": self.work_rate,
                "launches": [ln.to_json() for ln in self.launches],
                "launch_failure": self.launch_failure, "origin": self.origin}

    @classmethod
    def from_json(cls, d: dict) -> "Transcript":
        if d.get("format") not in READABLE_FORMATS:
            raise ValueError(f"unsupported transcript format {d.get('format')!r}")
        return cls(d["target"], d["binary"], d["version"], d["version_text"], d["recorded_at"],
                   bool(d["kvm_at_record"]), [Launch.from_json(x) for x in d["launches"]],
                   d.get("launch_failure"), int(d.get("repeats") or 1), d.get("round_trip"),
                   None if d.get("work_rate") is None else float(d["work_rate"]), d.get("origin"))

    def launch_for(self, accel: str) -> Launch:
        for ln in self.launches:
            if ln.accel == accel:
                return ln
        return self.launches[0]

    def save(self, path: Path) -> None:
        from workbench.atomicfile import replacing
        with replacing(path) as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9) as f:
            f.write(json.dumps(self.to_json(), separators=(",", ":")).encode())


def transcript_filename(target: str) -> str:
    return f"qemu-system-{target}.json.gz"


def load_raw(path: Path) -> dict:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def load(path: Path) -> Transcript:
    return Transcript.from_json(load_raw(path))
