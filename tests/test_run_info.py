"""``run_info.json`` records what can move a number, and a rerun with other versions says so.

Every results folder's ``run_info.json`` holds the installed versions of TensorFlow,
Keras, NumPy, SciPy, OpenCV, scikit-image and pandas and the CPU's instruction-set flags
(``blurutils.machine``).  When a study reruns into a folder whose previous
``run_info.json`` recorded other versions or flags (or, in an empty folder, when the
committed reference results of its profile did), REPORT.md's first line says so; when
they agree, or nothing was recorded, the report is unchanged (byte-identical reruns).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from blurutils import machine, report
from blurutils.config import make_config
from blurutils.report import StudyResult, render_report, rerun_note_lines, write_run_info

NUMERIC = {"tensorflow", "keras", "numpy", "scipy", "scikit-image", "pandas"}


def test_run_info_records_versions_and_cpu_flags(tmp_path: Path):
    path = write_run_info(tmp_path, 12.34, "reproduce --profile smoke")
    info = json.loads(path.read_text())
    assert info["command"] == "reproduce --profile smoke" and info["seconds"] == 12.3
    packages = info["packages"]
    assert NUMERIC <= set(packages)
    assert any(name.startswith("opencv") for name in packages)
    assert packages == machine.package_versions()
    assert packages["numpy"] and packages["pandas"]  # installed, so a version string
    assert info["machine"]["cpu_flags"] == machine.cpu_flags()


def _record(folder: Path, **packages: str | None) -> dict:
    """A run_info.json in ``folder``: this machine's record, with ``packages`` changed."""
    info = {"packages": {**machine.package_versions(), **packages},
            "machine": {**machine.describe_machine()}}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run_info.json").write_text(json.dumps(info))
    return info


@pytest.fixture
def no_reference(monkeypatch):
    """No committed reference for any profile (the checkout's own must not interfere)."""
    monkeypatch.setattr(report, "REFERENCE_FOLDERS", {})


def test_no_note_in_a_fresh_folder_or_with_the_same_versions(tmp_path: Path, no_reference):
    assert rerun_note_lines(tmp_path / "fresh", "standard") == []
    _record(tmp_path / "same")
    assert rerun_note_lines(tmp_path / "same", "standard") == []
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "run_info.json").write_text('{"seconds": 1}')  # before versions
    assert rerun_note_lines(tmp_path / "old", "standard") == []
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run_info.json").write_text("{not json")
    assert rerun_note_lines(tmp_path / "bad", "standard") == []


def test_note_names_the_versions_that_differ_in_one_line(tmp_path: Path, no_reference):
    _record(tmp_path, tensorflow="2.20.0", numpy="1.26.4")
    lines = rerun_note_lines(tmp_path, "standard")
    assert len(lines) == 2 and lines[1] == ""
    note = lines[0]
    assert "\n" not in note
    assert note.startswith("> **Note:** the previous run in this folder was made with ")
    assert "tensorflow 2.20.0, numpy 1.26.4" in note
    now = machine.package_versions()
    assert f"this run has tensorflow {now['tensorflow']}, numpy {now['numpy']}" in note
    assert "numbers may differ as another seed's do" in note
    assert "scipy" not in note  # unchanged packages are not listed


def test_note_names_other_cpu_flags(tmp_path: Path, no_reference):
    info = _record(tmp_path)
    info["machine"]["cpu_flags"] = [*machine.cpu_flags(), "amx_tile_test"]
    (tmp_path / "run_info.json").write_text(json.dumps(info))
    (note, _) = rerun_note_lines(tmp_path, "standard")
    assert "a CPU with amx_tile_test" in note and "a CPU without amx_tile_test" in note


def test_note_falls_back_to_the_committed_reference(tmp_path: Path, monkeypatch):
    repo = tmp_path / "repo"
    _record(repo / "reference_results" / "standard", numpy="1.0.0")
    monkeypatch.setattr("blurutils.paths.REPO_DIR", repo)
    note = rerun_note_lines(tmp_path / "fresh", "standard")[0]
    assert "the committed reference results (`reference_results/standard/`) were made " \
           "with numpy 1.0.0" in note
    assert rerun_note_lines(tmp_path / "fresh", "demo") == []  # no reference for it
    _record(tmp_path / "same")  # a previous run in the folder takes precedence
    assert rerun_note_lines(tmp_path / "same", "standard") == []


def _minimal_result(out: Path) -> StudyResult:
    empty = pd.DataFrame({"paper_row": [], "mean": []})
    return StudyResult(config=make_config("smoke", out=str(out)), out=out, metrics={},
                       histories={}, table1=empty, table2=empty, comparison=empty,
                       verdicts=empty)


def test_the_note_is_the_first_line_of_the_report(tmp_path: Path, no_reference):
    truth = {"mean": 1e-3, "std": 1e-4, "median": 1e-3, "n": 3}
    result = _minimal_result(tmp_path)
    plain = render_report(result, truth, {})
    assert plain.startswith("# Blur in autoencoder video interpolation")
    _record(tmp_path, keras="3.0.0")
    noted = render_report(result, truth, {})
    first, second, rest = noted.split("\n", 2)
    assert first.startswith("> **Note:**") and "keras 3.0.0" in first and second == ""
    assert rest == plain


def test_the_report_sets_the_dense_runs_beside_copy_and_blend(tmp_path: Path, no_reference):
    from blurutils.report import dense_fidelity_lines

    diagnostics = pd.DataFrame({
        "method": ["Forward MLAE - MSE", "Forward MLAE - CP", "Convolutional MLAE - MSE",
                   "Copy previous", "Linear blend", "Mean frame"],
        "psnr_own_db": [18.7, 26.0, 24.2, 22.7, 25.3, 18.0]})
    line = dense_fidelity_lines(diagnostics)[0]
    # the conv run (24.2 dB) is not a dense run; one dense run of two is below copying
    assert "18.7–26.0 dB" in line and "22.7 dB for copying" in line
    assert "1 of 2 dense runs are below copying, 1 below blending" in line
    assert "(-6.6 to +0.7 dB from blending)" in line
    assert dense_fidelity_lines(diagnostics[diagnostics["method"] != "Linear blend"]) == []
    result = _minimal_result(tmp_path)
    result.diagnostics = diagnostics.assign(learned="yes")
    truth = {"mean": 1e-3, "std": 1e-4, "median": 1e-3, "n": 3}
    assert line in render_report(result, truth, {})
