"""The worker: one libvirt connection through the Python binding, timed steps, JSON out.

Binding rather than virsh: one process holds one connection, so driver startup (open), each API
call and each define are timed separately in-process, without virsh's own start-up (~40 ms)
mixed into every figure, and several calls can share one warm driver.

Run only through `workbench.libvirt9.backend` (under the reaper, PATH = the install dir):
    python -m workbench.libvirt9.worker JOB.json OUT.json
JOB: {"uri": ..., "prefix": PREFIX or null, "label": ..., "steps": [{"op": "open"|"capabilities"|"domcaps"|"version"|"define",
      "label": str, "xml": str, "arch": str, "virttype": str, "machine": str}]}
OUT: one record per step: op, label, ok, time_s, error, result.
Once the connection is open the worker checks in /proc/self/maps that libvirt.so.0 and the QEMU
driver module it runs are the job's build (PREFIX, or the system's when null); if not it writes
nothing and exits 3 with what it found, so a misloaded build never yields figures.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import libvirt

from workbench.libvirt9.builds import LibvirtBuild, check_loaded

WRONG_BUILD = 3


def _step(conn: Any, step: dict) -> tuple[Any, Any]:
    op = step["op"]
    if op == "open":
        return libvirt.open(step["uri"]), None
    if op == "capabilities":
        return conn, conn.getCapabilities()
    if op == "version":
        return conn, conn.getVersion()
    if op == "domcaps":
        return conn, conn.getDomainCapabilities(None, step.get("arch"), step.get("machine"),
                                                step.get("virttype"), 0)
    if op == "define":
        dom = conn.defineXML(step["xml"])
        xml = dom.XMLDesc(0) if step.get("readback", True) else None
        dom.undefine()  # leave the root empty for the next define of the same name
        return conn, xml
    raise ValueError(f"unknown op {op!r}")


def _event_loop() -> None:
    # The embedded driver refuses to open without a registered event loop (as virsh runs one).
    libvirt.virEventRegisterDefaultImpl()

    def loop() -> None:
        while True:
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=loop, daemon=True, name="libvirt-events").start()


def run(job: dict) -> list[dict]:
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors go into the records
    _event_loop()
    conn = None
    out = []
    for step in job["steps"]:
        step = {"uri": job["uri"], **step}
        t0 = time.perf_counter()
        try:
            conn, result = _step(conn, step)
            rec = {"ok": True, "error": None, "result": result}
        except libvirt.libvirtError as e:
            rec = {"ok": False, "error": e.get_error_message(), "result": None}
        rec["time_s"] = time.perf_counter() - t0
        rec.update(op=step["op"], label=step.get("label", step["op"]))
        out.append(rec)
        if step["op"] == "open" and not rec["ok"]:
            break
        if step["op"] == "open":
            _check_build(job)
    if conn is not None:
        conn.close()
    return out


def _check_build(job: dict) -> None:
    prefix = job.get("prefix")
    build = LibvirtBuild(job.get("label", "?"), None if prefix is None else Path(prefix))
    with open("/proc/self/maps") as f:
        problem = check_loaded(build, f.read())
    if problem is not None:
        print(f"wrong libvirt build: {problem}", file=sys.stderr)
        sys.exit(WRONG_BUILD)


def main() -> None:
    with open(sys.argv[1]) as f:
        job = json.load(f)
    records = run(job)
    with open(sys.argv[2], "w") as f:
        json.dump(records, f)


if __name__ == "__main__":
    main()
