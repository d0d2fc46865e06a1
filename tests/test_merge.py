"""sweep --shard I/N and merge: shards of one grid joined give the unsharded grid; others refused."""
from __future__ import annotations

import json

import pytest

from workbench.analysis import results
from workbench.bench import sweep
from workbench.cli import main as cli_main
from workbench.bench.merge import MergeRefused, merge_runs

GRID = dict(emulators=[1], strategies=["full-caps", "per-emulator"], latency="none", mode="quick",
            benchmarks=["driver_startup"], caches=["cold", "warm"], progress=False)


def test_shards_split_the_plan_deterministically_and_cover_it_once():
    jobs = sweep.plan([1, 2, 30], ["full-caps", "per-emulator"], sweep.MODES["quick"])
    shares = [sweep.Shard(i, 3).take(jobs) for i in (1, 2, 3)]
    names = [j.filename for share in shares for j in share]
    assert sorted(names) == sorted(j.filename for j in jobs) and len(set(names)) == len(names)
    assert max(map(len, shares)) - min(map(len, shares)) <= 1
    assert sweep.Shard(2, 3).take(jobs) == shares[1]  # deterministic
    for bad in ("0/2", "3/2", "1", "a/b"):
        with pytest.raises(ValueError):
            sweep.Shard.parse(bad)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    for i in (1, 2):
        res = sweep.run_sweep(root / f"s{i}", shard=sweep.Shard(i, 2), **GRID)
        assert not res.failed and len(res.ran) == 2
    whole = sweep.run_sweep(root / "whole", **GRID)
    assert not whole.failed
    return root


def test_merged_shards_hold_the_jobs_and_benchmarks_of_one_unsharded_sweep(shards, capsys):
    out = shards / "merged"
    assert cli_main(["merge", str(shards / "s1"), str(shards / "s2"), "-o", str(out)]) == 0
    assert "merged 2 shards" in capsys.readouterr().out
    files = lambda run: sorted(p.name for p in run.glob("*.json") if p.name != "machine.json")
    assert files(out) == files(shards / "whole") and len(files(out)) == 4
    merged, whole = results.load_run(out), results.load_run(shards / "whole")
    assert sorted(set(merged["name"])) == sorted(set(whole["name"]))
    info = json.loads((out / "machine.json").read_text())
    assert info["sweep"]["shards"] == ["1/2", "2/2"]
    assert info["sweep"]["grid_sha256"] == json.loads((shards / "whole" / "machine.json").read_text())["sweep"]["grid_sha256"]
    assert sum(len(v) for v in info["machines"].values()) == 4
    assert [s["shard"] for s in info["shards"]] == ["1/2", "2/2"]


def test_merge_refuses_other_grids_other_code_and_repeated_shards(shards, tmp_path):
    with pytest.raises(MergeRefused, match="same shard"):
        merge_runs([shards / "s1", shards / "s1"], tmp_path / "a")
    with pytest.raises(MergeRefused, match="is in both"):  # the whole grid holds shard 1's jobs
        merge_runs([shards / "s1", shards / "whole"], tmp_path / "b")

    def altered(name: str, **change) -> object:
        other = tmp_path / name
        other.mkdir()
        for f in (shards / "s2").iterdir():
            (other / f.name).write_bytes(f.read_bytes())
        info = json.loads((other / "machine.json").read_text())
        info.update(change.get("top", {}))
        info["sweep"].update(change.get("sweep", {}))
        (other / "machine.json").write_text(json.dumps(info))
        return other

    with pytest.raises(MergeRefused, match="different grids"):
        merge_runs([shards / "s1", altered("grid", sweep={"grid_sha256": "1" * 64})], tmp_path / "c")
    with pytest.raises(MergeRefused, match="different modes"):
        merge_runs([shards / "s1", altered("mode", sweep={"mode": "rigorous"})], tmp_path / "d")
    code = altered("code", top={"code_sha256": "0" * 64})
    with pytest.raises(MergeRefused, match="different workbench code"):
        merge_runs([shards / "s1", code], tmp_path / "e")
    assert cli_main(["merge", str(shards / "s1"), str(code), "-o", str(tmp_path / "f")]) == 2
    assert not (tmp_path / "c").exists() and not (tmp_path / "f").exists()
