"""Argument types shared by every command and the pyperf scripts: one meaning per flag name.

Each raises argparse.ArgumentTypeError with the accepted range, so a bad value is a usage
error (exit 2) with a clear message, never Python's own int() complaint. A type that reads its
value with a parser of the layers below is that parser made `checked`: its error's message
becomes the usage error's.
"""
from __future__ import annotations

import argparse
import functools
from typing import Callable, Sequence, TypeVar

from workbench.errors import UsageError
from workbench.sim.catalog import INSTALL_ORDER, MAX_SIMULATED

T = TypeVar("T")


def checked(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type from a parser that raises UsageError or ValueError, keeping its message
    (argparse would turn a ValueError into a bare "invalid value"). Use it as a decorator too."""
    @functools.wraps(parse)
    def check(text: str) -> T:
        try:
            return parse(text)
        except (UsageError, ValueError) as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return check


def emulator_count(text: str) -> int | str:
    """`--emulators` of install/trace/bench scripts: 1..MAX_SIMULATED, or 'all' (every target)."""
    if text == "all":
        return text
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number from 1 to {MAX_SIMULATED} or 'all', got {text!r}") from None
    if not 1 <= n <= MAX_SIMULATED:
        raise argparse.ArgumentTypeError(
            f"expected 1 to {MAX_SIMULATED} (or 'all' for {len(INSTALL_ORDER)}), got {n}")
    return n


def positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}")
    return n


def emulator_list(text: str) -> list[int]:
    """`--emulators` of sweep: comma-separated counts, each 1..MAX_SIMULATED."""
    values = []
    for part in text.split(","):
        if not part.strip():
            continue
        n = emulator_count(part.strip())
        if n == "all":
            raise argparse.ArgumentTypeError(f"'all' is not a count; list counts 1 to {MAX_SIMULATED}")
        values.append(n)
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated counts 1 to {MAX_SIMULATED}, got {text!r}")
    return values


def name_list(text: str, kind: str, known: Sequence[str], every: bool = False) -> list[str]:
    """Comma-separated names, each one of `known` (with `every`, 'all' stands for all of them):
    the value of a --targets, --strategies, --benchmarks or --checks."""
    names = list(known) if every and text == "all" else [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown {kind} {unknown or text!r}; choose from "
                                         f"{', '.join(known)}" + (" or all" if every else ""))
    return names


def target_list(text: str) -> list[str]:
    """`--targets`: comma-separated target names of the install order (x86_64, sh4eb, ...)."""
    return name_list(text, "targets", INSTALL_ORDER)


@checked
def qemu_spec(text: str) -> str:
    """`--qemu`: 'recorded' or '' (the 7.2 recordings), a QEMU version X.Y.Z, or TARGET=X.Y.Z
    joined by + or ,."""
    from workbench.sim.libvirt_replies import parse_qemu_spec

    parse_qemu_spec(text, list(INSTALL_ORDER))
    return text


@checked
def latency(text: str) -> str:
    """`--latency`: recorded (replay recorded timings), none (answer at once) or a factor >= 0."""
    from workbench.sim.replay import parse_latency

    parse_latency(text)
    return text


def strategy_names() -> list[str]:
    from workbench.qemu.strategies import STRATEGIES

    return list(STRATEGIES)


def strategy_list(text: str) -> list[str]:
    """`--strategies`: comma-separated strategy names, or all (every registered strategy)."""
    return name_list(text, "strategies", strategy_names(), every=True)


TEARDOWN_HELP = ("how each probe launch ends: libvirt9 (libvirt 9.0: SIGTERM, a kill(pid, 0) check "
                 "every 200 ms until the pid is gone, SIGKILL at 10 s, give up at 40 s; the default), "
                 "libvirt5 (libvirt 5.x to at least 7.x: SIGKILL, no wait) or pidfd (the fix: SIGTERM, "
                 "wait for the exit on a pidfd, same escalation)")


@checked
def teardown_mode(text: str) -> str:
    """`--teardown`: libvirt9 | libvirt5 | pidfd (workbench/qemu/teardown.py)."""
    from workbench.qemu.teardown import check_mode

    return check_mode(text)


@checked
def reaper_setting(text: str):
    """`--reaper`: prompt | late:SECONDS | never (who collects the probed QEMU after it exits)."""
    from workbench.qemu.teardown import ReaperSetting

    return ReaperSetting.parse(text)


def libvirt_option(s: argparse.ArgumentParser) -> None:
    """`--libvirt`, the same on every command that runs real libvirt."""
    s.add_argument("--libvirt", action="append", metavar="PREFIX|system", default=None,
                   help="the libvirt 9.0 to run: a prefix made by scripts/build-libvirt.sh (its "
                        "rows are labelled from the build's record, e.g. 'libvirt 9.0 + "
                        "pidfd-teardown'), or 'system' for the host's; repeat to compare several "
                        "(default: the system's alone)")
