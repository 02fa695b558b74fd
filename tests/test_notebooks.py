"""The notebook series (``notebooks/NN_*.ipynb``), tested three ways.

1. Structure and hygiene of the committed notebooks (fast, no kernel): a title cell with
   a Colab badge, one ``parameters`` cell, the skeleton's sections (References included),
   a quiet setup cell, a Colab cell, ``python3`` kernelspec, no papermill metadata, no
   errors, stderr, TensorFlow log lines, progress-bar debris or machine paths in outputs,
   no link or path outside the repository, and no TensorFlow in the notebooks that train
   nothing.  The conventions of the exercises and of nbval:

   * an exercise is a markdown cell ``### Exercise k: <title>``, then a scaffold code cell
     tagged ``exercise`` that runs as stored (the student completes it), then exactly one
     code cell tagged ``solution``, collapsed (``"jupyter": {"source_hidden": true,
     "outputs_hidden": true}``) and stored without outputs or execution count, so nothing
     of it shows until asked for; no ``<details>`` copies; no later cell uses a name that
     only a solution defines;
   * execution counts run 1..n over the executed cells (solutions: null);
   * nbval compares the cells tagged ``nbval-check-output`` (no ``# NBVAL_CHECK_OUTPUT``
     comments in sources), at least 2 per notebook and 25 in the series.
2. A smoke run: papermill executes every notebook in order with small parameters
   (``PROFILE="smoke"``, one epoch, 16 frames) into a temporary folder; any error fails.
   Solutions run too.
3. nbval: every notebook is re-executed with its default parameters and the outputs of
   the checked cells are compared with the committed ones (``--nbval-lax``, paths and
   durations sanitised by ``notebooks/sanitize.cfg``), in a subprocess: 00-02 here, 03-06
   (one model each on the film excerpt, minutes) in ``tests/test_notebooks_models.py`` and
   07-09 (the excerpt's grid and the audit) in ``tests/test_notebooks_grid.py``, so that
   other workers run them.  A checked cell
   shows only what is the same on any CPU: shapes, counts, exact arithmetic on the
   frames, and conclusions far from their threshold; numbers that come out of training
   are shown in cells nbval does not check (``ONEDNN_MAX_CPU_ISA=AVX2 make nbval`` runs
   the whole series as on a CPU without AVX-512).

Passes 2 and 3 point ``BLURUTILS_DATA_DIR`` and ``BLURUTILS_RESULTS_DIR`` at temporary
folders, so they start from nothing, as on a fresh machine, and leave the checkout alone.
The kernel inherits this process's environment.
"""

from __future__ import annotations

import ast
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
#: (Machine folders are spelt from parts so that this file does not itself name them.)
MACHINE_DIRS = "|".join(f"/{name}/" for name in ("root", "tmp", "home", "work"))
NOISE = re.compile(r"cpu_feature_guard|oneDNN|I0000|W0000|E0000|━━━━|\x08|"
                   + MACHINE_DIRS + "|Traceback")
TEXT_MIME = ("text/plain", "text/html", "text/markdown", "application/json")
#: nbval compares the outputs of the cells with this tag (``--nbval-lax``).
CHECK_TAG = "nbval-check-output"
#: The comment form of the same marker: not used, the tag replaces it.
CHECK_COMMENT = "NBVAL_CHECK_OUTPUT"
#: The Colab address of a notebook (``blurutils/blurutils`` is a placeholder, as in README).
COLAB_URL = "https://colab.research.google.com/github/blurutils/blurutils/blob/main/notebooks/{}.ipynb"
PAPER_LINK = "docs/paper.md"
AUTHORS_REPO = "https://github.com/lucasmccabe/FillNet"
#: What no notebook may point to: the workspace outside the repository, machine paths.
OUTSIDE = re.compile(r"(?<![\w.-])" + "sha" + "red/|" + MACHINE_DIRS + "|/Users/")

#: Small parameters for the smoke run; each notebook gets those it declares.
SMOKE = {"PROFILE": "smoke", "EPOCHS": 1, "EXERCISE_EPOCHS": 1, "MAX_FRAMES": 16,
         "N_SYNTHETIC": 40, "MODELS": ["Forward", "Convolutional"], "LOSSES": ["MSE", "CP"]}
#: Notebooks nbval re-executes at their defaults here: those that train nothing (00-02);
#: 03-06 (one model each, minutes on the film excerpt) are in tests/test_notebooks_models.py
#: and 07-09 in tests/test_notebooks_grid.py, so that other workers run them.
NBVAL_SERIES = ["00_overview", "01_download_video", "02_preprocess_frames"]


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


def _is_solution(cell) -> bool:
    return cell.cell_type == "code" and "solution" in _tags(cell)


def _section(nb, heading: str) -> str:
    """The markdown text of the ``## heading`` section (up to the next ``## ``)."""
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    match = re.search(rf"^## {re.escape(heading)}[^\n]*\n(.*?)(?=^## |\Z)", text, re.M | re.S | re.I)
    return match.group(1) if match else ""


@nb_param
def test_skeleton_sections(path: Path) -> None:
    nb = _read(path)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), \
        "the first cell is the title"
    headings = [h.lower() for h in _headings(nb)]
    sections = ("## learning objectives", "## prerequisites", "## exercises", "## summary",
                "## references", "## what's next")
    for wanted in sections:
        assert any(h.startswith(wanted) for h in headings), f"{path.name}: no '{wanted}' section"
    order = [next(i for i, h in enumerate(headings) if h.startswith(w)) for w in sections]
    assert order == sorted(order), f"{path.name}: sections out of order"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "**Run time:**" in text and "@@" not in text, f"{path.name}: run time not filled in"


@nb_param
def test_title_cell_has_a_colab_badge(path: Path) -> None:
    """The first cell: title, a Colab badge for this notebook, one paragraph."""
    first = _read(path).cells[0].source
    badge = f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({COLAB_URL.format(path.stem)})"
    assert badge in first, f"{path.name}: no Colab badge for this notebook in the first cell"
    prose = [p for p in re.split(r"\n\s*\n", first) if p.strip()
             and not p.lstrip().startswith(("#", "[!["))]
    assert len(prose) == 1, f"{path.name}: the first cell should hold one paragraph, has {len(prose)}"


@nb_param
def test_references_section(path: Path) -> None:
    """The paper (through docs/paper.md), the authors' repository and further reading."""
    refs = _section(_read(path), "References")
    assert PAPER_LINK in refs, f"{path.name}: References does not link {PAPER_LINK}"
    assert AUTHORS_REPO in refs, f"{path.name}: References does not link {AUTHORS_REPO}"
    links = set(re.findall(r"\]\(([^)\s]+)\)|<(https?://[^>\s]+)>", refs))
    targets = {a or b for a, b in links}
    assert len(targets) >= 3, f"{path.name}: References needs further reading beyond the paper"


@nb_param
def test_summary_has_written_takeaways(path: Path) -> None:
    summary = _section(_read(path), "Summary")
    bullets = [line for line in summary.splitlines() if re.match(r"\s*(-|\*|\d+\.)\s+\w", line)]
    assert len(bullets) >= 2, f"{path.name}: the summary needs written takeaways (a list)"


@nb_param
def test_nothing_points_outside_the_repository(path: Path) -> None:
    """No ``shared/`` or machine paths in any source, and every relative link resolves
    to a file of the repository."""
    nb = _read(path)
    for index, cell in enumerate(nb.cells):
        found = OUTSIDE.findall(cell.source)
        assert not found, f"{path.name} cell {index}: {found[:3]} points outside the repository"
        if cell.cell_type != "markdown":
            continue
        for target in re.findall(r"\]\(([^)\s]+)\)", cell.source):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            resolved = (NB_DIR / target.split("#")[0]).resolve()
            assert resolved.is_relative_to(REPO) and resolved.exists(), \
                f"{path.name} cell {index}: link {target!r} leads nowhere in the repository"


#: Notebooks whose kernel never loads TensorFlow: 00-02 train nothing; 07's runs each train
#: in a worker process (``StudyConfig.isolate_runs``), which keeps it inside Binder's 2 GB.
TENSORFLOW_FREE = {"00_overview", "01_download_video", "02_preprocess_frames",
                   "07_train_all_models"}
#: What loads TensorFlow when a notebook uses it.
TF_LOADERS = ("quiet_tensorflow", "seed_everything", "import keras", "import tensorflow",
              "from keras", "from tensorflow", "blurutils.training", "blurutils.models",
              "blurutils.losses", "blurutils.blurloss")


def _setup_cell(nb) -> str:
    setup = [c.source for c in nb.cells if c.cell_type == "code" and c.source.startswith("# Setup")]
    assert len(setup) == 1, "no single setup cell (a code cell starting '# Setup')"
    return setup[0]


@nb_param
def test_setup_colab_and_quiet_tensorflow(path: Path) -> None:
    nb = _read(path)
    codes = [c.source for c in nb.cells if c.cell_type == "code"]
    colab = [s for s in codes if "google.colab" in s]
    assert len(colab) == 1 and 'if "google.colab" in sys.modules' in colab[0]
    source = _setup_cell(nb)
    if path.stem in TENSORFLOW_FREE:
        everything = "\n".join(codes)
        for loader in TF_LOADERS:
            assert loader not in everything, f"{path.name} loads TensorFlow: {loader}"
        uses = [s for s in codes if re.search(r"\bSEED\b", s) and s != _parameters(nb)]
        assert uses, f"{path.name}: SEED is never used"
        return
    assert 'os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")' in source
    assert source.index('os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")') < \
        source.index("quiet_tensorflow()")
    assert "seed_everything(SEED)" in source
    first_tf = min((i for i, s in enumerate(codes)
                    if re.search(r"^\s*(import|from) (tensorflow|keras)\b", s, re.M)),
                   default=len(codes))
    assert codes.index(source) <= first_tf, "TensorFlow is imported before the setup cell"


def _parameters(nb) -> str:
    return next(c.source for c in nb.cells if "parameters" in _tags(c))


def _import_lines(nb) -> list[str]:
    """Every import statement of the notebook's code cells (the Colab cell left out)."""
    lines = []
    for cell in nb.cells:
        if cell.cell_type != "code" or "google.colab" in cell.source:
            continue
        try:
            tree = ast.parse(_python_only(cell.source))
        except SyntaxError:
            continue
        lines += [ast.unparse(node) for node in ast.walk(tree)
                  if isinstance(node, (ast.Import, ast.ImportFrom))]
    return lines


@pytest.mark.parametrize("name", sorted(TENSORFLOW_FREE))
def test_tensorflow_free_imports_load_no_tensorflow(name: str) -> None:
    """What these notebooks import (blurutils modules included) loads neither TensorFlow
    nor Keras: checked in a fresh interpreter."""
    imports = _import_lines(_read(NB_DIR / f"{name}.ipynb"))
    code = "\n".join(["import sys", *imports,
                      "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
                      "('tensorflow', 'keras'))", "print(','.join(bad[:5]))"])
    done = subprocess.run([sys.executable, "-c", code], cwd=NB_DIR, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, MPLBACKEND="Agg"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert not done.stdout.strip(), f"{name}: its imports load {done.stdout.strip()}"


@nb_param
def test_metadata_and_execution_counts(path: Path) -> None:
    nb = _read(path)
    spec = nb.metadata.get("kernelspec", {})
    assert spec.get("name") == "python3"
    assert spec.get("display_name") == "Python 3 (ipykernel)"
    assert "papermill" not in nb.metadata
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code" and not _is_solution(c)]
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


#: An axis label that is a raw column name (``psnr_mean``) rather than words with units.
RAW_LABEL = re.compile(r"""\b[xy]?label\s*=\s*["']([a-z0-9]+_[a-z0-9_]+)["']""")


@nb_param
def test_axis_labels_are_words(path: Path) -> None:
    for index, cell in enumerate(_read(path).cells):
        if cell.cell_type == "code":
            found = RAW_LABEL.findall(cell.source)
            assert not found, f"{path.name} cell {index}: axis labelled with a column name {found}"


def _exercise_blocks(nb):
    """(k, heading index, cells of the exercise up to the next exercise or ``## `` section)."""
    starts = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
              and c.source.lstrip().startswith("### Exercise")]
    for k, start in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else next(
            (i for i, c in enumerate(nb.cells) if i > start and c.cell_type == "markdown"
             and c.source.lstrip().startswith("## ")), len(nb.cells))
        yield k + 1, start, nb.cells[start:stop]


@nb_param
def test_exercises_scaffold_then_hidden_solution(path: Path) -> None:
    """### Exercise k: title -> a scaffold tagged ``exercise`` that runs as stored -> one
    collapsed ``solution`` cell stored without outputs."""
    nb = _read(path)
    blocks = list(_exercise_blocks(nb))
    assert 2 <= len(blocks) <= 3, f"{path.name}: {len(blocks)} exercises"
    for k, start, block in blocks:
        heading = block[0].source.lstrip().splitlines()[0]
        assert re.match(rf"### Exercise {k}: \S", heading), \
            f"{path.name}: exercise heading {heading!r} should read '### Exercise {k}: <title>'"
        codes = [c for c in block if c.cell_type == "code"]
        scaffolds = [c for c in codes if "exercise" in _tags(c)]
        solutions = [c for c in codes if _is_solution(c)]
        assert len(scaffolds) == 1, f"{path.name} exercise {k}: {len(scaffolds)} 'exercise' cells"
        assert len(solutions) == 1, f"{path.name} exercise {k}: {len(solutions)} 'solution' cells"
        scaffold, solution = scaffolds[0], solutions[0]
        assert block.index(scaffold) < block.index(solution), \
            f"{path.name} exercise {k}: the solution comes before the scaffold"
        code = [line for line in _python_only(scaffold.source).splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
        assert code, f"{path.name} exercise {k}: the scaffold has no code to complete"
        assert scaffold.execution_count is not None and not any(
            o.output_type == "error" for o in scaffold.outputs), \
            f"{path.name} exercise {k}: the scaffold must run as stored"
        hidden = solution.metadata.get("jupyter", {})
        assert hidden.get("source_hidden") is True and hidden.get("outputs_hidden") is True, \
            f"{path.name} exercise {k}: the solution is not collapsed (source and outputs)"
        assert solution.outputs == [] and solution.execution_count is None, \
            f"{path.name} exercise {k}: the solution is stored with outputs"
        assert CHECK_TAG not in _tags(solution), \
            f"{path.name} exercise {k}: a solution cannot be checked (it has no stored outputs)"


@nb_param
def test_no_visible_copies_of_solutions(path: Path) -> None:
    nb = _read(path)
    for index, cell in enumerate(nb.cells):
        assert "<details" not in cell.source, f"{path.name} cell {index}: a <details> block"
        assert CHECK_COMMENT not in cell.source, \
            f"{path.name} cell {index}: '# {CHECK_COMMENT}' comment; tag the cell '{CHECK_TAG}'"
    solutions = [c for c in nb.cells if _is_solution(c)]
    assert all(c.cell_type == "code" for c in nb.cells if "solution" in _tags(c))
    assert solutions, f"{path.name}: no solution cells"


def _python_only(source: str) -> str:
    """``source`` with IPython magics and shell lines commented out, so ``ast`` reads it."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def _names(source: str) -> tuple[set[str], set[str]]:
    """(names bound, names read) at any level of a cell."""
    try:
        tree = ast.parse(_python_only(source))
    except SyntaxError:
        return set(), set()
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return bound, read


@nb_param
def test_later_cells_do_not_need_the_solutions(path: Path) -> None:
    """A student who never opens a solution can run everything after it: no cell outside
    the solutions reads a name that only a solution defines."""
    nb = _read(path)
    defined: set[str] = set()
    only_in_solutions: set[str] = set()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        bound, read = _names(cell.source)
        if _is_solution(cell):
            only_in_solutions |= bound - defined
            continue
        needs = (read - bound) & only_in_solutions
        assert not needs, f"{path.name} cell {index} uses {sorted(needs)}, defined only in a solution"
        defined |= bound
        only_in_solutions -= bound


def test_enough_checked_cells() -> None:
    total = 0
    for path in NOTEBOOKS:
        nb = _read(path)
        checked = [c for c in nb.cells if CHECK_TAG in _tags(c)]
        assert all(c.cell_type == "code" for c in checked), f"{path.name}: a tagged markdown cell"
        assert len(checked) >= 2, f"{path.name}: only {len(checked)} checked cells"
        for cell in checked:
            assert any(o.output_type in ("stream", "execute_result") for o in cell.outputs), \
                f"{path.name}: a checked cell has no text output"
        total += len(checked)
    assert total >= 25, f"only {total} checked cells in the series"


def test_the_overview_maps_the_whole_series() -> None:
    nb = _read(NB_DIR / "00_overview.ipynb")
    assert "09" in nb.cells[0].source, "00's first cell does not mention notebook 09"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    missing = [name for name in SERIES if name not in text]
    assert not missing, f"00's map leaves out {missing}"


def test_clean_solutions_hides_them_and_renumbers() -> None:
    """``notebooks/clean_solutions.py`` (run by ``make notebooks``) after an execution."""
    sys.path.insert(0, str(NB_DIR))
    try:
        import clean_solutions
    finally:
        sys.path.remove(str(NB_DIR))
    out = nbformat.v4.new_output
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# title"),
        nbformat.v4.new_code_cell("1", execution_count=1,
                                  outputs=[out("execute_result", {"text/plain": "1"}, execution_count=1)]),
        nbformat.v4.new_code_cell("print(2)", execution_count=2, metadata={"tags": ["solution"]},
                                  outputs=[out("stream", name="stdout", text="2\n")]),
        nbformat.v4.new_code_cell("3", execution_count=3,
                                  outputs=[out("execute_result", {"text/plain": "3"}, execution_count=3)]),
    ])
    cleaned = clean_solutions.clean(nb)
    solution = cleaned.cells[2]
    assert solution.outputs == [] and solution.execution_count is None
    assert solution.metadata["jupyter"] == {"source_hidden": True, "outputs_hidden": True}
    assert [c.execution_count for c in cleaned.cells[1::2]] == [1, 2]
    assert cleaned.cells[3].outputs[0].execution_count == 2


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
    """Under 6 GB (Binder) the dense models train on 50x100 frames and the conv model on
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
    assert "predictions: Forward-MSE (6, 50, 100), Convolutional-MSE (6, 100, 200)" in texts


def run_nbval(names: list[str], tmp_path: Path) -> None:
    """Re-execute ``names`` with their defaults, from empty data and results folders, and
    compare the checked outputs with the stored ones (as ``make nbval`` does)."""
    env = dict(os.environ, BLURUTILS_DATA_DIR=str(tmp_path / "data"),
               BLURUTILS_RESULTS_DIR=str(tmp_path / "results"), TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
               "--nbval-sanitize-with", str(SANITIZE),
               *(str(NB_DIR / f"{name}.ipynb") for name in names),
               "-p", "no:cacheprovider", "-q", "-W", "ignore::DeprecationWarning"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=2400)
    assert done.returncode == 0, (f"nbval failed (exit {done.returncode}):\n"
                                  + (done.stdout + done.stderr)[-6000:])


def test_stored_outputs_with_nbval(tmp_path: Path) -> None:
    """Re-execute the notebooks that train nothing with their defaults and compare the
    checked outputs (03-06 and 07-09: their own modules, on other workers)."""
    run_nbval(NBVAL_SERIES, tmp_path)
