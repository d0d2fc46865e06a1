"""The one error tree. Everything the workbench refuses or fails at is a WorkbenchError.

Only two places translate these: the daemon (to JSON-RPC error codes) and `cli.main` (to one
message line and an exit code: 2 for bad input, 1 for a failure). Everyone else raises.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


class WorkbenchError(Exception):
    """Something the workbench refused or could not do; the message says what and where."""

    exit_code = 1


class UsageError(WorkbenchError):
    """Bad input from the user: a flag value, a missing file, a malformed results folder."""

    exit_code = 2


class BadValue(UsageError, ValueError):
    """A value outside what a function accepts (an emulator count, a target or strategy name, a
    host root that is no directory). Also a ValueError, the built-in name for the same thing, so
    code that tries a value and falls back keeps working."""


class CorruptFile(WorkbenchError, ValueError):
    """A file the workbench wrote before (a cache entry, a prebuilt capabilities file, a reply
    store entry) that does not read back; its reader discards it and probes again."""


class InvalidArgument(UsageError):
    """An API parameter the caller got wrong (the daemon maps it to JSON-RPC invalid params)."""


class XMLError(UsageError):
    """A refused document: `FILE:LINE:COLUMN: message` (line/column 0 when the whole file is meant)."""

    def __init__(self, source: str, line: int | None, column: int | None, message: str) -> None:
        self.source = source
        self.line = line
        self.column = column
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.source}: {self.message}"
        return f"{self.source}:{self.line}:{self.column or 0}: {self.message}"


class ParseError(UsageError):
    """A parse-path step refused the domain (parse or post-parse)."""


class ValidateError(UsageError):
    """The chosen emulator does not support what the domain asks for."""


class NoSuchDomain(UsageError):
    """No domain with the given name."""


class Unsupported(UsageError):
    """The request asks for something the installed emulators do not offer (arch, machine, ...)."""


class OperationFailed(UsageError):
    """VIR_ERR_OPERATION_FAILED: e.g. a domain name or UUID already taken."""


class CapsLookupError(WorkbenchError):
    """virCaps has no guest matching (os type, arch, virt type)."""


class ProbeError(WorkbenchError):
    """Probing `binary` failed at `step` (launch, connect, a QMP command, quit)."""

    def __init__(self, binary: str, step: str, reason: str) -> None:
        super().__init__(f"{binary}: probe failed at {step}: {reason}")
        self.binary = binary
        self.step = step
        self.reason = reason


class ProbeTimeout(ProbeError):
    """A probe step did not finish within its time limit."""


class LaunchRefused(ProbeError):
    """The emulator exited non-zero instead of daemonizing (it refused the command line)."""

    def __init__(self, binary: str, status: int, stderr: str, after_s: float) -> None:
        super().__init__(binary, "launch", f"exited with status {status}: {stderr or '(no stderr)'}")
        self.status = status
        self.stderr = stderr
        self.after_s = after_s


class DaemonFailed(WorkbenchError):
    """A daemon the workbench spawned did not come up, or did not stop when told to."""


class RpcError(WorkbenchError):
    """A JSON-RPC error: raised by the transport for a malformed request, and by the client for
    an error response (carrying the daemon's code)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class ResultsError(UsageError):
    """A results folder or file is missing, truncated, or from another benchmark version."""


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every `finally` (emulators, temp folders) runs first."""


# A SIGTERM that arrives while the main thread cleans up (ends an emulator, removes a folder) is
# held until the cleanup is over: unwinding from its middle is what left folders and emulators.
_deferring = 0
_pending = False


def _unwind_now() -> None:
    import signal
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one unwinding at a time
    raise _Terminated()


def _terminate(signum: int, frame: object) -> None:
    global _pending
    if _deferring:
        _pending = True
        return
    _unwind_now()


def unwind_on_sigterm() -> None:
    """Make SIGTERM raise _Terminated (a KeyboardInterrupt, not an error) in the main thread:
    the CLI, the daemon and every benchmark process (a pyperf worker killed mid-probe must still
    end its emulator and remove its temp folder). Inside `sigterm_deferred` it waits for the
    block's end."""
    import signal
    signal.signal(signal.SIGTERM, _terminate)


@contextmanager
def sigterm_deferred() -> Iterator[None]:
    """Run the block whole even if SIGTERM arrives meanwhile, then unwind (_Terminated) at its
    end. Signal handlers run only in the main thread, so elsewhere this does nothing."""
    import threading
    global _deferring, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if not _deferring and _pending:
            _pending = False
            _unwind_now()
