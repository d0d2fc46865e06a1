"""Files written whole or not at all, through a temporary that is created exclusively.

Every writer of the workbench goes through here: the temporary is made with O_CREAT|O_EXCL
under a random name in the target's folder (tempfile.mkstemp), so a link or file planted in a
writable output folder is never followed nor overwritten, and a failed write leaves nothing.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator


@contextmanager
def replacing(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file object whose contents replace `path` (atomically) when the block ends."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> Path:
    with replacing(path) as f:
        f.write(data)
    return Path(path)
