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

#: Below this limit (GB) the ``auto`` layout is ``half``: notebooks 03-05 train a
#: paper-size dense model in the kernel, which needs more (README, "Memory").
PAPER_LAYOUT_NEEDS_GB = 4.0
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
            "platform": platform.platform(), "python": platform.python_version()}
