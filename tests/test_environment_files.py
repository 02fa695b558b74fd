"""The three dependency lists agree: requirements.txt, environment.yml, pyproject.toml.

* requirements.txt and environment.yml's pip section list exactly the same
  requirements (names and version specifiers), apart from environment.yml's ``-e .``;
* every runtime dependency in pyproject's ``[project].dependencies`` appears in both
  with the same specifier;
* environment.yml pins Python 3.11, which pyproject's ``requires-python`` admits;
* every requirement line in both files carries a comment saying why it is there.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements.txt"
ENVIRONMENT = ROOT / "environment.yml"
PYPROJECT = ROOT / "pyproject.toml"
EDITABLE = "-e ."


def _key(req: Requirement) -> tuple[str, str, tuple[str, ...], str]:
    """What must agree between lists: name, specifier, extras and marker."""
    return (canonicalize_name(req.name), str(SpecifierSet(str(req.specifier))),
            tuple(sorted(req.extras)), str(req.marker or ""))


def _index(reqs: list[Requirement], where: str) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for req in reqs:
        name = canonicalize_name(req.name)
        assert name not in out, f"{where}: {req.name} is listed twice"
        out[name] = _key(req)
    return out


def requirement_lines() -> list[tuple[str, str]]:
    """(requirement text, comment) for every requirement line of requirements.txt."""
    lines = []
    for raw in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        text, _, comment = raw.partition("#")
        if text.strip():
            lines.append((text.strip(), comment.strip()))
    return lines


def environment() -> dict:
    return yaml.safe_load(ENVIRONMENT.read_text(encoding="utf-8"))


def pip_section() -> list[str]:
    pips = [d["pip"] for d in environment()["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pips) == 1, "environment.yml needs exactly one pip: section"
    assert all(isinstance(item, str) for item in pips[0])
    return pips[0]


def pyproject() -> dict:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def requirements_txt() -> dict[str, tuple]:
    texts = [text for text, _ in requirement_lines()]
    assert EDITABLE not in texts
    return _index([Requirement(t) for t in texts], "requirements.txt")


def environment_pip() -> dict[str, tuple]:
    items = [item.strip() for item in pip_section()]
    assert items.count(EDITABLE) == 1, "environment.yml should install blurutils with -e ."
    return _index([Requirement(i) for i in items if i != EDITABLE], "environment.yml")


def pyproject_deps() -> dict[str, tuple]:
    return _index([Requirement(d) for d in pyproject()["project"]["dependencies"]],
                  "pyproject.toml")


# --------------------------------------------------------------------------- agreement

def test_requirements_and_environment_list_the_same() -> None:
    req, env = requirements_txt(), environment_pip()
    assert set(req) == set(env), (
        f"only in requirements.txt: {sorted(set(req) - set(env))}; "
        f"only in environment.yml: {sorted(set(env) - set(req))}")
    for name in req:
        assert req[name] == env[name], f"{name}: {req[name]} vs {env[name]}"


@pytest.mark.parametrize("where", ["requirements.txt", "environment.yml"])
def test_every_runtime_dependency_agrees(where: str) -> None:
    other = requirements_txt() if where == "requirements.txt" else environment_pip()
    deps = pyproject_deps()
    assert deps, "pyproject.toml lists no dependencies"
    for name, key in deps.items():
        assert name in other, f"{name} (pyproject runtime dependency) missing from {where}"
        assert other[name] == key, f"{name}: pyproject {key} vs {where} {other[name]}"


def test_every_requirement_is_a_valid_pinned_line() -> None:
    # Every package gets a lower bound or a pin, so a fresh install is reproducible.
    for text, _ in requirement_lines():
        req = Requirement(text)
        assert str(req.specifier), f"requirements.txt: {text} has no version specifier"


def test_python_version() -> None:
    deps = environment()["dependencies"]
    pythons = [d for d in deps if isinstance(d, str) and re.match(r"python\b", d)]
    assert pythons == ["python=3.11"]
    assert "pip" in deps
    requires = SpecifierSet(pyproject()["project"]["requires-python"])
    assert Version("3.11") in requires


# --------------------------------------------------------------------------- comments

def test_every_requirements_txt_line_is_commented() -> None:
    lines = requirement_lines()
    assert len(lines) >= len(pyproject_deps())
    for text, comment in lines:
        assert len(comment) >= 3, f"requirements.txt: {text!r} has no explanatory comment"


def test_every_environment_pip_line_is_commented() -> None:
    raw = ENVIRONMENT.read_text(encoding="utf-8").splitlines()
    items = pip_section()
    for item in items:
        matches = [line for line in raw
                   if re.match(rf"^\s*-\s+{re.escape(item)}\s*(#|$)", line)]
        assert len(matches) == 1, f"environment.yml: cannot find the line for {item!r}"
        _, _, comment = matches[0].partition("#")
        assert len(comment.strip()) >= 3, f"environment.yml: {item!r} has no comment"
