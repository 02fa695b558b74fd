"""The package's shape: dependencies point one way, modules use each other's public
names only, each name has one address, and the notebooks see a few small faces.

Every ``import`` statement in ``blurutils/`` is read with :mod:`ast` — module level,
function level and ``TYPE_CHECKING`` blocks alike — so an import hidden inside a
function to dodge a circular import still counts as an edge.  The same reading checks
that every loader call is the safe one (Keras's safe mode, ``allow_pickle=False``,
``yaml.safe_load``) and that nothing calls ``eval`` or ``exec``.

The notebooks' code cells are read the same way: the series takes its names from at most
eight modules, the faces (``docs/architecture.md``), each name from one of them, and each
face's ``__all__`` is exactly what the series takes from it.  No internal module passes on
a name it imports from another (a re-export), and nothing — package, tests or notebooks —
takes a name from an internal module other than the one that defines it.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "blurutils"
REPO = PACKAGE.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _module_name(path: Path) -> str:
    return path.stem


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(imported blurutils module, names taken from it) for every import in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
            if node.level == 1 and node.module:
                found.append((node.module.split(".")[0], names))
            elif node.level == 1:  # from . import viz, losses
                found += [(name, []) for name in names]
            elif node.module and node.module.startswith("blurutils."):
                found.append((node.module.split(".")[1], names))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("blurutils."):
                    found.append((alias.name.split(".")[1], []))
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    modules = {_module_name(p) for p in package.glob("*.py")}
    graph = {}
    for path in package.glob("*.py"):
        graph[_module_name(path)] = {m for m, _ in _imports(path)
                                     if m in modules and m != _module_name(path)}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from .b import x\n")
    (tmp_path / "b.py").write_text("def f():\n    from .c import y\n")
    (tmp_path / "c.py").write_text("from typing import TYPE_CHECKING\n"
                                   "if TYPE_CHECKING:\n    from .a import z\n")
    (tmp_path / "d.py").write_text("from . import a\n")
    graph = import_graph(tmp_path)
    assert graph == {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    (tmp_path / "c.py").write_text("y = 1\n")
    assert find_cycle(import_graph(tmp_path)) is None


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_module_uses_another_modules_private_names() -> None:
    offences = []
    for path in PACKAGE.glob("*.py"):
        for module, names in _imports(path):
            offences += [f"{path.name} imports {module}.{n}" for n in names
                         if n.startswith("_") and not n.startswith("__")]
    assert not offences, offences


#: Modules a notebook that trains nothing may import without loading TensorFlow.
TENSORFLOW_FREE = ["blurutils", "blurutils.catalog", "blurutils.config", "blurutils.session",
                   "blurutils.frames", "blurutils.sources", "blurutils.pairs",
                   "blurutils.metrics", "blurutils.viz", "blurutils.reference",
                   "blurutils.evaluation", "blurutils.report", "blurutils.study",
                   "blurutils.baselines", "blurutils.models", "blurutils.audit",
                   "blurutils.figures", "blurutils.lessons", "blurutils.compat",
                   "blurutils.video", "blurutils.autoencoders", "blurutils.measures",
                   "blurutils.experiments"]


@pytest.mark.parametrize("module", TENSORFLOW_FREE)
def test_importing_does_not_load_tensorflow(module: str) -> None:
    code = (f"import sys, {module}\n"
            "loaded = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
            "assert not loaded, loaded\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, f"{module} loads TensorFlow: {done.stderr[-500:]}"


def test_nothing_points_outside_the_repository() -> None:
    """A user's clone has only this repository: no file may send a reader (or a test)
    to a folder beside it or to a path of the machine it was written on."""
    import re

    repo = PACKAGE.parent
    listed = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    # spelt from parts, so that this test does not itself name the folders it looks for
    team, machine = "sha" + "red", "|".join(f"/{d}/" for d in ("work", "root"))
    pattern = re.compile(rf"\.\./{team}|{team}/(reference|paper)|{machine}|/home/\w")
    offences = []
    for name in listed.stdout.split():
        path = repo / name
        if path.suffix not in {".py", ".md", ".ipynb", ".cfg", ".yml", ".yaml", ".toml",
                               ".txt", ".csv", ""} or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            # (the patterns that look for such paths in outputs are allowed)
            if pattern.search(line) and "re.compile" not in line and not line.lstrip(
                    ).startswith('r"'):
                offences.append(f"{name}:{number}: {line.strip()[:100]}")
    assert not offences, offences


# --------------------------------------------------------------------------- safe loaders only

def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = func.value.id if isinstance(func, ast.Attribute) and \
                isinstance(func.value, ast.Name) else ""
            yield node, owner, name


def _keyword(node: ast.Call, key: str):
    for kw in node.keywords:
        if kw.arg == key and isinstance(kw.value, ast.Constant):
            return kw.value.value
    return "missing"


def test_safety_package_source_uses_only_safe_loaders():
    """Every loader call in blurutils/ is the safe one: load_model(safe_mode=True),
    np.load(allow_pickle=False), yaml.safe_load; no pickle, eval or exec; Keras's unsafe
    deserialization is never enabled.

    Two exceptions: ``isolation.py`` pickles a run's job to its own worker process over
    that process's stdin and a private pipe — never to or from a file; ``cluster.py``
    unpickles, inside a Dask task, only the job its own caller pickled (Dask itself moves
    tasks between the machines of a trusted cluster with pickle)."""
    found = {"load_model": 0, "np.load": 0, "yaml.safe_load": 0}
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", "") or ""]
                banned = {"pickle", "dill", "marshal", "shelve"} & set(names)
                assert not banned or (path.name in ("isolation.py", "cluster.py")
                                      and banned == {"pickle"}), path
        for node, owner, name in _calls(tree):
            where = f"{path.name}:{node.lineno}"
            if name == "load_model":
                assert _keyword(node, "safe_mode") is True, where
                found["load_model"] += 1
            elif owner in ("np", "numpy") and name == "load":
                assert _keyword(node, "allow_pickle") is False, where
                found["np.load"] += 1
            elif owner == "yaml":
                assert name in ("safe_load", "safe_dump"), where
                found["yaml.safe_load"] += name == "safe_load"
            assert name not in ("eval", "exec", "enable_unsafe_deserialization"), where
        for node in ast.walk(tree):  # no unsafe YAML loader is even named
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "yaml":
                assert node.attr not in ("Loader", "UnsafeLoader", "FullLoader", "load",
                                         "unsafe_load", "full_load", "load_all"), path.name
    # Configs load through a subclass of yaml.SafeLoader (safe_load's constructors, plus
    # duplicate-key and alias-bomb checks): it counts as a safe_load.
    import yaml

    from blurutils import config as config_module

    assert issubclass(config_module._strict_loader_class(), yaml.SafeLoader)
    found["yaml.safe_load"] += 1
    assert all(found.values()), found


#: The stages of the data's journey, lowest first (docs/architecture.md). A module may
#: import its own stage and lower ones, never a higher one — function-level imports
#: included. Reports sit below the study because a study writes its own report.  The
#: faces that gather names from several stages sit above them all, so no internal module
#: can import one.
STAGES = [
    ("foundation", {"errors", "faults", "paths", "catalog", "machine", "quiet", "isolation",
                    "session", "compat"}),
    ("data", {"download", "synthetic", "videofile", "film", "sources", "frames", "shots"}),
    ("pairs and settings", {"pairs", "config"}),
    ("models and training", {"models", "losses", "blurloss", "training"}),
    ("measures", {"metrics", "statistics", "baselines", "clipstats"}),
    ("evaluation and verdicts", {"evaluation", "reference", "verdicts", "interpolate"}),
    ("views, reports and figures", {"viz", "lessons", "figures", "report", "calibration"}),
    ("study, seeds and audit", {"study", "seeds", "audit", "cluster"}),
    ("faces", {"video", "autoencoders", "measures", "experiments"}),
    ("interface", {"cli", "__init__", "__main__"}),
]


def test_every_module_has_a_stage() -> None:
    staged = [m for _, modules in STAGES for m in modules]
    assert len(staged) == len(set(staged)), "a module is in two stages"
    assert set(staged) == set(import_graph()), (
        f"unstaged: {sorted(set(import_graph()) - set(staged))}; "
        f"gone: {sorted(set(staged) - set(import_graph()))}")


def test_no_stage_imports_a_higher_one() -> None:
    level = {m: i for i, (_, modules) in enumerate(STAGES) for m in modules}
    upward = [f"{a} ({STAGES[level[a]][0]}) imports {b} ({STAGES[level[b]][0]})"
              for a, targets in import_graph().items() for b in targets
              if level[b] > level[a]]
    assert not upward, "; ".join(sorted(upward))


def test_the_stage_check_catches_an_upward_import(tmp_path: Path) -> None:
    (tmp_path / "frames.py").write_text("def f():\n    from .study import run_study\n")
    (tmp_path / "study.py").write_text("")
    graph = import_graph(tmp_path)
    level = {m: i for i, (_, modules) in enumerate(STAGES) for m in modules}
    assert any(level[b] > level[a] for a, t in graph.items() for b in t)


# --------------------------------------------------------------------------- the notebooks' faces

#: Faces that gather what the notebooks use from several internal modules (they define
#: nothing of their own), and the top-level package, which offers a few of their names.
GATHERING = {"video", "autoencoders", "measures", "experiments", "__init__"}
#: Internal modules that are their own face: ``__all__`` is what the notebooks use.
OWN_FACES = {"pairs", "viz", "compat"}
#: Every module the series may take a name from (docs/architecture.md).
FACES = {f"blurutils.{m}" for m in (GATHERING - {"__init__"}) | OWN_FACES}
MAX_SERIES_MODULES = 8
#: Re-exports kept on purpose.  models.py's own code is hashed into every trained run's
#: fingerprint (``builder_source_hash``): dropping these two unused names from its import
#: line would retrain every stored run, so that waits for the next real change to the
#: builders.  Nothing may import them from there (test_imports_come_from_home).
KEPT_REEXPORTS = {"models": {"MODELS", "ModelSpec"}}


def _python_only(source: str) -> str:
    """A cell's source with IPython magics and shell lines commented out."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def _notebook_code(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join(_python_only("".join(c["source"])) for c in cells
                     if c["cell_type"] == "code")


def series_imports(notebooks: list[Path] = NOTEBOOKS,
                   package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> names the notebooks' code cells take from it: ``from blurutils.m import
    n``, and ``m.n`` after ``from blurutils import m`` or ``blurutils.n`` after
    ``import blurutils`` (function level included)."""
    submodules = {p.stem for p in package.glob("*.py")} - {"__init__", "__main__"}
    taken: dict[str, set[str]] = defaultdict(set)
    for path in notebooks:
        tree = ast.parse(_notebook_code(path), filename=str(path))
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                    node.module.split(".")[0] == "blurutils":
                for alias in node.names:
                    if node.module == "blurutils" and alias.name in submodules:
                        aliases[alias.asname or alias.name] = f"blurutils.{alias.name}"
                    else:
                        taken[node.module].add(alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "blurutils":
                        aliases[alias.asname or "blurutils"] = (
                            alias.name if alias.asname else "blurutils")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in aliases:
                module = aliases[node.value.id]
                if module == "blurutils" and node.attr in submodules:
                    continue  # blurutils.viz.x: read below as taken from blurutils.viz
                taken[module].add(node.attr)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                    and isinstance(node.value.value, ast.Name) \
                    and aliases.get(node.value.value.id) == "blurutils" \
                    and node.value.attr in submodules:
                taken[f"blurutils.{node.value.attr}"].add(node.attr)
    return dict(taken)


def face_problems(taken: dict[str, set[str]], exports: dict[str, set[str]],
                  limit: int = MAX_SERIES_MODULES) -> list[str]:
    """What breaks the shape, given what the series takes (:func:`series_imports`) and
    each face's ``__all__`` (``exports``): too many modules, a module that is not a face,
    a name taken from two modules, a name missing from its face's ``__all__``, and an
    ``__all__`` name the series never takes (a face is exactly what its users use)."""
    problems = []
    if len(taken) > limit:
        problems.append(f"the series imports from {len(taken)} modules (at most {limit}): "
                        f"{sorted(taken)}")
    problems += [f"{m} is not a face" for m in sorted(set(taken) - set(exports))]
    owners: dict[str, set[str]] = defaultdict(set)
    for module, names in taken.items():
        for name in names:
            owners[name].add(module)
    problems += [f"{name} is taken from {sorted(modules)}"
                 for name, modules in sorted(owners.items()) if len(modules) > 1]
    for module, names in sorted(taken.items()):
        if module in exports:
            problems += [f"{module}.{n} is not in its __all__"
                         for n in sorted(names - exports[module])]
    for module, names in sorted(exports.items()):
        problems += [f"{module}.__all__ lists {n}, which no notebook takes"
                     for n in sorted(names - taken.get(module, set()))]
    return problems


def _face_exports() -> dict[str, set[str]]:
    return {face: set(importlib.import_module(face).__all__) for face in sorted(FACES)}


def test_the_series_takes_each_name_from_one_small_face() -> None:
    """At most eight modules, all faces; each name from one of them; each face's
    ``__all__`` is exactly what the series takes from it."""
    taken = series_imports()
    assert taken, "no blurutils import found in the notebooks"
    problems = face_problems(taken, _face_exports())
    assert not problems, "\n".join(problems)


def test_each_name_has_one_face() -> None:
    """No name is offered by two faces: a newcomer finds each in one place."""
    owners: dict[str, list[str]] = defaultdict(list)
    for face, names in _face_exports().items():
        for name in names:
            owners[name].append(face)
    assert not {n: f for n, f in owners.items() if len(f) > 1}


def test_the_top_level_offers_face_names_only() -> None:
    """``blurutils`` itself stays small: a few names for a script's first lines, each the
    very object one face offers."""
    import blurutils

    exports = _face_exports()
    names = [n for n in blurutils.__all__ if n != "__version__"]
    assert len(names) <= 12, f"the top level grows: {names}"
    for name in names:
        faces = [f for f, names in exports.items() if name in names]
        assert len(faces) == 1, f"blurutils.{name} is not one face's name: {faces}"
        assert getattr(blurutils, name) is getattr(importlib.import_module(faces[0]), name)


def test_the_face_checks_catch_a_broken_shape(tmp_path: Path) -> None:
    cells = [{"cell_type": "code", "source": source} for source in (
        "from blurutils.video import load_frames, SourceError\n",
        "from blurutils import viz\nfig = viz.show_frames(load_frames())\n",
        "import blurutils\nblurutils.load_frames()\nblurutils.viz.show_split()\n",
        "%matplotlib inline\nfrom blurutils.frames import to_unit_float\n")]
    notebook = tmp_path / "00_x.ipynb"
    notebook.write_text(json.dumps({"cells": cells}))
    taken = series_imports([notebook])
    assert taken == {"blurutils.video": {"load_frames", "SourceError"},
                     "blurutils.viz": {"show_frames", "show_split"},
                     "blurutils": {"load_frames"}, "blurutils.frames": {"to_unit_float"}}
    exports = {"blurutils.video": {"load_frames", "probe_video"},
               "blurutils.viz": {"show_frames", "show_split"}}
    problems = face_problems(taken, exports, limit=3)
    assert problems == [
        "the series imports from 4 modules (at most 3): "
        "['blurutils', 'blurutils.frames', 'blurutils.video', 'blurutils.viz']",
        "blurutils is not a face", "blurutils.frames is not a face",
        "load_frames is taken from ['blurutils', 'blurutils.video']",
        "blurutils.video.SourceError is not in its __all__",
        "blurutils.video.__all__ lists probe_video, which no notebook takes"]
    good = {"blurutils.video": {"load_frames"}, "blurutils.viz": {"show_frames", "show_split"}}
    assert face_problems(good, {"blurutils.video": {"load_frames"},
                                "blurutils.viz": {"show_frames", "show_split"}}) == []


# --------------------------------------------------------------------------- one address per name

def defined_names(path: Path) -> set[str]:
    """Names a module defines itself at module level (def, class, assignment; inside
    top-level ``if``/``try``/``with`` blocks too) — not the names it imports."""
    names: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(n.id for t in targets for n in ast.walk(t)
                             if isinstance(n, ast.Name))
            elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For)):
                for block in (node.body, getattr(node, "orelse", []),
                              getattr(node, "finalbody", [])):
                    visit(block)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body)
    return names


def _dunder_all(tree: ast.Module) -> list[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return [e.value for e in node.value.elts]
    return []


def reexports(package: Path = PACKAGE, kept: dict[str, set[str]] | None = None) -> list[str]:
    """Names an internal module passes on without defining them: a name imported at module
    level from another package module and never used there, or an ``__all__`` entry the
    module does not define.  Gathering faces are exempt: passing names on is their job."""
    found = []
    for path in sorted(package.glob("*.py")):
        module = path.stem
        if module in GATHERING:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        imported = set()
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and ((node.level == 1 and node.module) or (
                    node.module or "").startswith("blurutils.")):
                imported |= {a.asname or a.name for a in node.names}
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        unused = imported - used - (kept or {}).get(module, set())
        found += [f"{module} imports {n} and never uses it" for n in sorted(unused)]
        own = defined_names(path)
        found += [f"{module}.__all__ lists {n}, defined elsewhere"
                  for n in _dunder_all(tree) if n not in own]
    return found


def imports_not_from_home(files: list[Path], package: Path = PACKAGE) -> list[str]:
    """``file: module.name`` for every name taken from an internal package module that
    does not define it (the gathering faces may be imported from freely)."""
    internal = {p.stem for p in package.glob("*.py")} - GATHERING - {"__main__"}
    homes = {m: defined_names(package / f"{m}.py") for m in internal}
    found = []
    for path in files:
        in_package = path.parent == package
        source = _notebook_code(path) if path.suffix == ".ipynb" else path.read_text(
            encoding="utf-8")
        for node in ast.walk(ast.parse(source, filename=str(path))):
            if not isinstance(node, ast.ImportFrom):
                continue
            if in_package and node.level == 1 and node.module:
                module = node.module.split(".")[0]
            elif node.level == 0 and (node.module or "").startswith("blurutils."):
                module = node.module.split(".")[1]
            else:
                continue
            if module in homes:
                found += [f"{path.name}: {module}.{a.name}" for a in node.names
                          if a.name not in homes[module]]
    return found


def test_no_internal_module_reexports() -> None:
    problems = reexports(kept=KEPT_REEXPORTS)
    assert not problems, "\n".join(problems)
    for module, names in KEPT_REEXPORTS.items():  # the exceptions are still real
        still = set(reexports(kept={})) & {f"{module} imports {n} and never uses it"
                                           for n in names}
        assert len(still) == len(names), f"{module} no longer re-exports {names}: " \
                                         "remove it from KEPT_REEXPORTS"


def test_imports_come_from_home() -> None:
    """The package, the tests and the notebooks take each name from the module that
    defines it, or from a face."""
    files = sorted(PACKAGE.glob("*.py")) + sorted((REPO / "tests").glob("*.py")) + NOTEBOOKS
    found = imports_not_from_home(files)
    assert not found, "\n".join(found)


def test_the_reexport_checks_catch_a_reexport(tmp_path: Path) -> None:
    package = tmp_path / "blurutils"
    package.mkdir()
    (package / "a.py").write_text("x = 1\nif True:\n    y = 2\n")
    (package / "b.py").write_text("from .a import x, y\n__all__ = ['x', 'z']\nz = y\n")
    (package / "c.py").write_text("def f():\n    from .b import x, z\n")
    (package / "video.py").write_text("from .a import x\n__all__ = ['x']\n")  # a face: fine
    user = tmp_path / "test_user.py"
    user.write_text("from blurutils.b import z\nfrom blurutils.a import x\n"
                    "from blurutils.video import x\nfrom blurutils.b import x\n")
    assert reexports(package) == ["b imports x and never uses it",
                                  "b.__all__ lists x, defined elsewhere"]
    assert reexports(package, kept={"b": {"x"}}) == ["b.__all__ lists x, defined elsewhere"]
    assert imports_not_from_home([package / "c.py", user], package) == [
        "c.py: b.x", "test_user.py: b.x"]
