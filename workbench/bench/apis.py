"""Driver APIs on a driver just started on a cold or warm cache: one API call per value.

The startup is setup (untimed); what is timed is the call, with whatever probing it causes:
after the series, get_capabilities and (as the cover letter warned) get_version still probe
every emulator on a cold cache, get_domain_capabilities and define_xml probe one.
"""
from __future__ import annotations

from workbench.bench.common import Bench, StartedDrivers, measure, preload
from workbench.sim.corpus_picks import pick, x86_64_domains

APIS = ("get_capabilities", "get_domain_capabilities", "get_version", "define_xml")


def main() -> None:
    b = Bench("apis")
    install = b.install()
    config_dir = b.tmpdir("cfg-")
    drivers = StartedDrivers(b, install, config_dir)
    preload()
    domains = x86_64_domains()
    define_xml = pick(domains, 1)[0].xml.decode() if domains else None

    def cleanup(driver) -> None:
        for f in config_dir.glob("*.xml"):  # the next startup must not load what define wrote
            f.unlink()
        drivers.done(driver)

    for api in APIS:
        if api == "define_xml":
            if define_xml is None:
                continue
            op = lambda d: d.define_xml(define_xml)  # noqa: E731
        else:
            op = lambda d, api=api: getattr(d, api)()  # noqa: E731
        b.add(f"api.{api}", lambda loops, op=op: measure(loops, drivers.new, op, cleanup),
              metadata=b.meta("api", case=api))


if __name__ == "__main__":
    main()
