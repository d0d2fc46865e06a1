"""The driver as a daemon: JSON-RPC 2.0 over a UNIX socket, one request or response per line.

    {"jsonrpc": "2.0", "id": 1, "method": "list_domains", "params": {}}

It prints `ready` on stdout once it accepts requests and exits cleanly on SIGTERM. Startup is
what users feel, so imports stay lean: the prober (and qemu.qmp, asyncio) load on first probe.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import socketserver
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from workbench import trace
from workbench.errors import InvalidArgument, RpcError, WorkbenchError
from workbench.qemu.driver import DriverOptions, QemuDriver
from workbench.qemu.host_api import host_api_table  # the fine-grained host API designs

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
INTERNAL_ERROR, DRIVER_ERROR = -32603, -32000


def error_code(e: WorkbenchError) -> int:
    """The one mapping from the error tree to JSON-RPC codes."""
    if isinstance(e, RpcError):
        return e.code
    if isinstance(e, InvalidArgument):
        return INVALID_PARAMS
    return DRIVER_ERROR


def api_table(driver: QemuDriver) -> dict[str, Callable[..., Any]]:
    return host_api_table(driver) | {
        "get_capabilities": driver.get_capabilities,
        "get_domain_capabilities": driver.get_domain_capabilities,
        "get_version": driver.get_version,
        "node_get_security_model": driver.node_get_security_model,
        "define_xml": driver.define_xml,
        "get_xml_desc": driver.get_xml_desc,
        "list_domains": driver.list_domains,
        "undefine": driver.undefine,
        "stats": lambda: {"cache": dict(driver.cache.stats), "counters": dict(trace.TRACER.counters),
                          "strategy": driver.strategy.name},
        "trace": lambda: trace.TRACER.chrome_events(),
    }


def handle_line(line: bytes, table: dict[str, Callable[..., Any]], lock: threading.Lock) -> dict | None:
    """One request line -> one response object (None for a notification)."""
    req_id = None
    try:
        try:
            req = json.loads(line)
        except ValueError:
            raise RpcError(PARSE_ERROR, "Parse error: not JSON") from None
        if not isinstance(req, dict) or req.get("jsonrpc") != "2.0" or not isinstance(req.get("method"), str):
            raise RpcError(INVALID_REQUEST, "Invalid Request: need jsonrpc '2.0' and a method")
        req_id = req.get("id")
        params = req.get("params", {})
        if not isinstance(params, dict):
            raise RpcError(INVALID_PARAMS, "Invalid params: params must be an object")
        fn = table.get(req["method"])
        if fn is None:
            raise RpcError(METHOD_NOT_FOUND, f"Method not found: {req['method']}")
        with lock:  # the driver is not thread-safe; libvirt serialises on its driver lock too
            try:
                result = fn(**params)
            except TypeError as e:
                raise RpcError(INVALID_PARAMS, f"Invalid params: {e}") from None
        if "id" not in req:
            return None
        return {"jsonrpc": "2.0", "id": req_id, "result": result}
    except WorkbenchError as e:
        return {"jsonrpc": "2.0", "id": req_id, "error": {"code": error_code(e), "message": str(e)}}
    except Exception as e:  # a bug must not kill the daemon: report it to the caller
        return {"jsonrpc": "2.0", "id": req_id,
                "error": {"code": INTERNAL_ERROR, "message": f"Internal error: {type(e).__name__}: {e}"}}


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    table: dict[str, Callable[..., Any]]
    lock: threading.Lock


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for line in self.rfile:
            if not line.strip():
                continue
            resp = handle_line(line, self.server.table, self.server.lock)
            if resp is not None:
                self.wfile.write(json.dumps(resp).encode() + b"\n")
                self.wfile.flush()


def serve(socket_path: Path, options: DriverOptions) -> int:
    def stop_during_startup(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop_during_startup)
    driver = QemuDriver.startup(options)
    socket_path.unlink(missing_ok=True)
    server = _Server(str(socket_path), _Handler)
    server.table = api_table(driver)
    server.lock = threading.Lock()
    # From here on, SIGTERM asks the serving loop to stop (from another thread: shutdown()
    # waits for the loop), rather than raising wherever the main thread happens to be.
    signal.signal(signal.SIGTERM, lambda signum, frame: threading.Thread(target=server.shutdown).start())
    try:
        print("ready", flush=True)
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        socket_path.unlink(missing_ok=True)
        with server.lock:  # let an API call in flight (and its probe) finish and clean up
            driver.stop()  # and the strategy's own work (a background warm-up) too
    return 0


def call(socket_path: Path, method: str, params: dict[str, Any], timeout_s: float = 120.0) -> Any:
    """The client side: one request, one response. Raises RpcError on an error response."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        s.connect(str(socket_path))
        s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(1 << 20)
            if not chunk:
                raise RpcError(INTERNAL_ERROR, "daemon closed the connection")
            buf += chunk
    resp = json.loads(buf)
    if "error" in resp:
        raise RpcError(resp["error"]["code"], resp["error"]["message"])
    return resp["result"]
