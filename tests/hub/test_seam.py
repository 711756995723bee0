"""The seam between the hub and its backends: what a memory hub loads, and no import cycle in sockjet."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import sockjet

SRC = Path(sockjet.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_imports(path: Path) -> set[str]:
    """sockjet modules imported when ``path`` is imported: module-level statements only (not inside
    functions, nor under ``if TYPE_CHECKING:``)."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name.startswith("sockjet"))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base])
                if base.startswith("sockjet"):
                    found.add(base)
                    found.update(f"{base}.{alias.name}" for alias in node.names)

    visit(tree.body)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in SRC.rglob("*.py")}
    return {name: {m for m in _top_level_imports(path) if m in modules and m != name} for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := walk(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := walk(node)) is not None:
            return found
    return None


def test_no_module_of_sockjet_imports_itself_back_through_others() -> None:
    graph = _graph()
    assert "sockjet.hub.hub" in graph and "sockjet.hub.backends.redis" in graph
    # A package importing its own submodules (sockjet.hub -> sockjet.hub.hub) is the only allowed
    # loop: the edge from a submodule back to its parent package is the package's public API.
    for name, imports in graph.items():
        graph[name] = {m for m in imports if not name.startswith(m + ".")}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_a_memory_hub_loads_neither_redis_nor_nats_nor_their_backends() -> None:
    script = (
        "import asyncio, sys, sockjet\n"
        "async def main():\n"
        "    hub = sockjet.Hub()\n"
        "    async with hub:\n"
        "        await hub.publish('r', 'x')\n"
        "asyncio.run(main())\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('redis', 'nats')\n"
        "                or m.startswith(('sockjet.hub.backends.redis', 'sockjet.hub.backends.nats')))\n"
        "print(loaded)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
