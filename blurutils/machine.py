"""What this machine can hold: the memory limit, and the frame layout that fits it.

A dense autoencoder on the paper's 100x200 frames has 42.4 million parameters; training
it with Adam holds weights, gradients and two moment estimates (four float32 copies)
on top of TensorFlow's own memory, more than mybinder.org's 2 GB per session allows
(measured in ``docs/BENCHMARKS.md``), so there the notebooks switch to the ``half`` layout (50x100 frames: the same
architecture with a quarter of the parameters) and say so.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

#: Below this limit (GB) the ``auto`` layout is ``half``: notebooks 03-05 train paper-size
#: dense models in the kernel, and 03 peaks near 5 GB (docs/teaching.md, "The labs").
PAPER_LAYOUT_NEEDS_GB = 6.0
LAYOUT_CHOICES = ("auto", "paper", "half")
_CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"),                    # cgroup v2
                  Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))  # cgroup v1


def memory_limit_gb() -> float:
    """The memory this process may use, in GB: the container's limit if one is set
    (Binder, Docker, Kubernetes), else the machine's physical memory."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = physical
    for path in _CGROUP_LIMITS:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            limit = min(limit, int(text))  # "max" (v2) or a huge number (v1): no limit
    return limit / 1e9


def frame_layout_for(choice: str = "auto", limit_gb: float | None = None) -> str:
    """``paper`` or ``half``: ``choice`` itself, or for ``auto`` whichever fits memory."""
    if choice not in LAYOUT_CHOICES:
        raise ConfigError(f"frame layout {choice!r}: expected one of {', '.join(LAYOUT_CHOICES)}")
    if choice != "auto":
        return choice
    limit = memory_limit_gb() if limit_gb is None else limit_gb
    return "paper" if limit >= PAPER_LAYOUT_NEEDS_GB else "half"


def describe_layout(layout: str, limit_gb: float | None = None) -> str:
    """One sentence for a notebook: which layout, and why."""
    limit = memory_limit_gb() if limit_gb is None else limit_gb
    if layout == "half":
        return (f"This machine allows {limit:.1f} GB: the paper's 100x200 dense models need "
                f"~{PAPER_LAYOUT_NEEDS_GB:.0f} GB here, so frames are 50x100 (the same "
                "architecture, a quarter of the parameters; Blur Factors are not comparable "
                "with the paper's). Set FRAME_LAYOUT = 'paper' on a larger machine.")
    return (f"Frames are the paper's 100x200 (this machine allows at least "
            f"{PAPER_LAYOUT_NEEDS_GB:.0f} GB).")


def describe_machine() -> dict[str, object]:
    """What a measured time was measured on: CPU model and count, memory, platform."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        memory = round(pages * size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "memory_gib": memory,
            "platform": platform.platform(), "python": platform.python_version(),
            "cpu_flags": cpu_flags()}


# ------------------------------------------------------------------- what made a number

#: The packages whose version can move a number of the study, each with the
#: distribution names it is installed under (the first one found is recorded).
NUMERIC_PACKAGES: dict[str, tuple[str, ...]] = {
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tensorflow-macos"),
    "keras": ("keras",),
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "opencv": ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless",
               "opencv-contrib-python"),
    "scikit-image": ("scikit-image",),
    "pandas": ("pandas",),
}
#: Instruction-set flags (``/proc/cpuinfo``) that decide which kernels TensorFlow's
#: oneDNN/XLA and OpenCV pick, and so the last bits of a float: x86 and Arm.
ISA_FLAGS = ("sse4_1", "sse4_2", "avx", "f16c", "fma", "avx2", "avx_vnni", "avx512f",
             "avx512dq", "avx512cd", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
             "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8",
             "asimd", "asimdhp", "asimddp", "sve", "sve2", "bf16", "i8mm")
_CPUINFO = Path("/proc/cpuinfo")


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that touch a number, by distribution name
    (``None``: not installed), read from the package metadata without importing them."""
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for label, names in NUMERIC_PACKAGES.items():
        for name in names:
            try:
                versions[name] = metadata.version(name)
                break
            except metadata.PackageNotFoundError:
                continue
        else:
            versions[names[0]] = None
    return versions


def cpu_flags(cpuinfo: Path | str = _CPUINFO) -> list[str]:
    """The CPU's instruction-set flags among :data:`ISA_FLAGS`, in that order (empty
    where ``/proc/cpuinfo`` cannot be read, e.g. macOS): results may differ in their last
    bits between CPUs that differ here."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return []
    found: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86, Arm
            found.update(value.split())
            break
    return [flag for flag in ISA_FLAGS if flag in found]


def environment_differences(before: dict, now: dict) -> tuple[list[str], list[str]]:
    """What differs between two ``run_info.json`` records in what can move a number:
    the package versions and the CPU's instruction-set flags, as two parallel lists of
    short phrases (``before``'s, ``now``'s).  Empty when ``before`` recorded neither."""
    old_pkgs, new_pkgs = before.get("packages"), now.get("packages")
    was, has = [], []
    if isinstance(old_pkgs, dict) and isinstance(new_pkgs, dict):
        old_by, new_by = _by_label(old_pkgs), _by_label(new_pkgs)
        for label in NUMERIC_PACKAGES:
            a, b = old_by.get(label), new_by.get(label)
            if a != b:
                was.append(_package_phrase(label, a))
                has.append(_package_phrase(label, b))
    old_flags = (before.get("machine") or {}).get("cpu_flags")
    new_flags = (now.get("machine") or {}).get("cpu_flags")
    if isinstance(old_flags, list) and old_flags and isinstance(new_flags, list) \
            and set(old_flags) != set(new_flags):
        gone = [f for f in old_flags if f not in new_flags]
        extra = [f for f in new_flags if f not in old_flags]
        if gone and extra:
            was.append(f"a CPU with {' '.join(gone)}")
            has.append(f"a CPU with {' '.join(extra)} instead")
        elif gone:
            was.append(f"a CPU with {' '.join(gone)}")
            has.append(f"a CPU without {' '.join(gone)}")
        else:
            was.append(f"a CPU without {' '.join(extra)}")
            has.append(f"a CPU with {' '.join(extra)}")
    return was, has


def _by_label(packages: dict) -> dict[str, tuple[str, object]]:
    """``{label: (distribution, version)}`` of a recorded ``packages`` dict."""
    out = {}
    for label, names in NUMERIC_PACKAGES.items():
        for name in names:
            if name in packages:
                out[label] = (name, packages[name])
                break
    return out


def _package_phrase(label: str, entry: tuple[str, object] | None) -> str:
    if entry is None:
        return f"{label} (not recorded)"
    name, version = entry
    shown = label if name in (label, NUMERIC_PACKAGES[label][0]) else name
    return f"{shown} {version}" if version else f"{shown} (not installed)"


def package_version() -> str:
    """blurutils' own version, from the installed package's metadata (pyproject.toml is
    the one place it is written); "unknown" when running from a tree not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("blurutils")
    except PackageNotFoundError:
        return "unknown"
