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


@pytest.mark.parametrize("limit, layout", [(2.0, "half"), (3.9, "half"), (4.0, "paper"),
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
