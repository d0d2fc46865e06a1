"""What one socket round trip costs the prober, without any QEMU work in it (for the recorder).

A recorded latency (request written -> reply line read, client-side) holds QEMU's work on the
command plus one round trip: kernel hand-overs both ways, the server's and the client's wake-ups,
and moving the reply's bytes. A replay's own exchange adds a round trip of its own, so it must
answer after the recorded latency minus one round trip, not after all of it.

Measured here with the prober's own client (`workbench.qmp.QMPSession`) against an echo server
in a child process that answers each command at once with a reply prebuilt at the asked size
(blocking `recv`/`sendall`, as the replay's): the median per size, interpolated between sizes by
`workbench.sim.replay_timing.round_trip_s`.
"""
from __future__ import annotations

import asyncio
import os
import selectors
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import ProbeError
from workbench.sim.replay import _Splitter, dumps, loads
from workbench.sim.replay_timing import round_trip_s

# The probe's replies run from ~40 B (query-kvm) to ~207 KiB (query-qmp-schema). The cost is
# flat up to tens of KiB and then steps up where a reply outgrows the socket buffer and the
# client's 64 KiB reads, so it is interpolated between measured sizes, not fitted by a line.
SIZES = (64, 4_096, 32_768, 65_536, 131_072, 196_608, 262_144)


@dataclass(frozen=True)
class RoundTrip:
    points: list[tuple[int, float]]  # (reply bytes, median seconds), sizes ascending
    samples: int  # exchanges per size

    def seconds(self, reply_bytes: int) -> float:
        return round_trip_s(self.to_json(), reply_bytes)

    def to_json(self) -> dict:
        return {"points": [[n, round(s, 9)] for n, s in self.points], "samples": self.samples}

    @classmethod
    def median_of(cls, measured: list["RoundTrip"]) -> "RoundTrip":
        """Several measurements of the same sizes: the median per size, all their samples."""
        sizes = [n for n, _ in measured[0].points]
        return cls([(n, statistics.median(rt.points[i][1] for rt in measured)) for i, n in enumerate(sizes)],
                   sum(rt.samples for rt in measured))


def measure(samples: int = 40, sizes: tuple[int, ...] = SIZES, timeout_s: float = 10.0) -> RoundTrip:
    """Start the echo server, time `samples` exchanges per size (interleaved), stop it."""
    from workbench.qmp import QMPSession

    with tempfile.TemporaryDirectory(prefix="rt-") as tmp:
        sock = str(Path(tmp) / "echo.sock")
        r, w = os.pipe()  # the server writes one byte once it listens (EOF if it dies first)
        try:
            server = subprocess.Popen([sys.executable, "-I", "-m", "workbench.sim.roundtrip", sock, str(w)],
                                      pass_fds=(w,),
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        finally:
            os.close(w)
        try:
            with selectors.DefaultSelector() as sel:
                sel.register(r, selectors.EVENT_READ)
                if not sel.select(timeout_s) or os.read(r, 1) != b"\n":
                    raise ProbeError("round-trip echo server", "start", "did not start listening")
            times: dict[int, list[float]] = {s: [] for s in sizes}

            async def run() -> None:
                session = QMPSession("round-trip echo", timeout_s)
                await session.connect(sock)
                try:
                    for _ in range(samples):
                        for size in sizes:
                            await session.execute("echo", {"size": size})
                            _, sent, received = session.timings[-1]
                            times[size].append((received - sent) / 1e9)
                finally:
                    await session.close()

            asyncio.run(run())
        finally:
            os.close(r)
            server.kill()
            server.wait()
    return RoundTrip(sorted((n, statistics.median(v)) for n, v in times.items()), samples)


def serve(sock_path: str, ready_fd: int) -> None:
    """The echo server: QMP greeting, then each command answered at once with a reply of
    `arguments.size` bytes (prebuilt) carrying the request's id."""
    import _socket

    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    s.bind(sock_path)
    s.listen(1)
    os.write(ready_fd, b"\n")
    os.close(ready_fd)
    prebuilt: dict[int, bytes] = {}
    conn = _socket.socket(fileno=s._accept()[0])
    conn.sendall(b'{"QMP": {"version": {}, "capabilities": []}}\r\n')
    split = _Splitter()
    while data := conn.recv(1 << 16):
        for msg in split.feed(data):
            req = loads(msg.decode())
            size = int((req.get("arguments") or {}).get("size", 0))
            head = b'{"id": ' + dumps(req.get("id")).encode() + b', "return": "'
            if size not in prebuilt:
                prebuilt[size] = b"x" * max(0, size - len(head) - 4) + b'"}\r\n'
            conn.sendall(head + prebuilt[size])


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
