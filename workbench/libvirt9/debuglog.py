"""libvirt's debug log -> one record per capability probe launch, with its phases and commands.

Enable with LIBVIRT_LOG_FILTERS=backend.LOG_FILTERS and LIBVIRT_LOG_OUTPUTS="1:file:PATH". Read
from libvirt 9.0's lines (function names are stable within a release, not across releases):
  qemuProcessQMPNew         exec=BIN ... forceTCG=N         -> a probe launch begins
  virCommandRunAsync        About to run ... BIN -S ...       -> spawn (accel from -machine)
  virCommandRun             Result exit status               -> the daemonizing parent exited
  qemuProcessQMPConnectMonitor                                -> connect starts (pid known)
  QEMU_MONITOR_NEW / Line [{"QMP": ...                         -> monitor open / greeting
  QEMU_MONITOR_SEND_MSG / QEMU_MONITOR_RECV_REPLY             -> each command and its reply
  QEMU_MONITOR_CLOSE, qemuProcessQMPStop Killing ...          -> close, kill (libvirt then polls)
  virProcessKillPainfully*  (with 1:util.process, see backend.TEARDOWN_LOG_FILTERS) -> which
                            function waited (stock: ...Delay, patched: ...Pidfd), SIGKILL sent
  virQEMUCapsSaveFile       Saved caps 'FILE' for 'BIN'       -> cache file written
Timestamps have millisecond resolution (libvirt's format), so single commands read as 0 or 1 ms.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workbench.errors import UsageError

_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\+0000: (\d+): (\w+) : "
                   r"(\w+):(\d+) : (.*)$")
_NEW = re.compile(r"exec=(\S+), .*forceTCG=(\d)")
_MON = re.compile(r"mon=(0x[0-9a-f]+)")
from workbench.libvirt9.virsh import command_key  # one key for both libvirt paths (validate, measure)

_ID = re.compile(r'"id":\s*"(libvirt-\d+)"')
_SAVED = re.compile(r"Saved caps '([^']+)' for '([^']+)'")
_ACCEL = re.compile(r"-machine none,accel=(\S+)")


@dataclass
class Command:
    name: str
    args: dict | None
    id: str
    t_send: float
    t_reply: float | None = None
    error: str | None = None  # QMP error class, when the reply is an error

    @property
    def key(self) -> str:
        """The command as a sequence item: its name plus the argument that tells calls apart."""
        return command_key(self.name, self.args)


@dataclass
class Probe:
    binary: str
    force_tcg: bool
    t_new: float
    accel: str | None = None
    pid: int | None = None
    t_spawn: float | None = None
    t_daemonized: float | None = None
    t_connect: float | None = None
    t_monitor_open: float | None = None
    t_greeting: float | None = None
    t_close: float | None = None
    t_kill: float | None = None
    t_killed: float | None = None  # next line of the probing thread after the kill
    kill_fn: str | None = None     # the function that waited (logged only with 1:util.process)
    sigkill: bool = False          # it escalated to SIGKILL
    t_saved: float | None = None
    cache_file: str | None = None
    commands: list[Command] = field(default_factory=list)
    _tid: str = ""

    def phases(self) -> dict[str, float | None]:
        """Seconds per phase: spawn->daemonized, ->greeting, QMP commands, close->kill done."""
        def d(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else round(b - a, 6)
        first = self.commands[0].t_send if self.commands else None
        last = self.commands[-1].t_reply if self.commands else None
        return {"setup": d(self.t_new, self.t_spawn), "daemonize": d(self.t_spawn, self.t_daemonized),
                "connect_greeting": d(self.t_daemonized, self.t_greeting),
                "commands": d(first, last), "close": d(last, self.t_close),
                "kill_wait": d(self.t_kill, self.t_killed),
                "total": d(self.t_new, self.t_killed)}

    def sequence(self) -> list[str]:
        return [c.key for c in self.commands]


def _ts(stamp: str) -> float:
    return dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").replace(
        tzinfo=dt.timezone.utc).timestamp()


def parse(text: str, source: str = "<log>") -> list[Probe]:
    """Every probe launch in the log, in start order."""
    probes: list[Probe] = []
    by_mon: dict[str, Probe] = {}
    open_by_tid: dict[str, Probe] = {}
    awaiting_kill: dict[str, Probe] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        m = _LINE.match(line)
        if not m:
            continue  # continuation of a multi-line message
        stamp, tid, _level, func, _no, msg = m.groups()
        t = _ts(stamp)
        if tid in awaiting_kill and func.startswith("virProcessKillPainfully"):
            k = awaiting_kill[tid]
            k.kill_fn = k.kill_fn or func
            k.sigkill = k.sigkill or "sending SIGKILL" in msg
            continue  # the wait's own lines are inside it, not its end
        if tid in awaiting_kill and func != "qemuProcessQMPStop":
            awaiting_kill.pop(tid).t_killed = t
        if func == "qemuProcessQMPNew":
            n = _NEW.search(msg)
            if not n:
                raise UsageError(f"{source}:{lineno}: unexpected qemuProcessQMPNew line")
            p = Probe(binary=n.group(1), force_tcg=n.group(2) == "1", t_new=t, _tid=tid)
            probes.append(p)
            open_by_tid[tid] = p
            continue
        p = open_by_tid.get(tid)
        if func == "virCommandRunAsync" and p and msg.startswith("About to run") \
                and p.binary in msg and p.t_spawn is None:
            p.t_spawn = t
            a = _ACCEL.search(msg)
            p.accel = a.group(1) if a else None
        elif func == "virCommandRun" and p and p.t_spawn and p.t_daemonized is None:
            p.t_daemonized = t
        elif func == "qemuProcessQMPConnectMonitor" and p:
            p.t_connect = t
            pid = re.search(r"pid=(\d+)", msg)
            p.pid = int(pid.group(1)) if pid else None
        elif func == "qemuMonitorOpenInternal" and p and "QEMU_MONITOR_NEW" in msg:
            p.t_monitor_open = t
            by_mon[_MON.search(msg).group(1)] = p
        elif func == "qemuMonitorJSONIOProcessLine" and msg.startswith('Line [{"QMP"'):
            # greeting arrives on the monitor's event thread: the newest open monitor without one
            for q in reversed(probes):
                if q.t_monitor_open is not None and q.t_greeting is None:
                    q.t_greeting = t
                    break
        elif "QEMU_MONITOR_SEND_MSG" in msg:
            q = by_mon.get(_MON.search(msg).group(1))
            body = msg.split("msg=", 1)[1]
            try:
                obj = json.loads(body)
            except json.JSONDecodeError as e:
                raise UsageError(f"{source}:{lineno}: unreadable QMP message: {e}") from e
            if q is not None:
                q.commands.append(Command(obj.get("execute", "?"), obj.get("arguments"),
                                          obj.get("id", ""), t))
        elif "QEMU_MONITOR_RECV_REPLY" in msg:
            q = by_mon.get(_MON.search(msg).group(1))
            i = _ID.search(msg)
            if q is not None and i:
                for c in reversed(q.commands):
                    if c.id == i.group(1):
                        c.t_reply = t
                        e = re.search(r'"error":\s*\{"class":\s*"(\w+)"', msg)
                        c.error = e.group(1) if e else None
                        break
        elif "QEMU_MONITOR_CLOSE" in msg:
            q = by_mon.get(_MON.search(msg).group(1))
            if q is not None:
                q.t_close = t
        elif func == "qemuProcessQMPStop" and p and "Killing" in msg:
            p.t_kill = t
            awaiting_kill[tid] = p
        elif func == "virQEMUCapsSaveFile":
            s = _SAVED.search(msg)
            if s:
                for q in reversed(probes):
                    if q.binary == s.group(2):
                        q.t_saved, q.cache_file = t, s.group(1)
                        break
    return probes


def parse_file(path: Path) -> list[Probe]:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as e:
        raise UsageError(f"{path}: cannot read libvirt log: {e.strerror}") from e
    return parse(text, str(path))


def to_json(probes: list[Probe]) -> list[dict]:
    out = []
    for p in probes:
        d = {k: v for k, v in asdict(p).items() if not k.startswith("_") and k != "commands"}
        d["phases"] = p.phases()
        d["sequence"] = p.sequence()
        d["errors"] = {c.key: c.error for c in p.commands if c.error}
        out.append(d)
    return out


def main() -> None:
    for p in to_json(parse_file(Path(sys.argv[1]))):
        print(json.dumps(p))


if __name__ == "__main__":
    main()
