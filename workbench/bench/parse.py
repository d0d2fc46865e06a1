"""The domain XML parse path on corpus domains: parse, post-parse, validate, then format.

parse.first.<domain>: the first parse on a driver just started on a cold or warm cache (after
the series, on a cold cache it probes the domain's emulator in post-parse).
parse.steady.<domain> (--cache warm only): the same parse again and again on a primed driver.
Each also gets one benchmark per phase, parse.<kind>.<domain>.<phase>, whose values are the
sums of that phase's trace spans (wb_phase metadata: the tidy table's `phase` column).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from workbench import trace
from workbench.bench.common import Bench, StartedDrivers, measure, measure_span, preload
from workbench.sim.corpus_picks import pick, x86_64_domains

PHASES = ("parse", "post-parse", "validate", "format")
STEADY_INNER = 20  # parses per steady-state value (pyperf divides by inner_loops)


def parse_and_format(driver, xml: bytes, source: str) -> None:
    from workbench.qemu.domain_parse import format_domain_xml, parse_domain_xml

    format_domain_xml(parse_domain_xml(driver.parse_context, xml, source=source, validate=True))


@dataclass
class PhaseTimes:
    """Phase times of the values the total benchmark just measured, for its phase benchmarks.

    In one process (pyperf --in-process) each phase benchmark takes the span sums of exactly
    the parses the total benchmark timed, instead of parsing (and, cold, probing) again. In
    worker mode the queues are empty in a fresh worker, and the phase benchmark measures itself.
    """
    pending: dict[str, deque] = field(default_factory=lambda: {p: deque() for p in PHASES})

    def record(self) -> None:
        for p in PHASES:
            self.pending[p].append(sum(r.duration_ns for r in trace.TRACER.iter_spans(p)) / 1e9)

    def take(self, phase: str, loops: int) -> float | None:
        q = self.pending[phase]
        return sum(q.popleft() for _ in range(loops)) if len(q) >= loops else None


def main() -> None:
    b = Bench("parse")
    install = b.install()
    drivers = StartedDrivers(b, install)
    preload()
    primed = None

    def steady_driver():
        nonlocal primed
        if primed is None:
            primed = drivers.new()
            for dom in chosen:
                parse_and_format(primed, dom.xml, dom.name)  # the first parse, untimed
        return primed

    chosen = pick(x86_64_domains(), b.args.corpus)
    for dom in chosen:
        def once(d, dom=dom) -> None:
            parse_and_format(d, dom.xml, dom.name)

        def many(d, dom=dom) -> None:
            for _ in range(STEADY_INNER):
                parse_and_format(d, dom.xml, dom.name)

        def steady_setup():
            driver = steady_driver()
            trace.TRACER.reset()
            return driver

        kinds = [("first", drivers.new, once, drivers.done, None)]  # new() resets the tracer
        if b.args.cache == "warm":
            kinds.append(("steady", steady_setup, many, None, STEADY_INNER))
        for kind, setup, op, cleanup, inner in kinds:
            bench, phases = f"parse.{kind}", PhaseTimes()
            b.add(
                f"{bench}.{dom.name}",
                lambda loops, s=setup, o=op, c=cleanup, q=phases: measure(loops, s, o, c, after=q.record),
                inner_loops=inner, metadata=b.meta(bench, case=dom.name))
            for phase in PHASES:
                def phase_time(loops: int, s=setup, o=op, c=cleanup, p=phase, q=phases) -> float:
                    taken = q.take(p, loops)
                    return taken if taken is not None else measure_span(loops, s, o, p, c)
                b.add(f"{bench}.{dom.name}.{phase}", phase_time,
                      inner_loops=inner, metadata=b.meta(bench, case=dom.name, phase=phase))


if __name__ == "__main__":
    main()
