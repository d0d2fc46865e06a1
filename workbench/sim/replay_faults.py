"""Fault injection for the replaying emulator (hostile-emulator tests), loaded only when a fault mode is set."""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable

# The replay hands in what this module needs from it (it imports this one, not the reverse).
Dumps = Callable[[Any], str]


# ---- fault injection ---------------------------------------------------------------------
# Modes, each aimed at one command CMD; the command is otherwise replayed as recorded:
#   oversize-at:CMD        a reply line of 17 MiB (over the prober's 16 MiB per-message limit)
#   wrongtype-at:CMD       the recorded reply with its first scalar field retyped (int -> "many")
#   fork-at:CMD            fork a child that outlives us (it sleeps), then answer normally
#   escape-at:CMD          fork, setsid, fork again (a daemon of its own, outside our group and
#                          session: it sleeps), the middle exits unwaited; then answer normally
#   die-mid-reply-at:CMD   send half of the reply, then exit
#   reply-at:CMD=JSON      answer {"return": JSON} instead of the recording
#   hold-at:CMD=FIFO       open FIFO.held for writing (the test sees CMD reached), then wait
#                          for a line on FIFO before answering: a slow emulator, held by events;
#                          CMD `SIGTERM`: held on the teardown's SIGTERM, before the exit it starts
#   rename-at:CMD=JSONSTR  the recorded reply with JSONSTR (a JSON string, e.g. "\u0001") added
#                          to its first "name": a hostile emulator rewriting one reply in place

def fault_at(server: Any, cmd: str, rid: str, recorded: Callable[[], dict | None], dumps: Dumps) -> bool:
    """Act out an issue-12 fault aimed at `cmd`; True when the command counts as answered."""
    mode, _, rest = server.misbehave.partition(":")
    target, _, payload = rest.partition("=")
    if target != cmd:
        return False
    if mode == "oversize-at":
        server._send('{"return": "' + "x" * (17 << 20) + '"' + rid + "}")
        return True
    if mode == "reply-at":
        server._send('{"return": ' + payload + rid + "}")
        return True
    if mode == "escape-at":
        middle = os.fork()
        if middle == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv("/bin/sleep", ["wbfault-child:" + sys.argv[0], "3600"])
            os._exit(0)
        return False  # the middle is never waited for: a zombie until we die, then our caller's
    if mode == "fork-at":
        if os.fork() == 0:  # a helper that no longer names the probe's private folder
            os.execv("/bin/sleep", ["wbfault-child:" + sys.argv[0], "3600"])
        return False
    ex = recorded()
    ret = ex.get("return") if ex else None
    if mode == "hold-at":
        hold(payload)
        return False  # then answered as recorded
    if mode == "rename-at":
        server._send('{"return": ' + dumps(_renamed(ret, json.loads(payload))) + rid + "}")
        return True
    if mode == "wrongtype-at":
        server._send('{"return": ' + dumps(_mistype(ret)) + rid + "}")
        return True
    if mode == "die-mid-reply-at":
        text = ('{"return": ' + dumps(ret) + rid + "}").encode()
        assert server.conn is not None
        server.conn.sendall(text[: max(1, len(text) // 2)])
        os._exit(1)
    return False


def hold(fifo: str) -> None:
    """Say "held" on FIFO.held (the test sees the point reached), then wait for a line on FIFO."""
    with open(fifo + ".held", "w") as held:
        held.write("held\n")
    with open(fifo) as release:
        release.readline()


def _mistype(v: object) -> object:
    """The value with its first scalar retyped: int/bool -> "many", str -> 42."""
    if isinstance(v, list) and v:
        return [_mistype(v[0])] + v[1:]
    if isinstance(v, dict):
        out = dict(v)
        for k in sorted(out, key=lambda k: (not isinstance(out[k], int), k)):
            x = out[k]
            if isinstance(x, (int, bool)):
                out[k] = "many"
                return out
            if isinstance(x, str):
                out[k] = 42
                return out
            if isinstance(x, (dict, list)) and x:
                out[k] = _mistype(x)
                return out
        return out
    return "many"


def _renamed(v: object, suffix: str) -> object:
    """The value with `suffix` added to the first "name" found (depth first)."""
    if isinstance(v, list):
        for i, x in enumerate(v):
            y = _renamed(x, suffix)
            if y is not x:
                return v[:i] + [y] + v[i + 1:]
    if isinstance(v, dict):
        if isinstance(v.get("name"), str):
            return dict(v, name=v["name"] + suffix)
        for k, x in v.items():
            y = _renamed(x, suffix)
            if y is not x:
                return dict(v, **{k: y})
    return v
