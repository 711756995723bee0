"""Every Python block in the Markdown docs runs, is an excerpt of a tested example, or says it is a fragment.

The convention, for anyone adding a ```` ```python ```` (or ```` ```py ````) block to README.md,
docs/*.md or any other tracked Markdown file:

- **Unmarked**: the block is a complete program. The suite compiles and runs it (``exec`` in a
  fresh namespace: it defines an app, a hub, routes...; it must not serve or block). It may also be
  an examples/ file verbatim.
- **``<!-- excerpt: examples/NAME.py -->``** on the line just before the fence: the block shows
  parts of that example, which the suite tests (its module or path is named in tests/). Each
  paragraph of the block (the text between blank lines) must be in the file verbatim; a paragraph
  may end in `` ...`` where the file goes on (a body left out).
- **``<!-- fragment -->``** on the line just before the fence, or the info string
  ```` ```python fragment ````: a snippet that cannot run alone (names defined elsewhere, an
  ``async with`` outside a function, a test's body). It is not run; keep it short.

A block that is none of these fails here, naming the file and line, so a snippet cannot rot
unnoticed (issue 16, item 12).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>[^`\n]*)$")
MARKER = re.compile(r"^\s*<!--\s*(?P<kind>fragment|excerpt:\s*(?P<path>\S+))\s*-->\s*$")
PYTHON = frozenset({"python", "py", "python3"})


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    info: str
    marker: str | None  # "fragment", "excerpt", or None
    excerpt_of: str | None
    code: str

    @property
    def where(self) -> str:
        shown = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{shown}:{self.line}"


def markdown_files() -> list[Path]:
    """The Markdown files git tracks (README.md, docs/*.md, ...); without git, every *.md outside hidden dirs."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--", "*.md"], cwd=ROOT, capture_output=True, check=True, timeout=30
        ).stdout
        files = [ROOT / name for name in out.decode().split("\0") if name]
    except (OSError, subprocess.SubprocessError):  # pragma: no cover - a copy without git
        files = [p for p in ROOT.rglob("*.md") if not any(part.startswith(".") for part in p.relative_to(ROOT).parts)]
    return sorted(path for path in files if path.is_file())


def python_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening.group("fence"), len(opening.group("indent"))
        words = opening.group("info").split()
        end = index + 1
        while end < len(lines):
            closing = FENCE.match(lines[end])
            if closing and closing.group("fence").startswith(fence) and not closing.group("info").strip():
                break
            end += 1
        if words and words[0].lower() in PYTHON:
            marker = MARKER.match(lines[index - 1]) if index > 0 else None
            kind = None
            if "fragment" in words[1:]:
                kind = "fragment"
            elif marker is not None:
                kind = "fragment" if marker.group("kind") == "fragment" else "excerpt"
            body = "\n".join(line[indent:] for line in lines[index + 1 : end]) + "\n"
            excerpt_of = marker.group("path") if marker is not None else None
            blocks.append(Block(path, index + 1, " ".join(words), kind, excerpt_of, body))
        index = end + 1
    return blocks


def all_blocks() -> list[Block]:
    return [block for path in markdown_files() for block in python_blocks(path)]


BLOCKS = all_blocks()


def _tested(example: Path) -> bool:
    """The suite names the example (its path or its module) in some test file."""
    relative = example.relative_to(ROOT).with_suffix("")
    names = ("/".join(relative.parts) + ".py", ".".join(relative.parts))
    for test in (ROOT / "tests").rglob("*.py"):
        if test.name == Path(__file__).name:
            continue
        text = test.read_text(encoding="utf-8")
        if any(name in text for name in names):
            return True
    return False


def _is_an_example_verbatim(code: str) -> bool:
    return any(code.strip() == example.read_text(encoding="utf-8").strip() for example in ROOT.glob("examples/*.py"))


def check(block: Block) -> None:
    """Fail with what is wrong with ``block`` and how to fix it."""
    if block.marker == "fragment":
        return
    if block.marker == "excerpt":
        assert block.excerpt_of is not None
        example = ROOT / block.excerpt_of
        assert example.is_file(), f"{block.where}: the excerpt names {block.excerpt_of}, which does not exist"
        assert _tested(example), f"{block.where}: {block.excerpt_of} is named by no test in tests/"
        source = example.read_text(encoding="utf-8")
        for paragraph in re.split(r"\n\s*\n", block.code.strip("\n")):
            shown = paragraph.strip("\n")
            shown = shown.removesuffix(" ...")
            assert shown in source, f"{block.where}: this part is not in {block.excerpt_of}:\n{paragraph}"
        return
    if _is_an_example_verbatim(block.code):
        return
    try:
        compiled = compile(block.code, block.where, "exec")
    except SyntaxError as exc:
        raise AssertionError(
            f"{block.where}: the block does not compile ({exc}); complete it, or mark it "
            "<!-- fragment --> on the line before the fence (see tests/test_docs_blocks.py)"
        ) from None
    namespace: dict[str, Any] = {"__name__": "docs_block"}
    try:
        exec(compiled, namespace)
    except Exception as exc:
        raise AssertionError(
            f"{block.where}: the block raises {exc!r}; complete it, or mark it <!-- fragment --> "
            "on the line before the fence (see tests/test_docs_blocks.py)"
        ) from exc


@pytest.mark.parametrize("block", BLOCKS, ids=[block.where for block in BLOCKS])
def test_every_python_block_runs_is_an_excerpt_or_is_marked_a_fragment(block: Block) -> None:
    check(block)


def test_the_docs_have_python_blocks_and_most_of_them_run() -> None:
    files = {block.path.relative_to(ROOT).as_posix() for block in BLOCKS}
    assert {"README.md", "docs/guide.md", "docs/hub.md"} <= files
    running = [block for block in BLOCKS if block.marker is None]
    assert len(running) >= len(BLOCKS) / 2, [block.where for block in BLOCKS if block.marker]


def test_the_hub_history_example_runs_and_refuses_a_bad_position() -> None:
    """docs/hub.md's history block, run: a client's garbage ``since`` is a 1008 naming it, not a 1011."""
    from sockjet import WebSocketDisconnect
    from sockjet.testclient import TestClient

    (block,) = [b for b in BLOCKS if b.path.name == "hub.md" and "hub.join(room, websocket, since=since)" in b.code]
    namespace: dict[str, Any] = {"__name__": "docs_block"}
    exec(compile(block.code, block.where, "exec"), namespace)
    with TestClient(namespace["app"]) as client:
        with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/ws/lobby?since=garbage"):
            pass  # pragma: no cover - refused
        assert (refused.value.code, refused.value.reason) == (
            1008,
            "Invalid query parameter 'since': Input should be a sockjet position ('<epoch>.<offset>')",
        )
        with client.websocket_connect("/ws/lobby") as ws:
            first = ws.receive_json()  # where the client stands, before anything was published
            assert first["room"] == "lobby" and first["position"].endswith(".0")
            ws.send_text("hello")
            frame = ws.receive_json()
            assert frame["data"] == {"text": "hello"}
        with client.websocket_connect(f"/ws/lobby?since={first['position']}") as again:
            assert again.receive_json() == frame  # what it missed since its first position: replayed
            assert again.receive_json() == {"room": "lobby", "position": frame["position"]}  # then where it stands
            again.send_text("again")
            assert again.receive_json()["data"] == {"text": "again"}


# -- the checker itself, on Markdown written here -----------------------------------------------


def _blocks_of(tmp_path: Path, text: str) -> list[Block]:
    path = tmp_path / "page.md"
    path.write_text(text, encoding="utf-8")
    return python_blocks(path)


def test_the_checker_finds_each_kind_of_block(tmp_path: Path) -> None:
    text = (
        "# t\n\n```python\nx = 1\n```\n\n<!-- fragment -->\n```python\nawait thing()\n```\n\n"
        "```python fragment\nundefined_name\n```\n\n<!-- excerpt: examples/echo.py -->\n```python\n"
        "app = App()\n```\n\n```sh\nnot python\n```\n\n````py\n```\nstill inside\n````\n\n  ```python\n  y = 2\n  ```\n"
        "\n```python\nz = 3\n"
    )
    blocks = _blocks_of(tmp_path, text)
    assert [(b.marker, b.excerpt_of, b.code) for b in blocks] == [
        (None, None, "x = 1\n"),
        ("fragment", None, "await thing()\n"),
        ("fragment", None, "undefined_name\n"),
        ("excerpt", "examples/echo.py", "app = App()\n"),
        (None, None, "```\nstill inside\n"),
        (None, None, "y = 2\n"),
        (None, None, "z = 3\n"),  # a fence left open runs to the end of the page, as Markdown reads it
    ]
    check(blocks[0])
    check(blocks[1])
    check(blocks[3])
    check(blocks[5])
    with pytest.raises(AssertionError, match=re.escape("page.md:25: the block does not compile")):
        check(blocks[4])


def test_the_checker_refuses_what_does_not_run_or_is_no_excerpt(tmp_path: Path) -> None:
    text = (
        "```python\nprint(url)\n```\n\n<!-- excerpt: examples/echo.py -->\n```python\nnot_in_the_file = 1\n```\n\n"
        "<!-- excerpt: examples/missing.py -->\n```python\nx = 1\n```\n\n"
        "<!-- excerpt: examples/__init__.py -->\n```python\n\n```\n"
    )
    unrunnable, wrong_excerpt, missing, untested = _blocks_of(tmp_path, text)
    with pytest.raises(AssertionError, match=re.escape("the block raises NameError(\"name 'url' is not defined\")")):
        check(unrunnable)
    with pytest.raises(AssertionError, match=re.escape("this part is not in examples/echo.py")):
        check(wrong_excerpt)
    with pytest.raises(AssertionError, match=re.escape("names examples/missing.py, which does not exist")):
        check(missing)
    with pytest.raises(AssertionError, match=re.escape("examples/__init__.py is named by no test in tests/")):
        check(untested)


def test_an_example_shown_verbatim_passes_without_running(tmp_path: Path) -> None:
    echo = (ROOT / "examples" / "echo.py").read_text(encoding="utf-8")
    (block,) = _blocks_of(tmp_path, f"```python\n{echo}```\n")
    check(block)
