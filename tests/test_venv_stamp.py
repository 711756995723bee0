"""scripts/_venv.sh: the first launch installs, a second one installs nothing (no pip, no package
index needed), and a changed pyproject.toml installs again. Hermetic: a copy of the script in a
temporary project whose ``.venv/bin/python`` is this Python and whose ``pip`` is a recorder."""

from __future__ import annotations

import hashlib
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

from tests.servers.servers import ROOT

FAKE_PIP = """import os, sys
with open(os.environ["PIP_CALLS"], "a") as calls:
    calls.write(" ".join(sys.argv[1:]) + "\\n")
"""


def _project(tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "_venv.sh", project / "scripts" / "_venv.sh")
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "python").symlink_to(sys.executable)
    fake = tmp_path / "fake" / "pip"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "__main__.py").write_text(FAKE_PIP)
    calls = tmp_path / "pip-calls"
    calls.touch()
    paths = [str(tmp_path / "fake"), str(ROOT / "src"), *site.getsitepackages()]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PIP_CALLS": str(calls)}
    env["PIP_INDEX_URL"] = "http://127.0.0.1:9/nowhere"  # a real pip would fail here
    return project, env, calls


def _launch(project: Path, env: dict[str, str]) -> None:
    script = ". scripts/_venv.sh && sockjet_venv test"
    subprocess.run(["bash", "-c", script], cwd=project, env=env, check=True, timeout=60)


def test_a_second_launch_installs_nothing_and_a_changed_pyproject_installs_again(tmp_path: Path) -> None:
    project, env, calls = _project(tmp_path)
    _launch(project, env)
    assert calls.read_text().splitlines() == ["install -q --upgrade pip", "install -q -e .[test]"]
    assert (
        (project / ".venv" / ".sockjet-install-test")
        .read_text()
        .startswith(hashlib.sha256((project / "pyproject.toml").read_bytes()).hexdigest())
    )

    calls.write_text("")
    _launch(project, env)
    _launch(project, env)
    assert calls.read_text() == ""  # stamped: no pip, so no package index needed

    with (project / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n# changed\n")
    _launch(project, env)
    assert calls.read_text().splitlines() == ["install -q --upgrade pip", "install -q -e .[test]"]
