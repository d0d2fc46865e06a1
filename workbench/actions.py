"""What each `workbench` command does; cli.py only parses. Each returns the exit status."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path


def _fail(message: str, status: int = 1) -> int:
    print(f"workbench: {message}", file=sys.stderr)
    return status


def record(args: argparse.Namespace) -> int:
    from workbench.emulators.recorder import find_real_binaries, record_all

    if not find_real_binaries(args.qemu_dir):
        return _fail(f"no qemu-system-* executables in {args.qemu_dir}")
    outcomes = record_all(args.qemu_dir, args.output, progress=lambda n: print(f"recording {n}", file=sys.stderr))
    for o in outcomes:
        print(f"{o.binary}: {o.path if o.path else 'FAILED: ' + str(o.error)}")
    return 0 if all(o.path for o in outcomes) else 1


def install(args: argparse.Namespace) -> int:
    from workbench.emulators.install import install as do_install

    try:
        inst = do_install(args.dir, args.emulators, latency=args.latency)
    except (ValueError, OSError) as e:
        return _fail(str(e), 2)
    print(f"installed {len(inst.targets)} emulators into {args.dir} (latency {args.latency})")
    return 0


def _caps_record(caps) -> dict:
    d = dataclasses.asdict(caps)
    d["flags"] = sorted(caps.flags)
    return d


def probe(args: argparse.Namespace) -> int:
    from workbench.qemu.cache import QemuCapsCache
    from workbench.qemu.errors import ProbeError

    cache = QemuCapsCache(args.cache_dir, probe_timeout_s=args.timeout)
    status = 0
    for binary in args.binaries:
        path = str(Path(binary).absolute())
        try:
            caps = cache.lookup(path)
        except ProbeError as e:
            status = 1
            if args.json:
                print(json.dumps({"binary": path, "error": str(e), "step": e.step}))
            else:
                print(f"workbench: {e}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps(_caps_record(caps)))
        else:
            default = caps.preferred_machine("kvm" if caps.kvm else "qemu")
            print(f"{path}: arch {caps.arch}, QEMU {caps.version}, kvm {'yes' if caps.kvm else 'no'}, "
                  f"{len(caps.machines_for('qemu'))} machines (default {default.name if default else '-'}), "
                  f"{len(caps.cpu_model_names('qemu'))} CPU models, {len(caps.flags)} flags")
    s = cache.stats
    print(f"lookups {s['lookups']}: memory {s['memory']}, disk {s['disk']}, probed {s['probe']}, "
          f"invalid {s['invalid']}, discarded {s['discarded']}", file=sys.stderr)
    return status


def _check_install(path: Path) -> str | None:
    if not path.is_dir():
        return f"install directory {path} does not exist (create one with `workbench install {path}`)"
    return None


def capabilities(args: argparse.Namespace) -> int:
    from workbench.qemu.driver import DriverOptions, QemuDriver

    if (err := _check_install(args.install)):
        return _fail(err, 2)
    driver = QemuDriver(DriverOptions(str(args.install.absolute()), "full-caps", args.cache_dir)).startup()
    caps = driver.capabilities()
    print(caps.to_xml(), end="")
    from workbench.qemu.search import installed_targets
    found = {Path(g.emulator).name for g in caps.guests}
    missed = [t for t in installed_targets(str(args.install)) if f"qemu-system-{t}" not in found]
    if missed:
        print(f"workbench: never found by libvirt's arch walk: {', '.join(missed)}", file=sys.stderr)
    for arch, err in caps.probe_errors.items():
        print(f"workbench: {arch} left out: {err}", file=sys.stderr)
    return 0


def parse(args: argparse.Namespace) -> int:
    from workbench import trace
    from workbench.conf.domain import DomainXMLError, parse_domain_file_bytes
    from workbench.qemu.domain_parse import format_domain_xml, parse_domain_xml
    from workbench.qemu.driver import DriverOptions, QemuDriver
    from workbench.qemu.strategies import ParseError, ValidateError

    if (err := _check_install(args.install)):
        return _fail(err, 2)
    try:
        data = parse_domain_file_bytes(args.file)
    except DomainXMLError as e:
        return _fail(str(e), 2)
    driver = QemuDriver(DriverOptions(str(args.install.absolute()), args.strategy, args.cache_dir)).startup()
    trace.TRACER.reset()
    try:
        d = parse_domain_xml(driver, data, source=str(args.file), validate=True)
        print(format_domain_xml(d), end="")
    except DomainXMLError as e:
        return _fail(str(e), 2)
    except (ParseError, ValidateError) as e:
        return _fail(f"{args.file}: {e}", 2)
    finally:
        if args.trace:
            for r in trace.TRACER.records():
                attrs = " ".join(f"{k}={v}" for k, v in r.attrs.items())
                print(f"{'  ' * r.depth}{r.name} {r.duration_ns / 1000:.1f} µs {attrs}", file=sys.stderr)
    return 0


def daemon(args: argparse.Namespace) -> int:
    from workbench.qemu.daemon import serve
    from workbench.qemu.driver import DriverOptions

    if (err := _check_install(args.install)):
        return _fail(err, 2)
    opts = DriverOptions(str(args.install.absolute()), args.strategy, args.cache_dir, args.config_dir,
                         host_root=args.host_root)
    return serve(args.socket, opts)


def _param(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"expected key=value, got {text!r}")
    if key == "xml" and value.startswith("@"):  # xml=@file.xml reads the file
        return key, Path(value[1:]).read_text()
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def call(args: argparse.Namespace) -> int:
    from workbench.qemu.daemon import RpcError, call as rpc_call

    try:
        params = dict(_param(p) for p in args.params)
    except (ValueError, OSError) as e:
        return _fail(str(e), 2)
    try:
        result = rpc_call(args.socket, args.method, params)
    except (OSError, RpcError) as e:
        return _fail(f"{args.method}: {e}")
    print(result if isinstance(result, str) else json.dumps(result, indent=2))
    return 0
