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


def test_run_measured_does_not_count_the_callers_memory(bench):
    ballast = np.ones(400_000_000 // 8)  # 400 MB resident in this process
    _, peak, _ = bench.run_measured([sys.executable, "-c", "pass"], {})
    assert peak < 150, f"a bare interpreter measured as {peak:.0f} MB"
    del ballast


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
    assert text.count("## Reading these numbers") == 1  # benchmarks/READING.md, once


def test_paper_projection(bench):
    hours, parts = bench.paper_projection({"Forward": 200.0})
    # 12,000 frames -> 11,998 targets; the interleaved split keeps 8,307 to train (70% of
    # the targets less those next to a test block); 3 losses x 10 epochs at 200/s
    assert hours == pytest.approx(3 * 10 * 8307 / 200 / 3600)
    assert "Forward 200 frames/s" in parts
    with_compile, _ = bench.paper_projection({"Forward": 200.0}, {"Forward": 6.0})
    assert with_compile == pytest.approx(hours + 3 * 6.0 / 3600)


def test_tiny_notebooks_section_measures_time_and_memory(bench, tmp_path):
    report = bench.main(["--tiny", "--only", "notebooks", "--out", str(tmp_path / "B.md")])
    rows = {row.name: row for row in report.rows}
    assert set(rows) == {"00_overview: first run", "00_overview: peak memory"}
    peak = rows["00_overview: peak memory"]
    assert 50 < peak.median < 4096 and "Binder's 2 GB" in peak.note  # a kernel was measured
    assert "## Notebooks" in (tmp_path / "B.md").read_text()
