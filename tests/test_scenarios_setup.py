"""The scenarios' untimed set-up ends its probes with the pidfd fix; the timed client run ends
them as the benchmark's --teardown says. run_client is replaced to record, nothing is timed."""
from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from workbench.bench import scenarios


class FakeBench:
    def __init__(self, root: Path, teardown: str) -> None:
        self.root = root
        self.args = SimpleNamespace(strategy="per-emulator", teardown=teardown)
        self.params = SimpleNamespace(qemu="recorded")

    def tmpdir(self, prefix: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.root))


@pytest.mark.parametrize("teardown", ["libvirt9", "libvirt5"])
def test_package_upgrade_setup_uses_pidfd_and_the_value_the_benchmarks_teardown(tmp_path, monkeypatch, teardown):
    install = tmp_path / "inst"
    install.mkdir()
    (install / "qemu-system-x86_64").write_text("#!/bin/sh\n")
    calls = []

    def fake_client(inst, strategy, state, define_xml, td):
        calls.append(td)
        (state / "etc").mkdir(parents=True, exist_ok=True)
        return scenarios.Outcome(0.0, [0.0, 0.0, 0.0], 0.0)

    monkeypatch.setattr(scenarios, "run_client", fake_client)
    sc = scenarios.Scenario(FakeBench(tmp_path, teardown), "package_upgrade", install, "<domain/>")
    sc.run()
    sc.run()
    assert calls == [scenarios.SETUP_TEARDOWN, teardown, teardown]  # the state is made once
    assert scenarios.SETUP_TEARDOWN == "pidfd"
