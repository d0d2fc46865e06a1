"""The client side of QMP: a thin layer over the official `qemu.qmp` client.

It adds what the prober needs around each command: a time limit, a trace span, the timing of
connect, greeting and each command on one clock (perf_counter_ns), and an optional `on_exchange`
callback that sees every exchange (the recorder builds transcripts from it; this module knows
nothing of transcripts). Error replies are answers, not
failures: libvirt treats e.g. DeviceNotFound as "no such device" and goes on.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

from qemu.qmp import ExecuteError, QMPClient, QMPError

from workbench import trace
from workbench.errors import ProbeError, ProbeTimeout

# Per QMP message: a hostile emulator must not make the prober buffer without bound.
# query-qmp-schema, the largest reply, is ~200 KiB; qemu.qmp's default line limit of 64 KiB is
# too small for it.
MAX_REPLY_BYTES = 16 << 20

# qemu.qmp logs every protocol failure at ERROR level; our errors carry the same facts.
logging.getLogger("qemu.qmp").setLevel(logging.CRITICAL)


class _TimedClient(QMPClient):
    """qemu.qmp's client with two hooks changed (both documented as meant for subclasses).

    The stock message hooks pretty-print every message for a debug log even when logging is
    off (~20-30 ms for the 200 KiB schema reply); ours do nothing. And `_readline` notes when
    each reply's bytes arrived, before the client parses them: a command's latency is request
    written -> reply line read, client-side (socket round trip + QEMU's work), without the
    client's JSON parsing. `_do_connect` notes when the socket connected (before the greeting).
    """

    sent_ns = 0
    received_ns = 0
    connected_ns = 0
    first_line_ns = 0  # the greeting
    last_line = b""

    async def _do_connect(self, *args, **kwargs):  # type: ignore[override]
        await super()._do_connect(*args, **kwargs)
        self.connected_ns = time.perf_counter_ns()

    def _cb_outbound(self, msg):  # type: ignore[override]
        self.sent_ns = time.perf_counter_ns()
        return msg

    def _cb_inbound(self, msg):  # type: ignore[override]
        return msg

    async def _readline(self) -> bytes:
        line = await super()._readline()
        self.received_ns = time.perf_counter_ns()
        if not self.first_line_ns:
            self.first_line_ns = self.received_ns
        self.last_line = line
        return line


class Reply:
    __slots__ = ("ret", "error")

    def __init__(self, ret: Any = None, error: dict | None = None) -> None:
        self.ret = ret
        self.error = error

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class QmpExchange:
    """One command and its answer, as `on_exchange` sees it."""
    command: str
    arguments: dict | None
    reply: Reply
    reply_bytes: bytes  # the reply line as read from the socket
    sent_ns: int  # perf_counter_ns: request written
    received_ns: int  # perf_counter_ns: reply line read

    @property
    def latency_s(self) -> float:
        return (self.received_ns - self.sent_ns) / 1e9


class QMPSession:
    def __init__(self, binary: str, timeout_s: float,
                 on_exchange: Callable[[QmpExchange], None] | None = None) -> None:
        self.binary = binary
        self.timeout_s = timeout_s
        self.client = _TimedClient(binary.rsplit("/", 1)[-1], readbuflen=MAX_REPLY_BYTES)
        self.on_exchange = on_exchange
        self.greeting: dict = {}
        self.timings: list[tuple[str, int, int]] = []  # (command, sent_ns, received_ns)
        self.connected_ns = 0
        self.greeting_ns = 0

    async def _guard(self, step: str, coro: Any) -> Any:
        try:
            return await asyncio.wait_for(coro, self.timeout_s)
        except asyncio.TimeoutError:
            raise ProbeTimeout(self.binary, step, f"no answer within {self.timeout_s:g} s") from None
        except ExecuteError:
            raise
        except (QMPError, OSError, EOFError) as e:
            raise ProbeError(self.binary, step, f"{type(e).__name__}: {e}") from None

    async def connect(self, socket_path: str) -> None:
        """Connect, read the greeting and negotiate (qmp_capabilities)."""
        with trace.span("qmp.connect", binary=self.binary):
            await self._guard("connect", self.client.connect(socket_path))
        self.greeting = dict(self.client.greeting._raw) if self.client.greeting else {}
        self.connected_ns = self.client.connected_ns
        self.greeting_ns = self.client.first_line_ns

    async def execute(self, command: str, arguments: dict | None = None) -> Reply:
        with trace.span("qmp", command=command, binary=self.binary) as sp:
            try:
                ret = await self._guard(command, self.client.execute(command, arguments))
                reply = Reply(ret=ret)
            except ExecuteError as e:
                reply = Reply(error={"class": e.error_class, "desc": e.error.error.desc})
                sp.set(qmp_error=e.error_class)
            sent, received = self.client.sent_ns, self.client.received_ns
        trace.count("qmp.commands")
        self.timings.append((command, sent, received))
        if self.on_exchange is not None:
            self.on_exchange(QmpExchange(command, arguments, reply, self.client.last_line,
                                         sent, received))
        return reply

    async def quit(self) -> int:
        """Send `quit`; QEMU may close the socket before or after answering. Returns when it
        was sent (perf_counter_ns, taken just before writing)."""
        sent = time.perf_counter_ns()
        try:
            await asyncio.wait_for(self.client.execute("quit"), self.timeout_s)
        except (QMPError, OSError, EOFError, asyncio.TimeoutError):
            pass
        return sent

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.client.disconnect(), self.timeout_s)
        except Exception:  # a reader that died on a bad reply (over the limit) re-raises here
            pass
