"""Which corpus domains a benchmark parses or defines: the x86_64 domains that run on any
install, picked from the smallest to the largest, and renamed copies for many persistent configs."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, TypeVar

from workbench.paths import DOMAINS_DIR

T = TypeVar("T")


@dataclass(frozen=True)
class CorpusDomain:
    name: str   # the file stem: the `case` of a parse benchmark
    xml: bytes


def x86_64_domains(root: Path = DOMAINS_DIR) -> list[CorpusDomain]:
    """Corpus x86_64 domains that name no <emulator> (they run on any install), smallest first."""
    from lxml import etree

    out = []
    for path in sorted(Path(root).glob("*.xml")):  # bad/ holds invalid files
        data = path.read_bytes()
        try:
            doc = etree.fromstring(data)
        except etree.XMLSyntaxError:
            continue  # the corpus also holds invalid XML on purpose
        if doc.tag != "domain":
            continue
        if doc.xpath("string(os/type/@arch)") == "x86_64" and doc.find("devices/emulator") is None:
            out.append(CorpusDomain(path.stem, data))
    return sorted(out, key=lambda d: (len(d.xml), d.name))


def pick(domains: list[T], k: int) -> list[T]:
    """k items spread from the first (smallest) to the last (largest)."""
    if k <= 0 or not domains:
        return []
    if k >= len(domains):
        return list(domains)
    if k == 1:
        return [domains[-1]]
    return [domains[round(i * (len(domains) - 1) / (k - 1))] for i in range(k)]


def renamed_copies(domains: list[CorpusDomain], m: int) -> Iterator[tuple[str, bytes]]:
    """m distinct domain configs (name and uuid made unique) cycling over `domains`."""
    from lxml import etree

    for i in range(m):
        src = domains[i % len(domains)]
        doc = etree.fromstring(src.xml)
        name = doc.find("name")
        name.text = f"{name.text}-{i}"
        uuid = doc.find("uuid")
        if uuid is not None:
            uuid.text = f"00000000-0000-4000-8000-{i:012x}"
        yield name.text, etree.tostring(doc)
