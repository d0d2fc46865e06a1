"""The replay's timing: what it subtracts from a recording, and how it stands in for QEMU's work.

Standard-library C modules only (see replay.py, "Startup cost"): every replaying emulator
imports this at start-up.

"recorded" latency reproduces the recorded start-up, per-command and quit->exit
times; "none" adds no delay; a float scales every recorded delay. The delays stand in for QEMU's
own work inside the emulator process and are spent working on a CPU at the recording machine's
speed, as QEMU's are (see work_until), budgeted in this process's CPU time (cpu_now), so time
spent waiting for a core is made up as QEMU makes it up; the prober itself never sleeps
(tests/test_probe_nosleep.py).

The model of what is subtracted (pure arithmetic in `startup_delay`, `round_trip_s` and
`reply_delay`, tested in tests/test_replay.py without any clock):
- Start-up. The recording measured `ready_s` = prober's fork -> daemonizing parent exited, which
  includes `spawn_s` (fork + exec, the prober's and kernel's work that the replay's own exec
  repeats). The replay's CPU clock starts at its creation (fork + exec are a few hundred us of
  it), so it releases its parent once it has used factor * max(0, ready_s - spawn_s) of CPU. The
  replay's own Python start-up is part of that CPU (it must not exceed it: see "Startup cost" in
  replay.py).
- Per command. A recorded latency (`latency_s`) is client-side: request written -> reply line
  read by the recording prober, before JSON parsing. It holds QEMU's work plus one socket round
  trip, and the replay's exchange adds a round trip of its own. The recorder measured that round
  trip with the same client against an echo server that answers at once (transcript
  `round_trip`: median seconds per reply size, workbench.sim.roundtrip), so QEMU's work is
  latency_s - round_trip_s(reply size), and the replay answers once it has used
  factor * max(0, that) of CPU since the request arrived. The reply is built inside that budget. Transcripts of
  format 1 and 2 have no `round_trip`: the smallest recorded latency of the launch stands in
  for it (an upper bound: it holds QEMU's least work too, ~0.15 ms per command here).
- quit: answered at once, exit after factor * quit_s more of CPU.
- SIGTERM (libvirt 9.0's first step in ending a probe, qemu/teardown.py): QEMU takes the path
  quit takes, so the replay exits after factor * quit_s (replay.py, _exit_on_sigterm).
- SIGKILL (libvirt 5.x's teardown, and 9.0's after 10 s): what it costs, and part of what any
  exit costs, is the kernel unmapping the process's resident pages. The recording holds the real QEMU's resident memory
  (`rss_kib`, read just before quit); the serving process makes up the difference to its own
  with anonymous memory, faulted in first inside the recorded work (see _Ballast), so a replay
  takes about as long to kill as QEMU did. With latency none it holds no ballast.

Why CPU time: a budget counted from a wall-clock deadline does not make up time spent waiting
for a core (behind other probes, between a request's arrival and the work), so with more probes
in parallel than cores the replays' speed-up passed the core count (2.2-2.4x at 8 workers on 2
cores) where the real binaries' stayed at 1.8x (parallel_scaling). QEMU's probe is CPU-bound
(its processes use ~0.8 s of CPU per second of wall time here), so a budget of CPU keeps the
replay's cost under load where QEMU's is; `workbench fidelity --parallel` measures both.
"""
from __future__ import annotations

import time
import zlib


def cpu_now() -> float:
    """This process's CPU time (user + system, all threads) since its creation, the daemonizing
    parent's included in a daemon: the clock every replay budget is counted on."""
    return time.process_time() + _cpu_inherited


def inherit_cpu(parent_cpu: float) -> None:
    """In a forked daemon: count the parent's CPU (its exec and start-up) as this process's own,
    since a new process's CPU clock starts at zero."""
    global _cpu_inherited
    _cpu_inherited = parent_cpu


_cpu_inherited = 0.0


def work_until(deadline: float) -> None:
    """Stand in for QEMU's own work until this process's CPU clock (cpu_now) reaches `deadline`,
    by working, never sleeping: a real probe is CPU-bound. The CPU left is converted into an
    amount of work at the recording machine's speed (`work_rate`: bytes of zlib.crc32 per second
    there, measured by the recorder) and that work is done, so a replay on a slower machine takes
    longer as QEMU would, and one that waits for a core (or is preempted while it works) still
    does all of its work, as QEMU does. The first part of the budget goes into the ballast, while
    it lasts. Transcripts without a work rate (formats 1-2): the CPU clock is watched instead."""
    if _ballast is not None:
        _ballast.fill_until(deadline)
    left = deadline - cpu_now()
    if left <= 0:
        return
    if _work_rate is None:
        while cpu_now() < deadline:
            pass
        return
    crc, unit = zlib.crc32, _WORK_UNIT
    for _ in range(work_units(left, _work_rate, len(unit))):
        crc(unit)


def work_units(seconds: float, rate: float, unit_bytes: int) -> int:
    """Units of work that took `seconds` at `rate` bytes per second (whole units, rounded down)."""
    return max(0, int(seconds * rate) // unit_bytes)


_WORK_UNIT = bytes(1 << 14)  # ~4 us of work here: the granularity of a replay's delays
_work_rate: float | None = None  # bytes of crc32 per second on the recording machine


def set_work_rate(transcript: dict) -> None:
    global _work_rate
    rate = transcript.get("work_rate")
    _work_rate = float(rate) if rate else None


def measure_work_rate(repeats: int = 5, units: int = 2048) -> float:
    """Bytes of the replay's unit of work (zlib.crc32) done per second here: the median of
    `repeats` timings of `units` units (~8 ms each)."""
    crc, unit = zlib.crc32, _WORK_UNIT
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(units):
            crc(unit)
        rates.append(units * len(unit) / (time.perf_counter() - t))
    return sorted(rates)[len(rates) // 2]


class _Ballast:
    """Anonymous memory making this process as big as the real QEMU was at the end of this launch
    (recorded `rss_kib`, less this process's own). Unmapping it is what an exit costs: the
    prober waits ~3.5 ms to reap a killed QEMU after a probe and ~0.8 ms for a replay without
    ballast (~0.15 ms per MiB here). It is faulted in a chunk at a time inside the recorded work
    (never past a CPU deadline), as QEMU allocates while it works; being counted in CPU time, how
    much is resident when the replay reports ready does not depend on the machine's load."""

    CHUNK = 1 << 18
    CHUNK_S = 0.0002  # time left that a chunk needs (its ~64 page faults take ~0.05 ms here)
    __slots__ = ("mem", "pos")

    def __init__(self, size: int) -> None:
        import mmap  # a C module; only processes that hold a ballast pay its import

        self.mem = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self.pos = 0

    def fill_until(self, deadline: float) -> None:
        size = len(self.mem)
        while self.pos < size and cpu_now() + self.CHUNK_S < deadline:
            end = min(self.pos + self.CHUNK, size)
            self.mem[self.pos:end] = bytes(end - self.pos)
            self.pos = end


_ballast: _Ballast | None = None


def ballast_bytes(launch: dict, own_rss_kib: int, factor: float) -> int:
    """Bytes of ballast: the recorded resident memory less this process's own (none when
    the replay adds no delays: latency none keeps a replay as light as it can be)."""
    recorded = launch.get("rss_kib")
    if not recorded or factor == 0.0:
        return 0
    return max(0, int(recorded) - own_rss_kib) * 1024


def _own_rss_kib() -> int:
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def take_ballast(launch: dict, factor: float) -> None:
    """In the process that serves QMP (and is killed): reserve its ballast."""
    global _ballast
    size = ballast_bytes(launch, _own_rss_kib(), factor)
    _ballast = _Ballast(size) if size else None


def startup_delay(launch: dict, factor: float) -> float:
    """Seconds from the replay's exec to its parent's exit (see the model above)."""
    return factor * max(0.0, float(launch["ready_s"]) - float(launch.get("spawn_s") or 0.0))


def round_trip_s(round_trip: dict, reply_bytes: int) -> float:
    """One round trip for a reply of `reply_bytes`, interpolated between the measured sizes
    (the ends extend flat below the smallest and along the last segment above the largest)."""
    pts = round_trip["points"]
    if len(pts) == 1 or reply_bytes <= pts[0][0]:
        return float(pts[0][1])
    for i in range(1, len(pts)):
        if reply_bytes <= pts[i][0] or i == len(pts) - 1:
            (n0, s0), (n1, s1) = pts[i - 1], pts[i]
            return max(0.0, s0 + (s1 - s0) * (reply_bytes - n0) / (n1 - n0))
    raise AssertionError("not reached")


def launch_round_trip(transcript: dict, launch: dict) -> dict:
    """The transcript's measured round trip; formats 1-2: the launch's smallest latency."""
    rt = transcript.get("round_trip")
    if rt:
        return rt
    floor = min((float(ex.get("latency_s") or 0.0) for ex in launch["exchanges"]), default=0.0)
    return {"points": [[0, floor]]}


def reply_delay(exchange: dict, round_trip: float, factor: float) -> float:
    """Seconds from a request's arrival to its reply (see the model above)."""
    return factor * max(0.0, float(exchange.get("latency_s") or 0.0) - round_trip)
