"""Runs in a fresh process: report lines come back, errors keep their meaning."""

from __future__ import annotations

import os
import signal

import pytest

from blurutils.errors import ConfigError
from blurutils.isolation import ChildError, WorkerKilled, run_in_child


def talk(n: int, *, report) -> None:
    for i in range(n):
        report(f"line {i} from pid {os.getpid()}")


def write_pid(path: str, *, report) -> None:
    with open(path, "w") as f:
        f.write(str(os.getpid()))


def refuse(*, report) -> None:
    report("before the error")
    raise ConfigError("epochs=0: must be a positive integer")


def crash(*, report) -> None:
    raise ZeroDivisionError("a bug in the worker")


def die(sig: int, *, report) -> None:
    report("about to die")
    os.kill(os.getpid(), sig)


def test_report_lines_arrive_in_order_from_another_process():
    lines = []
    run_in_child(talk, 3, name="talk", report=lines.append)
    assert [line.split(" from")[0] for line in lines] == ["line 0", "line 1", "line 2"]
    assert all(f"pid {os.getpid()}" not in line for line in lines)


def test_the_work_runs_in_a_fresh_process(tmp_path):
    path = tmp_path / "pid"
    run_in_child(write_pid, str(path), name="pid", report=lambda line: None)
    assert int(path.read_text()) != os.getpid()


def test_a_user_error_in_the_child_is_raised_again_with_its_class_and_message():
    lines = []
    with pytest.raises(ConfigError, match=r"^epochs=0: must be a positive integer$"):
        run_in_child(refuse, name="refuse", report=lines.append)
    assert lines == ["before the error"]


def test_a_bug_in_the_child_shows_the_childs_traceback():
    with pytest.raises(ChildError) as err:
        run_in_child(crash, name="crash", report=lambda line: None)
    assert "ZeroDivisionError: a bug in the worker" in str(err.value)
    assert "in crash" in err.value.child_traceback


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_child_is_one_clear_error_saying_work_is_saved(sig):
    lines = []
    with pytest.raises(WorkerKilled) as err:
        run_in_child(die, int(sig), name="Forward-MSE", report=lines.append)
    message = str(err.value)
    assert message.startswith("Forward-MSE: the training process was killed by "
                              f"{signal.Signals(sig).name}")
    assert "run the same command again to resume" in message and "\n" not in message
    assert ("out of memory?" in message) == (sig == signal.SIGKILL)
    assert lines == ["about to die"]


def test_a_study_with_isolated_runs_never_loads_tensorflow_in_the_caller(tmp_path):
    """The caller (a notebook kernel, the CLI) only plans, collects and plots; TensorFlow
    (~0.7 GB resident) is loaded by the workers alone.  Notebook 07 on Binder's 2 GB
    depends on this: a Keras import anywhere on the planning path would break it."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from blurutils.config import make_config\n"
        "from blurutils.study import run_study\n"
        "config = make_config('smoke', models=['Convolutional'], losses=['CP'],\n"
        f"                     out={str(tmp_path / 'results')!r})\n"
        "result = run_study(config, report=lambda line: None)\n"
        "loaded = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
        "print(len(result.metrics), 'runs;', 'loaded:', loaded)\n")
    env = {**os.environ, "BLURUTILS_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "1 runs; loaded: []"
    assert (tmp_path / "results" / "runs" / "Convolutional-CP" / "per_frame_metrics.csv").is_file()
