"""Smoke test for benchmarks/bench.py: the code runs on tiny sizes (no timing asserts)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_tiny_run_reports_every_section_and_writes_markdown(bench, tmp_path):
    out = tmp_path / "BENCH.md"
    report = bench.main(["--tiny", "--repeats", "1", "--only", "metrics,frames,training",
                         "--out", str(out)])
    sections = {row.section for row in report.rows}
    assert sections == {"metrics", "frames", "training"}
    assert all(np.isfinite(row.median) and row.median > 0 for row in report.rows)
    names = [row.name for row in report.rows]
    assert any("speed-up over plain Keras" in n for n in names)
    assert any("matmul peak" in n for n in names)
    assert set(report.training_rates) == {"Forward", "Convolutional"}  # for the projection
    assert any("in turn (one thread)" in n for n in names)  # the read-ahead's baseline
    prep = next(r for r in report.rows if "preprocessing alone" in r.name)
    assert "of raw decode" in prep.note  # the CPU bound on extraction
    assert all(rate > 0 for rate in report.training_rates.values())
    text = out.read_text()
    assert "| what | median (min–max) |" in text and "GFLOP/s" in text


def test_per_frame_loop_matches_blur_factor(bench, sample_frames):
    from blurutils.metrics import blur_factor

    np.testing.assert_allclose(bench.per_frame_loop(sample_frames[:10]),
                               blur_factor(sample_frames[:10]), rtol=1e-9)


def test_run_measured_reports_wall_time_and_memory(bench, tmp_path):
    wall, peak, stdout = bench.run_measured(
        [sys.executable, "-c", "x = bytearray(50_000_000); print('done')"], {})
    assert wall > 0 and peak >= 50  # MB: the child allocated 50 MB
    assert stdout == "done\n"
    (tmp_path / "a").write_bytes(b"x" * 2_000_000)
    assert bench.dir_size_mb(tmp_path) == pytest.approx(2.0)


def test_tiny_limits_section_explains_the_dense_step(bench, tmp_path):
    report = bench.main(["--tiny", "--repeats", "1", "--only", "limits", "--out",
                         str(tmp_path / "B.md")])
    names = [row.name for row in report.rows]
    assert any("memory bandwidth" in n for n in names)
    assert any("Adam update alone" in n for n in names)
    assert any("lower bound" in n for n in names)
    bound = next(r for r in report.rows if "lower bound" in r.name)
    assert "share of the matmul peak" in bound.note


def test_rerunning_one_section_keeps_the_others(bench, tmp_path):
    out = tmp_path / "B.md"
    bench.main(["--tiny", "--repeats", "1", "--only", "metrics", "--out", str(out)])
    bench.main(["--tiny", "--repeats", "1", "--only", "limits", "--out", str(out)])
    text = out.read_text()
    assert "## Limits" in text and "## Metrics" in text and "blur_factor" in text
    bench.main(["--tiny", "--repeats", "1", "--only", "metrics", "--out", str(out)])
    text = out.read_text()
    assert text.count("## Metrics") == 1 and text.count("## Limits") == 1


def test_epoch_rates_and_the_paper_projection(bench):
    stdout = "\n".join([
        "Forward-MSE            epoch  1/10  loss 0.1  test loss 0.1    3.0 s     30 frames/s",
        "Forward-MSE            epoch  2/10  loss 0.1  test loss 0.1    0.3 s    300 frames/s",
        "Forward-CP             epoch  2/10  loss -0.9  test loss -0.9  0.3 s    100 frames/s",
        "Bi-Directional-MSLE    epoch 10/10  loss 0.1  test loss 0.1    0.3 s    200 frames/s",
        "Convolutional-MSE      already done; reusing its results",
    ])
    rates = bench.epoch_rates(stdout)
    assert rates == {"Forward": [300.0, 100.0], "Bi-Directional": [200.0]}
    hours, parts = bench.paper_projection({"Forward": 200.0})
    # 12,000 frames -> 11,998 targets, 70% = 8,398 train; 3 losses x 10 epochs at 200/s
    assert hours == pytest.approx(3 * 10 * 8398 / 200 / 3600)
    assert "Forward 200 frames/s" in parts
    with_compile, _ = bench.paper_projection({"Forward": 200.0}, {"Forward": 6.0})
    assert with_compile == pytest.approx(hours + 3 * 6.0 / 3600)
