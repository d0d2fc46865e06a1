"""The one daemon spawner and client the benchmarks use: `workbench daemon` as a subprocess,
one persistent JSON-RPC connection, a clean stop.

`start` blocks on the daemon's `ready` line (no polling, no sleeps). `stop` sends SIGTERM and,
if the daemon ignores it for TERM_GRACE_S, kills it and says so on stderr: a daemon bug is
reported, never hidden.
"""
from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.qemu.teardown import DEFAULT_MODE as DEFAULT_TEARDOWN
from workbench.errors import DaemonFailed, RpcError

TERM_GRACE_S = 30


@dataclass
class Daemon:
    install: Path
    cache_dir: Path
    strategy: str = "per-emulator"
    config_dir: Path | None = None
    host_root: str | None = None
    teardown: str = DEFAULT_TEARDOWN  # how the daemon's probes end (qemu/teardown.py)
    proc: subprocess.Popen | None = None
    # A UNIX socket path must fit in 107 bytes: the socket lives in a short /tmp dir.
    _sock_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="vcd-", dir="/tmp")))
    _conn: Any = None
    _id: int = 0

    @property
    def socket_path(self) -> Path:
        return self._sock_dir / "d.sock"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "workbench.cli", "daemon", "--socket", str(self.socket_path),
               "--install", str(self.install), "--strategy", self.strategy,
               "--cache-dir", str(self.cache_dir), "--teardown", self.teardown]
        if self.config_dir is not None:
            cmd += ["--config-dir", str(self.config_dir)]
        if self.host_root is not None:
            cmd += ["--host-root", self.host_root]
        return cmd

    def start(self) -> "Daemon":
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline()   # blocks until ready
        if line.strip() != b"ready":
            self.proc.kill()
            self.proc.wait()
            raise DaemonFailed(f"daemon did not say ready: {line!r} {self.proc.stderr.read()[-2000:]!r}")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(self.socket_path))
        self._conn = s.makefile("rwb")
        s.close()  # the file object keeps its own reference to the connection
        return self

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        self._id += 1
        self._conn.write(json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method,
                                     "params": params or {}}).encode() + b"\n")
        self._conn.flush()
        line = self._conn.readline()
        if not line:
            raise DaemonFailed(f"daemon closed the connection during {method}")
        resp = json.loads(line)
        if "error" in resp:
            raise RpcError(resp["error"]["code"], resp["error"]["message"])
        return resp["result"]

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        proc = self.proc
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=TERM_GRACE_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    print(f"workbench: daemon {proc.pid} ignored SIGTERM for {TERM_GRACE_S} s; killed. "
                          f"stderr: {proc.stderr.read()[-1000:]!r}", file=sys.stderr)
            proc.stdout.close()
            proc.stderr.close()
        shutil.rmtree(self._sock_dir, ignore_errors=True)

    def __enter__(self) -> "Daemon":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
