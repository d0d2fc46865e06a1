"""The benchmark grid: every script over (emulators, cache, strategy), one pyperf JSON per job.

Jobs run one at a time (two cores: parallel jobs would measure each other), in an order that
puts the strategies of one (n, cache, benchmark) next to each other, so a slow spell of the
machine hits both. Each job writes its file atomically (pyperf writes a hidden temporary, we
rename it), so an interrupted sweep keeps every finished file and a rerun skips them.
machine.json pins the benchmark code hash and the sweep settings: a rerun with other code or
settings refuses to mix its results into the directory.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from workbench.errors import ResultsError
from workbench.paths import REPO_ROOT
from workbench.results import MACHINE_FILE, write_results_csv

# Scripts run once per (n, cache, strategy); SINGLE ones once per round (their own axes).
GRID_BENCHMARKS = ("daemon_startup", "driver_startup", "apis", "parse", "tracing_overhead", "scenarios")
SINGLE_BENCHMARKS = ("replay_fidelity",)
DEFAULT_EMULATORS = (1, 2, 4, 8, 12, 16, 20, 24, 30)


@dataclass(frozen=True)
class Mode:
    name: str
    pyperf_args: tuple[str, ...]
    rounds: int = 1               # rounds repeat the whole grid: interleaving at run level
    caches: dict[str, tuple[str, ...]] = field(default_factory=dict)  # per benchmark, else both


# scenarios sets up its own cache states (empty, stale, warm): run once per (n, strategy).
_SCENARIO_CACHES = {"scenarios": ("cold",)}
# --loops 1: one timed operation per value (startups take 0.02 to 4 s; pyperf's calibration
# would otherwise run the untimed setup hundreds of times). quick runs in-process: no worker
# spawns, and 4 values, the fewest with which Mann-Whitney can reach p < 0.05.
MODES = {
    "quick": Mode("quick", ("--in-process", "-p", "1", "-n", "4", "-w", "0", "--loops", "1"),
                  caches={"tracing_overhead": ("warm",)} | _SCENARIO_CACHES),
    "default": Mode("default", ("-p", "2", "-n", "3", "-w", "1", "--loops", "1"), caches=_SCENARIO_CACHES),
    "rigorous": Mode("rigorous", ("-p", "4", "-n", "5", "-w", "1", "--loops", "1"), rounds=2,
                     caches=_SCENARIO_CACHES),
}


@dataclass(frozen=True)
class Job:
    benchmark: str
    round: int
    strategy: str | None = None
    n: int | None = None
    cache: str | None = None

    @property
    def filename(self) -> str:
        parts = [self.benchmark]
        if self.n is not None:
            parts += [f"n{self.n:02d}", str(self.cache), str(self.strategy)]
        return "--".join(parts + [f"r{self.round}"]) + ".json"

    def argv(self, mode: Mode, latency: str, install_root: Path, cache_root: Path, out: Path) -> list[str]:
        cmd = [sys.executable, "-m", f"workbench.bench.{self.benchmark}", *mode.pyperf_args, "-q",
               "--latency", latency, "--install-root", str(install_root),
               "--cache-root", str(cache_root), "-o", str(out)]
        if self.n is not None:
            cmd += ["--strategy", str(self.strategy), "--emulators", str(self.n), "--cache", str(self.cache)]
        return cmd


def resolve_strategies(spec: str | Sequence[str] | None = "all") -> list[str]:
    """"all" (or None) is every registered strategy, so a new strategy module joins every sweep."""
    from workbench.qemu.strategies import STRATEGIES

    names = list(STRATEGIES) if spec in (None, "all") else \
        (spec.split(",") if isinstance(spec, str) else list(spec))
    unknown = [s for s in names if s not in STRATEGIES]
    if unknown or not names:
        raise ValueError(f"unknown strategies {unknown}; choose from {', '.join(STRATEGIES)} or all")
    return names


def plan(emulators: Sequence[int], strategies: Sequence[str], mode: Mode,
         benchmarks: Sequence[str] = GRID_BENCHMARKS + SINGLE_BENCHMARKS,
         caches: Sequence[str] = ("cold", "warm")) -> list[Job]:
    jobs = []
    for r in range(1, mode.rounds + 1):
        for b in benchmarks:
            if b in SINGLE_BENCHMARKS:
                jobs.append(Job(b, r))
        for n in emulators:
            for cache in caches:
                for b in benchmarks:
                    if b in GRID_BENCHMARKS and cache in mode.caches.get(b, ("cold", "warm")):
                        jobs += [Job(b, r, s, n, cache) for s in strategies]
    return jobs


def bench_code_hash() -> str:
    """sha256 over the benchmark scripts: results of other benchmark code are not mixed in."""
    h = hashlib.sha256()
    for p in sorted((REPO_ROOT / "workbench" / "bench").glob("*.py")):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_info() -> dict:
    def cpuinfo(key: str) -> str:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
        return ""

    mem_kib = next((int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines()
                    if l.startswith("MemTotal:")), 0)
    qemu = Path("/usr/bin/qemu-system-x86_64")
    commit = _run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"])
    dirty = bool(_run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "workbench"]))
    return {
        "cpu_model": cpuinfo("model name"), "cores": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(), "os": _run(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "python": platform.python_version(),
        "qemu": _run([str(qemu), "--version"]).splitlines()[0] if qemu.exists() else None,
        "kvm_device": os.path.exists("/dev/kvm"),
        "kvm_usable": os.access("/dev/kvm", os.R_OK | os.W_OK),
        "git_commit": commit, "git_dirty": dirty, "bench_code_sha256": bench_code_hash(),
    }


class SweepMismatch(ResultsError):
    """The run directory holds results made with other benchmark code or settings."""


@dataclass
class SweepResult:
    ran: list[Job]
    skipped: list[Job]
    failed: dict[str, str]  # file name -> the end of its stderr


def _check_or_write_machine(out: Path, settings: dict) -> None:
    path = out / MACHINE_FILE
    info = machine_info() | {"sweep": settings}
    if path.exists():
        old = json.loads(path.read_text())
        if old.get("bench_code_sha256") != info["bench_code_sha256"] or old.get("sweep", {}).get("latency") != settings["latency"] \
                or old.get("sweep", {}).get("mode") != settings["mode"]:
            raise SweepMismatch(f"{out} holds results of other benchmark code or settings "
                                f"({path}); use a new output directory")
        info["sweep"]["created_at"] = old["sweep"].get("created_at", settings["created_at"])
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(tmp, path)


def _finished(path: Path) -> bool:
    """A result file counts only if it is a whole pyperf JSON document; a truncated or corrupt one
    is set aside as NAME.bad (kept for inspection) and its job re-run (issue 12)."""
    if not path.exists():
        return False
    try:
        doc = json.loads(path.read_bytes())
        if isinstance(doc, dict) and isinstance(doc.get("benchmarks"), list):
            return True
        why = "not a pyperf result"
    except (OSError, ValueError) as e:
        why = str(e)
    print(f"workbench: {path}: unreadable result ({why}); re-running its job (old file kept as "
          f"{path.name}.bad)", file=sys.stderr)
    os.replace(path, path.with_name(path.name + ".bad"))
    return False


def run_sweep(out: Path, emulators: Sequence[int] = DEFAULT_EMULATORS, strategies: Sequence[str] | None = None,
              latency: str = "recorded", mode: str = "quick",
              benchmarks: Sequence[str] = GRID_BENCHMARKS + SINGLE_BENCHMARKS,
              caches: Sequence[str] = ("cold", "warm"), progress: bool = True) -> SweepResult:
    import datetime as dt

    from tqdm import tqdm

    from workbench.bench.common import ensure_install

    strategies = resolve_strategies(strategies)
    m = MODES[mode]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {"mode": mode, "latency": latency, "emulators": list(emulators), "strategies": strategies,
                "benchmarks": list(benchmarks), "caches": list(caches), "pyperf_args": list(m.pyperf_args), "rounds": m.rounds,
                "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
                "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    _check_or_write_machine(out, settings)
    for stale in out.glob(".*.tmp*"):  # an interrupted job's partial output
        stale.unlink()
    jobs = plan(emulators, strategies, m, benchmarks, caches)
    todo = [j for j in jobs if not _finished(out / j.filename)]
    result = SweepResult([], [j for j in jobs if j not in todo], {})
    work = Path(tempfile.mkdtemp(prefix="vcs-"))  # short: probe sockets live below /tmp anyway
    try:
        installs = work / "installs"
        for n in sorted({j.n for j in todo if j.n is not None}):
            ensure_install(installs, n, latency)  # once per sweep; read-only afterwards
        bar = tqdm(total=len(jobs), initial=len(result.skipped), unit="job", disable=not progress,
                   dynamic_ncols=True)
        for job in todo:
            bar.set_postfix_str(job.filename[:-5], refresh=True)
            final = out / job.filename
            tmp = out / f".{job.filename}.tmp"
            cache_root = Path(tempfile.mkdtemp(prefix="c-", dir=work))  # this run's caches only
            proc = subprocess.run(job.argv(m, latency, installs, cache_root, tmp),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            shutil.rmtree(cache_root, ignore_errors=True)
            if proc.returncode == 0 and tmp.exists():
                os.replace(tmp, final)
                result.ran.append(job)
            else:
                tmp.unlink(missing_ok=True)
                result.failed[job.filename] = proc.stderr[-3000:]
                bar.write(f"FAILED {job.filename}: {proc.stderr.strip().splitlines()[-1:]}")
            bar.update()
        bar.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_results_csv(out)
    return result
