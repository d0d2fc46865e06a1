"""The recorder (medians over rounds, the round trip, the resident memory) and the replay's use
of them. Recordings are made from replaying emulators: the recorder works on any binary."""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from workbench.errors import ProbeError
from workbench.qemu import process
from workbench.sim import replay_timing, roundtrip
from workbench.sim.recorder import median_launches, record_all
from workbench.sim.transcript import FORMAT, Exchange, Launch, load

from conftest import needs_real_qemu, processes_mentioning

TRANSCRIPTS = Path(__file__).resolve().parents[1] / "data" / "transcripts"


def test_record_keeps_medians_round_trip_and_memory(make_install, private_tmp, tmp_path) -> None:
    src = make_install(targets=["x86_64", "sh4eb"], latency="recorded")
    out = tmp_path / "tr"
    rounds: list[str] = []
    outcomes = record_all(src, out, repeats=3, progress=rounds.append)
    assert [o.error for o in outcomes] == [None, None]
    assert len(rounds) == 4  # one warm-up round, then three kept
    for target in ("x86_64", "sh4eb"):
        tr, orig = load(out / f"qemu-system-{target}.json.gz"), load(TRANSCRIPTS / f"qemu-system-{target}.json.gz")
        assert tr.repeats == 3 and tr.work_rate and tr.work_rate > 0
        sizes = [n for n, _ in tr.round_trip["points"]]
        assert sizes == sorted(sizes) == list(roundtrip.SIZES)
        assert all(s > 0 for _, s in tr.round_trip["points"]) and tr.round_trip["samples"] > 0
        assert [ln.accel for ln in tr.launches] == [ln.accel for ln in orig.launches]
        for ln, o in zip(tr.launches, orig.launches):
            # The replies are the recorded ones, whatever answered them.
            assert [(e.execute, e.arguments, e.ret, e.error) for e in ln.exchanges] == \
                [(e.execute, e.arguments, e.ret, e.error) for e in o.exchanges]
            assert ln.rss_kib and ln.rss_kib > 0
            assert ln.quit_s is not None and ln.ready_s > ln.spawn_s > 0
    assert not list(private_tmp.iterdir())
    assert processes_mentioning(str(src)) == []


def _launch(latencies: list[float], ready: float, anon: int | None, cmds: list[str] | None = None) -> Launch:
    names = cmds or [f"c{i}" for i in range(len(latencies))]
    return Launch("tcg", ready, ready + 0.001, {}, [Exchange(c, None, t, {}) for c, t in zip(names, latencies)],
                  0.004, 0.0003, ready + 0.0005, anon)


def test_median_launches_takes_each_time_apart() -> None:
    runs = [[_launch([0.001, 0.020], 0.030, 100)], [_launch([0.003, 0.010], 0.010, 300)],
            [_launch([0.002, 0.030], 0.020, 200)]]
    (med,) = median_launches("qemu-x", runs)
    assert [e.latency_s for e in med.exchanges] == [0.002, 0.020]  # per exchange, not per run
    assert (med.ready_s, med.rss_kib) == (0.020, 200)
    assert med.exchanges[0].ret == {} and med.accel == "tcg"


def test_median_launches_refuses_runs_that_asked_differently() -> None:
    a, b = _launch([0.001], 0.01, 1, ["query-kvm"]), _launch([0.001], 0.01, 1, ["query-version"])
    with pytest.raises(ProbeError, match="qemu-x.*different commands"):
        median_launches("qemu-x", [[a], [b]])
    with pytest.raises(ProbeError):
        median_launches("qemu-x", [[a], [a, replace(a, accel="kvm:tcg")]])


def test_work_units_convert_time_at_the_recorded_speed() -> None:
    assert replay_timing.work_units(0.001, 4e9, 1 << 14) == 244  # 4 MB of crc32 in 16 KiB units
    assert replay_timing.work_units(0.002, 4e9, 1 << 14) == 488  # twice the time, twice the work
    assert replay_timing.work_units(-0.001, 4e9, 1 << 14) == 0
    assert replay_timing.measure_work_rate(repeats=1, units=16) > 0


def test_round_trip_measure_leaves_nothing_running() -> None:
    rt = roundtrip.measure(samples=3, sizes=(64, 65_536))
    assert [n for n, _ in rt.points] == [64, 65_536] and rt.samples == 3
    assert all(s > 0 for _, s in rt.points)
    assert rt.seconds(32_800) == pytest.approx((rt.points[0][1] + rt.points[1][1]) / 2)
    assert processes_mentioning("workbench.sim.roundtrip") == []


def test_replay_holds_the_recorded_resident_memory(make_install, private_tmp) -> None:
    """A replaying emulator holds as much memory as the real QEMU did (its cost at SIGKILL) and
    faults it in first, inside the start-up's CPU budget: at the event that says it is ready
    (its daemonizing parent exits) the memory is resident. The budget is CPU time, so the
    machine's load does not change how much is resident then; latency 10 leaves the budget
    (~0.2 s of CPU) several times what the faults take."""
    binary = make_install(targets=["sh4eb"], latency="10") / "qemu-system-sh4eb"
    recorded = load(TRANSCRIPTS / "qemu-system-sh4eb.json.gz").launches[0].rss_kib
    assert recorded and recorded > 10_000
    proc = process.launch(str(binary), "tcg", 20)
    try:
        held = process.rss_kib(proc.pid)
    finally:
        process.cleanup(proc.tmpdir, proc.pid)
    assert held is not None and held >= 0.9 * recorded, (held, recorded)
    light = make_install(targets=["sh4eb"], latency="none") / "qemu-system-sh4eb"
    proc = process.launch(str(light), "tcg", 20)
    try:
        assert process.rss_kib(proc.pid) < 0.6 * recorded  # no ballast without delays
    finally:
        process.cleanup(proc.tmpdir, proc.pid)
    assert not os.listdir(private_tmp)


def test_transcripts_are_format_3_medians() -> None:
    for path in sorted(TRANSCRIPTS.glob("*.json.gz")):
        tr = load(path)
        assert tr.round_trip is not None and tr.work_rate and tr.work_rate > 1e8, path.name
        if tr.launch_failure is None:
            assert tr.repeats >= 5 and all(ln.rss_kib for ln in tr.launches), path.name
    assert FORMAT == 3


def test_fidelity_command_names_what_is_missing(capsys) -> None:
    from workbench.cli import main

    with pytest.raises(SystemExit) as e:  # argparse refuses a target the catalog does not know
        main(["fidelity", "--targets", "no-such-target"])
    assert e.value.code == 2 and "unknown targets ['no-such-target']" in capsys.readouterr().err


@needs_real_qemu
def test_fidelity_command_compares_every_phase(capsys, private_tmp) -> None:
    import json

    from workbench.cli import main
    from workbench.sim.fidelity_phases import PHASES

    assert main(["fidelity", "--targets", "sh4eb", "--repeats", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["phase"] for r in rows] == list(PHASES)
    assert all(r["real_s"] > 0 and r["simulated_s"] > 0 for r in rows if r["phase"] != "prober between commands")
    assert {r["phase"] for r in rows if r["recorded_s"] is not None} == {"start to ready", "connect + greeting", "commands"}


def test_round_trip_median_of_takes_each_size_apart() -> None:
    a = roundtrip.RoundTrip([(64, 0.001), (4096, 0.004)], 3)
    b = roundtrip.RoundTrip([(64, 0.003), (4096, 0.002)], 3)
    c = roundtrip.RoundTrip([(64, 0.002), (4096, 0.009)], 3)
    m = roundtrip.RoundTrip.median_of([a, b, c])
    assert m.points == [(64, 0.002), (4096, 0.004)] and m.samples == 9


def test_replay_work_is_counted_on_the_process_cpu_clock(monkeypatch) -> None:
    """The budget is CPU time: work_until returns only once this process has used the CPU
    asked for (without a work rate it watches that clock), and a forked daemon counts its
    parent's CPU as its own."""
    monkeypatch.setattr(replay_timing, "_work_rate", None)
    monkeypatch.setattr(replay_timing, "_ballast", None)
    deadline = replay_timing.cpu_now() + 0.02
    replay_timing.work_until(deadline)
    assert replay_timing.cpu_now() >= deadline
    before = replay_timing.cpu_now()
    monkeypatch.setattr(replay_timing, "_cpu_inherited", 0.0)
    replay_timing.inherit_cpu(5.0)
    assert replay_timing.cpu_now() >= before + 5.0 - 0.001
