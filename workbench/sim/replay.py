"""A stand-in for one `qemu-system-<target>` binary that replays a recorded QMP conversation.

Each fake executable written by `workbench.sim.install` calls `main()` with its transcript
embedded. It accepts libvirt's probe command line (`-S -no-user-config -nodefaults -nographic
-machine none,accel=A -qmp unix:SOCK,server=on,wait=off -pidfile PID -daemonize`), daemonizes like
QEMU (fork, setsid, socket bound and pidfile written before the parent exits 0) and serves QMP:
the recorded greeting, capabilities negotiation, then each command's recorded reply, matched by
(execute, arguments) and taken in recorded order when a command repeats.

Timing (`latency`): "recorded" reproduces the recorded start-up, per-command, quit->exit times
and the memory a SIGKILL frees; "none" adds no delay; a float scales every recorded delay. What
is subtracted from the recording, and how QEMU's work is stood in for, is the model in
`workbench.sim.replay_timing`; the prober itself never sleeps (tests/test_probe_nosleep.py).

KVM honesty: a transcript recorded where KVM worked says query-kvm {"enabled": true, ...}. If
/dev/kvm cannot be opened read-write here and now (missing, or not R_OK|W_OK for this user), the
replay answers query-kvm with {"enabled": false, "present": false} instead, so a prober on a host
without usable KVM sees what it would see there (and skips the TCG-only second launch). The other
replies of that launch are still the recorded (KVM) ones. A transcript made from libvirt's test
data for the oracle check (origin.kvm_as_recorded) keeps the file's answer: it is compared with
what libvirt derived on a host with KVM.

Startup cost matters (it must start as fast as QEMU, ~30 ms to ready): this module imports only
C-level standard-library modules. `json`, `socket`, `signal` and `dataclasses` would pull in `re`
and `enum` and cost 10 to 25 ms more per launch, so JSON goes through `_json`'s C scanner and
encoder and sockets through `_socket`, and records are plain classes.

Misbehaviour for tests (`misbehave`): "crash-at:CMD", "hang-at:CMD", "garbage-at:CMD",
"hang-at-start", "exit-at-start", "greeting-garbage". A replay that starts to hang says so on
the FIFO `$WORKBENCH_TMP/replay-hangs` when a reader holds it open (HANG_FIFO), so a test waits
for that event instead of polling for the process.
"""
from __future__ import annotations

import _json
import _signal
import _socket
import os
import sys
import time
import zlib

from workbench.sim.replay_timing import (cpu_now, inherit_cpu, launch_round_trip, reply_delay,
                                           round_trip_s, set_work_rate, startup_delay,
                                           take_ballast, work_until)

GARBAGE = b"\x00\xffnot json\r\n"
# Fault modes for the hostile-emulator tests (handled in the "fault injection" part at the end of this file).
FAULTS = ("oversize-at:", "wrongtype-at:", "fork-at:", "die-mid-reply-at:", "reply-at:", "rename-at:",
          "hold-at:", "escape-at:")
HOLD_AT_SIGTERM = "hold-at:SIGTERM="  # hold-at aimed at the teardown's SIGTERM, not a command
MISBEHAVIOURS = ("crash-at:", "hang-at:", "garbage-at:", "hang-at-start", "exit-at-start",
                 "greeting-garbage") + FAULTS


class _ScanContext:
    # The attributes _json.make_scanner reads (the same ones json.JSONDecoder carries).
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict = {}

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


_scan = _json.make_scanner(_ScanContext())
# QEMU's separators (", " and ": "); the compact sorted form is transcript.command_key's.
_encode_qemu = _json.make_encoder(None, None, _json.encode_basestring_ascii, None, ": ", ", ",
                                  False, False, True)
_encode_key = _json.make_encoder(None, None, _json.encode_basestring_ascii, None, ":", ",",
                                 True, False, True)


def loads(text: str):
    text = text.strip()
    obj, end = _scan(text, 0)  # raises StopIteration on bad input
    if end != len(text):
        raise ValueError("extra data")
    return obj


def dumps(obj) -> str:
    return "".join(_encode_qemu(obj, 0))


def command_key(execute: str, arguments: dict | None) -> str:
    """Same as transcript.command_key (a test checks it), without importing json."""
    return execute + "\0" + "".join(_encode_key(arguments or {}, 0))


def parse_latency(latency: str) -> float:
    """"recorded" -> 1.0, "none" -> 0.0, "2" -> 2.0; ValueError otherwise."""
    if latency == "recorded":
        return 1.0
    if latency == "none":
        return 0.0
    try:
        factor = float(latency)
    except (TypeError, ValueError):
        raise ValueError(f"latency must be 'recorded', 'none' or a factor >= 0, not {latency!r}") from None
    if not 0.0 <= factor < float("inf"):
        raise ValueError(f"latency factor must be finite and >= 0, not {latency!r}")
    return factor


def check_misbehave(mode: str | None) -> None:
    if mode is None:
        return
    for m in MISBEHAVIOURS:
        takes_cmd = m.endswith(":")
        if (takes_cmd and mode.startswith(m) and len(mode) > len(m)) or (not takes_cmd and mode == m):
            return
    raise ValueError(f"unknown misbehaviour {mode!r} (one of {', '.join(MISBEHAVIOURS)})")


class _Usage(Exception):
    """A command-line error, reported the way QEMU does: '<prog>: <message>', exit 1."""


class Options:
    __slots__ = ("version", "accel", "socket", "pidfile", "daemonize")

    def __init__(self) -> None:
        self.version = False
        self.accel = "tcg"  # QEMU's default accelerator when none is named
        self.socket: str | None = None
        self.pidfile: str | None = None
        self.daemonize = False


_FLAGS = ("-S", "-no-user-config", "-nodefaults", "-nographic", "-daemonize", "-version")
_WITH_ARG = ("-machine", "-M", "-qmp", "-pidfile", "-accel")


def parse_args(args: list[str]) -> Options:
    o = Options()
    i = 0
    while i < len(args):
        a = args[i]
        opt = "-" + a.lstrip("-") if a.startswith("-") else a  # QEMU takes -opt and --opt alike
        if opt in _FLAGS:
            o.version |= opt == "-version"
            o.daemonize |= opt == "-daemonize"
            i += 1
            continue
        if opt not in _WITH_ARG:
            raise _Usage(f"{a}: invalid option")
        if i + 1 >= len(args):
            raise _Usage(f"{a}: requires an argument")
        val = args[i + 1]
        if opt in ("-machine", "-M"):
            o.accel = _parse_machine(a, val, o.accel)
        elif opt == "-accel":
            o.accel = val.split(",", 1)[0]
        elif opt == "-qmp":
            o.socket = _parse_qmp(a, val)
        else:
            o.pidfile = val
        i += 2
    return o


def _parse_machine(opt: str, val: str, accel: str) -> str:
    parts = val.split(",")
    mtype = parts[0].removeprefix("type=")
    if mtype != "none":
        raise _Usage(f"{opt} {val}: replay: only machine type 'none' was recorded")
    for p in parts[1:]:
        k, _, v = p.partition("=")
        if k == "accel":
            accel = v
    for a in accel.split(":"):
        if a not in ("kvm", "tcg"):
            raise _Usage(f"invalid accelerator {a}")
    return accel


def _parse_qmp(opt: str, val: str) -> str:
    if not val.startswith("unix:"):
        raise _Usage(f"{opt} {val}: replay: only unix:PATH,server=on,wait=off is supported")
    path, *flags = val[5:].split(",")
    server = wait = None
    for f in flags:
        k, _, v = f.partition("=")
        if k in ("server", "wait"):
            on = v in ("", "on", "yes", "true")
            server, wait = (on, wait) if k == "server" else (server, on)
        elif k == "nowait":
            wait = False
        else:
            raise _Usage(f"{opt} {val}: Invalid parameter '{k}'")
    if not path or not server or wait is not False:
        raise _Usage(f"{opt} {val}: replay: needs a path, server=on and wait=off")
    return path


class Replies:
    """The recorded replies, looked up by command key: the selected launch first, then others."""

    def __init__(self, launches: list[dict], selected: int) -> None:
        order = [selected] + [i for i in range(len(launches)) if i != selected]
        self._by_key: dict[str, list[dict]] = {}
        for i in order:  # later launches only supply keys the selected one lacks
            seen: dict[str, list[dict]] = {}
            for ex in launches[i]["exchanges"]:
                seen.setdefault(command_key(ex["execute"], ex.get("arguments")), []).append(ex)
            for k, exs in seen.items():
                self._by_key.setdefault(k, exs)
        self._next: dict[str, int] = {}

    def take(self, key: str) -> dict | None:
        exs = self._by_key.get(key)
        if not exs:
            return None
        n = self._next.get(key, 0)
        self._next[key] = n + 1
        return exs[min(n, len(exs) - 1)]  # past the recording: repeat the last answer


KVM_DEVICE = "/dev/kvm"  # a module constant so that a test can point it elsewhere


def _kvm_usable() -> bool:
    return os.access(KVM_DEVICE, os.R_OK | os.W_OK)


HANG_FIFO = "replay-hangs"  # in $WORKBENCH_TMP


def _forever() -> None:
    _announce_hang()
    while True:
        time.sleep(3600)


def _announce_hang() -> None:
    """Write 'PID\\n' to $WORKBENCH_TMP/replay-hangs if it is a FIFO with a reader (O_NONBLOCK: no
    reader, no FIFO, nothing written and no wait)."""
    path = os.path.join(os.environ.get("WORKBENCH_TMP", "/tmp"), HANG_FIFO)
    try:
        if os.stat(path).st_mode & 0o170000 != 0o010000:  # S_ISFIFO, without importing stat
            return
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError:
        pass
    finally:
        os.close(fd)


def _load(transcript: bytes | str | os.PathLike) -> dict:
    data = transcript
    if not isinstance(data, bytes):
        with open(data, "rb") as f:
            data = f.read()
    return loads(zlib.decompress(data, 47).decode())  # 47: gzip or zlib header


def main(argv: list[str], transcript: bytes | str | os.PathLike, latency: str = "recorded",
         misbehave: str | None = None) -> int:
    t_exec = 0.0  # on the CPU clock (cpu_now): this process's creation, a few hundred us before exec
    prog = os.path.basename(argv[0]) if argv else "qemu-system"
    try:
        factor = parse_latency(latency)
        check_misbehave(misbehave)
        opts = parse_args(list(argv[1:]))
    except (_Usage, ValueError) as e:
        return _fail(prog, str(e))
    tr = _load(transcript)
    set_work_rate(tr)
    if opts.version:
        sys.stdout.write(tr["version_text"])
        return 0
    if misbehave == "exit-at-start":
        return _fail(None, "boom")
    failure = tr.get("launch_failure")
    if failure:
        work_until(t_exec + factor * float(failure.get("after_s") or 0.0))
        sys.stderr.write(failure.get("stderr", ""))
        sys.stderr.flush()
        return int(failure.get("status", 1))
    if opts.socket is None:
        return _fail(prog, "replay: -qmp unix:PATH,server=on,wait=off is required")
    if misbehave == "hang-at-start":
        _forever()
    launches = tr["launches"]
    selected = next((i for i, ln in enumerate(launches) if ln["accel"] == opts.accel), 0)
    server = _Server(launches[selected], Replies(launches, selected), factor, misbehave,
                     launch_round_trip(tr, launches[selected]))
    server.kvm_as_recorded = bool((tr.get("origin") or {}).get("kvm_as_recorded"))
    try:
        sock = _listen(opts.socket)
    except OSError as e:
        return _fail(prog, f"-qmp unix:{opts.socket},server=on,wait=off: "
                           f"Failed to bind socket to {opts.socket}: {e.strerror or e}")
    if opts.daemonize:
        # ready_s counts from before the prober's fork; spawn_s (fork+exec, also the prober's)
        # is left out of the CPU this process must use before it reports ready.
        return _daemonize(prog, sock, server, opts, t_exec + startup_delay(launches[selected], factor))
    if opts.pidfile and not _write_pidfile(prog, opts.pidfile):
        return 1
    take_ballast(server.launch, server.factor)
    _exit_on_sigterm(server)
    server.serve(sock)
    return 0


def _exit_on_sigterm(server: "_Server") -> None:
    """SIGTERM (libvirt 9.0's first step in ending a probe) takes QEMU down its shutdown path,
    the one `quit` takes (both request a shutdown from the main loop, then qemu_cleanup), so the
    replay exits after the recorded quit->exit time, as it does on `quit`."""
    def on_term(signum: int, frame: object) -> None:
        if server.misbehave and server.misbehave.startswith(HOLD_AT_SIGTERM):  # a test's event
            from workbench.sim.replay_faults import hold
            hold(server.misbehave[len(HOLD_AT_SIGTERM):])
        work_until(cpu_now() + server.factor * float(server.launch.get("quit_s") or 0.0))
        os._exit(0)

    _signal.signal(_signal.SIGTERM, on_term)


def _fail(prog: str | None, msg: str) -> int:
    sys.stderr.write(f"{prog}: {msg}\n" if prog else msg + "\n")
    sys.stderr.flush()
    return 1


def _listen(path: str) -> _socket.socket:
    try:
        os.unlink(path)  # QEMU replaces a stale socket file
    except FileNotFoundError:
        pass
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.bind(path)
        s.listen(1)
    except OSError:
        s.close()
        raise
    return s


def _write_pidfile(prog: str, path: str) -> bool:
    # Written in place (O_WRONLY, as QEMU does) after the socket listens: a reader of the
    # pidfile (even a FIFO) knows the socket is ready.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, f"{os.getpid()}\n".encode())
        finally:
            os.close(fd)
    except OSError as e:
        _fail(prog, f"cannot create PID file: {e.strerror or e}")
        return False
    return True


def _daemonize(prog: str, sock: _socket.socket, server: "_Server", opts: Options,
               ready_at: float) -> int:
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    cpu_at_fork = cpu_now()
    pid = os.fork()
    if pid > 0:
        # Parent: exit 0 once the daemon reports ready (it does so at the recorded ready time).
        os.close(w)
        sock.close()
        ok = os.read(r, 1) == b"\0"
        os.close(r)
        os._exit(0 if ok else 1)
    os.close(r)
    inherit_cpu(cpu_at_fork)
    os.setsid()
    # The daemon works until the recorded ready time (its ballast first), then says it is ready.
    take_ballast(server.launch, server.factor)
    work_until(ready_at)
    if opts.pidfile and not _write_pidfile(prog, opts.pidfile):
        os._exit(1)
    null = os.open(os.devnull, os.O_RDWR)  # like QEMU: the daemon keeps no stdio
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    os.write(w, b"\0")
    os.close(w)
    _exit_on_sigterm(server)
    server.serve(sock)
    os._exit(0)


class _Splitter:
    """Cuts a byte stream into JSON texts by bracket depth, as QEMU's JSON streamer does: the
    client need not end a command with a newline (qemu.qmp does not). Junk outside any object
    is handed on at the next line break (and gets a parse error)."""

    __slots__ = ("buf", "depth", "in_str", "esc")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.depth = 0
        self.in_str = False
        self.esc = False

    def feed(self, data: bytes) -> list[bytes]:
        out = []
        for b in data:
            if self.in_str:
                self.buf.append(b)
                if self.esc:
                    self.esc = False
                elif b == 0x5C:  # backslash
                    self.esc = True
                elif b == 0x22:
                    self.in_str = False
            elif b == 0x22:
                self.buf.append(b)
                self.in_str = True
            elif b in b"{[":
                self.buf.append(b)
                self.depth += 1
            elif b in b"}]":
                self.buf.append(b)
                self.depth -= 1
                if self.depth <= 0:
                    out.append(bytes(self.buf))
                    self.buf.clear()
                    self.depth = 0
            elif self.depth == 0 and b in b"\r\n":
                if self.buf.strip():
                    out.append(bytes(self.buf))
                self.buf.clear()
            else:
                self.buf.append(b)
        return out


class _Server:
    """Serves one QMP client at a time; a reply leaves `latency_s` (scaled) after its request."""

    __slots__ = ("launch", "replies", "factor", "misbehave", "negotiated", "conn", "round_trip",
                 "kvm_as_recorded")

    def __init__(self, launch: dict, replies: Replies, factor: float, misbehave: str | None,
                 round_trip: dict) -> None:
        self.launch = launch
        # A recorded latency holds one socket round trip besides QEMU's work, and so does this
        # replay's own exchange: leave out one round trip for a reply of that size.
        self.round_trip = round_trip
        self.replies = replies
        self.factor = factor
        self.misbehave = misbehave
        self.negotiated = False
        self.conn: _socket.socket | None = None
        self.kvm_as_recorded = False  # the oracle check's replays keep the file's query-kvm

    def serve(self, sock: _socket.socket) -> None:
        while True:  # one client at a time, until quit or killed
            fd, _ = sock._accept()  # _socket has no accept(); socket.py wraps this one
            conn = _socket.socket(fileno=fd)
            self.conn = conn
            self.negotiated = False  # each QMP connection negotiates anew
            try:
                self._session(conn)
            except OSError:
                pass  # client went away: wait for the next one, as QEMU does
            finally:
                conn.close()

    def _session(self, conn: _socket.socket) -> None:
        if self.misbehave == "greeting-garbage":
            conn.sendall(GARBAGE)
        else:
            conn.sendall(dumps(self.launch["greeting"]).encode() + b"\r\n")
        split = _Splitter()
        while True:
            data = conn.recv(1 << 16)
            if not data:
                return
            arrived = cpu_now()  # budgets count this process's CPU from the request's arrival
            for msg in split.feed(data):
                self._handle(msg, arrived)

    def _send(self, text: str, not_before: float = 0.0) -> None:
        work_until(not_before)
        assert self.conn is not None
        self.conn.sendall(text.encode() + b"\r\n")

    def _handle(self, line: bytes, arrived: float) -> None:
        try:
            req = loads(line.decode())
        except (ValueError, StopIteration, UnicodeDecodeError):
            return self._send(_error("GenericError", "JSON parse error"))
        if not isinstance(req, dict):
            return self._send(_error("GenericError", "QMP input must be a JSON object"))
        rid = "" if "id" not in req else ', "id": ' + dumps(req["id"])
        cmd = req.get("execute")
        if not isinstance(cmd, str):
            return self._send(_error("GenericError", "QMP input lacks member 'execute'", rid))
        args = req.get("arguments")
        if self.misbehave and self.misbehave.startswith(FAULTS) and _fault_at(self, cmd, rid):
            return None
        if self._misbehave_at(cmd):
            return None
        if cmd == "qmp_capabilities":
            if self.negotiated:
                return self._send(_error("CommandNotFound",
                                         "Capabilities negotiation is already complete, command ignored", rid))
            self.negotiated = True
            return self._send('{"return": {}' + rid + "}")
        if not self.negotiated:
            return self._send(_error("CommandNotFound",
                                     "Expecting capabilities negotiation with 'qmp_capabilities'", rid))
        if cmd == "quit":
            self._send('{"return": {}' + rid + "}")
            now = time.time()
            self._send(dumps({"timestamp": {"seconds": int(now), "microseconds": int(now % 1 * 1e6)},
                              "event": "SHUTDOWN", "data": {"guest": False, "reason": "host-qmp-quit"}}))
            work_until(arrived + self.factor * float(self.launch.get("quit_s") or 0.0))
            os._exit(0)
        ex = self.replies.take(command_key(cmd, args if isinstance(args, dict) else None))
        if ex is None:
            # As QEMU answers a command it does not have: the probe's sequence may have grown
            # since the recording (libvirt 9.0's), and the prober decides what it tolerates.
            text = _error("CommandNotFound", f"replay: no recorded reply for {cmd} {dumps(args or {})}", rid)
            return self._send(text)
        if "error" in ex and ex["error"] is not None:
            text = '{"error": ' + dumps(ex["error"]) + rid + "}"
        else:
            ret = ex.get("return")
            if cmd == "query-kvm" and isinstance(ret, dict) and ret.get("enabled") and not self.kvm_as_recorded \
                    and not _kvm_usable():
                ret = {"enabled": False, "present": False}
            text = '{"return": ' + dumps(ret) + rid + "}"
        # The reply is built first; only the rest of QEMU's recorded work is spent.
        rt = round_trip_s(self.round_trip, len(text) + 2)
        self._send(text, arrived + reply_delay(ex, rt, self.factor))

    def _misbehave_at(self, cmd: str) -> bool:
        """Act out a misbehaviour aimed at `cmd`; True when the command counts as answered."""
        mode = self.misbehave
        if not mode or ":" not in mode or mode.split(":", 1)[1] != cmd:
            return False
        if mode.startswith("crash-at:"):
            os._exit(134)
        if mode.startswith("hang-at:"):
            _forever()
        if mode.startswith("garbage-at:"):
            assert self.conn is not None
            self.conn.sendall(GARBAGE)
            return True
        return False


def _fault_at(server: "_Server", cmd: str, rid: str) -> bool:
    # Imported on use: fault injection is for tests and must not slow every replay's start.
    from workbench.sim.replay_faults import fault_at
    return fault_at(server, cmd, rid, lambda: server.replies.take(command_key(cmd, None)), dumps)


def _error(cls: str, desc: str, rid: str = "") -> str:
    return '{"error": {"class": ' + dumps(cls) + ', "desc": ' + dumps(desc) + "}" + rid + "}"
