#!/usr/bin/env python3
"""The Binder check: every notebook at its defaults, in order, under a REAL memory limit.

``python benchmarks/binder_memory.py [NOTEBOOK ...] [--limit 2G] [--out FILE]``
(``make binder-check``; ``make binder-check BINDER_NOTEBOOKS="00 02"`` for some).

mybinder.org gives a session 2 GB for everything in it.  Here each notebook runs with
papermill, at its default parameters, in a process that the kernel enforces the limit on,
together with its kernel and every process they start (training workers, Dask): one
memory cgroup per notebook.  The notebooks share one fresh data and results folder, in
order, as on a new Binder session (08 reads what 07 trained).  Recorded per notebook:
its run time, the cgroup's peak (what the limit counts, the page cache included: the
kernel reclaims that before it kills anything), the peak summed resident memory of the
process tree (polled every 0.1 s), and the processes the kernel killed for memory.

How the limit is made, the first that works:

1. a cgroup folder (root): cgroup v2 (``memory.max``, ``memory.swap.max = 0``) or v1
   (``memory.limit_in_bytes``, ``memory.memsw.limit_in_bytes``), the runner moved into it
   before it starts; the folder is bind-mounted over ``/sys/fs/cgroup`` (v2) or
   ``/sys/fs/cgroup/memory`` (v1) in a private mount namespace, so the notebooks read the
   limit where a container shows it and ``FRAME_LAYOUT = "auto"`` picks what it picks on
   Binder;
2. ``systemd-run --scope -p MemoryMax=...`` (``--user`` when not root), where systemd is
   the init system;
3. otherwise it stops and says why (``--no-limit`` measures without a limit).

Where the notebooks cannot see the limit (2., or 1. without the mount), those declaring
``FRAME_LAYOUT`` get ``FRAME_LAYOUT = "half"``, what ``"auto"`` picks under 4 GB; the
table says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NB_DIR = REPO / "notebooks"
MB = 2**20
ENV_KEYS = ("BLURUTILS_DATA_DIR", "BLURUTILS_RESULTS_DIR")


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]?)i?B?\s*", text, re.I)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a size such as 2G or 1536M")
    scale = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[match.group(2).upper()]
    return int(float(match.group(1)) * scale)


def find_notebooks(names: list[str]) -> list[Path]:
    """The notebooks named (``00``, ``02_preprocess_frames``, a path), in series order;
    all of them when none is named."""
    series = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return series
    chosen = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and path.is_file():
            chosen.append(path.resolve())
            continue
        stem = path.name.removesuffix(".ipynb")
        hits = [p for p in series if p.stem == stem or p.stem.split("_", 1)[0] == stem]
        if len(hits) != 1:
            raise SystemExit(f"binder-check: no notebook {name!r} "
                             f"(one of: {', '.join(p.stem for p in series)})")
        chosen.append(hits[0])
    return sorted(dict.fromkeys(chosen), key=lambda p: p.name)


# --------------------------------------------------------------------------- limiters
def own_cgroup(controller: str | None) -> str:
    """This process's cgroup path in the v1 hierarchy of ``controller`` (None: v2)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (controller is None and controllers == "") or \
                (controller is not None and controller in controllers.split(",")):
            return path
    raise OSError(f"no {controller or 'v2'} cgroup in /proc/self/cgroup")


@dataclass
class CgroupLimiter:
    """A memory cgroup per notebook, made and read by this (root) process."""

    version: int
    parent: Path       # the folder the per-notebook cgroups go into
    mount_point: Path  # where the notebook should see its cgroup's files
    limit: int
    visible: bool = False
    groups: list[Path] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"cgroup v{self.version} folder under {self.parent}"

    def files(self) -> dict[str, str]:
        if self.version == 2:
            return {"limit": "memory.max", "swap": "memory.swap.max", "peak": "memory.peak",
                    "current": "memory.current", "events": "memory.events"}
        return {"limit": "memory.limit_in_bytes", "swap": "memory.memsw.limit_in_bytes",
                "peak": "memory.max_usage_in_bytes", "current": "memory.usage_in_bytes",
                "events": "memory.oom_control"}

    def create(self, label: str) -> Path:
        group = self.parent / f"binder-check-{os.getpid()}-{label}"
        group.mkdir()
        self.groups.append(group)
        names = self.files()
        (group / names["limit"]).write_text(str(self.limit))
        if (group / names["swap"]).exists():  # no swap: Binder has none
            (group / names["swap"]).write_text("0" if self.version == 2 else str(self.limit))
        if int((group / names["limit"]).read_text().strip()) > self.limit:
            raise OSError(f"{group}: the limit did not hold")
        return group

    def enter(self, group: Path):
        """A preexec_fn: move the new process into ``group`` before it runs anything."""
        def move() -> None:
            (group / "cgroup.procs").write_text(str(os.getpid()))
        return move

    def prefix(self, group: Path) -> list[str]:
        """What the runner is started through: the private mount that shows the limit."""
        if not self.visible:
            return []
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount --bind "$1" "$2" || exit 97; shift 2; exec "$@"', "binder-check",
                str(group), str(self.mount_point)]

    def read(self, group: Path) -> dict[str, int | None]:
        names = self.files()
        peak = None
        try:
            peak = int((group / names["peak"]).read_text().split()[0])
        except (OSError, ValueError):
            pass
        ooms = 0
        try:
            for line in (group / names["events"]).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    ooms = int(value)
        except OSError:
            pass
        return {"peak": peak, "oom_kills": ooms}

    def remove(self, group: Path) -> None:
        """End what is left in ``group`` (processes this script started) and remove it."""
        for _ in range(50):
            try:
                pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
            except OSError:
                pids = []
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        for _ in range(50):
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)
        if group in self.groups:
            self.groups.remove(group)


def cgroup_limiter(limit: int) -> tuple[CgroupLimiter | None, str]:
    """A working cgroup limiter, or None and why not."""
    if os.geteuid() != 0:
        return None, "not root (a cgroup folder needs root)"
    root = Path("/sys/fs/cgroup")
    candidates: list[tuple[int, Path, Path]] = []
    if (root / "cgroup.controllers").is_file():  # the unified (v2) hierarchy
        if "memory" in (root / "cgroup.controllers").read_text().split():
            try:
                candidates.append((2, root / own_cgroup(None).lstrip("/"), root))
            except OSError:
                pass
            candidates.append((2, root, root))
    if (root / "memory" / "memory.limit_in_bytes").is_file():  # v1
        try:
            candidates.append((1, root / "memory" / own_cgroup("memory").lstrip("/"),
                               root / "memory"))
        except OSError:
            pass
        candidates.append((1, root / "memory", root / "memory"))
    reasons = []
    for version, parent, mount_point in candidates:
        limiter = CgroupLimiter(version, parent, mount_point, limit)
        try:
            group = limiter.create("probe")
        except OSError as exc:
            reasons.append(f"v{version} {parent}: {exc.strerror or exc}")
            for g in list(limiter.groups):
                limiter.remove(g)
            continue
        try:  # does a process put there stay there, and can it see the limit?
            limiter.visible = True  # try the private mount
            cmd = limiter.prefix(group) + ["cat", str(limiter.mount_point / limiter.files()["limit"])]
            probe = subprocess.run(cmd, preexec_fn=limiter.enter(group), capture_output=True,
                                   text=True, timeout=30)
            limiter.visible = probe.returncode == 0 and probe.stdout.strip() == str(limit)
            check = subprocess.run(["cat", "/proc/self/cgroup"], preexec_fn=limiter.enter(group),
                                   capture_output=True, text=True, timeout=30)
            if group.name not in check.stdout:
                reasons.append(f"v{version} {parent}: a process moved there does not stay")
                continue
        except (OSError, subprocess.SubprocessError) as exc:
            reasons.append(f"v{version} {parent}: {exc}")
            continue
        finally:
            limiter.remove(group)
        return limiter, ""
    return None, "; ".join(reasons) or "no memory cgroup hierarchy under /sys/fs/cgroup"


@dataclass
class SystemdLimiter:
    limit: int
    user: bool
    visible: bool = False

    @property
    def name(self) -> str:
        return f"systemd-run{' --user' if self.user else ''} --scope -p MemoryMax"

    def create(self, label: str) -> None:
        return None

    def enter(self, group):
        return None

    def prefix(self, group) -> list[str]:
        return ["systemd-run", *(["--user"] if self.user else []), "--scope", "--quiet",
                "--collect", "-p", f"MemoryMax={self.limit}", "-p", "MemorySwapMax=0", "--"]

    def read(self, group) -> dict[str, int | None]:
        return {"peak": None, "oom_kills": None}  # the runner reads its own scope

    def remove(self, group) -> None:
        pass


def systemd_limiter(limit: int) -> tuple[SystemdLimiter | None, str]:
    if not Path("/run/systemd/system").is_dir() or shutil.which("systemd-run") is None:
        return None, "systemd is not the init system here"
    limiter = SystemdLimiter(limit, user=os.geteuid() != 0)
    try:
        probe = subprocess.run(limiter.prefix(None) + ["true"], capture_output=True, text=True,
                               timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"systemd-run: {exc}"
    if probe.returncode != 0:
        return None, f"systemd-run: {probe.stderr.strip().splitlines()[-1:]}"
    return limiter, ""


# --------------------------------------------------------------------------- runner
def own_scope_peak() -> tuple[int | None, int | None]:
    """Inside a systemd scope (v2): its memory.peak and oom_kill count."""
    try:
        base = Path("/sys/fs/cgroup") / own_cgroup(None).lstrip("/")
        peak = int((base / "memory.peak").read_text())
        events = dict(line.split() for line in (base / "memory.events").read_text().splitlines())
        return peak, int(events.get("oom_kill", 0))
    except (OSError, ValueError):
        return None, None


def run_one(source: str, output: str, result: str, parameters: str, scope: bool) -> int:
    """Inside the limit: execute one notebook with papermill, polling the resident memory
    of this process and all its descendants; write the numbers to ``result``."""
    import threading

    import papermill as pm
    import psutil

    me, peak, stop = psutil.Process(), [0], threading.Event()

    def poll() -> None:
        while not stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            peak[0] = max(peak[0], total)
            stop.wait(0.1)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    error, start = None, time.perf_counter()
    try:
        pm.execute_notebook(source, output, parameters=json.loads(parameters),
                            kernel_name="python3", cwd=str(Path(source).parent),
                            progress_bar=False, log_output=False, execution_timeout=None)
    except Exception as exc:  # noqa: BLE001 - reported in the table
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
    seconds = time.perf_counter() - start
    stop.set()
    thread.join()
    record = {"seconds": seconds, "rss_peak": peak[0], "error": error}
    if scope:
        record["cgroup_peak"], record["oom_kills"] = own_scope_peak()
    Path(result).write_text(json.dumps(record))
    return 0 if error is None else 1


# --------------------------------------------------------------------------- the check
def declared_parameters(path: Path) -> set[str]:
    import papermill as pm

    return set(pm.inspect_notebook(str(path)))


def check(notebooks: list[Path], limiter, limit: int, work: Path, timeout: float,
          log=print) -> list[dict]:
    env = dict(os.environ, BLURUTILS_DATA_DIR=str(work / "data"),
               BLURUTILS_RESULTS_DIR=str(work / "results"), PYTHONUNBUFFERED="1")
    rows = []
    for path in notebooks:
        parameters = {}
        if limiter is not None and not limiter.visible and "FRAME_LAYOUT" in declared_parameters(path):
            parameters["FRAME_LAYOUT"] = "half"  # what "auto" picks under 4 GB
        result = work / f"{path.stem}.json"
        output = work / f"{path.stem}.ipynb"
        command = [sys.executable, str(Path(__file__).resolve()), "--run-one", str(path),
                   str(output), str(result), json.dumps(parameters),
                   "--scope" if isinstance(limiter, SystemdLimiter) else "--no-scope"]
        group = limiter.create(path.stem[:2]) if limiter is not None else None
        prefix = limiter.prefix(group) if limiter is not None else []
        log(f"binder-check: {path.name} ...")
        start = time.perf_counter()
        status, measured = "ok", {}
        with open(work / f"{path.stem}.log", "wb") as out:
            proc = subprocess.Popen(prefix + command, cwd=str(REPO), env=env, stdout=out,
                                    stderr=subprocess.STDOUT,
                                    preexec_fn=limiter.enter(group) if group is not None else None,
                                    start_new_session=True)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                status = f"time limit ({timeout:.0f} s)"
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        wall = time.perf_counter() - start
        if limiter is not None:
            measured = limiter.read(group)
            limiter.remove(group)
        record = json.loads(result.read_text()) if result.is_file() else {}
        peak = measured.get("peak") or record.get("cgroup_peak")
        ooms = measured.get("oom_kills")
        if ooms is None:
            ooms = record.get("oom_kills")
        if status == "ok":
            if record.get("error"):
                status = ("killed for memory: " if ooms else "failed: ") + record["error"]
            elif proc.returncode != 0 or not record:
                status = "killed for memory" if ooms else \
                    f"failed (exit {proc.returncode}): {last_line(work / (path.stem + '.log'))}"
            elif ooms:
                status = f"ok, but the kernel killed {ooms} process(es) for memory"
        row = {"notebook": path.stem, "status": status,
               "seconds": record.get("seconds", wall), "wall": wall,
               "cgroup_peak_mb": peak / MB if peak else None,
               "rss_peak_mb": record.get("rss_peak", 0) / MB or None,
               "oom_kills": ooms, "parameters": parameters}
        rows.append(row)
        log(f"binder-check: {path.name}: {status}, {row['seconds']:.0f} s, "
            f"cgroup peak {fmt_mb(row['cgroup_peak_mb'])}, RSS peak {fmt_mb(row['rss_peak_mb'])}")
    return rows


def last_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1].strip()[:200] if lines else "no output"


def fmt_mb(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} MB"


def markdown(rows: list[dict], limiter, limit: int, argv: list[str]) -> str:
    from blurutils.machine import describe_machine

    machine = describe_machine()
    how = limiter.name if limiter is not None else "none (--no-limit): measured, not enforced"
    seen = ("yes: the notebooks read it where a container shows it"
            if limiter is not None and limiter.visible else
            "no: FRAME_LAYOUT = \"half\" passed to the notebooks that declare it")
    lines = [
        "# The Binder check", "",
        f"`python benchmarks/binder_memory.py {' '.join(argv)}` (`make binder-check`) on "
        f"{dt.date.today().isoformat()}: each notebook at its default parameters, in order, "
        f"with its kernel and every process they start under one memory limit of "
        f"**{limit / 2**30:g} GiB** (mybinder.org's), one fresh data and results folder "
        "for the series.", "",
        f"Machine: {machine.get('cpu')}, {machine.get('cpu_count')} cores, "
        f"{machine.get('memory_gib')} GiB. Limit made by: {how}. "
        f"Limit visible to the notebooks: {seen}.", "",
        "| notebook | result | run time | peak, cgroup | peak, resident (process tree) | "
        "killed for memory |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        params = ", ".join(f"{k}={v!r}" for k, v in row["parameters"].items())
        name = f"{row['notebook']}" + (f" ({params})" if params else "")
        ooms = "—" if row["oom_kills"] is None else str(row["oom_kills"])
        lines.append(f"| {name} | {row['status']} | {row['seconds']:.0f} s | "
                     f"{fmt_mb(row['cgroup_peak_mb'])} | {fmt_mb(row['rss_peak_mb'])} | {ooms} |")
    lines += ["",
              "*peak, cgroup*: the most the limit ever counted (resident memory and page "
              "cache: the kernel reclaims cache before it kills a process, so this can sit "
              "near the limit harmlessly). *peak, resident*: the most the runner (papermill), "
              "the kernel and their processes held at once, polled every 0.1 s. *run time*: "
              "the notebook's execution, kernel start included. A notebook passes when it "
              "ends without an error and nothing was killed for memory.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--run-one"]:
        source, output, result, parameters, scope = argv[1:6]
        return run_one(source, output, result, parameters, scope == "--scope")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                        help="00, 02_preprocess_frames or a path (default: all, in order)")
    parser.add_argument("--limit", type=parse_size, default=parse_size("2G"),
                        help="the memory limit (default 2G, mybinder.org's)")
    parser.add_argument("--out", type=Path, default=REPO / "dist" / "binder-check.md",
                        help="the Markdown table (default dist/binder-check.md)")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds per notebook (default 3600)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the executed notebooks, logs and data in this folder")
    parser.add_argument("--no-limit", action="store_true",
                        help="measure without enforcing a limit (where none can be made)")
    args = parser.parse_args(argv)
    notebooks = find_notebooks(args.notebooks)
    limiter, why = (None, "") if args.no_limit else cgroup_limiter(args.limit)
    if limiter is None and not args.no_limit:
        limiter, why_systemd = systemd_limiter(args.limit)
        why = f"{why}; {why_systemd}"
        if limiter is None:
            print("binder-check: cannot enforce a memory limit on this machine: "
                  f"{why}.\nRun it as root where /sys/fs/cgroup is writable (a VM, or a "
                  "container started with --privileged or a delegated cgroup), or where "
                  "systemd is the init system (systemd-run --user --scope works without "
                  "root); or pass --no-limit to measure without a limit.", file=sys.stderr)
            return 2
    if limiter is not None:
        print(f"binder-check: limit {args.limit / 2**30:g} GiB by {limiter.name}; visible to "
              f"the notebooks: {'yes' if limiter.visible else 'no'}")
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        work = args.keep.resolve()
        rows = check(notebooks, limiter, args.limit, work, args.timeout)
    else:
        with tempfile.TemporaryDirectory(prefix="binder-check-") as tmp:
            rows = check(notebooks, limiter, args.limit, Path(tmp), args.timeout)
    text = markdown(rows, limiter, args.limit, argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"binder-check: written to {args.out}")
    return 0 if all(row["status"].startswith("ok") for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
