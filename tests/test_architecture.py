"""The package's shape: dependencies point one way, and modules use each other's public
names only.

Every ``import`` statement in ``blurutils/`` is read with :mod:`ast` — module level,
function level and ``TYPE_CHECKING`` blocks alike — so an import hidden inside a
function to dodge a circular import still counts as an edge.
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
