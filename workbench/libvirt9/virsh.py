"""The host's real libvirt, driven through `virsh` on `qemu:///embed`, for differential checks.

Why virsh and not the Python binding: virsh ships with libvirt-clients wherever libvirt is
installed (the binding needs a compiler and libvirt-dev), and a separate process keeps
libvirt's embedded QEMU driver, its threads and its children out of the workbench process.
virsh runs as the child of a child subreaper (workbench.libvirt9.reaper) that reaps every
orphan at once, dies with its caller and, stopped, kills and reaps everything below it: libvirt
SIGTERMs each probed QEMU (a daemonized orphan) and checks every 200 ms until the pid is gone
(qemu/teardown.py), which on this container otherwise costs about 1.6 s per probe
(docs/measured.md).

PATH holds only the install directory, so libvirt finds exactly the binaries linked there;
socket paths stay short (a UNIX socket path must fit in 107 bytes).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import WorkbenchError, sigterm_deferred
from workbench.libvirt9 import reaper

# util.module: the path of the QEMU driver module loaded (which build runs, see loaded_build)
LOG_FILTERS = "1:qemu.qemu_monitor 1:qemu.qemu_process 1:util.module"
MARK = "@@wb"
_ERROR_CLASSES = ("XML error: ", "unsupported configuration: ", "invalid argument: ",
                  "internal error: ", "operation failed: ", "Requested operation is not valid: ")


class LibvirtUnavailable(WorkbenchError):
    """No usable libvirt here: the differential checks cannot run (exit 2, never faked)."""
    exit_code = 2


def unavailable_reason() -> str | None:
    """Why libvirt cannot be driven here, or None when virsh and libvirt 9.x are present."""
    virsh = shutil.which("virsh")
    if virsh is None:
        return "virsh not found (install libvirt-clients and libvirt-daemon-driver-qemu)"
    try:
        out = subprocess.run([virsh, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"virsh --version failed: {e}"
    version = out.stdout.strip()
    if out.returncode != 0 or not re.match(r"\d+\.\d+", version):
        return f"virsh --version failed: {out.stderr.strip() or version!r}"
    if int(version.split(".")[0]) != 9:
        return f"libvirt {version} installed; the model follows libvirt 9.x"
    return None


def virsh_version() -> str:
    virsh = shutil.which("virsh") or "virsh"
    return subprocess.run([virsh, "--version"], capture_output=True, text=True,
                          timeout=30).stdout.strip()


@dataclass
class Session:
    """One embedded libvirt root, reused by several virsh runs (a warm caps cache)."""
    install: Path
    root: Path
    workdir: Path
    timeout_s: float = 600.0
    build_env: dict[str, str] = field(default_factory=dict)  # LibvirtBuild.env(): which libvirt

    def run(self, commands: list[str], log_file: Path | None = None) -> list[str]:
        """Run virsh commands in one process; returns each command's output (stdout and
        stderr in order), split at the markers echoed between them."""
        script = "; ".join(f"echo {MARK}{i}; {c}" for i, c in enumerate(commands)) + f"; echo {MARK}end"
        env = {"PATH": str(self.install), "HOME": str(self.workdir), "LC_ALL": "C", **self.build_env}
        if log_file is not None:
            env.update(LIBVIRT_LOG_FILTERS=LOG_FILTERS, LIBVIRT_LOG_OUTPUTS=f"1:file:{log_file}")
        virsh = shutil.which("virsh")
        if virsh is None:
            raise LibvirtUnavailable("virsh not found")
        argv = reaper.command([virsh, "-c", f"qemu:///embed?root={self.root}", script])
        p = None
        try:
            with sigterm_deferred():  # started and held before a SIGTERM can unwind past it
                p = subprocess.Popen(argv, cwd=self.workdir, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
            out, _ = p.communicate(timeout=self.timeout_s)
        except BaseException as e:  # a time limit, or this process told to stop (SIGTERM unwinds)
            if p is not None:
                with sigterm_deferred():
                    reaper.stop(p)  # virsh and every QEMU it left, before the caller removes their folder
                    p.communicate()
            if isinstance(e, subprocess.TimeoutExpired):
                raise WorkbenchError(f"virsh did not finish within {self.timeout_s:.0f} s") from None
            raise
        if "no connection driver available" in out:
            raise LibvirtUnavailable("libvirt's QEMU driver is not installed "
                                     "(libvirt-daemon-driver-qemu)")
        parts = _split(out, len(commands))
        if parts is None:
            raise WorkbenchError(f"virsh failed (exit {p.returncode}): {out.strip()[-500:]}")
        return parts


def _split(out: str, n: int) -> list[str] | None:
    chunks: dict[str, list[str]] = {}
    cur: str | None = None
    for line in out.splitlines():
        if line.startswith(MARK):
            cur = line[len(MARK):]
            chunks[cur] = []
        elif cur is not None:
            chunks[cur].append(line)
    if "end" not in chunks:
        return None
    return ["\n".join(chunks.get(str(i), [])).strip() for i in range(n)]


def error_of(output: str) -> str | None:
    """The libvirt error in a command's output (class prefix removed), or None on success."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("error: ") and not line.startswith("error: Failed to "):
            msg = "\n".join([line[len("error: "):]] + lines[i + 1:]).strip()
            for prefix in _ERROR_CLASSES:
                if msg.startswith(prefix):
                    return msg[len(prefix):]
            return msg
    return None


# -- libvirt's debug log: what it sent to each probed QEMU ---------------------------------
_LINE = re.compile(r"^\S+ \S+: (\d+): \w+ : (\w+):\d+ : (.*)$")
_NEW = re.compile(r"exec=([^,]+), .*forceTCG=(\d)")


@dataclass
class ProbeLog:
    binary: str
    force_tcg: bool
    sequence: list[str] = field(default_factory=list)


def command_key(execute: str, args: dict | None) -> str:
    """A command as a sequence item: its name plus the argument that tells calls apart."""
    a = args or {}
    detail = a.get("typename") or a.get("path") or a.get("type") or ""
    model = a.get("model")
    if isinstance(model, dict) and model.get("name"):
        detail = f"{detail}:{model['name']}" if detail else model["name"]
    return f"{execute}({detail})" if detail else execute


def parse_log(text: str) -> list[ProbeLog]:
    """Every probe launch in a libvirt 9.0 debug log, with the QMP commands sent to it."""
    probes: list[ProbeLog] = []
    current: dict[str, ProbeLog] = {}  # thread id -> the probe it is running
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        tid, func, msg = m.groups()
        if func == "qemuProcessQMPNew":
            n = _NEW.search(msg)
            if n:
                probes.append(ProbeLog(n.group(1), n.group(2) == "1"))
                current[tid] = probes[-1]
        elif "QEMU_MONITOR_SEND_MSG" in msg and tid in current:
            try:
                sent = json.loads(msg.split("msg=", 1)[1])
            except (IndexError, ValueError):
                continue
            current[tid].sequence.append(command_key(sent.get("execute", "?"), sent.get("arguments")))
    return probes


_MODULE = re.compile(r"Load module file '([^']+)'")
_VERSION = re.compile(r"libvirt version: ([^\n]+)")


def loaded_build(text: str) -> tuple[str | None, str | None]:
    """From a debug log: the version line libvirt logs first ("9.0.0, package: ..." names the
    packager: Debian's, or the workbench's build) and the QEMU driver module it loaded."""
    v, m = _VERSION.search(text), None
    for m in _MODULE.finditer(text):
        if m.group(1).endswith("libvirt_driver_qemu.so"):
            break
    return (v.group(1).strip() if v else None,
            m.group(1) if m and m.group(1).endswith("libvirt_driver_qemu.so") else None)


def run_as_self(root: Path) -> None:
    """Make the embedded driver run QEMU as the calling user, as the model does.

    Debian's libvirt 9.0 runs QEMU as libvirt-qemu by default; as root with /dev/kvm mode 0600
    its cache check then finds KVM unusable and re-probes host-native binaries at every lookup
    (docs/model.md, D4). The embedded driver reads ROOT/etc/qemu.conf."""
    if os.geteuid() != 0:
        return  # an unprivileged embedded driver runs QEMU as its own user already
    conf = root / "etc" / "qemu.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text('user = "root"\ngroup = "root"\n')


def short_root(prefix: str = "wbv") -> Path:
    """A short temporary directory (socket paths under it must stay below 107 bytes), in the
    workbench's temporary root ($WORKBENCH_TMP, as the probes' folders; else /tmp)."""
    import tempfile
    base = os.environ.get("WORKBENCH_TMP") or ("/tmp" if os.path.isdir("/tmp") else None)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))
