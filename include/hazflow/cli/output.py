"""What a command gives back: a JSON-able value (what `--json` prints and tests read) and the text
a person reads, with the exit status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Output:
    value: Any  # JSON-able
    text: str
    status: int = 0  # 0 done; 1 a check did not pass (e.g. --check with unfinished jobs)


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """Rows as aligned columns under a header and a rule.

    >>> print(table([("WLG", 1.0012)], ("target", "closure")))
    target  closure
    ------  -------
    WLG     1.0012
    """
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
