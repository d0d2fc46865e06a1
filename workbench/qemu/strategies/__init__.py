"""The capabilities strategies, found by scanning this package: one module, one strategy."""
from __future__ import annotations

import importlib
import pkgutil

from workbench.errors import UsageError
from workbench.qemu.options import DriverOptions
from workbench.qemu.strategies.base import Strategy
from workbench.qemu.strategy_names import LIBVIRT_STRATEGIES


def _discover() -> dict[str, type[Strategy]]:
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")
    found: dict[str, type[Strategy]] = {}
    todo = list(Strategy.__subclasses__())
    while todo:  # subclasses of subclasses count too (a variant of per-emulator, say)
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.name:
            found.setdefault(cls.name, cls)
    # Stable order: the two libvirt had first, then any newcomer alphabetically.
    order = list(LIBVIRT_STRATEGIES)
    return {n: found[n] for n in order + sorted(set(found) - set(order)) if n in found}


STRATEGIES = _discover()


def get_strategy(name: str, options: DriverOptions) -> Strategy:
    """A new strategy of that name, made for a driver with these DriverOptions."""
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise UsageError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}") from None
    return cls(options)


__all__ = ["STRATEGIES", "get_strategy", "Strategy"]
