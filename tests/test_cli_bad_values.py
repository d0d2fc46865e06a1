"""Every command, given a bad value for each of its arguments: exit code 2, a message naming the
argument or the file, never a traceback.

The options with a type or choices are found by walking the parser, so a new option is tested
the day it is added; paths are only checked when the command runs, so those are listed below.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli import build_parser

BAD = "bad!value"


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _checked(action: argparse.Action) -> bool:
    """The argument is checked by argparse itself: it has choices or a type that parses."""
    return bool(action.option_strings or action.dest) and action.nargs != 0 and (
        action.choices is not None or action.type not in (None, str, Path))


def _good(action: argparse.Action) -> str:
    if action.choices is not None:
        return str(next(iter(action.choices)))
    return "1" if action.type not in (None, str, Path) else "x"


def _argv(command: str, parser: argparse.ArgumentParser, bad: argparse.Action) -> list[str]:
    """The command with `bad` given BAD and every other required argument a good value."""
    argv = [command]
    for a in parser._actions:
        if a is bad or isinstance(a, argparse._HelpAction):
            continue
        if a.required or (not a.option_strings and a.nargs not in ("?", "*")):
            value = [_good(a)] * (1 if a.nargs in (None, "?", "+", 1) else 0 if a.nargs == "*" else int(a.nargs or 1))
            argv += ([a.option_strings[0]] if a.option_strings else []) + value
    return argv + ([bad.option_strings[0]] if bad.option_strings else []) + [BAD]


CASES = [(cmd, a) for cmd, p in _subcommands().items() for a in p._actions
         if not isinstance(a, argparse._HelpAction) and _checked(a)]


@pytest.mark.parametrize("command,action", CASES, ids=[f"{c}:{a.option_strings[0] if a.option_strings else a.dest}"
                                                       for c, a in CASES])
def test_a_bad_value_is_a_usage_error_naming_the_argument(command, action, capsys):
    with pytest.raises(SystemExit) as e:  # parsing only: a value argparse takes runs nothing here
        build_parser().parse_args(_argv(command, _subcommands()[command], action))
    err = capsys.readouterr().err
    assert e.value.code == 2, err
    name = action.option_strings[0] if action.option_strings else action.metavar or action.dest
    assert f"argument {name}" in err or name in err, err
    assert "Traceback" not in err


def test_every_command_has_its_options_walked():
    assert len({c for c, _ in CASES}) >= 10
    assert len(CASES) >= 30


# Paths and values only the command can check (a missing file or directory, a root that is none).
RUNTIME = [
    ["capabilities", "--install", "/nonexistent/install"],
    ["parse", "/nonexistent/dom.xml", "--install", "/nonexistent/install", "--strategy", "full-caps"],
    ["probe", "/nonexistent/qemu-system-x86_64"],
    ["compare", "/nonexistent/a", "/nonexistent/b"],
    ["report", "--results", "/nonexistent/run", "-o", "{tmp}/out"],
    ["validate", "--install", "/nonexistent/install"],
    ["call", "--socket", "/nonexistent/sock", "list_domains"],
    ["daemon", "--socket", "{tmp}/s", "--install", "/nonexistent/install", "--strategy", "full-caps"],
    ["daemon", "--socket", "{tmp}/s", "--install", "{tmp}", "--strategy", "full-caps",
     "--host-root", "/nonexistent/root"],
    ["install", "{tmp}/i", "--emulators", "1", "--latency", "recorded", "--misbehave", "x86_64=nope"],
]


@pytest.mark.parametrize("argv", RUNTIME, ids=[" ".join(a[:1] + [a[-1]]) for a in RUNTIME])
def test_a_missing_path_is_a_clear_error_without_traceback(argv, tmp_path):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    proc = subprocess.run([sys.executable, "-m", "workbench.cli", *argv], capture_output=True, text=True,
                          timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (1, 2), (proc.returncode, proc.stderr)
    assert proc.stderr.startswith(("workbench: ", "usage: ")), proc.stderr
    if proc.returncode == 1:  # a failure, not bad input: only where the operation itself failed
        assert argv[0] in ("call", "probe"), proc.stderr
