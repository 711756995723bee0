"""The wheel a user installs holds what sockjet serves at run time -- sockjet.js and its types,
the demo's page, py.typed -- and none of the JavaScript tooling (tests, node_modules, lockfile).

Built from a copy of the project (never in this tree) with pip, which fetches the build backend
the way a user's ``pip install`` does."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.servers.servers import ROOT


def test_the_wheel_holds_the_browser_client_and_the_demo_page_and_nothing_of_their_tooling(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(project)]
    built = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if built.returncode != 0 and "satisfies the requirement setuptools" in built.stderr:  # pragma: no cover
        pytest.skip("no package index to fetch setuptools (the build backend) from")
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("sockjet-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in (
        "sockjet/js/sockjet.js",
        "sockjet/js/sockjet.d.ts",
        "sockjet/py.typed",
        "sockjet/demo/static/index.html",
    ):
        assert shipped in names, shipped
    tooling = [
        n
        for n in names
        if n.startswith("sockjet/js/") and n not in {"sockjet/js/sockjet.js", "sockjet/js/sockjet.d.ts"}
    ]
    assert [n for n in tooling if not n.endswith(".py")] == [], tooling
