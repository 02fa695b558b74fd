"""The package's shape: dependencies point one way, and modules use each other's public
names only.

Every ``import`` statement in ``blurutils/`` is read with :mod:`ast` — module level,
function level and ``TYPE_CHECKING`` blocks alike — so an import hidden inside a
function to dodge a circular import still counts as an edge.  The same reading checks
that every loader call is the safe one (Keras's safe mode, ``allow_pickle=False``,
``yaml.safe_load``) and that nothing calls ``eval`` or ``exec``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "blurutils"


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
                   "blurutils.baselines", "blurutils.models", "blurutils.audit"]


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
#: included. Reports sit below the study because a study writes its own report.
STAGES = [
    ("foundation", {"errors", "faults", "paths", "catalog", "machine", "quiet", "isolation",
                    "session", "compat"}),
    ("data", {"download", "synthetic", "videofile", "film", "sources", "frames", "shots"}),
    ("pairs and settings", {"pairs", "config"}),
    ("models and training", {"models", "losses", "blurloss", "training"}),
    ("measures", {"metrics", "statistics", "baselines", "clipstats"}),
    ("evaluation and verdicts", {"evaluation", "reference", "verdicts", "interpolate"}),
    ("reports and figures", {"viz", "report", "calibration"}),
    ("study, seeds and audit", {"study", "seeds", "audit", "cluster"}),
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
