"""Background warm-up of the caps cache: startup returns at once, threads probe behind it.

A queue of binaries (the arch walk's, host arch first) is worked by `workers` threads through
the cache (per-binary locks). A caller that needs one emulator just looks it up: if a
warm-up thread is probing it, the caller waits for that probe only (the cache deduplicates);
if it is still queued, `bump` takes it off the queue and the caller probes it now, itself. A
caller that needs all of them waits for the whole queue (`wait`). `stop` empties the queue and
waits for the probes in flight, each of which kills and reaps its emulator as every probe does:
once it returns, no warm-up emulator is running.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from workbench import trace
from workbench.errors import ProbeError

if TYPE_CHECKING:
    from workbench.qemu.cache import QemuCapsCache
    from workbench.qemu.capsdata import QemuCaps


@dataclass
class Warmer:
    """Made with its pool size (by a strategy, before the driver's cache exists); `start` hands
    it the cache it warms."""
    workers: int
    cache: "QemuCapsCache | None" = None  # set by start
    _queue: list[str] = field(default_factory=list)
    _busy: set[str] = field(default_factory=set)
    _done: dict[str, "QemuCaps | ProbeError"] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _stopping: bool = False
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self, cache: "QemuCapsCache", binaries: Iterable[str]) -> None:
        self.cache = cache
        self._enqueue(binaries)

    def _enqueue(self, binaries: Iterable[str]) -> None:
        with self._cond:
            self._queue += [b for b in dict.fromkeys(binaries) if b not in self._done]
            want = min(self.workers, len(self._queue)) - len(self._threads)
        for i in range(max(want, 0)):
            t = threading.Thread(target=self._work, name=f"warmer-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def _work(self) -> None:
        while True:
            with self._cond:
                if self._stopping or not self._queue:
                    return
                binary = self._queue.pop(0)
                self._busy.add(binary)
            result: QemuCaps | ProbeError = ProbeError(binary, "probe", "warm-up stopped")
            try:
                with trace.span("warmer.lookup", binary=binary):
                    result = self.cache.lookup(binary)
            except ProbeError as e:
                result = e
            except Exception as e:  # never a thread gone with its binary still busy: wait() would hang
                result = ProbeError(binary, "probe", f"{type(e).__name__}: {e}")
            finally:
                with self._cond:
                    self._busy.discard(binary)
                    self._done[binary] = result
                    self._cond.notify_all()

    def bump(self, binary: str) -> None:
        """The caller needs `binary` now: off the queue, so the caller's own lookup probes it."""
        with self._cond:
            if binary in self._queue:
                self._queue.remove(binary)
                trace.count("warmer.bumped")

    def wait(self, binaries: Iterable[str]) -> dict[str, "QemuCaps | ProbeError"]:
        """Each binary's caps or ProbeError, once the warm-up (or a caller) has looked it up."""
        want = list(dict.fromkeys(binaries))
        with self._cond:
            missing = [b for b in want if b not in self._done and b not in self._busy
                       and b not in self._queue]
        if missing:  # found by a later walk: queue them too
            self._enqueue(missing)
        with self._cond:
            self._cond.wait_for(lambda: self._stopping or all(
                b in self._done or (b not in self._busy and b not in self._queue) for b in want))
        out = {}
        for b in want:
            got = self._done.get(b)
            if got is None:  # bumped and looked up by a caller: in memory now (or probe again)
                try:
                    got = self.cache.lookup(b)
                except ProbeError as e:
                    got = e
            out[b] = got
        return out

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + len(self._busy)

    def stop(self) -> None:
        """Drop the queue, let each probe in flight finish (and kill its emulator), join."""
        with self._cond:
            self._stopping = True
            self._queue.clear()
            self._cond.notify_all()
        for t in self._threads:
            t.join()
