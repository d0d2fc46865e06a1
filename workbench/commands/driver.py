"""Commands on the driver: capabilities, parse, daemon, call."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from workbench.args import TEARDOWN_HELP, strategy_names, teardown_mode
from workbench.errors import UsageError


def _driver_args(s: argparse.ArgumentParser, strategy: bool = True) -> None:
    """The flags every command that starts a driver takes."""
    s.add_argument("--install", type=Path, required=True, help="directory holding the emulators")
    if strategy:
        s.add_argument("--strategy", choices=strategy_names(), default="per-emulator",
                       help="capabilities strategy (default per-emulator)")
    s.add_argument("--cache-dir", type=Path, help="capabilities cache directory (default: memory only)")
    s.add_argument("--teardown", type=teardown_mode, default="libvirt9", help=TEARDOWN_HELP)


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("capabilities", help="print the full <capabilities> XML for an install",
                       description="Start a full-caps driver on an install and print virCaps as XML.")
    _driver_args(s, strategy=False)
    s.set_defaults(func=capabilities)

    s = sub.add_parser("parse", help="parse, post-parse and validate a domain XML; print the result",
                       description="Run one domain XML through the driver's parse path and print it formatted.")
    s.add_argument("file", type=Path, help="the domain XML file")
    _driver_args(s)
    s.add_argument("--trace", action="store_true", help="also print the spans of the parse to stderr")
    s.set_defaults(func=parse)

    s = sub.add_parser("daemon", help="serve the driver APIs as JSON-RPC 2.0 on a UNIX socket",
                       description="Start the driver and serve its APIs, one JSON-RPC 2.0 object per line.")
    s.add_argument("--socket", type=Path, required=True, help="UNIX socket path to listen on")
    _driver_args(s)
    s.add_argument("--config-dir", type=Path, help="persistent domain configs to load at startup")
    s.add_argument("--host-root", default="/", help="procfs/sysfs root for host probes (default /)")
    s.add_argument("--socket-mode", type=_octal_mode, default=0o600,
                   help="socket permissions, octal (default 0600: the daemon's user and root only)")
    s.add_argument("--socket-group", help="group allowed to connect (set on the socket; use with --socket-mode 0660)")
    s.add_argument("--allow-emulator", action="append", default=[], metavar="PATH",
                   help="an emulator clients may name outside the install (repeatable)")
    s.add_argument("--probe-workers", type=int, default=None,
                   help="parallel/background probe pool size (default: $WORKBENCH_PROBE_WORKERS, else the cores)")
    s.set_defaults(func=daemon)

    s = sub.add_parser("call", help="call one daemon API: workbench call --socket S METHOD key=value ...",
                       description="Call one daemon API and print its result (xml=@file.xml reads a file).")
    s.add_argument("--socket", type=Path, required=True, help="the daemon's UNIX socket")
    s.add_argument("method", help="API name, e.g. get_capabilities, define_xml, list_domains")
    s.add_argument("params", nargs="*", metavar="key=value", help="parameters; values are JSON or plain strings")
    s.set_defaults(func=call)


def _check_install(path: Path) -> str:
    if not path.is_dir():
        raise UsageError(f"install directory {path} does not exist (create one with `workbench install {path}`)")
    return str(path.absolute())


def capabilities(args: argparse.Namespace) -> int:
    from workbench.qemu.driver import DriverOptions, QemuDriver
    from workbench.qemu.search import installed_targets

    driver = QemuDriver.startup(DriverOptions(_check_install(args.install), "full-caps", args.cache_dir,
                                              teardown=args.teardown))
    caps = driver.capabilities()
    print(caps.to_xml(), end="")
    found = {Path(g.emulator).name for g in caps.guests}
    missed = [t for t in installed_targets(str(args.install)) if f"qemu-system-{t}" not in found]
    if missed:
        print(f"workbench: never found by libvirt's arch walk: {', '.join(missed)}", file=sys.stderr)
    # each emulator left out was logged with its reason as the walk dropped it
    return 0


def parse(args: argparse.Namespace) -> int:
    from workbench import trace
    from workbench.conf.domain_parse import read_domain_file
    from workbench.errors import ParseError, ValidateError
    from workbench.qemu.domain_parse import format_domain_xml, parse_domain_xml
    from workbench.qemu.driver import DriverOptions, QemuDriver

    install = _check_install(args.install)
    data = read_domain_file(args.file)
    driver = QemuDriver.startup(DriverOptions(install, args.strategy, args.cache_dir,
                                              teardown=args.teardown))
    trace.TRACER.reset()
    try:
        d = parse_domain_xml(driver.parse_context, data, source=str(args.file), validate=True)
        print(format_domain_xml(d), end="")
    except (ParseError, ValidateError) as e:
        raise type(e)(f"{args.file}: {e}") from None
    finally:
        driver.stop()  # a background warm-up leaves no emulator behind
        if args.trace:
            for r in trace.TRACER.records():
                attrs = " ".join(f"{k}={v}" for k, v in r.attrs.items())
                print(f"{'  ' * r.depth}{r.name} {r.duration_ns / 1000:.1f} µs {attrs}", file=sys.stderr)
    return 0


def _octal_mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an octal mode: {text!r}") from None
    if mode & ~0o777 or mode & 0o007:
        raise argparse.ArgumentTypeError(f"mode {text} must be within 0770 (others never get access)")
    return mode


def daemon(args: argparse.Namespace) -> int:
    from workbench.daemon import SocketAccess, serve
    from workbench.qemu.driver import DriverOptions

    opts = DriverOptions(_check_install(args.install), args.strategy, args.cache_dir, args.config_dir,
                         host_root=args.host_root, allowed_emulators=tuple(args.allow_emulator),
                         probe_workers=args.probe_workers, teardown=args.teardown)
    return serve(args.socket, opts, SocketAccess(args.socket_mode, args.socket_group))


def _param(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"expected key=value, got {text!r}")
    if key == "xml" and value.startswith("@"):  # xml=@file.xml reads the file
        try:
            return key, Path(value[1:]).read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"{value[1:]}: {e}") from None
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def call(args: argparse.Namespace) -> int:
    from workbench.daemon import call as rpc_call
    from workbench.errors import RpcError, WorkbenchError

    params = dict(_param(p) for p in args.params)
    try:
        result = rpc_call(args.socket, args.method, params)
    except (OSError, RpcError) as e:
        raise WorkbenchError(f"{args.method}: {e}") from None
    print(result if isinstance(result, str) else json.dumps(result, indent=2))
    return 0
