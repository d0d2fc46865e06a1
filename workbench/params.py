"""The one record of a benchmark's parameters: flags, worker argv, `wb_*` metadata, loader columns.

Every benchmark script parses its parameters with `BenchParams.add_arguments`, passes them on to
pyperf's worker processes with `to_argv` (workers do not inherit our argv), records them on every
benchmark with `to_metadata`, and the results loader reads them back with `from_metadata`. The
sweep builds each job's argv from the same record. In the spirit of pyperf's metadata registry:
one table of names, types and meanings, so a new axis (a teardown, a QEMU version, a libvirt
build) is one field here, with a `Spec` saying how it shows:

    teardown: str = field(default="libvirt9", metadata=_spec(
        "--teardown", "how a probe's emulator ends", choices=("libvirt9", "libvirt5", "pidfd"),
        meta="teardown", short="teardown", named="unless-default", key=True, axis="--teardowns",
        missing="libvirt9"))

and nothing else changes: the scripts take `--teardown`, the sweep `--teardowns libvirt9,pidfd`
(one job per value, its file name tagged where the value is not the default), every benchmark
carries `wb_teardown`, its name `teardown=pidfd` where not the default, and `load_run` a
`teardown` column that `workbench compare` keys on (runs made before the field existed read as
`missing`). The `qemu` field below is such an axis.
"""
from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from workbench.args import emulator_count, latency, qemu_spec
from workbench.qemu.teardown import DEFAULT_MODE as DEFAULT_TEARDOWN, MODES as TEARDOWNS
from workbench.sim.catalog import MAX_SIMULATED
from workbench.qemu.strategy_names import PER_EMULATOR

@dataclass(frozen=True)
class Spec:
    """How one parameter shows on the command line, in metadata, names, the loader and the sweep."""
    flag: str                                  # the scripts' option
    help: str
    type: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    meta: str | None = None                    # recorded as wb_<meta>; None: not recorded
    short: str | None = None                   # carried in the benchmark name as short=value
    named: str = "always"                      # or "unless-default": old names stay as they were
    key: bool = False                          # identifies what was measured (compare keys on it)
    axis: str | None = None                    # the sweep's flag taking a list of values
    missing: Any = None                        # what a file without wb_<meta> was measured at


def _spec(flag: str, help: str, **kw: Any) -> dict[str, Spec]:
    return {"spec": Spec(flag, help, **kw)}


@dataclass(frozen=True)
class BenchParams:
    """What a benchmark was run with. Field order is the order of the parameters in a name."""
    emulators: int | str = field(default=1, metadata=_spec(
        "--emulators", "emulators in the install", type=emulator_count, metavar=f"1..{MAX_SIMULATED}",
        meta="n_emulators", short="n", key=True))
    cache: str = field(default="cold", metadata=_spec(
        "--cache", "the capabilities cache at the start of each value", choices=("cold", "warm"),
        meta="cache", short="cache", key=True))
    strategy: str = field(default=PER_EMULATOR, metadata=_spec(
        "--strategy", "capabilities strategy", meta="strategy", short="strategy", key=True))
    domains: int = field(default=0, metadata=_spec(
        "--domains", "persistent domain configs at startup", type=int, meta="domains", short="domains",
        key=True))
    latency: str = field(default="recorded", metadata=_spec(
        # not a key: a run made with --latency 2 is compared with a recorded-latency one
        "--latency", "emulator latency mode: recorded, none or a factor", type=latency, meta="latency",
        short="latency"))
    teardown: str = field(default=DEFAULT_TEARDOWN, metadata=_spec(
        # a key: the same call under another teardown is another measurement. Files made before
        # the field existed read as "": the model then SIGKILLed and reaped each probe at once,
        # which is none of the three.
        "--teardown", "how each probe launch ends: libvirt9 (libvirt 9.0: SIGTERM, a kill(pid, 0) "
        "check every 200 ms until the pid is gone, SIGKILL at 10 s), libvirt5 (SIGKILL, no wait) "
        "or pidfd (the fix: SIGTERM, wait for the exit on a pidfd)", choices=TEARDOWNS,
        meta="teardown", short="teardown", named="unless-default", key=True, axis="--teardowns",
        missing=""))
    corpus: int = field(default=3, metadata=_spec(
        "--corpus", "corpus domains to parse (smallest..largest)", type=int))
    targets: str = field(default="all", metadata=_spec(
        "--targets", "replay_fidelity: comma-separated targets"))
    qemu: str = field(default="recorded", metadata=_spec(
        # recorded as the installed mix (x86_64@8.0.0+...) by Bench.meta, whose rows are modelled
        # pyperf refuses empty metadata: the default, the 7.2 recordings only, is "recorded"
        "--qemu", "'recorded' (the QEMU 7.2 recordings), or targets replaying libvirt 9.0's test "
        "data of another QEMU, as `workbench install --qemu` ('8.0.0' or 'x86_64=8.0.0+aarch64=4.2.0'; "
        "targets beyond the install's count are left out); their times are borrowed from the 7.2 "
        "recordings: rows say source=modelled",
        type=qemu_spec, meta="qemu", short="qemu", named="unless-default", key=True, axis="--qemus",
        missing="recorded"))
    libvirt: str = field(default="", metadata=_spec(
        # not recorded: the rows of each build carry its label as `system` (a row descriptor)
        "--libvirt", "libvirt_real: the libvirt 9.0 builds to measure, comma-separated: prefixes made "
        "by scripts/build-libvirt.sh or 'system' (default '': the system's alone)"))
    install_root: Path | None = field(default=None, metadata=_spec(
        "--install-root", "installs live in ROOT/n<N>-<latency>, made there if missing and then reused "
        "(the sweep passes one per sweep); default: this process's own", type=Path))
    cache_root: Path = field(default=Path(tempfile.gettempdir()), metadata=_spec(
        "--cache-root", "every cache and config dir of this run is made under it", type=Path))

    # -- the command line --------------------------------------------------------------
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser, strategies: Sequence[str] | None = None) -> None:
        """One option per field; `strategies` limits --strategy (default: every registered one)."""
        if strategies is None:
            from workbench.qemu.strategies import STRATEGIES
            strategies = list(STRATEGIES)
        for f, spec in specs():
            kw: dict[str, Any] = {"default": f.default, "help": spec.help, "dest": f.name}
            if spec.type is not None:
                kw["type"] = spec.type
            if spec.metavar is not None:
                kw["metavar"] = spec.metavar
            choices = tuple(strategies) if f.name == "strategy" else spec.choices
            if choices is not None:
                kw["choices"] = list(choices)
                kw["default"] = f.default if f.default in choices else choices[0]
            parser.add_argument(spec.flag, **kw)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "BenchParams":
        return cls(**{f.name: getattr(args, f.name) for f, _ in specs()})

    def to_argv(self) -> list[str]:
        """The options that give a worker (or a script run by the sweep) these parameters."""
        out: list[str] = []
        for f, spec in specs():
            value = getattr(self, f.name)
            if value is not None:
                out += [spec.flag, str(value)]
        return out

    # -- metadata ----------------------------------------------------------------------
    def to_metadata(self) -> dict[str, Any]:
        """The wb_* keys of every recorded parameter."""
        # pyperf refuses an empty metadata value: an empty or unset parameter is left out, and
        # from_metadata reads it back as its Spec.missing
        return {f"wb_{spec.meta}": getattr(self, f.name) for f, spec in specs()
                if spec.meta and getattr(self, f.name) not in (None, "")}

    @staticmethod
    def from_metadata(md: Mapping[str, Any]) -> dict[str, Any]:
        """Every wb_* key of a benchmark as a column (prefix dropped); a recorded parameter the
        file lacks is what such files were measured at (its Spec.missing)."""
        out = {k[3:]: v for k, v in md.items() if k.startswith("wb_")}
        for _, spec in specs():
            if spec.meta and spec.meta not in out:
                out[spec.meta] = spec.missing
        return out


def specs() -> Iterator[tuple[Any, Spec]]:
    """(dataclass field, Spec) of every parameter, in order."""
    for f in fields(BenchParams):
        yield f, f.metadata["spec"]


# Row descriptors every benchmark sets itself (not parameters of the run): what is timed, on
# which system, on what kind of emulator, how the value was obtained.
DESCRIPTORS = ("benchmark", "case", "phase", "system", "emulators", "source")


_KEY_ORDER = ["benchmark", "case", "phase", "system", "strategy", "n_emulators", "cache", "emulators", "domains"]


def key_columns() -> list[str]:
    """The columns that identify what was measured (compare keys on them): the descriptors and
    every keyed parameter, newer parameters after the first ones."""
    keyed = [s.meta for _, s in specs() if s.key and s.meta]
    return _KEY_ORDER + [k for k in keyed if k not in _KEY_ORDER]


def param_name(base: str, metadata: Mapping[str, Any]) -> str:
    """'driver_startup[n=30,cache=cold,strategy=full-caps,...]' from base and its wb_* metadata, so
    that `pyperf show` names the parameters and `pyperf convert --add` never merges two sets."""
    parts = []
    for f, spec in specs():
        k = f"wb_{spec.meta}"
        if spec.short and k in metadata and (spec.named == "always" or metadata[k] != f.default):
            parts.append(f"{spec.short}={metadata[k]}")
    if "wb_emulators" in metadata:
        parts.append(f"emulators={metadata['wb_emulators']}")
    return f"{base}[{','.join(parts)}]" if parts else base


def sweep_axes() -> list[tuple[str, Spec]]:
    """(field name, Spec) of the parameters the sweep takes a list of beyond n, cache, strategy."""
    return [(f.name, s) for f, s in specs() if s.axis]



