"""Host capability API designs (workbench.qemu.designs.host_api), in-process and over the daemon socket,
plus the host_api notebook run by papermill on the committed results."""
from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from workbench import trace
from workbench.bench.daemon_client import Daemon
from workbench.bench.host_api import ask, host_daemon, question_calls
from workbench.conf import host as H
from workbench.conf.host_xml import format_host
from workbench.sim.simhost import SHAPES, make_host_tree
from workbench.daemon import error_code
from workbench.errors import InvalidArgument, RpcError
from workbench.qemu.driver import DriverOptions, QemuDriver
from workbench.qemu.designs.host_api import PARTS, HostApi, host_api_table
from workbench.paths import NOTEBOOKS_DIR, RESULTS_DIR


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return make_host_tree(tmp_path_factory.mktemp("h") / "s", SHAPES["server-2s-64"])


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def api(tree, tmp_path) -> HostApi:
    drv = QemuDriver.startup(DriverOptions(search_path=str(tmp_path), host_root=str(tree)))
    return HostApi(drv, memo=False, clock=Clock())


def children(xml: str) -> list[str]:
    return [el.tag for el in etree.fromstring(xml)]


def test_everything_is_libvirts_host(api: HostApi, tree: Path) -> None:
    full = etree.tostring(format_host(H.probe_host(str(tree), api.driver.options.sec_models).parts()),
                          encoding="unicode")
    assert api.node_get_capabilities() == full
    assert api.node_get_capabilities(list(PARTS)) == full


def test_flags_select_parts(api: HostApi) -> None:
    full = etree.fromstring(api.node_get_capabilities())
    cpu = api.node_get_capabilities(["cpu"])
    assert children(cpu) == ["cpu"]
    # <cpu><topology> needs only the node count, and matches the full document's
    assert etree.fromstring(cpu).find("cpu/topology").attrib == full.find("cpu/topology").attrib
    assert etree.fromstring(cpu).find("cpu/pages") is None
    assert children(api.node_get_capabilities(["numa"])) == ["topology"]
    assert children(api.node_get_capabilities(["numa", "cpu"])) == ["cpu", "topology"]
    assert children(api.node_get_capabilities(["caches"])) == ["cache"]
    rc = etree.fromstring(api.node_get_capabilities(["resctrl"]))  # pulls in the banks it annotates
    assert [el.tag for el in rc] == ["cache", "memory_bandwidth"] and rc.find("cache/bank/control") is not None
    assert etree.fromstring(api.node_get_capabilities(["caches"])).find("cache/bank/control") is None
    assert children(api.node_get_capabilities(["secmodel"])) == ["secmodel", "secmodel"]


def test_per_part_apis(api: HostApi) -> None:
    table = host_api_table(api.driver)
    for p in PARTS:
        assert f"node_get_{p}" in table
    assert children(table["node_get_cpu"]()) == ["cpu"]
    assert children(table["node_get_numa"]()) == ["topology"]
    assert children(table["node_get_caches"]()) == ["cache"]
    assert children(table["node_get_uuid"]()) == ["uuid"]
    assert children(table["node_get_iommu"]()) == ["iommu"]
    with pytest.raises(TypeError):
        table["node_get_cpu"](part="numa")  # the daemon turns this into -32602


def test_memo_serves_without_reading(api: HostApi) -> None:
    api.node_get_capabilities(["cpu", "numa"], memo=True)
    reads = trace.TRACER.counters["host.reads"]
    assert reads > 0
    second = api.node_get_capabilities(["cpu", "numa"], memo=True)
    assert trace.TRACER.counters["host.reads"] == reads
    assert trace.TRACER.counters["host_api.memo_hits"] == 2
    api.node_get_capabilities(["cpu"], memo=False)  # memo off always re-reads
    assert trace.TRACER.counters["host.reads"] > reads
    assert second == api.node_get_capabilities(["cpu", "numa"])


def _set_hugepages(tree: Path, n: int) -> None:
    (tree / "sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages").write_text(f"{n}\n")


def _node0_2m(api: HostApi, memo: bool) -> str:
    doc = etree.fromstring(api.node_get_capabilities(["numa"], memo=memo))
    return doc.find("topology/cells/cell[@id='0']/pages[@size='2048']").text


def test_numa_goes_stale_then_invalidation_and_ttl_refresh(api: HostApi, tree: Path) -> None:
    old = _node0_2m(api, memo=True)
    try:
        _set_hugepages(tree, 7)
        assert _node0_2m(api, memo=True) == old          # stale: memoised
        assert _node0_2m(api, memo=False) == "7"         # the host changed
        assert api.node_invalidate(["numa"]) == ["numa"]
        assert _node0_2m(api, memo=True) == "7"
        _set_hugepages(tree, 9)
        api.clock.t += api.ttl_s["numa"] - 0.001
        assert _node0_2m(api, memo=True) == "7"          # within the TTL
        api.clock.t += 0.002
        assert _node0_2m(api, memo=True) == "9"          # TTL passed
        reads = trace.TRACER.counters["host.reads"]
        api.clock.t += 1e6
        api.node_get_capabilities(["cpu"], memo=True)    # cpu: daemon lifetime, no TTL
        api.node_get_capabilities(["cpu"], memo=True)
        assert trace.TRACER.counters["host.reads"] > reads
        reads = trace.TRACER.counters["host.reads"]
        api.clock.t += 1e6
        api.node_get_capabilities(["cpu"], memo=True)
        assert trace.TRACER.counters["host.reads"] == reads
    finally:
        _set_hugepages(tree, int(old))


def test_daemon_default_memo_and_ttl_config(api: HostApi) -> None:
    assert api.node_host_memo(memo=True, ttl_s={"numa": None})["ttl_s"]["numa"] is None
    api.node_get_capabilities(["numa"])
    reads = trace.TRACER.counters["host.reads"]
    api.node_get_capabilities(["numa"])  # the daemon default is now on
    assert trace.TRACER.counters["host.reads"] == reads
    with pytest.raises(InvalidArgument) as e:
        api.node_host_memo(ttl_s={"cpus": 1})
    assert "'cpus'" in str(e.value)


@pytest.mark.parametrize("flags", [["cpu", "bogus"], ["Cpu"], "cpu", []])
def test_bad_flags_in_process(api: HostApi, flags) -> None:
    with pytest.raises(InvalidArgument) as e:
        api.node_get_capabilities(flags)
    assert error_code(e.value) == -32602  # the daemon's mapping: invalid params


@pytest.fixture(scope="module")
def daemon(tree, tmp_path_factory):
    from workbench.sim.install import install

    d = tmp_path_factory.mktemp("dm")
    install(d / "inst", 3, latency="none")
    dm = host_daemon(d / "inst", str(tree), d / "cache", "per-emulator", "libvirt9").start()
    yield dm
    dm.stop()


def test_over_the_socket(daemon: Daemon) -> None:
    assert children(daemon.call("node_get_capabilities", {"flags": ["cpu"]})) == ["cpu"]
    assert children(daemon.call("node_get_numa", {})) == ["topology"]
    full = daemon.call("node_get_capabilities", {})
    assert etree.fromstring(daemon.call("get_capabilities", {})).find("host") is not None
    assert children(full) == children(etree.tostring(
        etree.fromstring(daemon.call("get_capabilities", {})).find("host"), encoding="unicode"))
    # every design answers every question without an error
    for design in ("get_capabilities", "node_caps", "node_caps_flags", "per_part"):
        for memo in (False, True):
            ask(daemon, question_calls(design, "mix", memo))


def test_memo_over_the_socket(daemon: Daemon) -> None:
    daemon.call("node_get_cpu", {"memo": True})
    reads = daemon.call("stats", {})["counters"]["host.reads"]
    daemon.call("node_get_cpu", {"memo": True})
    daemon.call("node_get_capabilities", {"flags": ["cpu"], "memo": True})
    assert daemon.call("stats", {})["counters"]["host.reads"] == reads
    assert daemon.call("node_invalidate", {"parts": ["cpu"]}) == ["cpu"]
    daemon.call("node_get_cpu", {"memo": True})
    assert daemon.call("stats", {})["counters"]["host.reads"] > reads


def test_bad_flags_over_the_socket(daemon: Daemon) -> None:
    with pytest.raises(RpcError) as e:
        daemon.call("node_get_capabilities", {"flags": ["cpu", "hugepagez"]})
    assert e.value.code == -32602 and "'hugepagez'" in str(e.value)
    with pytest.raises(RpcError) as e:
        daemon.call("node_get_cpu", {"part": "numa"})
    assert e.value.code == -32602


# -- the notebook on the committed results -------------------------------------------------------
def test_notebook_runs_on_committed_results(tmp_path: Path) -> None:
    results = RESULTS_DIR / "host_api"
    if not any(results.glob("*.json")):
        pytest.skip("no committed host_api results")
    pytest.importorskip("papermill")
    import jupytext
    import papermill

    nb = tmp_path / "host_api.ipynb"
    jupytext.write(jupytext.read(NOTEBOOKS_DIR / "host_api.py"), nb)
    out = tmp_path / "out"
    papermill.execute_notebook(str(nb), str(tmp_path / "run.ipynb"), kernel_name="python3",
                               parameters={"results_dir": str(results), "output_dir": str(out)},
                               progress_bar=False)
    for name in ("sub_probe_cost.csv", "question_latency.csv", "recommendation_savings.csv", "flag_value.csv",
                 "sub_probe_cost.png", "question_latency.png", "ratio_to_get_capabilities.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    text = (out / "recommendation.md").read_text()
    assert "Recommendation" in text and "What would change the answer" in text
