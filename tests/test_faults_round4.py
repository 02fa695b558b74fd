"""Faults of the fourth review round (docs/RELIABILITY.md, rows H1-H32): shared lab machines,
an instructor's grading run, cluster jobs.

Each test meets the fault for real: files of another user (as root, the subprocess runs
without root's power over other users' files: ``setpriv --bounding-set=-dac_override,...``),
a file name whose bytes are not UTF-8, a C locale without Python's UTF-8 mode, a closed
stderr, submissions that delete files, print megabytes or call ``os._exit``, and a real
SIGINT/SIGTERM to a real grading run that is then resumed.  Nothing here trains a model;
the grading tests grade notebook 00 (no TensorFlow, seconds per file).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from helpers import env_for, one_line

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from course import editions, grading  # noqa: E402
from course.series import tags  # noqa: E402

#: Another user's id for the files of "another student" (only root can give files away).
OTHER_UID = 1001


def cli(*args, data: Path, prefix: list[str] | None = None, env: dict | None = None,
        **kwargs) -> subprocess.CompletedProcess:
    """``python -m blurutils ARGS`` in a fresh process (``prefix`` runs it, e.g. setpriv)."""
    return subprocess.run([*(prefix or []), sys.executable, "-m", "blurutils", *args],
                          env={**env_for(data), **(env or {})}, capture_output=True,
                          timeout=300, **kwargs)


def without_root_powers() -> list[str]:
    """A command prefix under which file permissions apply (root's override dropped)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: root reads every file, so another "
                    "user's private file cannot be met")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def make_private_to_another_user(path: Path) -> None:
    """``path`` as ``umask 077`` leaves it for another student: mode 600, someone else's
    (as non-root: mode 000 of one's own, which its owner cannot read either)."""
    if os.geteuid() == 0:
        os.chown(path, OTHER_UID, OTHER_UID)
        os.chmod(path, 0o600)
    else:
        os.chmod(path, 0)


def shared_folder(path: Path) -> Path:
    """A data folder every student may write (as a lab's shared folder is)."""
    for sub in ("", "frames", "raw"):
        (path / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(path / sub, 0o777)
    return path


def text(proc: subprocess.CompletedProcess) -> tuple[str, str]:
    return (proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


# ============================================================ 1. a shared lab machine

def test_another_students_private_frames_cache_is_kept_not_replaced(tmp_path):
    """H3: a frame cache another student wrote with ``umask 077`` was called "unreadable",
    deleted and written again as this user's."""
    data = shared_folder(tmp_path / "shared")
    made = cli("frames", "sample", "--max-frames", "8", data=data)
    assert made.returncode == 0, text(made)
    (cache,) = (data / "frames").glob("*.npy")
    make_private_to_another_user(cache)
    before = cache.stat()
    content = None
    if os.geteuid() == 0:
        content = cache.read_bytes()
    proc = cli("frames", "sample", "--max-frames", "8", data=data, prefix=without_root_powers())
    out, err = text(proc)
    assert proc.returncode == 0, (out, err)
    assert "8 frames" in out
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "not readable by this user" in lines[0], err
    assert "rebuilding" not in err
    after = cache.stat()
    assert (after.st_ino, after.st_uid, after.st_mode) == (before.st_ino, before.st_uid, before.st_mode)
    if content is not None:
        assert cache.read_bytes() == content


@pytest.mark.parametrize("what", ["video-in-the-data-folder", "png-for-blur"])
def test_another_users_private_file_is_named_unreadable_not_not_a_video(tmp_path, what):
    """H4-H5: a video in the shared data folder, or an image, that this user may not read
    was "not a video OpenCV can decode"."""
    data = shared_folder(tmp_path / "shared")
    if what == "video-in-the-data-folder":
        made = cli("fetch", "synthetic", "--n-frames", "30", data=data)
        assert made.returncode == 0, text(made)
        target = Path(made.stdout.decode().strip())
        args = ("frames", "synthetic", "--n-frames", "30")
        command = "frames"
    else:
        import cv2
        import numpy as np

        target = tmp_path / "photo.png"
        cv2.imwrite(str(target), np.random.default_rng(0).integers(0, 256, (100, 200), np.uint8))
        args = ("blur", str(target))
        command = "blur"
    make_private_to_another_user(target)
    proc = cli(*args, data=data, prefix=without_root_powers())
    out, err = text(proc)
    line = one_line(err, command, target.name, "not readable by this user", "permission denied")
    assert "not a video" not in line
    assert proc.returncode == 2 and out == ""


def _non_utf8_files(tmp_path: Path) -> dict[str, bytes]:
    import cv2
    import numpy as np

    from blurutils.sources import sample_path

    folder = os.fsencode(tmp_path)
    video, image = folder + b"/caf\xe9.mp4", folder + b"/f\xe9te.png"
    try:
        shutil.copyfile(sample_path(), video)
    except OSError as exc:  # a file system that keeps only UTF-8 names (APFS)
        pytest.skip(f"this file system refuses a Latin-1 file name ({exc})")
    ok, png = cv2.imencode(".png", np.random.default_rng(0).integers(0, 256, (100, 200), np.uint8))
    with open(image, "wb") as f:
        f.write(png.tobytes())
    return {"frames": video, "blur": image}


@pytest.mark.parametrize("command", ["frames", "blur"])
def test_a_file_name_that_is_not_utf8_is_one_line_not_a_crash(tmp_path, command):
    """H6: a Latin-1 file name (``caf\\xe9.mp4``, from an old zip) made OpenCV's Python
    bindings crash: exit -11 (SIGSEGV), nothing on stderr."""
    path = _non_utf8_files(tmp_path)[command]
    proc = subprocess.run([sys.executable, "-m", "blurutils", command, path],
                          env=env_for(tmp_path / "data"), capture_output=True, timeout=120)
    out, err = text(proc)
    assert proc.returncode == 2, (proc.returncode, out, err)
    one_line(err, command, "\\xe9", "not utf-8", "rename")


def test_non_ascii_names_work_in_a_c_locale_without_utf8_mode(tmp_path):
    """H7: under ``LC_ALL=C`` with Python's UTF-8 mode off (an old cluster's locale), any
    non-ASCII name crashed OpenCV the same way; now the frames are decoded."""
    from blurutils.sources import sample_path

    folder = tmp_path / "vidéo ≈"
    folder.mkdir()
    shutil.copyfile(sample_path(), folder / "clip é.mp4")
    env = env_for(tmp_path / "données", LC_ALL="C", LANG="C", PYTHONUTF8="0",
                  PYTHONCOERCECLOCALE="0")
    for args in (("frames", str(folder / "clip é.mp4"), "--max-frames", "5"),
                 ("blur", str(folder / "clip é.mp4"))):
        proc = subprocess.run([sys.executable, "-m", "blurutils", *args], env=env,
                              capture_output=True, timeout=120)
        out, err = text(proc)
        assert proc.returncode == 0, (args, proc.returncode, out, err)
        assert "Traceback" not in err


# ============================================================ 2. a cluster job

def test_frames_with_stderr_closed_finishes(tmp_path):
    """H20: a job started with ``2>&-`` (sys.stderr is None) stopped with exit 1 and no word:
    the progress bar asked ``sys.stderr.isatty()``."""
    proc = subprocess.run([sys.executable, "-m", "blurutils", "frames", "synthetic",
                           "--n-frames", "40"], env=env_for(tmp_path / "data"),
                          stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                          preexec_fn=lambda: os.close(2), timeout=120)
    assert proc.returncode == 0
    assert b"40 frames" in proc.stdout


# ============================================================ 3. an instructor's grading run

@pytest.fixture(scope="module")
def student_00(tmp_path_factory) -> dict[str, Path]:
    """The blank student copy of notebook 00 and the repository's (answered) one."""
    root = tmp_path_factory.mktemp("edition")
    editions.build_student(root / "student")
    return {"blank": root / "student" / "notebooks" / "00_overview.ipynb",
            "key": REPO / "notebooks" / "00_overview.ipynb"}


EXTREMES = ('def extremes(table):\n    low, high = table["bf_mean"].idxmin(), table["bf_mean"].idxmax()\n'
            '    return table.loc[low, "paper_row"], table.loc[high, "paper_row"]\n')


def answered(blank: Path, answers: dict[str, str]) -> str:
    nb = nbformat.read(str(blank), as_version=4)
    for cell in nb.cells:
        if "exercise" in tags(cell):
            for name, source in answers.items():
                if f"def {name}(" in cell.source:
                    cell.source = source
    return nbformat.writes(nb)


def lay_out(folder: Path, files: dict[str, Path | str]) -> Path:
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            target.write_bytes(content.read_bytes())
        else:
            target.write_text(content)
    return folder


def grade_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course", "grade", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def read_rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("case", ["a-folder", "under-a-file", "inside-the-submissions",
                                  "a-users-csv", "read-only-folder"])
def test_grades_csv_is_checked_before_anything_is_graded(tmp_path, student_00, case):
    """H10-H13: ``--out`` a folder (or under a file, or read-only) ended a whole grading run
    with a traceback and no CSV; a CSV of the instructor's own (a roster) was overwritten;
    one inside the submissions folder was graded as a submission by the next run."""
    subs = lay_out(tmp_path / "subs", {"ann/00_overview.ipynb": student_00["key"]})
    prefix: list[str] = []
    if case == "a-folder":
        out = tmp_path / "grades"
        out.mkdir()
        words = ["is a folder"]
    elif case == "under-a-file":
        (tmp_path / "plain").write_text("x")
        out = tmp_path / "plain" / "grades.csv"
        words = ["plain is a file, not a folder"]
    elif case == "inside-the-submissions":
        out = subs / "grades.csv"
        words = ["inside the submissions folder"]
    elif case == "a-users-csv":
        out = tmp_path / "roster.csv"
        out.write_text("name,email\nann,ann@example.org\n")
        words = ["not a grades CSV this grader wrote"]
    else:
        (tmp_path / "locked").mkdir()
        os.chmod(tmp_path / "locked", 0o555)
        out = tmp_path / "locked" / "grades.csv"
        words = ["not writable"]
        prefix = without_root_powers()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    roster = out.read_bytes() if out.is_file() else None
    started = time.monotonic()
    proc = subprocess.run([*prefix, sys.executable, "-m", "course", "grade", str(subs), "--out",
                           str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("python -m course grade: error: "), proc.stderr
    assert all(word in lines[0] for word in words), lines[0]
    assert proc.stdout == "" and time.monotonic() - started < 60  # nothing was graded
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing was written
    if roster is not None:
        assert out.read_bytes() == roster


def test_two_submissions_of_one_student_keep_their_own_logs_and_are_flagged(tmp_path, student_00):
    """H8: ``alice/03.ipynb`` and ``alice/old/03.ipynb`` wrote one log file (the second
    overwrote the first), and nothing said that alice handed in the notebook twice."""
    subs = lay_out(tmp_path / "subs", {"alice/00_overview.ipynb": student_00["key"],
                                       "alice/old/00_overview.ipynb": student_00["blank"]})
    lines: list[str] = []
    grading.grade(subs, tmp_path / "grades.csv", jobs=2, report=lines.append)
    logs = sorted(p.name for p in (tmp_path / "grades-logs").glob("*.log"))
    assert logs == ["alice__00_overview.log", "alice__old__00_overview.log"]
    assert any("alice handed in 00_overview 2 times" in line for line in lines), lines
    rows = read_rows(tmp_path / "grades.csv")
    assert len(rows) == 6
    assert all("handed in 00_overview 2 times" in r["reason"] for r in rows)
    assert {r["submission"]: r["status"] for r in rows if r["exercise"] == "q1"} == {
        "alice/00_overview.ipynb": "passed", "alice/old/00_overview.ipynb": "not done"}


def test_student_code_that_deletes_files_keeps_the_grades_already_given(tmp_path, student_00):
    """H9: a student's function that empties its working folder deleted the worker's results
    file: exercise 1, passed, became "crashed"."""
    cleaner = ("import os\n\ndef blur(image):\n    for name in os.listdir('.'):\n"
               "        if os.path.isfile(name):\n            os.remove(name)\n"
               "    open('stray.txt', 'w').write('x')\n    return image\n")
    subs = lay_out(tmp_path / "subs", {"dee/00_overview.ipynb": answered(
        student_00["blank"], {"extremes": EXTREMES, "blur": cleaner})})
    before = sorted(p.relative_to(subs).as_posix() for p in subs.rglob("*"))
    grading.grade(subs, tmp_path / "grades.csv", jobs=1, report=lambda line: None)
    status = {r["exercise"]: r["status"] for r in read_rows(tmp_path / "grades.csv")}
    assert status == {"q1": "passed", "q2": "failed", "q3": "not done"}
    assert sorted(p.relative_to(subs).as_posix() for p in subs.rglob("*")) == before


def test_a_submission_printing_megabytes_leaves_a_bounded_log(tmp_path, student_00):
    """H14: whatever a student's code prints went to the log whole (a debugging print in an
    endless loop: gigabytes per exercise before the time limit)."""
    loud = "def extremes(table):\n    print('x' * 5_000_000)\n    return None\n"
    subs = lay_out(tmp_path / "subs", {"lou/00_overview.ipynb": answered(
        student_00["blank"], {"extremes": loud})})
    grading.grade(subs, tmp_path / "grades.csv", jobs=1, report=lambda line: None)
    log = tmp_path / "grades-logs" / "lou__00_overview.log"
    text_ = log.read_text()
    assert log.stat().st_size < 1_200_000
    assert "characters of output left out" in text_ and "--- q2:" in text_  # later exercises logged
    status = {r["exercise"]: r["status"] for r in read_rows(tmp_path / "grades.csv")}
    assert status["q1"] == "failed" and status["q2"] == "not done"


def test_os_exit_zero_names_the_exit_code(tmp_path, student_00):
    """H15: ``os._exit(0)`` or ``os._exit(1)`` in a student's function was "the grading
    process gave no result"; now it says how the process stopped, like any other code."""
    subs = lay_out(tmp_path / "subs", {"zed/00_overview.ipynb": answered(
        student_00["blank"], {"extremes": EXTREMES,
                              "blur": "import os\n\ndef blur(image):\n    os._exit(0)\n"})})
    grading.grade(subs, tmp_path / "grades.csv", jobs=1, report=lambda line: None)
    rows = {r["exercise"]: r for r in read_rows(tmp_path / "grades.csv")}
    assert rows["q1"]["status"] == "passed"
    assert (rows["q2"]["status"], rows["q3"]["status"]) == ("crashed", "not graded")
    assert "stopped (exit code 0) during this exercise" in rows["q2"]["reason"]


def _workers_of(folder: Path) -> list[str]:
    """Grading workers still running for submissions under ``folder`` (by their job files'
    temporary folders, which name no submission: matched through /proc's command lines)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(part.endswith(b"course/worker.py") for part in cmdline):
                try:
                    job = json.loads(Path(cmdline[-2].decode()).read_text())
                except (OSError, ValueError, IndexError):
                    continue
                if str(folder) in json.dumps(job):
                    found.append(proc.name)
    return found


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stopped_grading_run_says_so_and_the_same_command_resumes(tmp_path, student_00,
                                                                    signum, status):
    """H16-H17: Ctrl-C ended a grading run with a traceback (the workers, in the terminal's
    process group, died too and were graded "crashed"), SIGTERM without a word; no CSV,
    every graded file lost, temporaries and running workers left behind."""
    if not hasattr(os, "killpg"):
        pytest.skip("POSIX signals")
    subs = lay_out(tmp_path / "subs", {f"s{i}/00_overview.ipynb": student_00["key"] for i in range(3)})
    out = tmp_path / "grades.csv"
    cmd = [sys.executable, "-m", "course", "grade", str(subs), "--out", str(out), "--jobs", "1"]
    # As a terminal's foreground job: a process group of its own, SIGINT at its default.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # lines must be flushed
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    first = proc.stdout.readline()  # the first file is graded
    assert first.startswith("s0/00_overview.ipynb: s0"), (first, proc.stderr.read())
    time.sleep(0.5)  # the second file's worker is running
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)  # Ctrl-C reaches the whole foreground group
    else:
        proc.send_signal(signum)  # kill, a scheduler: the grader alone
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == status, (rest, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"python -m course grade: stopped by {signal.Signals(signum).name}")
    assert "1 of 3 files are graded and saved" in lines[0] and "run the same command again" in lines[0]
    assert not out.exists()
    time.sleep(1)
    assert _workers_of(subs) == []
    first_log = (tmp_path / "grades-logs" / "s0__00_overview.log").stat().st_mtime_ns

    again = grade_cli(subs, "--out", out, "--jobs", "1")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("resuming: 1 of 3 files were graded"), again.stdout
    assert "s0/00_overview.ipynb" not in again.stdout  # not graded twice
    assert (tmp_path / "grades-logs" / "s0__00_overview.log").stat().st_mtime_ns == first_log
    rows = read_rows(out)
    assert len(rows) == 9 and {r["status"] for r in rows} == {"passed"}
    assert not (tmp_path / "grades-logs" / grading.PROGRESS_NAME).exists()


# ============================================================ 4. shared data folders, no home, writers


def test_a_shared_data_folder_stays_shared(tmp_path, monkeypatch):
    """H9: in a data folder a class shares (1777), the first student's lock file (644) and
    sub-folders (755) shut every other student out: they wrote without the lock, and could
    add no cache."""
    from blurutils.paths import data_lock, frames_dir, raw_dir

    data = tmp_path / "shared"
    data.mkdir()
    os.chmod(data, 0o1777)
    monkeypatch.setenv("BLURUTILS_DATA_DIR", str(data))
    umask = os.umask(0o022)
    try:
        with data_lock():
            pass
        frames_dir()
        raw_dir()
    finally:
        os.umask(umask)
    assert (data / ".blurutils.lock").stat().st_mode & 0o777 == 0o666
    assert (data / "frames").stat().st_mode & 0o7777 == 0o1777
    assert (data / "raw").stat().st_mode & 0o7777 == 0o1777


def test_no_home_folder_is_one_line(tmp_path, monkeypatch):
    """H11: a job under a user id without a password-database entry and without HOME (a
    container's ``--user 1234``) ended in ``RuntimeError: Could not determine home
    directory``."""
    import pwd

    from blurutils import paths
    from blurutils.errors import ConfigError

    monkeypatch.delenv("BLURUTILS_DATA_DIR")
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.setattr(paths, "REPO_DIR", tmp_path)  # installed, not a checkout

    def no_entry(uid):
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    with pytest.raises(ConfigError, match="BLURUTILS_DATA_DIR"):
        paths.data_dir()


@pytest.mark.parametrize("command", ["fetch", "interpolate"])
def test_a_latin1_folder_or_out_for_a_video_writer_is_one_line(tmp_path, command):
    """H6: a data folder, or an ``interpolate --out``, whose name is not UTF-8 crashed
    OpenCV's writer (SIGSEGV)."""
    latin1 = os.fsdecode(os.fsencode(tmp_path) + b"/donn\xe9es")
    try:
        os.mkdir(latin1)
    except OSError as exc:
        pytest.skip(f"this file system refuses a Latin-1 file name ({exc})")
    if command == "fetch":
        args, data = ["fetch", "synthetic", "--n-frames", "10"], latin1
    else:
        args = ["interpolate", "sample", "--method", "copy", "--max-frames", "5", "--out",
                latin1 + "/clip.mp4"]
        data = str(tmp_path / "data")
    proc = subprocess.run([sys.executable, "-m", "blurutils", *args],
                          env=env_for(Path(data)), capture_output=True, timeout=300)
    assert proc.returncode == 2, (proc.returncode, text(proc))
    one_line(text(proc)[1], command, "donn\\xe9es", "not utf-8")
