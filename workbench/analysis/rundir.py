"""The one owner of a run directory's layout: its provenance file, result files and results CSV.

A run directory holds one pyperf JSON file per job, `machine.json` (the machine and the
provenance of what measured: format version, a hash of every input that shapes a number, the
git commit and whether those inputs were dirty, the QEMU and libvirt versions, the sweep settings) and `results.csv` (derived
from the JSON files; safe to delete). The writer (`collect_run_info` + `write_run_info`) and the
reader (`read_run_info`) live here and nowhere else.

Format versions: 0 = legacy (no `format_version`; `bench_code_sha256` hashed only
workbench/bench/*.py): read what is there. 1 = `code_sha256` over every workbench/**/*.py.
2 = `code_sha256` over every file of CODE_INPUTS (the package, the notebooks that turn results
into figures, the recordings replayed, the domain corpus, libvirt's data the model reads, the
dependency list) and `git_dirty` over the same paths; `libvirt` and the Debian package versions.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import atomicfile
from workbench.errors import ResultsError
from workbench.libvirt9.builds import SYSTEM_LABEL
from workbench.paths import REPO_ROOT

MACHINE_FILE = "machine.json"
DETECT_FILE = "detectable-change.json"  # the main job's headline minimum detectable changes (bench/mainjob.py)
RESULTS_CSV = "results.csv"
MODEL = "model"  # `wb_system` of the workbench's own rows; real libvirt's say "libvirt 9.0"
FORMAT_VERSION = 2
PACKAGE_DIR = REPO_ROOT / "workbench"
# Everything in the checkout that shapes a number or a figure (data/results is output, not input).
CODE_INPUTS = ("workbench", "notebooks", "data/transcripts", "data/domains", "data/libvirt9", "pyproject.toml")
_SKIPPED_PARTS = {"__pycache__", ".ipynb_checkpoints"}


def is_stock_libvirt(system: Any) -> Any:
    """Whether a `system` value (or, given a column, each one) is real libvirt as built without
    patches: what the model is compared with. A patched build's rows share the file (one
    libvirt_real job runs every build asked for) and are compared with the stock ones only."""
    return system == SYSTEM_LABEL


@dataclass(frozen=True)
class RunInfo:
    """What machine.json says, validated; `data` is the whole file as read."""
    format_version: int
    code_sha256: str | None        # version 0: the legacy hash of workbench/bench only
    git_commit: str | None
    git_dirty: bool | None
    sweep: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


# -- writing -----------------------------------------------------------------------------------
def code_hash(root: Path = REPO_ROOT, inputs: tuple[str, ...] = CODE_INPUTS) -> str:
    """sha256 over every file of `inputs` below `root` (relative path + bytes, in path order),
    caches and compiled files left out; a missing input counts as absent."""
    h = hashlib.sha256()
    files = []
    for name in inputs:
        top = root / name
        files += [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
    for p in sorted(set(files)):
        rel = p.relative_to(root)
        if _SKIPPED_PARTS & set(rel.parts) or p.suffix == ".pyc":
            continue
        h.update(rel.as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def collect_run_info() -> dict[str, Any]:
    """This machine and this code, as machine.json records them (without the sweep settings)."""
    def cpuinfo(key: str) -> str:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
        return ""

    mem_kib = next((int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines()
                    if l.startswith("MemTotal:")), 0)
    qemu = Path("/usr/bin/qemu-system-x86_64")
    commit = _run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"])
    dirty = bool(_run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", *CODE_INPUTS]))
    return {
        "format_version": FORMAT_VERSION,
        "hostname": platform.node(), "cpu_model": cpuinfo("model name"), "cores": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(), "os": _run(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "python": platform.python_version(),
        "qemu": _run([str(qemu), "--version"]).splitlines()[0] if qemu.exists() else None,
        "libvirt": _run(["virsh", "--version"]) or None,  # the installed client library's version
        "packages": {name: _run(["dpkg-query", "-W", "-f", "${Version}", name]) or None
                     for name in ("qemu-system-x86", "libvirt0", "libvirt-daemon")},
        "kvm_device": os.path.exists("/dev/kvm"),
        "kvm_usable": os.access("/dev/kvm", os.R_OK | os.W_OK),
        "git_commit": commit or None, "git_dirty": dirty, "code_sha256": code_hash(),
    }


def write_run_info(run_dir: Path, info: dict[str, Any]) -> Path:
    """machine.json, written atomically."""
    return atomicfile.write_bytes(Path(run_dir) / MACHINE_FILE, (json.dumps(info, indent=2) + "\n").encode())


# -- reading -----------------------------------------------------------------------------------
def read_run_info(run_dir: Path) -> RunInfo:
    """machine.json of a run, validated. A run without one reads as version 0 with nothing known."""
    path = Path(run_dir) / MACHINE_FILE
    if not path.exists():
        return RunInfo(0, None, None, None)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ResultsError(f"{path}: not a readable provenance file: {e}") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object, got {type(data).__name__}")
    version = data.get("format_version", 0)
    if not isinstance(version, int) or not 0 <= version <= FORMAT_VERSION:
        raise ResultsError(f"{path}: format_version {version!r} is not one this workbench reads "
                           f"(0 to {FORMAT_VERSION})")
    code = data.get("code_sha256") if version >= 1 else data.get("bench_code_sha256")
    if version >= 1 and not (isinstance(code, str) and len(code) == 64):
        raise ResultsError(f"{path}: code_sha256 missing or not a sha256 hex digest")
    sweep = data.get("sweep", {})
    if not isinstance(sweep, dict):
        raise ResultsError(f"{path}: 'sweep' must be an object")
    dirty = data.get("git_dirty")
    return RunInfo(version, code, data.get("git_commit") or None,
                   None if dirty is None else bool(dirty), sweep, data)


def result_files(run_dir: Path) -> list[Path]:
    """The pyperf JSON files of a run (hidden temporaries, machine.json and the main job's
    detectable-change summary left out)."""
    return sorted(p for p in Path(run_dir).glob("*.json")
                  if p.name not in (MACHINE_FILE, DETECT_FILE) and not p.name.startswith("."))


def results_csv(run_dir: Path) -> Path:
    return Path(run_dir) / RESULTS_CSV


def write_results_csv(run_dir: Path, frame) -> Path:
    """results.csv from a tidy frame (pandas), written atomically."""
    target = results_csv(run_dir)
    return atomicfile.write_bytes(target, frame.to_csv(index=False).encode())
