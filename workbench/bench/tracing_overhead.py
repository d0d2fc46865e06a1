"""The driver startup of driver_startup with trace.TRACER.enabled True, then False, in one run.

The goal is < 2%: results.tracing_overhead() takes the ratio of the two medians.
"""
from __future__ import annotations

from workbench import trace
from workbench.bench.common import Bench
from workbench.bench.driver_startup import startup_time_func


def main() -> None:
    b = Bench("tracing_overhead")
    timed = startup_time_func(b, "tracing_overhead")
    for case, enabled in (("on", True), ("off", False)):
        def time_func(loops: int, enabled: bool = enabled) -> float:
            trace.TRACER.enabled = enabled
            try:
                return timed(loops)
            finally:
                trace.TRACER.enabled = True
        b.add(f"tracing_overhead.{case}", time_func,
              metadata=b.meta("tracing_overhead", case=case))


if __name__ == "__main__":
    main()
