"""What `workbench validate` reports, in both its forms (against the installed libvirt, and
against libvirt's own test data): rows, each agreeing, deliberately differing (a deviation of
workbench/qemu/deviations.py covers it) or not; any row of the last kind fails the run."""
from __future__ import annotations

from typing import Generic, Protocol, Sequence, TypeVar

from workbench.qemu import deviations

VERDICTS = ("yes", "NO", "deliberate")  # a deliberate row says which: "deliberate D3"


class AgreeingRow(Protocol):
    @property
    def agree(self) -> str: ...  # "yes", "NO" or "deliberate Dn"


def verdict(check: str, subject: str, same: bool, verdicts_agree: bool = True) -> str:
    """A row's `agree`: "yes" when the two sides are the same, else the deviation covering the
    difference ("deliberate Dn"), else "NO"."""
    if same:
        return "yes"
    dev = deviations.find(check, subject, verdicts_agree)
    return f"deliberate {dev.id}" if dev else "NO"


R = TypeVar("R", bound=AgreeingRow)


class Agreement(Generic[R]):
    """A report's verdicts over its `rows` (a dataclass field of the report itself)."""
    rows: Sequence[R]

    @property
    def disagreements(self) -> list[R]:
        return [r for r in self.rows if r.agree == "NO"]

    @property
    def exit_code(self) -> int:
        return 1 if self.disagreements else 0

    def counts(self) -> dict[str, int]:
        return {a: sum(r.agree.split()[0] == a for r in self.rows) for a in VERDICTS}
