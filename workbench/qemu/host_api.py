"""Fine-grained host capability API designs, served by the daemon beside the libvirt ones."""
from __future__ import annotations

from typing import Any, Callable


def host_api_table(driver) -> dict[str, Callable[..., Any]]:
    return {}
