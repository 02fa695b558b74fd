"""The three dependency lists agree: requirements.txt, environment.yml, pyproject.toml.

* requirements.txt and environment.yml's pip section list exactly the same
  requirements (names and version specifiers), apart from environment.yml's ``-e .``;
* every runtime dependency in pyproject's ``[project].dependencies`` appears in both
  with the same specifier;
* environment.yml pins Python 3.11, which pyproject's ``requires-python`` admits;
* every requirement line in both files carries a comment saying why it is there;
* requirements.lock (what ``make`` installs) pins every package that requirements.txt
  needs with ``==`` and sha256 hashes, at versions that requirements.txt's and
  environment.yml's specifiers admit (the same tensorflow and opencv pins), with no
  machine path or index URL in it, and the Makefile installs from it.
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
LOCK = ROOT / "requirements.lock"
MAKEFILE = ROOT / "Makefile"
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


# --------------------------------------------------------------------------- the lock

#: The environment `make` installs into: the lock is universal (``--universal``), so a
#: package may have one entry per Python version or platform, each behind a marker.
LOCK_TARGET = {"python_version": "3.11", "python_full_version": "3.11.7",
               "sys_platform": "linux", "platform_system": "Linux",
               "platform_machine": "x86_64", "implementation_name": "cpython",
               "platform_python_implementation": "CPython", "os_name": "posix"}


def lock_entries() -> dict[str, tuple[Requirement, list[str]]]:
    """``{name: (requirement, sha256 hashes)}`` for every entry of requirements.lock that
    applies to Python 3.11 on Linux; two entries that both apply are an error."""
    entries: dict[str, tuple[Requirement, list[str]]] = {}
    logical = LOCK.read_text(encoding="utf-8").replace("\\\n", " ")
    for raw in logical.splitlines():
        text = "" if raw.lstrip().startswith("#") else raw.strip()
        if not text:
            continue
        assert not text.startswith("-"), f"requirements.lock: an option line {text!r}"
        spec, *hashes = re.split(r"\s+--hash=", text)
        req = Requirement(spec)
        if req.marker is not None and not req.marker.evaluate(LOCK_TARGET):
            continue  # another Python or platform's entry
        name = canonicalize_name(req.name)
        assert name not in entries, f"requirements.lock: {req.name} is listed twice"
        entries[name] = (req, hashes)
    return entries


def locked_version(entry: tuple[Requirement, list[str]]) -> Version:
    (spec,) = entry[0].specifier
    return Version(spec.version)


def test_the_lock_pins_every_entry_exactly_with_hashes() -> None:
    entries = lock_entries()
    assert len(entries) > 50
    for name, (req, hashes) in entries.items():
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{name}: {req.specifier}"
        assert "*" not in specs[0].version, f"{name}: {req.specifier} is not exact"
        assert hashes, f"requirements.lock: {name} has no hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), (name, hashes)


def test_the_lock_pins_every_requirement_at_a_version_both_lists_admit() -> None:
    entries = lock_entries()
    env = {canonicalize_name(Requirement(i).name): Requirement(i)
           for i in pip_section() if i.strip() != EDITABLE}
    for text, _ in requirement_lines():
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in entries, f"{req.name} (requirements.txt) is not in requirements.lock"
        version = locked_version(entries[name])
        assert req.specifier.contains(version, prereleases=True), (
            f"requirements.lock has {req.name} {version}, outside requirements.txt's "
            f"{req.specifier}: run the command in the lock's first lines again")
        assert env[name].specifier.contains(version, prereleases=True), (
            f"environment.yml's {env[name]} does not admit the lock's {version}")
        for extra in req.extras:  # dask[distributed]: its extra's packages are locked too
            assert extra in entries or extra == "complete", f"{req.name}[{extra}] not locked"


def test_the_exact_pins_agree_in_all_three_files() -> None:
    entries = lock_entries()
    req, env = requirements_txt(), environment_pip()
    for name in ("tensorflow", "opencv-python-headless"):
        pin = str(req[name][1])
        assert pin.startswith("=="), f"requirements.txt should pin {name} exactly: {pin}"
        assert env[name] == req[name], f"{name}: environment.yml {env[name]} vs {req[name]}"
        assert f"=={locked_version(entries[name])}" == pin, (
            f"{name}: requirements.lock {locked_version(entries[name])} vs requirements.txt "
            f"{pin}")


def test_the_lock_names_no_machine_and_how_to_remake_it() -> None:
    text = LOCK.read_text(encoding="utf-8")
    # (machine folders spelt from parts: test_architecture looks for such paths)
    machine_dirs = [f"/{d}/" for d in ("tmp", "opt", "home", "root", "wo" + "rk")]
    for needle in ("file:", *machine_dirs, "--index-url", "--extra-index-url",
                   "--find-links", "-c /"):
        assert needle not in text, f"requirements.lock mentions {needle!r}"
    header = "\n".join(text.splitlines()[:3])
    command = re.search(r"^#\s+(uv pip compile .*)$", header, re.M)
    assert command, "the lock's first lines should give the command that made it"
    for part in ("requirements.txt", "--generate-hashes", "--universal",
                 "-o requirements.lock"):
        assert part in command.group(1), part
    python = re.search(r"--python-version (\S+)", command.group(1))
    assert python and Version(python.group(1)).release[:2] == (3, 11), (
        "the lock is resolved for the Python 3.11 that environment.yml pins")


def test_make_installs_the_lock_with_hashes() -> None:
    text = MAKEFILE.read_text(encoding="utf-8")
    rule = re.search(r"^\$\(STAMP\):(.*)\n((?:\t.*\n)+)", text, re.M)
    assert rule, "Makefile: no $(STAMP) rule"
    assert "requirements.lock" in rule.group(1).split(), "reinstall when the lock changes"
    recipe = rule.group(2)
    assert "pip install --quiet --require-hashes -r requirements.lock" in recipe
    assert "--no-deps -e ." in recipe
    assert "-r requirements.txt" not in recipe
