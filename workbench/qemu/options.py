"""What a driver is started with (`DriverOptions`), apart from the driver so that a strategy,
made from these options before the driver exists, can name their type without importing it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.conf.host import DEFAULT_SEC_MODELS, SecModelSpec
from workbench.qemu.strategy_names import PER_EMULATOR
from workbench.qemu.teardown import DEFAULT_MODE as DEFAULT_TEARDOWN


@dataclass
class DriverOptions:
    search_path: str                  # where emulators are found (an install dir, or $PATH)
    strategy: str = PER_EMULATOR
    cache_dir: Path | None = None     # None: memory-only cache
    config_dir: Path | None = None    # persistent domain configs (*.xml)
    host_root: str = "/"              # procfs/sysfs root for the host sub-probes
    sec_models: tuple[SecModelSpec, ...] = DEFAULT_SEC_MODELS
    probe_timeout_s: float = 10.0
    teardown: str = DEFAULT_TEARDOWN  # how a probe launch ends: libvirt9 | libvirt5 | pidfd
    allowed_emulators: tuple[str, ...] = ()  # executable besides the search path (--allow-emulator)
    probe_workers: int | None = None  # parallel/background pool size; None: $WORKBENCH_PROBE_WORKERS or cores
