"""Host sub-probes (workbench.conf.host) against the real host and simulated trees."""
from __future__ import annotations

import dataclasses
import platform
import shutil
import uuid
from pathlib import Path

import pytest

from workbench import trace
from workbench.conf import host
from workbench.conf.host_xml import format_host
from workbench.sim.simhost import SHAPES, HostShape, make_host_tree

SUB_PROBES = ("host.arch", "host.cpu", "host.numa", "host.cache", "host.resctrl", "host.pages",
              "host.iommu", "host.power", "host.uuid", "host.secmodel")


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("hosts")
    return {name: make_host_tree(base / name, shape) for name, shape in SHAPES.items()}


def test_real_host() -> None:
    h = host.probe_host("/")
    assert h.arch == platform.machine()
    assert h.cpu.arch == platform.machine()
    assert len(h.cpu.topology.online) >= 1
    assert len(h.numa.cells) >= 1
    assert sum(c.memory_kib for c in h.numa.cells) > 0
    assert h.page_sizes_kib[0] >= 4
    assert str(uuid.UUID(h.uuid)) == h.uuid


@pytest.mark.parametrize("name", list(SHAPES))
def test_preset_round_trip(trees: dict[str, Path], name: str) -> None:
    shape, h = SHAPES[name], host.probe_host(trees[name])
    t = h.cpu.topology
    assert h.arch == shape.arch
    assert (t.sockets, t.cores, t.threads) == (shape.sockets, shape.cores_per_socket,
                                               shape.threads_per_core)
    assert len(t.online) == shape.cpus
    assert len(h.numa.cells) == shape.numa_nodes and not h.numa.fake
    assert sorted(c.id for cell in h.numa.cells for c in cell.cpus) == list(range(shape.cpus))
    assert sum(c.memory_kib for c in h.numa.cells) == shape.memory_gib * 1024 * 1024
    assert all(len(c.distances) == shape.numa_nodes for c in h.numa.cells)
    l3 = [b for b in h.caches if b.level == 3]
    assert len(l3) == len(h.caches) == shape.sockets * shape.l3_per_socket
    assert sorted(c for b in l3 for c in b.cpus) == list(range(shape.cpus))
    assert h.page_sizes_kib == (4, *sorted(shape.hugepages_kib))
    assert all(len(c.pages) == 1 + len(shape.hugepages_kib) for c in h.numa.cells)
    assert (h.resctrl is not None) == shape.resctrl
    assert h.iommu == shape.iommu
    assert h.power == {"suspend_mem", "suspend_disk", "suspend_hybrid"}
    assert h.uuid == str(host.probe_uuid(trees[name]))


def test_resctrl_details(trees: dict[str, Path]) -> None:
    rc = host.probe_resctrl(trees["server-2s-64"])
    assert rc is not None
    assert [c.kind for c in rc.caches] == ["L3"] and rc.caches[0].num_closids == 16
    assert rc.membw is not None and rc.membw.bandwidth_gran == 10
    assert rc.monitor is not None and "llc_occupancy" in rc.monitor.features


def test_xml_elements(trees: dict[str, Path]) -> None:
    h = host.probe_host(trees["server-2s-64"], sec_models=[("dac", "0", {"kvm": "+0:+0",
                                                                           "qemu": "+0:+0"})])
    el = format_host(h.parts())
    assert el.tag == "host"
    assert [c.tag for c in el] == ["uuid", "cpu", "power_management", "iommu",
                                   "migration_features", "topology", "cache",
                                   "memory_bandwidth", "secmodel"]
    assert el.findtext("cpu/arch") == "x86_64"
    assert el.find("cpu/topology").attrib == {"sockets": "1", "dies": "1", "cores": "16",
                                              "threads": "2"}  # libvirt: sockets per node
    assert len(el.findall("cpu/feature")) > 10
    assert [p.get("size") for p in el.findall("cpu/pages")] == ["4", "2048", "1048576"]
    assert {c.tag for c in el.find("power_management")} == {"suspend_mem", "suspend_disk",
                                                            "suspend_hybrid"}
    assert el.find("iommu").get("support") == "yes"
    assert el.find("migration_features/live") is not None
    assert [u.text for u in el.findall("migration_features/uri_transports/uri_transport")] == \
        ["tcp", "rdma"]
    cells = el.findall("topology/cells/cell")
    assert len(cells) == 2 and el.find("topology/cells").get("num") == "2"
    assert cells[0].find("memory").get("unit") == "KiB"
    assert len(cells[0].findall("cpus/cpu")) == 32
    assert [s.get("value") for s in cells[0].findall("distances/sibling")] == ["10", "21"]
    banks = el.findall("cache/bank")
    assert len(banks) == 2 and banks[0].get("type") == "both" and banks[0].get("level") == "3"
    assert banks[0].find("control").get("maxAllocs") == "16"
    assert el.findtext("secmodel/model") == "dac"
    assert [b.get("type") for b in el.findall("secmodel/baselabel")] == ["kvm", "qemu"]


def test_default_secmodel_and_no_resctrl(trees: dict[str, Path]) -> None:
    el = format_host(host.probe_host(trees["vm-2cpu"]).parts())
    assert el.find("memory_bandwidth") is None
    assert el.find("cache/bank/control") is None
    assert (el.findtext("secmodel/model"), el.findtext("secmodel/doi")) == ("none", "0")


def test_missing_files_degrade(tmp_path: Path) -> None:
    root = make_host_tree(tmp_path / "h", SHAPES["desktop-16"])
    shutil.rmtree(root / "sys/devices/system/node")
    shutil.rmtree(root / "sys/devices/system/cpu/cpu3/cache")
    (root / "sys/devices/system/cpu/cpu5/topology/core_id").unlink()
    (root / "sys/devices/virtual/dmi/id/product_uuid").unlink()
    (root / "sys/kernel/mm/hugepages").rename(root / "sys/kernel/mm/gone")
    h = host.probe_host(root)
    assert h.numa.fake and len(h.numa.cells) == 1
    assert len(h.numa.cells[0].cpus) == 16
    assert h.numa.cells[0].memory_kib == 32 * 1024 * 1024      # from /proc/meminfo
    assert len(h.caches) == 1                                   # other CPUs still see the L3
    assert h.page_sizes_kib == (4,)
    assert h.uuid == str(uuid.UUID((root / "etc/machine-id").read_text().strip()))
    cell = format_host(h.parts()).find("topology/cells/cell")
    assert cell.find("distances") is None and len(cell.findall("cpus/cpu")) == 16


def test_empty_root_degrades(tmp_path: Path) -> None:
    """A root with nothing in it still gives a HostCaps: every part empty or absent."""
    h = host.probe_host(tmp_path)
    assert h.numa.fake and h.numa.cells[0].memory_kib == 0
    assert h.caches == () and h.resctrl is None and not h.iommu and h.power == frozenset()
    assert h.uuid == host.probe_uuid(tmp_path)                  # generated, then memoised
    assert format_host(h.parts()).find("cpu/topology") is not None


def test_garbage_files_degrade(tmp_path: Path) -> None:
    root = make_host_tree(tmp_path / "h", SHAPES["vm-2cpu"])
    (root / "sys/devices/system/node/node0/cpulist").write_text("zz\n")
    (root / "sys/devices/system/cpu/cpu0/cache/index3/level").write_text("three\n")
    (root / "sys/devices/system/node/node0/distance").write_text("ten\n")
    h = host.probe_host(root)
    assert h.numa.cells[0].cpus == () and h.numa.cells[0].distances == ()
    assert len(h.caches) == 1 and h.caches[0].cpus == (0, 1)    # cpu1 still reports it


def test_nonexistent_root_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        host.probe_host(tmp_path / "nope")
    with pytest.raises(ValueError):
        host.probe_numa(tmp_path / "nope")


def test_spans_recorded(trees: dict[str, Path]) -> None:
    before = len(trace.TRACER._spans)
    host.probe_host(trees["desktop-16"])
    new = trace.TRACER.records()[before:]
    names = [r.name for r in new]
    assert names.count("host") == 1
    for sub in SUB_PROBES:
        assert names.count(sub) == 1, sub
    top = next(r for r in new if r.name == "host")
    assert all(r.depth == top.depth + 1 and top.start_ns <= r.start_ns <= r.end_ns <= top.end_ns
               for r in new if r.name in SUB_PROBES)


def test_power_memoised_per_root(tmp_path: Path) -> None:
    root = make_host_tree(tmp_path / "h", SHAPES["vm-2cpu"])
    first = host.probe_power(root)
    (root / "sys/power/state").write_text("freeze\n")
    assert host.probe_power(root) == first                     # once per process, as libvirt
    other = make_host_tree(tmp_path / "o", SHAPES["vm-2cpu"])
    (other / "sys/power/state").write_text("freeze mem\n")
    assert host.probe_power(other) == {"suspend_mem"}


def test_probe_cost_grows_with_shape(trees: dict[str, Path]) -> None:
    reads = {}
    for name in ("vm-2cpu", "server-2s-64", "server-8s-448"):
        start = trace.TRACER.counters["host.reads"]
        host.probe_host(trees[name])
        reads[name] = trace.TRACER.counters["host.reads"] - start
    assert reads["vm-2cpu"] < reads["server-2s-64"] < reads["server-8s-448"]


def test_shape_limits() -> None:
    with pytest.raises(ValueError):
        HostShape("bad", sockets=9)
    with pytest.raises(ValueError):
        dataclasses.replace(SHAPES["vm-2cpu"], numa_nodes=0)


def test_cpulist_round_trip() -> None:
    ids = (0, 1, 2, 3, 8, 10, 11)
    assert host.format_cpulist(ids) == "0-3,8,10-11"
    assert host.parse_cpulist("0-3,8,10-11\n") == ids
    assert host.parse_cpulist("") == () and host.parse_cpulist(None) == ()
