"""Train a study's runs on a Dask cluster: this machine's cores, lab machines or SLURM.

:class:`DaskExecutor` implements :class:`blurutils.study.RunExecutor`.  Every run that
is not finished yet becomes one Dask task; the task trains the run in a fresh process
of its own (:func:`blurutils.isolation.run_in_child`, exactly as without Dask), so
TensorFlow's memory goes back after every run.  Results land in each run's folder of
the (shared) results folder, written atomically as always.

Safe on shared storage: a task first takes the run's claim, an exclusive file lock in
the run's folder (:func:`train_claimed`), and trains only if the run is still not
finished once it holds it.  Two workers, or two machines on one file system, never
train the same run; one that finds it done returns at once.

GPU-ready: on a worker that sees several GPUs each run's training process gets one
(``CUDA_VISIBLE_DEVICES``, claimed machine-wide with a lock per GPU), so concurrent runs
spread over the GPUs instead of all piling onto the first.  Nothing else changes on a
GPU (XLA as configured, float32: mixed precision is never switched on).

Dask is imported only when an executor connects; ``docs/cluster.md`` shows local, SSH
and SLURM clusters.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import re
import shutil
import subprocess
import tempfile
import uuid
import zlib
from pathlib import Path
from typing import Callable, Iterator

from .errors import BlurUtilsError, ConfigError, MachineError
from .paths import LOCK_NAME

#: Schemes ``--dask-scheduler`` accepts (Dask's own; no scheme means tcp).
SCHEDULER_SCHEMES = ("tcp", "tls", "ucx", "ws", "wss")
#: Most local workers ``--dask-workers`` starts: a typo must not fork a thousand processes.
MAX_LOCAL_WORKERS = 256
#: Environment variable naming the folder of the per-GPU lock files (default: the temp folder).
GPU_LOCK_DIR_ENV = "BLURUTILS_GPU_LOCK_DIR"


class ClusterError(MachineError):
    """A run failed on the cluster, or the cluster cannot be reached (exit status 1)."""


# --------------------------------------------------------------------------- claims

def train_claimed(job, *, report: Callable[[str], None],
                  train: Callable[..., None] | None = None,
                  finished: Callable[[object], bool] | None = None) -> bool:
    """Train ``job`` unless it is finished, holding the run's claim (an exclusive file
    lock in its folder) from the check to the end of training.  Returns whether this
    call trained it.

    A second claimant waits (saying so once through ``report``) and then finds the run
    finished, so a run is trained once however many workers reach it.  ``train`` and
    ``finished`` default to training in a fresh process and
    :func:`blurutils.study.run_is_finished`; tests pass their own.
    """
    from filelock import FileLock, Timeout

    if finished is None:
        from .study import run_is_finished as finished
    train = train or train_in_child
    run_dir = Path(job.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # A new lock object each call: claims in one process exclude each other too.
    lock = FileLock(str(run_dir / LOCK_NAME), thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        report(f"{job.run.name:<22} claimed by another worker; waiting for it to finish")
        lock.acquire()
    try:
        if finished(job):
            report(f"{job.run.name:<22} already done (by another worker); reusing its results")
            return False
        train(job, report=report)
        return True
    finally:
        lock.release()


def train_in_child(job, *, report: Callable[[str], None],
                   env: dict[str, str | None] | None = None) -> None:
    """Train ``job`` with :func:`blurutils.study.execute_run` in a fresh process whose
    environment differs from this one by ``env`` (a value of None removes the name)."""
    from .isolation import run_in_child
    from .study import execute_run

    run_in_child(run_with_env, dict(env or {}), pickle.dumps((execute_run, (job,))),
                 name=job.run.name, report=report)


def run_with_env(env: dict[str, str | None], call: bytes, *,
                 report: Callable[[str], None]) -> None:
    """In a fresh process: change the environment by ``env`` (None removes a name)
    before TensorFlow loads, then run ``call``, a pickled ``(function, args)``, as
    ``function(*args, report=report)``.  (NumPy and OpenCV are loaded already:
    ``import blurutils`` loads them; the thread settings matter to TensorFlow.)"""
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    function, args = pickle.loads(call)
    function(*args, report=report)


# --------------------------------------------------------------------------- GPUs

def visible_gpus(environ: dict[str, str] | None = None) -> list[str]:
    """The GPUs this machine's processes may use, as ``CUDA_VISIBLE_DEVICES`` names them:
    its list when set, else one index per GPU ``nvidia-smi`` lists, else none."""
    environ = os.environ if environ is None else environ
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        ids = [part.strip() for part in listed.split(",") if part.strip()]
        # CUDA stops at the first invalid entry; "-1" is the usual "no GPU".
        return [] if not ids or ids[0].startswith("-") else ids
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        done = subprocess.run([smi, "--query-gpu=index", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    if done.returncode != 0:
        return []
    return [line.strip() for line in done.stdout.splitlines() if line.strip().isdigit()]


@contextlib.contextmanager
def gpu_slot(gpus: list[str], key: str = "", lock_dir: Path | str | None = None
             ) -> Iterator[str | None]:
    """Hold one of ``gpus`` for a run (None when there are none).

    A free GPU is taken first; when all are busy the run waits for the one ``key``
    hashes to.  The locks are files in ``lock_dir`` (``$BLURUTILS_GPU_LOCK_DIR``, else
    the temporary folder), so every worker process on the machine shares them.
    """
    if not gpus:
        yield None
        return
    from filelock import FileLock, Timeout

    folder = Path(lock_dir or os.environ.get(GPU_LOCK_DIR_ENV) or
                  Path(tempfile.gettempdir()) / "blurutils-gpu-locks")
    folder.mkdir(parents=True, exist_ok=True)

    def lock_of(gpu: str) -> "FileLock":
        return FileLock(str(folder / f"gpu-{re.sub(r'[^A-Za-z0-9_.-]', '_', gpu)}.lock"),
                        thread_local=False)

    for gpu in gpus:
        lock = lock_of(gpu)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue
        break
    else:
        gpu = gpus[zlib.crc32(key.encode()) % len(gpus)]
        lock = lock_of(gpu)
        lock.acquire()
    try:
        yield gpu
    finally:
        lock.release()


def child_environment(gpu: str | None, n_gpus: int, strip_nanny: bool,
                      environ: dict[str, str] | None = None) -> dict[str, str | None]:
    """What a run's training process changes in the worker's environment.

    * ``CUDA_VISIBLE_DEVICES``: the run's GPU when the worker has several;
    * with ``strip_nanny``, the variables Dask's nanny sets on its workers
      (``OMP_NUM_THREADS=1`` and friends) are removed where they still hold the nanny's
      values, so a run uses its cores as it does without Dask.
    """
    environ = os.environ if environ is None else environ
    changes: dict[str, str | None] = {}
    if strip_nanny:
        import dask

        preset = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
        changes.update({name: None for name, value in preset.items()
                        if environ.get(name) == str(value)})
    if gpu is not None and n_gpus > 1:
        changes["CUDA_VISIBLE_DEVICES"] = gpu
    return changes


# --------------------------------------------------------------------------- the task

def run_task(job, topic: str, index: int, strip_nanny: bool) -> dict:
    """The Dask task of one run (on a worker): claim it, take a GPU if there are any,
    train it in a fresh process.  Report lines go to the caller live (Dask events) and
    again in the result, so none is lost."""
    from distributed import get_worker

    worker = get_worker()
    lines: list[str] = []

    def report(line: str) -> None:
        lines.append(str(line))
        with contextlib.suppress(Exception):  # live lines are a courtesy; the result has all
            worker.log_event(topic, [index, len(lines) - 1, str(line)])

    gpus = visible_gpus()

    def train(job, *, report: Callable[[str], None]) -> None:
        with gpu_slot(gpus, key=job.run.name) as gpu:
            train_in_child(job, report=report,
                           env=child_environment(gpu, len(gpus), strip_nanny))

    trained = train_claimed(job, report=report, train=train)
    return {"lines": lines, "trained": trained}


# --------------------------------------------------------------------------- executor

def _distributed():
    try:
        import distributed
    except ImportError:
        raise ConfigError("the --dask-workers / --dask-scheduler options need "
                          "dask.distributed, which is not installed: "
                          "pip install 'dask[distributed]'") from None
    return distributed


def check_scheduler_address(address: str) -> str:
    """``address`` if it looks like a Dask scheduler's (``[scheme://]host:port``), else a
    one-line ConfigError."""
    text = str(address).strip()
    shown = text[:80]
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    if scheme not in SCHEDULER_SCHEMES:
        raise ConfigError(f"--dask-scheduler {shown!r}: unknown scheme {scheme!r} "
                          f"(expected {', '.join(SCHEDULER_SCHEMES)}, e.g. tcp://host:8786)")
    host, colon, port = rest.rpartition(":")
    if not colon or not host or "/" in rest or any(c.isspace() for c in rest):
        raise ConfigError(f"--dask-scheduler {shown!r}: expected HOST:PORT, e.g. "
                          "tcp://10.0.0.5:8786")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"--dask-scheduler {shown!r}: the port must be a number from 1 to "
                          "65535")
    return text


class DaskExecutor:
    """Runs a study's jobs as Dask tasks, one fresh training process per run.

    ``DaskExecutor(workers=N)`` starts a local cluster on this machine (N worker
    processes, one thread each, on 127.0.0.1, no dashboard unless ``dashboard=True``,
    which puts it on a free port); ``DaskExecutor(scheduler="tcp://host:8786")``
    connects to a running one (SSH, SLURM, ...).  Use it as a context manager, or call
    :meth:`close`: the cluster then outlives several :meth:`run` calls (seeds, audit
    variants).  Dask is imported when the executor is created.
    """

    def __init__(self, workers: int | None = None, *, scheduler: str | None = None,
                 dashboard: bool = False, connect_timeout: float = 30.0):
        if (workers is None) == (scheduler is None):
            raise ConfigError("choose one of --dask-workers (a local cluster) and "
                              "--dask-scheduler (an existing one)")
        if workers is not None:
            if isinstance(workers, bool) or not isinstance(workers, int) \
                    or not 1 <= workers <= MAX_LOCAL_WORKERS:
                raise ConfigError(f"--dask-workers {workers!r}: expected a whole number of "
                                  f"workers from 1 to {MAX_LOCAL_WORKERS}")
        self.workers = workers
        self.scheduler = check_scheduler_address(scheduler) if scheduler is not None else None
        self.dashboard = dashboard
        self.connect_timeout = float(connect_timeout)
        self._dask = _distributed()
        self._cluster = None
        self._client = None

    # -- lifetime
    def __enter__(self) -> "DaskExecutor":
        self.client  # noqa: B018  (start or connect now, before any work)
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def client(self):
        """The Dask client (connecting, or starting the local cluster, on first use)."""
        if self._client is None:
            self._client = self._connect()
        return self._client

    @property
    def dashboard_link(self) -> str | None:
        """The dashboard's address, when there is one."""
        with contextlib.suppress(Exception):
            return self.client.dashboard_link
        return None

    def _connect(self):
        import logging

        import dask

        Client = self._dask.Client
        if self.scheduler is not None:
            try:
                return Client(self.scheduler, timeout=self.connect_timeout,
                              set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise ClusterError(f"cannot reach the Dask scheduler at {self.scheduler} "
                                   f"within {self.connect_timeout:g} s "
                                   f"({str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__})"
                                   ) from None
        # Workers inherit this process's environment as it is: Dask's nanny would set
        # OMP_NUM_THREADS=1 and friends, which a run's training process must not see.
        with dask.config.set({"distributed.nanny.pre-spawn-environ": {}}):
            self._cluster = self._dask.LocalCluster(
                n_workers=self.workers, threads_per_worker=1, processes=True,
                host="127.0.0.1", scheduler_port=0,
                dashboard_address="127.0.0.1:0" if self.dashboard else None,
                memory_limit=0,  # the training happens in child processes the nanny cannot see
                silence_logs=logging.CRITICAL)  # our one-line errors say it
        try:
            return Client(self._cluster, set_as_default=False)
        except BaseException:
            self._close_cluster()
            raise

    def close(self) -> None:
        """Close the client, and the local cluster if this executor started it (its
        workers end, and with them any training process they started)."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        self._close_cluster()

    def _close_cluster(self) -> None:
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()

    # -- work
    def run(self, jobs: list, *, report: Callable[[str], None]) -> None:
        """Train ``jobs`` on the cluster, all submitted at once; return when all are
        done.  Report lines arrive as they are written; the first failed run raises
        one error naming it (the runs not started yet are cancelled)."""
        if not jobs:
            return
        client = self.client
        topic = f"blurutils-{uuid.uuid4().hex}"
        inbox: queue.SimpleQueue = queue.SimpleQueue()
        client.subscribe_topic(topic, lambda event: inbox.put(("line", event[1])))
        futures = {}
        try:
            for index, job in enumerate(jobs):
                future = client.submit(run_task, job, topic, index, self.scheduler is not None,
                                       key=f"blurutils-{job.run.name}-{uuid.uuid4().hex[:8]}",
                                       pure=False)
                future.add_done_callback(lambda _, index=index: inbox.put(("done", index)))
                futures[index] = future
            shown = dict.fromkeys(futures, 0)  # lines reported so far, per run
            left = set(futures)
            while left:
                try:  # a timeout only so that Ctrl-C is seen promptly
                    kind, payload = inbox.get(timeout=1.0)
                except queue.Empty:
                    continue
                if kind == "line":
                    index, number, line = payload
                    if index in left and number >= shown[index]:
                        shown[index] = number + 1
                        report(line)
                    continue
                index = payload
                if index not in left:
                    continue
                result = self._result(futures[index], jobs[index])
                for line in result["lines"][shown[index]:]:
                    report(line)
                left.discard(index)
        except BaseException:
            for future in futures.values():
                with contextlib.suppress(Exception):
                    future.cancel()
            raise
        finally:
            with contextlib.suppress(Exception):
                client.unsubscribe_topic(topic)

    @staticmethod
    def _result(future, job) -> dict:
        name = job.run.name
        try:
            return future.result()
        except BlurUtilsError as exc:  # already one line: keep its class (and exit status)
            if name in str(exc):
                raise
            try:
                named = type(exc)(f"{name}: {exc}")
            except Exception:
                named = ClusterError(f"{name}: {exc}")
            raise named from None
        except Exception as exc:
            message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            raise ClusterError(
                f"{name}: the run failed on the Dask cluster ({type(exc).__name__}"
                f"{': ' + message if message else ''}); finished runs are saved — run the "
                "same command again to resume") from None


def executor_from_options(workers: int | None, scheduler: str | None) -> DaskExecutor | None:
    """The executor ``--dask-workers`` / ``--dask-scheduler`` ask for (None: neither);
    bad values are one-line ConfigErrors, raised before any work starts."""
    if workers is None and scheduler is None:
        return None
    return DaskExecutor(workers, scheduler=scheduler)
