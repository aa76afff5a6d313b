"""The packages' import graph, read from the source with `ast` (every import statement, also those inside functions):
no cycle, no module imports a command-line module, and data flows data_prep -> recipe -> model_card."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "data_prep", "recipe", "model_card", "bench", "demo")
# What each package may import from the others: data_prep knows no model, the card renders a run's files without
# the recipe, common serves everyone; bench and demo use the stages like any user would, and bench measures on the
# demo's synthetic speech (demo.recording).
ALLOWED = {
    "common": set(),
    "data_prep": {"common"},
    "recipe": {"common", "data_prep"},
    "model_card": {"common"},
    "bench": {"common", "data_prep", "recipe", "demo"},
    "demo": {"common", "data_prep", "recipe"},
}
# A module with a `__main__` block is a command-line module and nobody imports it, except these libraries that
# also have a small CLI of their own.
LIBRARIES_WITH_A_CLI = {"bench.report", "demo.corpus", "demo.recording"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))}


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The tree's modules that `name` imports (``from pkg import mod`` counts as importing pkg.mod)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                base_name = ".".join(base + ([node.module] if node.module else []))
            else:
                base_name = node.module or ""
            targets = [f"{base_name}.{alias.name}" for alias in node.names] + [base_name]
        else:
            continue
        for target in targets:
            # the longest prefix that is a module of the tree
            parts = target.split(".")
            while parts and ".".join(parts) not in modules:
                parts.pop()
            if parts and ".".join(parts) != name:
                found.add(".".join(parts))
    return found


def is_cli(path: Path) -> bool:
    if path.name == "__main__.py":
        return True
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) and "__name__" in ast.unparse(node.test)
        for node in tree.body
    )


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = source_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_reader_sees_imports_of_every_kind():
    """The checks below are only as good as the reader: relative, nested, `from pkg import module` forms."""
    modules = source_modules()
    training = imports_of("recipe.components.training", modules["recipe.components.training"], modules)
    assert {"recipe.components.assembly", "recipe.components.config", "data_prep.dataset"} <= training
    assert "recipe.components.precision" in imports_of(
        "recipe.components.config", modules["recipe.components.config"], modules
    )  # imported inside a function
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert is_cli(modules["recipe.train"]) and not is_cli(modules["recipe.components.training"])


def test_no_import_cycle(graph):
    assert find_cycle(graph) is None


def test_no_module_imports_a_command_line_module(graph):
    modules = source_modules()
    clis = {name for name, path in modules.items() if is_cli(path)} - LIBRARIES_WITH_A_CLI
    assert {"recipe.train", "recipe.predict", "recipe.experiments", "model_card.__main__"} <= clis
    offenders = sorted(f"{name} imports {target}" for name, targets in graph.items() for target in targets & clis)
    assert offenders == []


def test_data_flows_data_prep_to_recipe_to_model_card(graph):
    against = sorted(
        f"{name} imports {target}"
        for name, targets in graph.items()
        for target in targets
        if target.split(".")[0] != name.split(".")[0] and target.split(".")[0] not in ALLOWED[name.split(".")[0]]
    )
    assert against == []
