"""Typed errors of the QEMU side: each names the binary and the step that failed."""
from __future__ import annotations


class ProbeError(Exception):
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
