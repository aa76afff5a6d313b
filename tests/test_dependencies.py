"""requirements.txt (what `make install` pins) and pyproject.toml (what `pip install .` asks for) name the same
packages, every pin satisfies pyproject's specifier, and every third-party module the code imports is declared."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_PACKAGES = ("common", "data_prep", "recipe", "model_card", "bench", "demo")
FIRST_PARTY = {*RUNTIME_PACKAGES, "tests", "tools"}
# Installed by tools/install.sh before requirements.txt (CPU or CUDA build), so listed in neither file.
LEFT_OUT = {"torch"}


def pinned() -> dict[str, Requirement]:
    """requirements.txt as name -> Requirement (comments and blank lines skipped)."""
    reqs = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            req = Requirement(text)
            reqs[canonicalize_name(req.name)] = req
    return reqs


def declared() -> tuple[dict[str, Requirement], dict[str, Requirement]]:
    """pyproject.toml's runtime dependencies and its `test` extra, each as name -> Requirement."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def by_name(items: list[str]) -> dict[str, Requirement]:
        return {canonicalize_name(Requirement(i).name): Requirement(i) for i in items}

    return by_name(project["dependencies"]), by_name(project["optional-dependencies"]["test"])


def test_both_files_name_the_same_packages() -> None:
    runtime, test = declared()
    assert not set(runtime) & set(test), "a package is both a runtime and a test dependency"
    assert set(pinned()) - set(runtime) - set(test) == set(), "pinned in requirements.txt, missing in pyproject.toml"
    assert (set(runtime) | set(test)) - set(pinned()) == set(), "in pyproject.toml, not pinned in requirements.txt"


def test_every_pin_satisfies_pyproject() -> None:
    runtime, test = declared()
    wanted = {**runtime, **test}
    for name, req in pinned().items():
        (spec,) = req.specifier  # one exact pin per line: the reproducible install
        assert spec.operator == "==", f"requirements.txt: {req} is not pinned with =="
        assert name in wanted, f"requirements.txt pins {req}, pyproject.toml does not list it"
        assert wanted[name].specifier.contains(spec.version, prereleases=True), (
            f"requirements.txt pins {req}, pyproject.toml asks for {wanted[name]}"
        )


def imported_modules(folders: list[Path]) -> set[str]:
    """Top-level names of every `import x` / `from x import` in the .py files under `folders` (absolute only)."""
    names = set()
    for folder in folders:
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - FIRST_PARTY


@pytest.mark.parametrize("scope", ["runtime", "tests"])
def test_every_imported_distribution_is_declared(scope: str) -> None:
    runtime, test = declared()
    allowed = set(runtime) | LEFT_OUT | (set(test) if scope == "tests" else set())
    folders = [ROOT / p for p in RUNTIME_PACKAGES] if scope == "runtime" else [ROOT / "tests", ROOT / "tools"]
    providers = importlib.metadata.packages_distributions()
    undeclared = {}
    for module in sorted(imported_modules([f for f in folders if f.is_dir()])):
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        if dists and not dists & allowed:
            undeclared[module] = sorted(dists)
    assert undeclared == {}, f"imported by {scope} code but not declared in pyproject.toml: {undeclared}"
