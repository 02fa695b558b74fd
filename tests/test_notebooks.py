"""The notebook series (``notebooks/NN_*.ipynb``), tested three ways.

1. Structure and hygiene of the committed notebooks (fast, no kernel): one ``parameters``
   cell, the skeleton's sections, a quiet setup cell, a Colab cell, ``python3`` kernelspec,
   execution counts 1..n, no papermill metadata, no errors, stderr, TensorFlow log lines,
   progress-bar debris or machine paths in outputs, a ``solution`` cell after every
   exercise, and enough ``# NBVAL_CHECK_OUTPUT`` cells that a broken pipeline is caught.
2. A smoke run: papermill executes every notebook in order with small parameters
   (``PROFILE="smoke"``, one epoch, 16 frames) into a temporary folder; any error fails.
3. nbval: the notebooks that do not train the 12-run grid (00-06) are re-executed with
   their default parameters and the outputs of the checked cells are compared with the
   committed ones (``--nbval-lax``, paths and durations sanitised by
   ``notebooks/sanitize.cfg``), in a subprocess.  07-09 train the grid or the audit
   (minutes): they run in pass 2 only, and ``make notebooks`` refreshes their outputs.

Passes 2 and 3 point ``BLURUTILS_DATA_DIR`` and ``BLURUTILS_RESULTS_DIR`` at temporary
folders, so they start from nothing, as on a fresh machine, and leave the checkout alone.
The kernel inherits this process's environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NB_DIR = REPO / "notebooks"
SANITIZE = NB_DIR / "sanitize.cfg"
SERIES = ["00_overview", "01_download_video", "02_preprocess_frames", "03_forward_autoencoder",
          "04_backward_autoencoder", "05_bidirectional_autoencoder",
          "06_convolutional_autoencoder", "07_train_all_models", "08_blur_analysis",
          "09_beyond_the_paper"]
NOTEBOOKS = [NB_DIR / f"{name}.ipynb" for name in SERIES]

#: What must never appear in a stored output: TensorFlow's C++ log lines, Keras progress
#: bars, backspaces from progress debris, tracebacks and machine-specific paths.
NOISE = re.compile(r"cpu_feature_guard|oneDNN|I0000|W0000|E0000|━━━━|\x08|/root/|/tmp/|"
                   r"/home/|/work/|Traceback")
TEXT_MIME = ("text/plain", "text/html", "text/markdown", "application/json")
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"

#: Small parameters for the smoke run; each notebook gets those it declares.
SMOKE = {"PROFILE": "smoke", "EPOCHS": 1, "EXERCISE_EPOCHS": 1, "MAX_FRAMES": 16,
         "N_SYNTHETIC": 40, "MODELS": ["Forward", "Convolutional"], "LOSSES": ["MSE", "CP"]}
#: Notebooks nbval re-executes at their defaults: those that train at most one model.
NBVAL_SERIES = [name for name in SERIES
                if name not in ("07_train_all_models", "08_blur_analysis", "09_beyond_the_paper")]


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _headings(nb) -> list[str]:
    return [line.strip() for cell in nb.cells if cell.cell_type == "markdown"
            for line in cell.source.splitlines() if line.startswith("#")]


def _output_texts(nb):
    """(cell index, text) for every textual output of every code cell."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                yield index, output.text
            elif output.output_type in ("execute_result", "display_data"):
                for mime in TEXT_MIME:
                    if mime in output.get("data", {}):
                        value = output.data[mime]
                        yield index, value if isinstance(value, str) else json.dumps(value)
            elif output.output_type == "error":
                yield index, "\n".join(output.get("traceback", [])) + output.get("evalue", "")


nb_param = pytest.mark.parametrize("path", NOTEBOOKS, ids=SERIES)


# --------------------------------------------------------------------------- structure

def test_the_series_is_complete() -> None:
    missing = [p.name for p in NOTEBOOKS if not p.is_file()]
    assert not missing, f"missing notebooks: {missing}"
    assert SANITIZE.is_file()


@nb_param
def test_exactly_one_parameters_cell(path: Path) -> None:
    nb = _read(path)
    cells = [c for c in nb.cells if "parameters" in _tags(c)]
    assert len(cells) == 1, f"{path.name}: {len(cells)} cells tagged 'parameters'"
    assert cells[0].cell_type == "code"
    # Only assignments of literals: papermill injects overrides after it.
    for line in cells[0].source.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert re.match(r"^[A-Z][A-Z0-9_]* = ", line), f"{path.name}: {line!r}"


@nb_param
def test_papermill_reads_every_parameter_with_its_help(path: Path, caplog) -> None:
    """``papermill --help-notebook`` and Jupyter's parameter panels show each knob's
    comment; papermill cannot parse a comment that itself holds ``=``."""
    import papermill as pm

    with caplog.at_level("WARNING", logger="papermill"):
        declared = pm.inspect_notebook(str(path))
    assert not [r.getMessage() for r in caplog.records if "Unable to parse" in r.getMessage()]
    assert declared and all(p["help"] for p in declared.values()), \
        f"{path.name}: a parameter without a comment saying what it does"


@nb_param
def test_skeleton_sections(path: Path) -> None:
    nb = _read(path)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), \
        "the first cell is the title"
    headings = [h.lower() for h in _headings(nb)]
    for wanted in ("## learning objectives", "## prerequisites", "## exercises", "## summary",
                   "## what's next"):
        assert any(h.startswith(wanted) for h in headings), f"{path.name}: no '{wanted}' section"
    order = [next(i for i, h in enumerate(headings) if h.startswith(w))
             for w in ("## learning objectives", "## summary", "## what's next")]
    assert order == sorted(order), f"{path.name}: sections out of order"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "**Run time:**" in text and "@@" not in text, f"{path.name}: run time not filled in"


#: Notebooks whose kernel never loads TensorFlow: every model trains in a worker process
#: (``StudyConfig.isolate_runs``), which keeps 07 inside Binder's 2 GB.
TENSORFLOW_FREE = {"07_train_all_models"}


@nb_param
def test_setup_colab_and_quiet_tensorflow(path: Path) -> None:
    nb = _read(path)
    codes = [c.source for c in nb.cells if c.cell_type == "code"]
    colab = [s for s in codes if "google.colab" in s]
    assert len(colab) == 1 and 'if "google.colab" in sys.modules' in colab[0]
    setup = [s for s in codes if 'os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")' in s]
    assert len(setup) == 1, f"{path.name}: no single setup cell"
    source = setup[0]
    if path.stem in TENSORFLOW_FREE:
        everything = "\n".join(codes)
        for loader in ("quiet_tensorflow", "seed_everything", "import keras", "import tensorflow",
                       "from keras", "from tensorflow", "blurutils.training", "blurutils.models",
                       "blurutils.losses", "blurutils.blurloss"):
            assert loader not in everything, f"{path.name} loads TensorFlow: {loader}"
        assert "seed=SEED" in everything, f"{path.name}: SEED never reaches the study"
        return
    assert source.index('os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")') < \
        source.index("quiet_tensorflow()")
    assert "seed_everything(SEED)" in source
    first_tf = min((i for i, s in enumerate(codes)
                    if re.search(r"^\s*(import|from) (tensorflow|keras)\b", s, re.M)),
                   default=len(codes))
    assert codes.index(source) <= first_tf, "TensorFlow is imported before the setup cell"


@nb_param
def test_metadata_and_execution_counts(path: Path) -> None:
    nb = _read(path)
    spec = nb.metadata.get("kernelspec", {})
    assert spec.get("name") == "python3"
    assert spec.get("display_name") == "Python 3 (ipykernel)"
    assert "papermill" not in nb.metadata
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: execution counts {counts}"
    for cell in nb.cells:
        assert "papermill" not in cell.metadata and "execution" not in cell.metadata


@nb_param
def test_outputs_are_clean(path: Path) -> None:
    nb = _read(path)
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            assert output.output_type != "error", f"{path.name} cell {index}: an error is stored"
            assert not (output.output_type == "stream" and output.name == "stderr"), \
                f"{path.name} cell {index}: stderr output: {output.text[:200]!r}"
    for index, text in _output_texts(nb):
        found = NOISE.findall(text)
        assert not found, f"{path.name} cell {index}: {found[:3]} in {text[:300]!r}"


@nb_param
def test_every_exercise_has_a_solution(path: Path) -> None:
    nb = _read(path)
    starts = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
              and c.source.lstrip().startswith("### Exercise")]
    assert 2 <= len(starts) <= 3, f"{path.name}: {len(starts)} exercises"
    for k, start in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else next(
            i for i, c in enumerate(nb.cells) if i > start and c.cell_type == "markdown"
            and c.source.lstrip().startswith("## "))
        block = nb.cells[start:stop]
        solutions = [c for c in block if c.cell_type == "code" and "solution" in _tags(c)]
        assert len(solutions) == 1, f"{path.name}: exercise at cell {start} has no solution cell"
        reveal = [c for c in block if c.cell_type == "markdown" and "<details>" in c.source]
        assert reveal, f"{path.name}: exercise at cell {start} has no revealable solution"
        code = solutions[0].source.replace(CHECK_MARK + "\n", "")
        assert code.strip() in reveal[0].source, "the revealed solution differs from the executed one"


def test_enough_checked_cells() -> None:
    total = 0
    for path in NOTEBOOKS:
        nb = _read(path)
        checked = [c for c in nb.cells if c.cell_type == "code" and CHECK_MARK in c.source]
        assert len(checked) >= 2, f"{path.name}: only {len(checked)} checked cells"
        for cell in checked:
            assert any(o.output_type in ("stream", "execute_result") for o in cell.outputs), \
                f"{path.name}: a checked cell has no text output"
        total += len(checked)
    assert total >= 25, f"only {total} checked cells in the series"


# --------------------------------------------------------------------------- executions

@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("notebooks")
    dirs = {name: root / name for name in ("data", "results", "executed", "out")}
    for d in dirs.values():
        d.mkdir()
    return dirs


@pytest.fixture
def kernel_env(isolated_data_dir: Path, run_dirs: dict[str, Path],
               monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Data and results folders shared by the notebooks of one module run (07 -> 08)."""
    monkeypatch.setenv("BLURUTILS_DATA_DIR", str(run_dirs["data"]))
    monkeypatch.setenv("BLURUTILS_RESULTS_DIR", str(run_dirs["results"]))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    return run_dirs


@nb_param
def test_smoke_run_with_papermill(path: Path, kernel_env: dict[str, Path]) -> None:
    """Execute the notebook with small parameters; papermill raises on any error."""
    import papermill

    declared = papermill.inspect_notebook(str(path))
    parameters = {key: value for key, value in SMOKE.items() if key in declared}
    if path.stem not in ("07_train_all_models", "08_blur_analysis"):
        parameters.pop("MODELS", None)  # 09 chooses its own models and blur-aware losses
        parameters.pop("LOSSES", None)
    if "OUT" in declared:
        study = path.stem in ("07_train_all_models", "08_blur_analysis")
        parameters["OUT"] = str(kernel_env["out"] / ("study" if study else path.stem))
    output = kernel_env["executed"] / path.name
    papermill.execute_notebook(str(path), str(output), parameters=parameters,
                               kernel_name="python3", cwd=str(NB_DIR), progress_bar=False,
                               log_output=False, request_save_on_cell_execute=False,
                               execution_timeout=1200)
    executed = _read(output)
    for index, text in _output_texts(executed):
        found = NOISE.findall(text)
        assert not found, f"{path.name} cell {index}: {found[:3]} in {text[:300]!r}"


def test_binder_layout_from_07_to_08(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under 4 GB (Binder) the dense models train on 50x100 frames and the conv model on
    100x200: 08 must predict and compare each run in its own layout."""
    import papermill

    monkeypatch.setenv("BLURUTILS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BLURUTILS_RESULTS_DIR", str(tmp_path / "results"))
    parameters = dict(PROFILE="smoke", EPOCHS=1, MAX_FRAMES=16, FRAME_LAYOUT="half",
                      MODELS=["Forward", "Convolutional"], LOSSES=["MSE"],
                      OUT=str(tmp_path / "study"))
    for name in ("07_train_all_models", "08_blur_analysis"):
        papermill.execute_notebook(str(NB_DIR / f"{name}.ipynb"), str(tmp_path / f"{name}.ipynb"),
                                   parameters=parameters, kernel_name="python3", cwd=str(NB_DIR),
                                   progress_bar=False, log_output=False, execution_timeout=1200)
    texts = "\n".join(text for _, text in _output_texts(_read(tmp_path / "08_blur_analysis.ipynb")))
    assert "predictions: Forward-MSE (5, 50, 100), Convolutional-MSE (5, 100, 200)" in texts


def test_stored_outputs_with_nbval(tmp_path: Path) -> None:
    """Re-execute the notebooks that train no grid with their defaults and compare the
    checked outputs."""
    env = dict(os.environ, BLURUTILS_DATA_DIR=str(tmp_path / "data"),
               BLURUTILS_RESULTS_DIR=str(tmp_path / "results"), TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
               "--nbval-sanitize-with", str(SANITIZE),
               *(str(NB_DIR / f"{name}.ipynb") for name in NBVAL_SERIES),
               "-p", "no:cacheprovider", "-q", "-W", "ignore::DeprecationWarning"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=2400)
    assert done.returncode == 0, (f"nbval failed (exit {done.returncode}):\n"
                                  + (done.stdout + done.stderr)[-6000:])
