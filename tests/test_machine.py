"""Memory limits and the frame layout that fits them."""

from __future__ import annotations

import pytest

from blurutils import machine
from blurutils.config import make_config
from blurutils.errors import ConfigError


def test_memory_limit_is_the_smaller_of_the_cgroup_limit_and_physical_memory(tmp_path,
                                                                              monkeypatch):
    physical = machine.memory_limit_gb()
    limit = tmp_path / "memory.max"
    limit.write_text("2147483648\n")       # mybinder.org: 2 GiB
    monkeypatch.setattr(machine, "_CGROUP_LIMITS", (limit,))
    assert machine.memory_limit_gb() == pytest.approx(min(2.147483648, physical))
    limit.write_text("max\n")              # cgroup v2 without a limit
    assert machine.memory_limit_gb() == pytest.approx(physical)
    monkeypatch.setattr(machine, "_CGROUP_LIMITS", (tmp_path / "missing",))
    assert machine.memory_limit_gb() == pytest.approx(physical)


@pytest.mark.parametrize("limit, layout", [(2.0, "half"), (4.0, "half"), (5.9, "half"), (6.0, "paper"),
                                           (24.0, "paper")])
def test_auto_layout_follows_the_memory_limit(limit, layout):
    assert machine.frame_layout_for("auto", limit) == layout
    assert machine.frame_layout_for("paper", 1.0) == "paper"
    assert machine.frame_layout_for("half", 64.0) == "half"


def test_describe_layout_says_why():
    assert "50x100" in machine.describe_layout("half", 2.0)
    assert "2.0 GB" in machine.describe_layout("half", 2.0)
    assert "100x200" in machine.describe_layout("paper", 24.0)


def test_unknown_layout_is_a_config_error():
    with pytest.raises(ConfigError, match="frame layout 'big'"):
        machine.frame_layout_for("big")
    with pytest.raises(ConfigError, match="frame layout 'big'"):
        make_config("smoke", frame_layout="big")


def test_half_layout_study_trains_dense_models_on_50x100_and_conv_on_100x200(tmp_path):
    from blurutils.study import run_study

    result = run_study(make_config("smoke", frame_layout="half", epochs=1, baselines="none",
                                   models=["Forward", "Convolutional"], losses=["MSE"],
                                   out=str(tmp_path)), report=lambda line: None)
    import keras

    dense = keras.models.load_model(tmp_path / "runs" / "Forward-MSE" / "model.keras")
    conv = keras.models.load_model(tmp_path / "runs" / "Convolutional-MSE" / "model.keras")
    assert dense.input_shape == (None, 50, 100, 1)
    assert dense.count_params() < 0.3 * 42_359_968
    assert conv.input_shape == (None, 100, 200, 1)
    assert set(result.table1.paper_row) == {"Forward MLAE - MSE", "Convolutional MLAE - MSE"}


# --------------------------------------------------------------------------- what made a number

def test_cpu_flags_reads_the_isa_flags_that_matter(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU\n"
                       "flags\t\t: fpu sse4_2 avx2 fma avx512f avx512_bf16 amx_tile pni\n\n"
                       "processor\t: 1\nflags\t\t: fpu\n")
    assert machine.cpu_flags(cpuinfo) == ["sse4_2", "fma", "avx2", "avx512f",
                                          "avx512_bf16", "amx_tile"]
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd sve i8mm\n")
    assert machine.cpu_flags(arm) == ["asimd", "sve", "i8mm"]
    assert machine.cpu_flags(tmp_path / "missing") == []


def test_describe_machine_records_the_cpu_flags():
    info = machine.describe_machine()
    assert info["cpu_flags"] == machine.cpu_flags()
    assert all(flag in machine.ISA_FLAGS for flag in info["cpu_flags"])


def test_package_versions_are_the_installed_ones():
    import cv2
    import numpy
    import pandas
    import scipy

    versions = machine.package_versions()
    assert versions["numpy"] == numpy.__version__
    assert versions["pandas"] == pandas.__version__
    assert versions["scipy"] == scipy.__version__
    assert "tensorflow" in versions and "keras" in versions and "scikit-image" in versions
    opencv = [v for k, v in versions.items() if k.startswith("opencv")]
    assert len(opencv) == 1 and opencv[0].startswith(cv2.__version__)


def test_environment_differences_name_only_what_changed():
    before = {"packages": {"tensorflow": "2.20.0", "numpy": "2.3.1", "scipy": "1.17.1",
                           "opencv-python-headless": "5.0.0.93"},
              "machine": {"cpu_flags": ["avx2", "fma", "avx512f"]}}
    now = {"packages": {"tensorflow": "2.21.0", "numpy": "2.3.1", "scipy": "1.17.1",
                        "opencv-python": "5.0.0.93"},
           "machine": {"cpu_flags": ["avx2", "fma"]}}
    was, has = machine.environment_differences(before, now)
    assert was == ["tensorflow 2.20.0", "opencv 5.0.0.93", "a CPU with avx512f"]
    assert has == ["tensorflow 2.21.0", "opencv-python 5.0.0.93", "a CPU without avx512f"]
    assert machine.environment_differences(before, before) == ([], [])
    assert machine.environment_differences({"machine": {}}, now) == ([], [])
