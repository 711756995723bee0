"""docs/hub.md's FastAPI code is examples/fastapi_hub.py (which CI type-checks and e2e runs): it cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_fastapi_section_shows_the_example_file_verbatim() -> None:
    doc = (ROOT / "docs" / "hub.md").read_text(encoding="utf-8")
    section = doc.split("## Using the Hub from FastAPI", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert code is not None
    example = (ROOT / "examples" / "fastapi_hub.py").read_text(encoding="utf-8")
    chunks = [chunk for chunk in code.group(1).split("\n\n") if chunk.strip()]
    assert len(chunks) >= 4
    for chunk in chunks:
        assert chunk.strip("\n") in example, chunk
