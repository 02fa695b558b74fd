"""``paths.results_folder``: the one place a results folder is prepared, marked and locked
(used by ``reproduce``, ``audit``, a multi-seed study, ``run_study`` and ``collect_runs``).

It refuses a folder that is not blurutils' to write before writing anything, marks a new
one, and holds a real OS lock for its block: a second process is refused in one line
while it is held and gets the folder once it is released.  The lock is taken by real
processes here, never simulated.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from blurutils.errors import ConfigError, FolderBusyError
from blurutils.paths import LOCK_NAME, RESULTS_MARKER, results_folder

REPO = Path(__file__).resolve().parents[1]

#: A second process asking for the folder: prints what it got, exit 0 or 1.
TRY = """
import sys
from blurutils.errors import FolderBusyError
from blurutils.paths import results_folder
try:
    with results_folder(sys.argv[1]) as out:
        print("got", out)
except FolderBusyError as exc:
    print(exc)
    sys.exit(1)
"""

#: A process that holds the folder until its stdin closes.
HOLD = """
import sys
from blurutils.paths import results_folder
with results_folder(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()
"""


def python(code: str, *args: str, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                          text=True, timeout=120, **kwargs)


def test_a_new_folder_is_created_marked_and_yielded(tmp_path):
    out = tmp_path / "new" / "results"
    with results_folder(str(out)) as folder:
        assert folder == out and out.is_dir()
        assert (out / RESULTS_MARKER).is_file()
        assert (out / (LOCK_NAME + ".pid")).read_text() == str(os.getpid())
        with results_folder(out) as again:  # reentrant: a command, then its study
            assert again == out


def test_a_users_folder_is_refused_and_left_as_it_was(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "REPORT.md").write_text("# my notes\n")
    with pytest.raises(ConfigError) as caught:
        with results_folder(out):
            pytest.fail("the block must not run")
    assert str(caught.value) == (f"{out}: holds REPORT.md that blurutils did not write and "
                                 "would overwrite; choose another --out, or move those "
                                 "files away")
    assert sorted(p.name for p in out.iterdir()) == ["REPORT.md"]  # not even a lock file


def test_a_second_process_is_refused_while_the_folder_is_held(tmp_path):
    out = tmp_path / "results"
    with results_folder(out):
        busy = python(TRY, str(out))
    assert busy.returncode == 1, busy.stderr
    assert busy.stdout.strip() == (f"{out}: another blurutils run (process {os.getpid()}) is "
                                   "writing to this results folder; wait for it to finish, "
                                   "or use another --out")
    free = python(TRY, str(out))  # released with the block
    assert (free.returncode, free.stdout.strip()) == (0, f"got {out}"), free.stderr


def test_this_process_is_refused_while_another_holds_the_folder(tmp_path):
    out = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderBusyError, match=rf"process {holder.pid}\) is writing"):
            with results_folder(out):
                pytest.fail("the block must not run")
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0
    with results_folder(out) as folder:
        assert folder == out


def test_a_committed_folder_is_rebuilt_only_from_its_own_config(tmp_path):
    """``make reference``: the command names the folder's own ``<folder>.yaml``; the study
    it runs then takes the same folder again without naming it."""
    reference = tmp_path / "reference"
    out = reference / "standard"
    out.mkdir(parents=True)
    (out / "REPORT.md").write_text("# committed\n")
    (reference / "standard.yaml").write_text("profile: standard\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    for command in (["init", "-q"], ["add", "standard/REPORT.md"]):
        subprocess.run(["git", "-C", str(reference), *command], check=True, env=env)
    with pytest.raises(ConfigError, match="holds results committed to git"):
        with results_folder(out):
            pass
    with results_folder(out, rebuild_config=reference / "standard.yaml") as folder:
        with results_folder(folder):  # what run_study does inside the command
            pass
    assert not (out / RESULTS_MARKER).exists()  # no marker among committed files
