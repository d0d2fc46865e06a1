"""The parse path over the whole corpus under every strategy, and `workbench parse` on bad input.

The two libvirt strategies differ exactly where the 2019 series changed behaviour; every newer
strategy must give per-emulator's verdicts on the whole corpus (its speed may not come from
skipping work)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from workbench.paths import DOMAINS_DIR
from workbench.qemu.domain_parse import format_domain_xml, parse_domain_xml
from workbench.errors import WorkbenchError
from workbench.qemu.driver import DriverOptions, QemuDriver
from workbench.qemu.strategies import STRATEGIES

NEWER = [s for s in STRATEGIES if s not in ("full-caps", "per-emulator")]

# Corpus files whose outcome depends on the strategy: exactly the cases the series changed.
SERIES_CASES = {
    # kvm for a foreign arch: refused at parse by the virCaps lookup before, at validate after
    "aarch64-kvm.xml": ("could not find capabilities", "does not support virt type 'kvm'"),
}


@pytest.fixture(scope="module")
def drivers(tmp_path_factory):
    from workbench.sim.install import install
    inst = tmp_path_factory.mktemp("all")
    install(inst, "all", latency="none")
    made = {s: QemuDriver.startup(DriverOptions(str(inst), s, None)) for s in STRATEGIES}
    yield made
    for drv in made.values():
        drv.stop()


def _outcome(drv: QemuDriver, path: Path) -> str:
    try:
        return "OK " + format_domain_xml(parse_domain_xml(drv.parse_context, path.read_bytes(), source=path.name))
    except Exception as e:  # the message is the outcome being compared
        return f"ERR {e}"


def test_strategies_agree_except_where_the_series_changed_behaviour(drivers):
    files = sorted(DOMAINS_DIR.glob("*.xml"))
    assert len(files) >= 99
    differ, ok = {}, 0
    for p in files:
        a, b = _outcome(drivers["full-caps"], p), _outcome(drivers["per-emulator"], p)
        ok += a.startswith("OK")
        if a != b:
            differ[p.name] = (a, b)
    assert set(differ) == set(SERIES_CASES)
    for name, (before, after) in SERIES_CASES.items():
        assert before in differ[name][0] and after in differ[name][1]
    assert ok >= 70  # most of the corpus parses, post-parses and validates


@pytest.mark.parametrize("strategy", NEWER)
def test_newer_strategies_give_per_emulator_verdicts_on_the_whole_corpus(drivers, strategy):
    files = sorted(DOMAINS_DIR.glob("*.xml"))
    differ = {p.name: (a, b) for p in files
              if (a := _outcome(drivers["per-emulator"], p)) != (b := _outcome(drivers[strategy], p))}
    assert differ == {}


def test_unknown_arch_names_are_refused_by_both(drivers):
    for drv in drivers.values():
        out = _outcome(drv, DOMAINS_DIR / "hppa-minimal.xml")
        assert out == "ERR Unknown architecture hppa"  # libvirt calls it parisc


def _workbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def inst2(tmp_path_factory):
    from workbench.sim.install import install
    inst = tmp_path_factory.mktemp("two")
    install(inst, 2, latency="none")
    return inst


def test_parse_cli_prints_the_post_parsed_domain_and_trace(inst2):
    r = _workbench("parse", str(DOMAINS_DIR / "x86_64-minimal.xml"), "--install", str(inst2),
                   "--strategy", "per-emulator", "--trace")
    assert r.returncode == 0, r.stderr
    assert 'machine="pc-i440fx-7.2"' in r.stdout and "qemu-system-x86_64" in r.stdout
    for phase in ("parse", "post-parse", "validate", "cache.lookup", "probe"):
        assert phase in r.stderr


@pytest.mark.parametrize("name, where", [("unclosed-tag.xml", ":"), ("truncated.xml", ":"),
                                         ("wrong-root.xml", ":"), ("missing-name.xml", ":")])
def test_malformed_xml_exits_2_naming_file_line_column(inst2, name, where):
    path = DOMAINS_DIR / "bad" / name
    r = _workbench("parse", str(path), "--install", str(inst2))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    head = r.stderr.split("workbench: ", 1)[1]
    file_part, line, col = head.split(":")[:3]
    assert file_part == str(path) and line.strip().isdigit() and col.strip().isdigit()


@pytest.mark.parametrize("name", ["xxe-passwd.xml", "billion-laughs.xml", "external-dtd.xml"])
def test_entities_and_external_dtds_are_refused(inst2, name):
    r = _workbench("parse", str(DOMAINS_DIR / "bad" / name), "--install", str(inst2))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "root:" not in r.stdout + r.stderr  # /etc/passwd was not read


def test_huge_document_is_refused_before_parsing(inst2, tmp_path):
    huge = tmp_path / "huge.xml"
    with open(huge, "wb") as f:
        f.write(b"<domain>")
        f.truncate(100 * 1024 * 1024)
    r = _workbench("parse", str(huge), "--install", str(inst2))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert str(huge) in r.stderr and "over the limit" in r.stderr


def test_missing_install_is_a_clear_error(tmp_path):
    r = _workbench("parse", str(DOMAINS_DIR / "x86_64-minimal.xml"), "--install", str(tmp_path / "nope"))
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr


def test_bad_define_leaves_saved_configs_intact(inst2, tmp_path):
    etc = tmp_path / "etc"
    drv = QemuDriver.startup(DriverOptions(str(inst2), "per-emulator", None, etc))
    good = (DOMAINS_DIR / "x86_64-minimal.xml").read_text()
    name = drv.define_xml(good)
    saved = (etc / f"{name}.xml").read_bytes()
    for bad in (DOMAINS_DIR / "bad").glob("*.xml"):
        with pytest.raises(WorkbenchError):
            drv.define_xml(bad.read_text())
    bad_machine = good.replace("<type", '<type machine="nope"', 1)
    with pytest.raises(WorkbenchError):
        drv.define_xml(bad_machine)
    assert sorted(p.name for p in etc.iterdir()) == [f"{name}.xml"]
    assert (etc / f"{name}.xml").read_bytes() == saved
