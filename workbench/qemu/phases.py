"""Where one probe launch spent its time, every instant on one clock (`time.perf_counter_ns`).

All instants are absolute perf_counter_ns values; `t0_ns` (just before fork) is the origin.
Each command's time is client-side: request written -> reply line read, so it includes the
socket round trip and QEMU's work, and excludes the client's JSON parsing of the reply.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CommandTiming:
    command: str
    sent_ns: int  # request written to the socket
    received_ns: int  # reply line read, before parsing

    @property
    def latency_s(self) -> float:
        return (self.received_ns - self.sent_ns) / 1e9


@dataclass
class LaunchPhases:
    accel: str
    t0_ns: int  # just before fork
    spawned_ns: int  # fork + exec returned to the prober
    daemonized_ns: int  # daemonizing parent exited (socket listening, pidfile written)
    connected_ns: int = 0  # socket connected
    greeting_ns: int = 0  # greeting line read
    commands: list[CommandTiming] = field(default_factory=list)  # after negotiation (qmp_capabilities is inside connect)
    quit_sent_ns: int | None = None  # only when the launch ends with `quit`, not a teardown
    exited_ns: int | None = None  # emulator exited after quit
    rss_kib: int | None = None  # the emulator's resident memory before quit (recorder only)
    greeting: dict = field(default_factory=dict)

    def seconds(self, ns: int | None) -> float | None:
        """An instant as seconds since `t0_ns`."""
        return None if ns is None else (ns - self.t0_ns) / 1e9

    @property
    def daemonize_s(self) -> float:
        return (self.daemonized_ns - self.t0_ns) / 1e9

    @property
    def spawn_s(self) -> float:
        return (self.spawned_ns - self.t0_ns) / 1e9

    @property
    def connect_s(self) -> float:
        return (self.connected_ns - self.daemonized_ns) / 1e9

    @property
    def greeting_wait_s(self) -> float:
        return (self.greeting_ns - self.connected_ns) / 1e9

    @property
    def quit_s(self) -> float | None:
        if self.quit_sent_ns is None or self.exited_ns is None:
            return None
        return (self.exited_ns - self.quit_sent_ns) / 1e9
