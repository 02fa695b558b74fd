"""`make lab` as root: JupyterLab refuses to start as root without --allow-root, and
containers often run as root, so the Makefile adds the flag there and says why.

Checked with ``make -n`` (print the commands, run nothing), so no server starts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTE = "running as root (as in many containers), so JupyterLab gets --allow-root"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def lab_commands(*overrides: str) -> str:
    """What `make lab` would run; ``-o`` keeps the install step out of the picture."""
    done = subprocess.run(["make", "-n", "-o", ".venv/.installed", "lab", *overrides],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_as_root_lab_gets_allow_root_and_says_why():
    out = lab_commands("USER_ID=0")
    assert "jupyter lab --allow-root notebooks/" in out
    assert NOTE in out
    assert len([line for line in out.splitlines() if NOTE in line]) == 1


def test_as_another_user_lab_starts_plainly():
    out = lab_commands("USER_ID=1000")
    assert "jupyter lab" in out and "notebooks/" in out
    assert "--allow-root" not in out and NOTE not in out


def test_the_user_id_comes_from_the_running_user():
    out = lab_commands()
    assert ("--allow-root" in out) == (os.geteuid() == 0)
