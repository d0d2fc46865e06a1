"""The driver as a daemon: JSON-RPC 2.0 over a UNIX socket, one request or response per line.

    {"jsonrpc": "2.0", "id": 1, "method": "list_domains", "params": {}}

It prints `ready` on stdout once it accepts requests and exits cleanly on SIGTERM. Startup is
what users feel, so imports stay lean: the prober (and qemu.qmp, asyncio) load on first probe.
"""
from __future__ import annotations

import grp
import json
import os
import select
import stat
import struct
import signal
import socket
import socketserver
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from workbench import trace
from workbench.errors import InvalidArgument, RpcError, UsageError, WorkbenchError, unwind_on_sigterm
from workbench.qemu.driver import DriverOptions, QemuDriver
from workbench.qemu.designs.host_api import host_api_table  # the fine-grained host API designs

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
INTERNAL_ERROR, DRIVER_ERROR = -32603, -32000
MAX_REQUEST = 16 << 20     # bytes per request line; longer: an error, then the connection closes
BACKLOG = 128              # listen backlog (socketserver's default is 5)
MAX_WORKERS = 64           # connections served at once; further ones wait in the backlog
IDLE_TIMEOUT_S = 60.0      # a client silent this long is disconnected (frees its worker)
REQUEST_DEADLINE_S = 10.0  # from a request's first byte to its newline, however slowly it comes
MAX_BUFFERED = 256 << 20   # request bytes buffered by all connections together
YIELD_AFTER_S = 0.5        # a worker waiting this long for its client's bytes may be asked to yield


@dataclass(frozen=True)
class SocketAccess:
    """Who may connect: the socket's mode and group, checked again per peer (SO_PEERCRED)."""
    mode: int = 0o600
    group: str | None = None

    def gid(self) -> int | None:
        if self.group is None:
            return None
        try:
            return int(self.group) if self.group.isdigit() else grp.getgrnam(self.group).gr_gid
        except KeyError:
            raise UsageError(f"--socket-group: no group named {self.group!r}") from None


def error_code(e: WorkbenchError) -> int:
    """The one mapping from the error tree to JSON-RPC codes."""
    if isinstance(e, RpcError):
        return e.code
    if isinstance(e, InvalidArgument):
        return INVALID_PARAMS
    return DRIVER_ERROR


def api_table(driver: QemuDriver) -> dict[str, Callable[..., Any]]:
    return host_api_table(driver) | {  # get_capabilities among them: its flags are the designs'
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


def prefetch_table(driver: QemuDriver) -> dict[str, Callable[..., Any]]:
    """Run before the driver lock: probe the one emulator a call names, so a hanging emulator
    holds up only its own callers, never every client (its error is the call's answer)."""
    from workbench.conf.domain_parse import parse_domain
    from workbench.qemu.search import default_emulator

    def domcaps(emulator: str | None = None, arch: str | None = None, **_: Any) -> None:
        emulator = emulator or default_emulator(arch or driver.host_arch, driver.host_arch, driver.search_path)
        if emulator:
            driver.lookup(emulator)

    def define(xml: str = "", **_: Any) -> None:
        try:
            d = parse_domain(xml, source="define_xml")
        except WorkbenchError:
            return  # the call itself reports it, under the lock
        if d.emulator:
            driver.lookup(d.emulator)

    def every_emulator(api: str) -> Callable[..., None]:
        # The calls that build virCaps look up every emulator: probe them here, outside the
        # lock (as libvirt's cache lookups are outside its driver lock), so a slow emulator's
        # probe never holds list_domains; under the lock they are then memory hits.
        def prefetch(flags: Any = None, **_: Any) -> None:
            from workbench.errors import ProbeError
            from workbench.qemu.capabilities import walk_binaries
            if not driver.strategy.looks_up_every_emulator(api, flags):
                return  # per-emulator-fixed, say: it finds the one emulator it needs, if any
            binaries = [b for _, b in walk_binaries(driver.host_arch, driver.search_path)]
            many = driver.strategy.lookup_many(driver)
            if many is not None:
                many(binaries)  # each one's caps or its error, in parallel where the strategy does
                return
            for b in binaries:
                try:
                    driver.cache.lookup(b)
                except ProbeError:
                    pass  # left out by the call itself, which logs it
        return prefetch
    return {"get_domain_capabilities": domcaps, "define_xml": define} | {
        api: every_emulator(api) for api in ("get_capabilities", "get_version", "node_get_security_model")}


def handle_line(line: bytes, table: dict[str, Callable[..., Any]], lock: threading.Lock,
                prefetch: dict[str, Callable[..., Any]] | None = None) -> dict | None:
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
        pre = (prefetch or {}).get(req["method"])
        if pre is not None:
            try:
                pre(**params)
            except TypeError:
                pass  # bad params: the call itself says so
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


class ByteBudget:
    """Request bytes buffered by every connection together: a connection whose next chunk would
    exceed it is answered an error and closed, so memory stays bounded whatever clients send."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if self.used + n > self.limit:
                return False
            self.used += n
            return True

    def give(self, n: int) -> None:
        with self._lock:
            self.used -= n


class _Server(socketserver.UnixStreamServer):
    """A bounded pool: at most MAX_WORKERS connection threads. When all are taken and another
    client connects, one worker waiting for its client's bytes (idle, or a request trickling in)
    gives its slot up (the pressure pipe): held connections never starve a working client."""
    request_queue_size = BACKLOG
    table: dict[str, Callable[..., Any]]
    lock: threading.Lock
    allowed_gid: int | None = None
    prefetch: dict[str, Callable[..., Any]] | None = None

    def __init__(self, *a: Any, **kw: Any) -> None:
        self.slots = threading.BoundedSemaphore(MAX_WORKERS)
        self.budget = ByteBudget(MAX_BUFFERED)
        self.pressure_r, self.pressure_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        super().__init__(*a, **kw)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return peer_allowed(request, self.allowed_gid)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            try:
                os.write(self.pressure_w, b"!")  # one waiting worker yields its slot
            except BlockingIOError:
                pass
            self.slots.acquire()  # SIGTERM interrupts this wait (serve's handler raises)
            try:
                os.read(self.pressure_r, 1 << 16)  # a slot came free: nobody else need yield
            except BlockingIOError:
                pass
        threading.Thread(target=self._work, args=(request, client_address), daemon=True).start()

    def _work(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            pass  # a client that vanished mid-reply is not the daemon's problem
        finally:
            self.shutdown_request(request)
            self.slots.release()


def peer_allowed(conn: socket.socket, allowed_gid: int | None) -> bool:
    """libvirt's unix_sock_ro/rw model, reduced: the daemon's uid, root, or the shared group."""
    try:
        _pid, uid, gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                            struct.calcsize("3i")))
    except OSError:
        return False
    if uid in (0, os.getuid()):
        return True
    return allowed_gid is not None and (gid == allowed_gid or _in_group(uid, allowed_gid))


def _in_group(uid: int, gid: int) -> bool:
    import pwd
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        return False
    return name in grp.getgrgid(gid).gr_mem


class _Handler(socketserver.StreamRequestHandler):
    timeout = IDLE_TIMEOUT_S

    def handle(self) -> None:
        server: _Server = self.server  # type: ignore[assignment]
        sock: socket.socket = self.connection
        sock.setblocking(False)
        buf, held = bytearray(), 0
        deadline = 0.0
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        # Pressure is heard only once a wait has lasted YIELD_AFTER_S: a client that just
        # connected (its request on the way) is never the one to give its slot up.
        yield_at, pressured = time.monotonic() + YIELD_AFTER_S, False
        try:
            while True:
                nl = buf.find(b"\n")
                if nl >= 0:
                    line = bytes(buf[:nl + 1])
                    del buf[:nl + 1]
                    server.budget.give(len(line))
                    held -= len(line)
                    deadline = time.monotonic() + REQUEST_DEADLINE_S if buf else 0.0
                    if line.strip():
                        resp = handle_line(line, server.table, server.lock, server.prefetch)
                        if resp is not None:
                            self._send(resp)
                    continue
                if len(buf) > MAX_REQUEST:
                    return self._refuse(INVALID_REQUEST, f"Invalid Request: request line over {MAX_REQUEST} bytes")
                now = time.monotonic()
                wait_s = deadline - now if buf else IDLE_TIMEOUT_S
                if wait_s <= 0:
                    return self._refuse(INVALID_REQUEST, f"Invalid Request: not complete within {REQUEST_DEADLINE_S:g} s")
                if not pressured and now >= yield_at:
                    poller.register(server.pressure_r, select.POLLIN)
                    pressured = True
                if not pressured:
                    wait_s = min(wait_s, yield_at - now)
                ready = {fd for fd, _ in poller.poll(wait_s * 1000)}
                if not ready:
                    continue  # the deadline, idle time and yield time are checked above
                if sock.fileno() not in ready:  # only pressure: give the slot up, if ours to give
                    try:
                        os.read(server.pressure_r, 1)
                    except BlockingIOError:
                        continue
                    return self._refuse(INVALID_REQUEST, "daemon busy: connection closed for another client")
                try:
                    chunk = sock.recv(min(1 << 20, MAX_REQUEST + 1 - len(buf)))
                except BlockingIOError:
                    continue
                if not chunk:
                    return
                if not server.budget.take(len(chunk)):
                    return self._refuse(INVALID_REQUEST, f"daemon busy: requests in flight over {MAX_BUFFERED >> 20} MiB")
                held += len(chunk)
                if not buf:
                    deadline = time.monotonic() + REQUEST_DEADLINE_S
                buf += chunk
                if pressured:  # bytes came: the next wait starts its grace anew
                    poller.unregister(server.pressure_r)
                    pressured = False
                yield_at = time.monotonic() + YIELD_AFTER_S
        except OSError:
            return  # the client went away
        finally:
            server.budget.give(held)

    def _refuse(self, code: int, message: str) -> None:
        """Answer an error and end the connection (the rest of its bytes is never read)."""
        try:
            self._send({"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}})
        except OSError:
            pass

    def _send(self, resp: dict) -> None:
        data = json.dumps(resp).encode() + b"\n"
        self.connection.setblocking(True)
        self.connection.settimeout(IDLE_TIMEOUT_S)  # a client that never reads cannot hold us
        try:
            self.connection.sendall(data)
        finally:
            self.connection.setblocking(False)


def claim_socket_path(path: Path) -> None:
    """Refuse a live socket (another daemon) or anything that is not a socket; clear a stale one."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    except OSError as e:
        raise UsageError(f"--socket {path}: {e.strerror}") from None
    if not stat.S_ISSOCK(st.st_mode):
        raise UsageError(f"--socket {path}: exists and is not a socket (refusing to replace it)")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            path.unlink(missing_ok=True)  # stale: nobody listens on it
            return
        except OSError as e:
            raise UsageError(f"--socket {path}: {e.strerror}") from None
    raise UsageError(f"--socket {path}: another daemon is listening on it")


def bind_server(path: Path, access: SocketAccess) -> tuple[_Server, int]:
    """Bind with a tight umask (no window where the socket is world-writable), then share."""
    claim_socket_path(path)
    gid = access.gid()
    old = os.umask(0o177)
    try:
        server = _Server(str(path), _Handler, bind_and_activate=False)
        try:
            server.server_bind()
            ino = os.lstat(path).st_ino
            if gid is not None:
                os.chown(path, -1, gid)
            os.chmod(path, access.mode)
            server.server_activate()
        except OSError as e:
            server.server_close()
            raise UsageError(f"--socket {path}: {e.strerror or e}") from None
    finally:
        os.umask(old)
    server.allowed_gid = gid
    return server, ino


def _unlink_own(path: Path, ino: int) -> None:
    try:
        if os.lstat(path).st_ino == ino:
            path.unlink()
    except OSError:
        pass


def reap_orphans() -> list[int]:
    """Reap zombies handed to us as subreaper that nobody else waits for: an emulator's helpers,
    the exited middle of a fork-setsid-fork (it leads its own group, yet nobody waits for it)."""
    from workbench.qemu.process import reap_unowned_zombies
    return reap_unowned_zombies()


def _start_reaper() -> None:
    wake = threading.Event()
    signal.signal(signal.SIGCHLD, lambda signum, frame: wake.set())

    def loop() -> None:
        while True:
            wake.wait(60.0)  # SIGCHLD wakes it; the timeout only bounds a missed wake-up
            wake.clear()
            reap_orphans()
    threading.Thread(target=loop, name="reaper", daemon=True).start()


def serve(socket_path: Path, options: DriverOptions, access: SocketAccess = SocketAccess()) -> int:
    # SIGTERM unwinds the main thread wherever it waits (startup's probes, accept, a full pool):
    # shutdown never waits for a worker slot nor for a call in flight.
    unwind_on_sigterm()
    claim_socket_path(socket_path)  # fail before the (slow) startup, not after it
    from workbench.qemu import process
    process.become_subreaper()  # orphaned emulator helpers come to us: reap them, none outlives us
    _start_reaper()
    driver = server = None
    try:
        driver = QemuDriver.startup(options)
        server, ino = bind_server(socket_path, access)
        server.table = api_table(driver)
        server.prefetch = prefetch_table(driver)
        server.lock = threading.Lock()
        print("ready", flush=True)
        server.serve_forever(poll_interval=0.5)  # SIGTERM interrupts its wait at once
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        process.end_all()  # every probe in flight, in whichever thread: emulator, helpers, folder
        if server is not None:
            server.server_close()
            _unlink_own(socket_path, ino)  # never another daemon's socket that replaced ours
        if driver is not None:
            driver.stop()  # the strategy's own work (a background warm-up), its probes ended above
    return 0


def _connect(s: socket.socket, path: Path, timeout_s: float) -> None:
    """A full backlog answers a UNIX connect with EAGAIN at once: retry, backing off, until the
    timeout (a busy daemon is not a dead one)."""
    import time
    deadline = time.monotonic() + timeout_s
    pause = 0.001
    while True:
        try:
            s.connect(str(path))
            return
        except BlockingIOError:
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)


def call(socket_path: Path, method: str, params: dict[str, Any], timeout_s: float = 120.0) -> Any:
    """The client side: one request, one response. Raises RpcError on an error response."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        _connect(s, socket_path, timeout_s)
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
