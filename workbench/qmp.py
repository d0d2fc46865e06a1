"""The client side of QMP: a thin layer over the official `qemu.qmp` client.

It adds what the prober needs around each command: a time limit, a trace span, and an optional
record of the exchange (the recorder keeps it as a transcript). Error replies are answers, not
failures: libvirt treats e.g. DeviceNotFound as "no such device" and goes on.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from qemu.qmp import ExecuteError, QMPClient, QMPError

from workbench import trace
from workbench.sim.transcript import Exchange
from workbench.errors import ProbeError, ProbeTimeout

# query-qmp-schema alone is ~200 KiB; qemu.qmp's default line limit is 64 KiB.
from workbench.qemu.replycheck import MAX_REPLY_BYTES as _READ_LIMIT  # issue 12: 16 MiB per message

# qemu.qmp logs every protocol failure at ERROR level; our errors carry the same facts.
logging.getLogger("qemu.qmp").setLevel(logging.CRITICAL)


class _TimedClient(QMPClient):
    """qemu.qmp's client with two hooks changed (both documented as meant for subclasses).

    The stock message hooks pretty-print every message for a debug log even when logging is
    off (~20-30 ms for the 200 KiB schema reply); ours do nothing. And `_readline` notes when
    each reply's bytes arrived, before the client parses them, so a recorded latency is QEMU's
    time (send -> reply received) without the client's own parsing.
    """

    sent_ns = 0
    received_ns = 0

    def _cb_outbound(self, msg):  # type: ignore[override]
        self.sent_ns = time.perf_counter_ns()
        return msg

    def _cb_inbound(self, msg):  # type: ignore[override]
        return msg

    async def _readline(self) -> bytes:
        line = await super()._readline()
        self.received_ns = time.perf_counter_ns()
        return line


class Reply:
    __slots__ = ("ret", "error")

    def __init__(self, ret: Any = None, error: dict | None = None) -> None:
        self.ret = ret
        self.error = error

    @property
    def ok(self) -> bool:
        return self.error is None


class QMPSession:
    def __init__(self, binary: str, timeout_s: float, record: bool = False) -> None:
        self.binary = binary
        self.timeout_s = timeout_s
        self.client = _TimedClient(binary.rsplit("/", 1)[-1], readbuflen=_READ_LIMIT)
        self.exchanges: list[Exchange] | None = [] if record else None
        self.greeting: dict = {}

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

    async def execute(self, command: str, arguments: dict | None = None) -> Reply:
        with trace.span("qmp", command=command, binary=self.binary) as sp:
            try:
                ret = await self._guard(command, self.client.execute(command, arguments))
                reply = Reply(ret=ret)
            except ExecuteError as e:
                reply = Reply(error={"class": e.error_class, "desc": e.error.error.desc})
                sp.set(qmp_error=e.error_class)
            latency = (self.client.received_ns - self.client.sent_ns) / 1e9
        trace.count("qmp.commands")
        if self.exchanges is not None:
            self.exchanges.append(Exchange(command, arguments, latency, reply.ret, reply.error))
        return reply

    async def quit(self) -> None:
        """Send `quit`; QEMU may close the socket before or after answering."""
        try:
            await asyncio.wait_for(self.client.execute("quit"), self.timeout_s)
        except (QMPError, OSError, EOFError, asyncio.TimeoutError):
            pass

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.client.disconnect(), self.timeout_s)
        except Exception:  # issue 12: a reader that died on a bad reply (over the limit) re-raises here
            pass
