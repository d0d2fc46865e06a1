"""Spans and counters that stay on: every stage of the workbench reports into one Tracer.

A span is recorded as a plain tuple when it closes (no dict per event on the hot path), so
leaving tracing on costs about a microsecond per span. Export happens later, as rows, a pandas
DataFrame or Chrome trace event JSON (which Perfetto and chrome://tracing open).
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

_now = time.perf_counter_ns
# The OS thread id: small, and what Perfetto expects (its JSON importer drops ids over 2^32,
# which threading.get_ident's pthread_t addresses are).
_thread_id = threading.get_native_id


@dataclass(frozen=True)
class SpanRecord:
    name: str
    start_ns: int
    end_ns: int
    depth: int
    attrs: dict[str, Any]
    pid: int
    tid: int

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


class _Span:
    # Only a name, two clock reads and one tuple append on the hot path; nesting depth is
    # derived at export from the intervals, so nothing thread-local is touched here.
    __slots__ = ("_spans", "name", "attrs", "start_ns")

    def __init__(self, spans: list, name: str, attrs: dict[str, Any]) -> None:
        self._spans = spans
        self.name = name
        self.attrs = attrs

    def set(self, **attrs: Any) -> None:
        """Attach attributes learnt while the span runs (an outcome, a count)."""
        self.attrs.update(attrs)

    def __enter__(self) -> "_Span":
        self.start_ns = _now()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        end = _now()
        if exc_type is not None:
            self.attrs["error"] = exc_type.__name__
        self._spans.append((self.name, self.start_ns, end, self.attrs, _thread_id()))


class _NoSpan:
    __slots__ = ()

    def set(self, **attrs: Any) -> None:
        pass

    def __enter__(self) -> "_NoSpan":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


_NO_SPAN = _NoSpan()


MAX_SPANS = 200_000  # a long-running daemon must not grow without bound


@dataclass
class Tracer:
    enabled: bool = True
    _spans: list[tuple] = field(default_factory=list)
    counters: Counter = field(default_factory=Counter)
    max_spans: int = MAX_SPANS  # when full, recording stops; "trace.dropped_spans" counts the rest
    # (name, time_ns, value after the change) per count() while enabled: a counter's history,
    # exported as a series of Chrome counter samples.
    _samples: list[tuple] = field(default_factory=list)

    def span(self, name: str, **attrs: Any) -> _Span | _NoSpan:
        if not self.enabled:
            return _NO_SPAN
        if len(self._spans) >= self.max_spans:
            self.counters["trace.dropped_spans"] += 1
            return _NO_SPAN
        return _Span(self._spans, name, attrs)

    def count(self, name: str, n: int = 1) -> None:
        # Counters stay on even when spans are off: they are what tests assert on.
        self.counters[name] += n
        if self.enabled:
            self._samples.append((name, _now(), self.counters[name]))

    def reset(self) -> None:
        self._spans.clear()
        self.counters.clear()
        self._samples.clear()

    def records(self) -> list[SpanRecord]:
        """Spans in the order they closed, each with its nesting depth within its thread."""
        pid = os.getpid()
        depth: dict[int, int] = {}
        open_ends: dict[int, list[int]] = {}
        order = sorted(range(len(self._spans)),
                       key=lambda i: (self._spans[i][4], self._spans[i][1], -self._spans[i][2]))
        for i in order:
            _, start, end, _, tid = self._spans[i]
            stack = open_ends.setdefault(tid, [])
            while stack and stack[-1] <= start:  # those ended before this one began
                stack.pop()
            depth[i] = len(stack)
            stack.append(end)
        return [SpanRecord(n, s, e, depth[i], a, pid, t)
                for i, (n, s, e, a, t) in enumerate(self._spans)]

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per span: attributes become columns, times are in ns and s."""
        out = []
        for r in self.records():
            row = {"span": r.name, "start_ns": r.start_ns, "end_ns": r.end_ns,
                   "duration_s": r.duration_ns / 1e9, "depth": r.depth, "pid": r.pid, "tid": r.tid}
            row.update(r.attrs)
            out.append(row)
        return out

    def dataframe(self):  # -> pandas.DataFrame; pandas is imported only when asked for
        import pandas as pd

        return pd.DataFrame(self.rows())

    def chrome_events(self) -> list[dict[str, Any]]:
        events = [{"name": r.name, "ph": "X", "ts": r.start_ns / 1000, "dur": r.duration_ns / 1000,
                   "pid": r.pid, "tid": r.tid, "args": _jsonable(r.attrs)} for r in self.records()]
        pid = os.getpid()
        # Each counter as the samples taken when it changed; one that changed only while tracing
        # was off gets its value at export, the only time it is known.
        events += [{"name": k, "ph": "C", "ts": t / 1000, "pid": pid, "args": {"value": v}}
                   for k, t, v in self._samples]
        sampled = {k for k, _, _ in self._samples}
        ts = _now() / 1000
        events += [{"name": k, "ph": "C", "ts": ts, "pid": pid, "args": {"value": v}}
                   for k, v in sorted(self.counters.items()) if k not in sampled]
        return events

    def write_chrome_trace(self, path: str | Path, extra_events: list[dict] | None = None) -> Path:
        path = Path(path)
        doc = {"traceEvents": self.chrome_events() + list(extra_events or []),
               "displayTimeUnit": "ms"}
        from workbench.atomicfile import write_bytes
        return write_bytes(path, json.dumps(doc).encode())

    def iter_spans(self, name: str) -> Iterator[SpanRecord]:
        return (r for r in self.records() if r.name == name)


def _jsonable(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v)
            for k, v in attrs.items()}


# The process-wide tracer every stage reports into.
TRACER = Tracer()
span = TRACER.span
count = TRACER.count
