"""Close codes in src/ are sockjet.status names, never raw numbers (the review found 71 of them)."""

from __future__ import annotations

import tokenize
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "sockjet"
CLOSE_CODES = {str(code) for code in range(1001, 1016)}
"""1000 is left out: it is also the number of milliseconds in a second."""


def test_no_raw_close_code_in_code() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "status.py":
            continue
        with path.open("rb") as source:
            for token in tokenize.tokenize(source.readline):
                raw = token.type == tokenize.NUMBER and (
                    token.string in CLOSE_CODES or (token.string == "1000" and "code" in token.line.lower())
                )
                if raw:
                    found.append(f"{path.relative_to(SRC)}:{token.start[0]}: {token.line.strip()}")
    assert found == [], "use sockjet.status names:\n" + "\n".join(found)
