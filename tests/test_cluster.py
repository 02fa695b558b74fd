"""The study on a Dask cluster (blurutils.cluster, ``--dask-workers``/``--dask-scheduler``).

Fast tests: options and one-line errors, Dask not imported without them, the run claim
(two processes, synchronised with events), GPU slots and the training process's
environment.  Slow tests start real local clusters on 127.0.0.1: results byte-identical
to a one-process run, resuming, a failed run named in one line, SIGTERM closing the
cluster.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from blurutils import cli
from blurutils.config import load_config
from blurutils.cluster import (ClusterError, DaskExecutor, check_scheduler_address,
                               child_environment, gpu_slot, run_with_env, train_claimed,
                               visible_gpus)
from blurutils.errors import ConfigError
from blurutils.isolation import run_in_child
from blurutils.study import collect_runs

SMOKE = ["reproduce", "--profile", "smoke", "--models", "Forward,Convolutional",
         "--losses", "MSE"]
RUNS = ("Forward-MSE", "Convolutional-MSE")
TABLES = ("table1_blur_factor.csv", "table1_blur_factor.md", "table2_relative_blur_factor.csv",
          "table2_relative_blur_factor.md", "table3_blur_and_fidelity.csv",
          "paper_comparison.csv", "diagnostics.csv", "REPORT.md")
RUN_FILES = ("per_frame_metrics.csv", "per_frame_metrics_reshaped.csv", "history.csv",
             "diagnostics.json", "extreme_frames.npz")


# --------------------------------------------------------------------------- options

def test_importing_blurutils_does_not_import_dask():
    code = ("import sys, blurutils.study, blurutils.seeds, blurutils.audit, blurutils.cli, "
            "blurutils.cluster; "
            "print([m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def _main(argv: list[str]) -> int:
    """``python -m blurutils ARGV``'s exit status (argparse's own errors exit)."""
    try:
        return cli.main(argv)
    except SystemExit as stop:
        return stop.code


@pytest.mark.parametrize("options, expected", [
    (["--dask-workers", "0"], "must be a positive integer"),
    (["--dask-workers", "two"], "is not an integer"),
    (["--dask-workers", "1000"], "from 1 to 256"),
    (["--dask-workers", "2", "--dask-scheduler", "tcp://127.0.0.1:8786"], "not allowed with"),
    (["--dask-scheduler", "127.0.0.1"], "expected HOST:PORT"),
    (["--dask-scheduler", "http://127.0.0.1:8786"], "unknown scheme 'http'"),
    (["--dask-scheduler", "tcp://127.0.0.1:70000"], "port must be a number"),
])
@pytest.mark.parametrize("command", ["reproduce", "audit"])
def test_bad_dask_options_are_one_line_errors(command, options, expected, tmp_path, capsys):
    code = _main([command, "--profile", "smoke", "--out", str(tmp_path / "out"), *options])
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # refused before any work


def test_missing_dask_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    code = _main([*SMOKE, "--out", str(tmp_path / "out"), "--dask-workers", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'dask[distributed]'" in err
    assert len(err.strip().splitlines()) == 1


def test_scheduler_addresses():
    assert check_scheduler_address("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    assert check_scheduler_address("node-3:8786") == "node-3:8786"
    assert check_scheduler_address("tls://[::1]:8786") == "tls://[::1]:8786"
    for bad in ("", "tcp://", "tcp://host", "tcp://:8786", "tcp://host:0", "tcp://a b:1"):
        with pytest.raises(ConfigError):
            check_scheduler_address(bad)


def test_executor_takes_exactly_one_kind_of_cluster():
    with pytest.raises(ConfigError, match="choose one"):
        DaskExecutor()
    with pytest.raises(ConfigError, match="choose one"):
        DaskExecutor(2, scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(ConfigError, match="from 1 to"):
        DaskExecutor(True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_one_line_machine_error():
    executor = DaskExecutor(scheduler=f"tcp://127.0.0.1:{_free_port()}", connect_timeout=1)
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler") as caught:
        with executor:
            pass
    assert "\n" not in str(caught.value)


# --------------------------------------------------------------------------- claims

def _job(run_dir: Path) -> SimpleNamespace:
    return SimpleNamespace(run=SimpleNamespace(name="Forward-MSE"), run_dir=run_dir)


def _claimant(run_dir: str, first: bool, a_training, b_waiting, results) -> None:
    """One worker claiming the run; the fake training counts itself in a file."""
    run = Path(run_dir)
    marker, count = run / "finished", run.parent / "trainings"

    def finished(job) -> bool:
        return marker.exists()

    def train(job, *, report) -> None:
        if first:
            a_training.set()
            # Hold the claim until the other worker is blocked on it.
            assert b_waiting.wait(timeout=120)
        with open(count, "a") as handle:
            handle.write("trained\n")
        marker.write_text("done")

    def report(line: str) -> None:
        if "waiting" in line:
            b_waiting.set()

    if not first:
        assert a_training.wait(timeout=120)
    try:
        results.put((first, train_claimed(_job(run), report=report, train=train,
                                          finished=finished)))
    finally:
        b_waiting.set()  # (without a claim the second never waits: let the first go on)


def test_two_concurrent_claims_train_a_run_once(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    a_training, b_waiting, results = ctx.Event(), ctx.Event(), ctx.Queue()
    run_dir = tmp_path / "runs" / "Forward-MSE"
    workers = [ctx.Process(target=_claimant, args=(str(run_dir), first, a_training,
                                                   b_waiting, results))
               for first in (True, False)]
    for w in workers:
        w.start()
    outcome = dict(results.get(timeout=180) for _ in workers)
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    assert outcome == {True: True, False: False}  # the first trained, the second reused
    assert (tmp_path / "runs" / "trainings").read_text() == "trained\n"


def test_a_finished_run_is_not_trained_again(tmp_path):
    lines, trained = [], []
    result = train_claimed(_job(tmp_path / "run"), report=lines.append,
                           train=lambda job, report: trained.append(job),
                           finished=lambda job: True)
    assert result is False and trained == []
    assert "already done" in lines[0]
    # and an unfinished one is trained, in a folder made for it
    assert train_claimed(_job(tmp_path / "new" / "run"), report=lines.append,
                         train=lambda job, report: trained.append(job),
                         finished=lambda job: False)
    assert len(trained) == 1 and (tmp_path / "new" / "run").is_dir()


# --------------------------------------------------------------------------- GPUs, environment

def test_visible_gpus_from_cuda_visible_devices():
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "0,1"}) == ["0", "1"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2, 3,"}) == ["2", "3"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "GPU-8a1b"}) == ["GPU-8a1b"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []


def test_concurrent_runs_get_different_gpus(tmp_path):
    with gpu_slot(["0", "1"], "a", tmp_path) as first:
        with gpu_slot(["0", "1"], "b", tmp_path) as second:
            assert {first, second} == {"0", "1"}
    with gpu_slot(["0", "1"], "c", tmp_path) as again:
        assert again == "0"  # both free again
    with gpu_slot([], "d", tmp_path) as none:
        assert none is None


def test_child_environment_pins_one_gpu_and_drops_the_nannys_thread_limits():
    nanny = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
             "MALLOC_TRIM_THRESHOLD_": "65536"}
    changes = child_environment("1", 2, strip_nanny=True, environ=nanny)
    assert changes["CUDA_VISIBLE_DEVICES"] == "1"
    assert {k for k, v in changes.items() if v is None} == set(nanny)
    mine = child_environment("0", 1, strip_nanny=True, environ={"OMP_NUM_THREADS": "4"})
    assert mine == {}  # one GPU: no pinning; a user's own thread setting stays
    assert child_environment(None, 0, strip_nanny=False, environ=nanny) == {}


def report_environment(names: list[str], *, report) -> None:
    """(Run in a child process by the next test.)"""
    report(json.dumps({name: os.environ.get(name) for name in names}))


def test_the_training_process_gets_the_environment_changes(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    lines: list[str] = []
    call = pickle.dumps((report_environment, (["OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES"],)))
    run_in_child(run_with_env, {"OMP_NUM_THREADS": None, "CUDA_VISIBLE_DEVICES": "1"}, call,
                 name="env", report=lines.append)
    assert json.loads(lines[0]) == {"OMP_NUM_THREADS": None, "CUDA_VISIBLE_DEVICES": "1"}


# --------------------------------------------------------------------------- real clusters

def _reproduce(out: Path, *extra: str) -> str:
    done = subprocess.run([sys.executable, "-m", "blurutils", *SMOKE, "--out", str(out),
                           *extra], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _weights(path: Path) -> bytes:
    """A saved model's weights (the archive's config and metadata hold dates and ids)."""
    with zipfile.ZipFile(path) as archive:
        return archive.read("model.weights.h5")


def _assert_identical(a: Path, b: Path) -> None:
    for name in TABLES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    for run in RUNS:
        for name in RUN_FILES:
            if name.endswith("_reshaped.csv") and run.startswith("Convolutional"):
                continue  # measured on the reshape: the dense runs only
            assert (a / "runs" / run / name).read_bytes() == \
                (b / "runs" / run / name).read_bytes(), (run, name)
        assert _weights(a / "runs" / run / "model.keras") == \
            _weights(b / "runs" / run / "model.keras"), run


@pytest.mark.slow
def test_two_local_workers_give_byte_identical_results_and_resume(tmp_path):
    plain = _reproduce(tmp_path / "plain")
    dask = _reproduce(tmp_path / "dask", "--dask-workers", "2")
    _assert_identical(tmp_path / "plain", tmp_path / "dask")
    for run in RUNS:  # the workers' report lines reached the command's output
        assert f"{run:<22} epoch  2/2" in dask and f"{run:<22} epoch  2/2" in plain
    # An interrupted cluster run resumes from what finished: only the unfinished run
    # goes to the executor (here a stand-in that copies the one-process run's folder).
    for name in ("per_frame_metrics.csv", "history.csv", "run.json"):
        (tmp_path / "dask" / "runs" / "Forward-MSE" / name).unlink()
    executor, lines = _CopyingExecutor(tmp_path / "plain"), []
    runs = collect_runs(load_config(tmp_path / "dask" / "config.yaml"), report=lines.append,
                        executor=executor)
    assert [job.run.name for job in executor.jobs] == ["Forward-MSE"]
    assert any(line.startswith("Convolutional-MSE      already done") for line in lines)
    assert not any(line.startswith("Forward-MSE") for line in lines)
    assert set(runs.metrics) == {("Forward", "MSE"), ("Convolutional", "MSE")}
    _assert_identical(tmp_path / "plain", tmp_path / "dask")


class _CopyingExecutor:
    """Stands in for a cluster: records the jobs it is given and "trains" each by
    copying the same run's folder from a finished study."""

    def __init__(self, source: Path):
        self.source, self.jobs = source, []

    def run(self, jobs, *, report) -> None:
        self.jobs += jobs
        for job in jobs:
            shutil.copytree(self.source / "runs" / job.run_dir.name, job.run_dir,
                            dirs_exist_ok=True)


@pytest.mark.slow
def test_a_failed_run_is_one_error_naming_it_and_close_ends_the_workers(tmp_path):
    import psutil

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    job = _job(blocker / "runs" / "Forward-MSE")  # its folder cannot be made
    with DaskExecutor(workers=1) as executor:
        pids = list(executor.client.run(os.getpid).values())
        with pytest.raises(ClusterError) as caught:
            executor.run([job], report=print)
    message = str(caught.value)
    assert message.startswith("Forward-MSE: the run failed on the Dask cluster")
    assert "\n" not in message and "resume" in message
    assert pids and not any(psutil.pid_exists(pid) and psutil.Process(pid).status()
                            != psutil.STATUS_ZOMBIE for pid in pids)


@pytest.mark.slow
def test_sigterm_closes_the_cluster_and_its_training_processes(tmp_path):
    import psutil

    mark = uuid.uuid4().hex
    env = dict(os.environ, BLURUTILS_TEST_MARK=mark)
    cmd = [sys.executable, "-m", "blurutils", "reproduce", "--profile", "smoke", "--models",
           "Convolutional", "--losses", "MSE", "--out", str(tmp_path / "out"),
           "--dask-workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        for line in proc.stdout:  # wait until a worker's training process reports
            if "epoch  1/2" in line:
                break
        else:
            pytest.fail(f"no training line: {proc.stderr.read()}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 143
        assert "stopped by SIGTERM" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    def marked() -> list[psutil.Process]:
        found = []
        for p in psutil.process_iter():
            try:
                if p.environ().get("BLURUTILS_TEST_MARK") == mark:
                    found.append(p)
            except psutil.Error:
                pass
        return found

    gone, alive = psutil.wait_procs(marked(), timeout=30)
    assert alive == [], [p.cmdline() for p in alive]
