"""Host capability API designs: client questions timed over a real daemon socket.

    python -m workbench.bench.host_api --emulators 30 --latency recorded -o host_api.json

For every host (simulated shapes and the real host "/") a worker spawns `workbench daemon
--host-root TREE` on an install of --emulators replaying emulators, waits for its `ready` line,
opens one connection (as a libvirt client keeps one) and times a client question: every call it
needs, round trips included. Designs, per question (see workbench.qemu.designs.host_api):
  get_capabilities   host + every guest, one call (memo on: the driver's cached virCaps);
  node_caps          host-only <host>, one call;
  node_caps_flags    host-only, only the parts the question needs, one call;
  per_part           one node_get_<part> call per part.
get_capabilities and node_caps answer every question with the same call, so they are measured
once per host (question "any"). get_capabilities is measured warm (in-memory caps cache filled
before timing; each call still rebuilds virCaps: host probes, arch walk, one validity-checked
lookup per emulator) and cold (first call of a fresh daemon on an empty cache dir: ~25 probes).
Memo on: the daemon memoises sub-probe results with TTLs off and is primed, so a value is a hit.

Also, in-process: every host sub-probe's cost per host, from its trace span ("host.*").
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from workbench.bench.common import Bench, measure, measure_span, warm_template
from workbench.bench.daemon_client import Daemon
from workbench.qemu.designs.host_api import PARTS

REAL = "real"   # the real host, root "/"
HOSTS = ("vm-2cpu", "server-2s-64", "server-4s-192", "server-8s-448", REAL)
QUESTIONS: dict[str, tuple[str, ...]] = {
    "cpu": ("cpu",), "numa": ("numa",), "cpu_numa": ("cpu", "numa"), "cache_banks": ("caches",),
    "everything": PARTS,
}
# An assumed client mix (a model, not measured traffic): placement tools mostly ask for the CPU.
MIX = ("cpu",) * 4 + ("numa",) * 2 + ("cpu_numa",) * 2 + ("cache_banks", "everything")
DESIGNS = ("get_capabilities", "node_caps", "node_caps_flags", "per_part")
SUB_PROBES = ("arch", "cpu", "nodes", "numa", "cache", "resctrl", "pages", "iommu", "power",
              "uuid", "secmodel")


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]


def question_calls(design: str, question: str, memo: bool) -> list[Call]:
    """The calls a client makes to answer `question` with `design` (mix: every question of MIX)."""
    if question == "mix":
        return [c for q in MIX for c in question_calls(design, q, memo)]
    if design == "get_capabilities":
        return [Call("connect_get_capabilities", {"memo": True}) if memo
                else Call("get_capabilities", {})]
    m = {"memo": memo}
    if design == "node_caps":
        return [Call("node_get_capabilities", m)]
    if design == "node_caps_flags":
        return [Call("node_get_capabilities", {"flags": list(QUESTIONS[question])} | m)]
    if design == "per_part":
        return [Call(f"node_get_{p}", m) for p in QUESTIONS[question]]
    raise ValueError(f"unknown design {design!r}")


def questions_per_value(question: str) -> int:
    return len(MIX) if question == "mix" else 1


# -- hosts and daemons ----------------------------------------------------------------------------
def host_root(name: str, hosts_dir: Path) -> str:
    """"/" for the real host; else the shape's simulated tree, written once (atomically)."""
    from workbench.sim.simhost import SHAPES, make_host_tree

    if name == REAL:
        return "/"
    dest = Path(hosts_dir).absolute() / name
    if not dest.is_dir():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=dest.parent))
        make_host_tree(tmp, SHAPES[name])
        try:
            os.rename(tmp, dest)
        except OSError:   # another process won the race
            shutil.rmtree(tmp, ignore_errors=True)
    return str(dest)


def host_daemon(install: Path, root: str, cache_dir: Path, strategy: str, teardown: str) -> Daemon:
    return Daemon(install, cache_dir, strategy, host_root=root, teardown=teardown)


def ask(daemon: Daemon, calls: list[Call]) -> None:
    for c in calls:
        daemon.call(c.method, c.params)


# -- benchmarks -----------------------------------------------------------------------------------
def main() -> None:
    b = Bench("host_api")
    hosts_dir = b.args.install_root.parent / "hosts"
    roots = {h: host_root(h, hosts_dir) for h in HOSTS}   # untimed; reused by every worker
    install = b.install()
    daemons: dict[str, Daemon] = {}   # one warm daemon per host per worker, started lazily

    def warm_daemon(h: str) -> Daemon:
        if h not in daemons:
            cache = b.tmpdir("w-")
            shutil.copytree(warm_template(install), cache, dirs_exist_ok=True)
            d = daemons[h] = host_daemon(install, roots[h], cache, b.args.strategy, b.args.teardown).start()
            d.call("node_host_memo", {"ttl_s": {p: None for p in PARTS}})   # memo hits only
            d.call("get_capabilities", {})   # fills the in-memory caps cache from disk
        return daemons[h]

    def timed(h: str, calls: list[Call]) -> Callable[[int], float]:
        def time_func(loops: int) -> float:
            d = warm_daemon(h)
            ask(d, calls)   # primes the memo (memo on); untimed
            return measure(loops, lambda: d, lambda d: ask(d, calls))
        return time_func

    def cold(h: str) -> Callable[[int], float]:
        def setup() -> Daemon:
            return host_daemon(install, roots[h], b.tmpdir("c-"), b.args.strategy,
                               b.args.teardown).start()

        def cleanup(d: Daemon) -> None:
            d.stop()
            shutil.rmtree(d.cache_dir, ignore_errors=True)
        return lambda loops: measure(loops, setup, lambda d: d.call("get_capabilities", {}), cleanup)

    try:
        for h in HOSTS:
            grid = [(q, d, m) for d in DESIGNS[:2] for m in (False, True) for q in ("any",)]
            grid += [(q, d, m) for d in DESIGNS[2:] for m in (False, True) for q in (*QUESTIONS, "mix")]
            for q, design, memo in grid:
                calls = question_calls(design, "cpu" if q == "any" else q, memo)
                per_q = questions_per_value(q)
                name = f"host_api.{h}.{q}.{design}.{'memo' if memo else 'nomemo'}"
                b.add(
                    name, lambda loops, f=timed(h, calls), n=per_q: f(loops) / n,
                    metadata=b.meta("host_api", case=f"{h}:{q}:{design}:{'memo' if memo else 'nomemo'}",
                                    cache="warm", host=h, question=q, design=design,
                                    memo="on" if memo else "off", round_trips=len(calls) / per_q))
            b.add(
                f"host_api.{h}.any.get_capabilities.cold", cold(h),
                metadata=b.meta("host_api", case=f"{h}:any:get_capabilities:cold", cache="cold",
                                host=h, question="any", design="get_capabilities", memo="off",
                                round_trips=1))
            sub_probes(b, h, roots[h])
    finally:
        for d in daemons.values():
            d.stop()


def sub_probes(b: Bench, h: str, root: str) -> None:
    """Each sub-probe alone, in-process; the value is its own span's duration."""
    from workbench.conf import host as H
    from workbench.conf.host import DEFAULT_SEC_MODELS
    from workbench.qemu.designs.host_api import _node_count

    fns: dict[str, Callable[[], Any]] = {
        "arch": lambda: H.probe_arch(root), "cpu": lambda: H.probe_cpu(root),
        "nodes": lambda: _node_count(root), "numa": lambda: H.probe_numa(root),
        "cache": lambda: H.probe_caches(root), "resctrl": lambda: H.probe_resctrl(root),
        "pages": lambda: H.probe_pages(root), "iommu": lambda: H.probe_iommu(root),
        "power": lambda: H.probe_power(root), "uuid": lambda: H.probe_uuid(root),
        "secmodel": lambda: H.probe_secmodels(DEFAULT_SEC_MODELS)}

    def setup() -> None:
        H._POWER_MEMO.clear()   # measure the read, not conf.host's once-per-process memo

    for p in SUB_PROBES:
        b.add(
            f"host_probe.{h}.{p}",
            lambda loops, fn=fns[p], p=p: measure_span(loops, setup, lambda _: fn(), f"host.{p}"),
            metadata=b.meta("host_probe", case=f"{h}:{p}", phase="span", host=h, probe=p))


if __name__ == "__main__":
    main()
