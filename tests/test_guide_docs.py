"""docs/guide.md cannot drift from the code it shows: the parameter excerpt is the example file's own text."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guide.md"


def _section(title: str) -> str:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_the_parameter_excerpt_is_the_auth_example() -> None:
    section = _section("Endpoint parameters")
    (link,) = re.findall(r"\(\.\./(examples/fastapi_ws_auth\.py)\)", section)
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert code is not None
    excerpt = code.group(1).removesuffix(" ...\n")
    assert excerpt in (ROOT / link).read_text(encoding="utf-8")


def test_every_example_the_guide_links_exists() -> None:
    for link in re.findall(r"\(\.\./(examples/[\w/]+\.py)\)", GUIDE.read_text(encoding="utf-8")):
        assert (ROOT / link).is_file(), link
