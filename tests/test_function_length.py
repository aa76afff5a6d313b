"""No function or method of the packages is longer than 80 lines (tests excluded): long ones are split into named
steps. Lines are counted from the `def` (decorators excluded) to the last line of the body, as `ast` gives them."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "data_prep", "recipe", "model_card", "bench", "demo")
MAX_LINES = 80


def long_functions(source: str, filename: str = "<source>") -> list[tuple[str, int]]:
    """(name, lines) of every function in `source` (nested ones too) longer than MAX_LINES."""
    return [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(ast.parse(source, filename))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > MAX_LINES
    ]


def test_the_counter_sees_long_functions_and_methods():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))  # def line + 80 = 81 lines
    assert long_functions(f"def f():\n{body}\n") == [("f", MAX_LINES + 1)]
    short = "\n".join(f"        x{i} = {i}" for i in range(MAX_LINES - 1))
    method = "\n".join(f"        y{i} = {i}" for i in range(MAX_LINES))
    assert long_functions(f"class C:\n    def ok(self):\n{short}\n    def long(self):\n{method}\n") == [
        ("long", MAX_LINES + 1)
    ]


def test_no_function_over_80_lines_outside_tests():
    offenders = [
        f"{path.relative_to(REPO)}: {name} ({lines} lines)"
        for package in PACKAGES
        for path in sorted((REPO / package).rglob("*.py"))
        for name, lines in long_functions(path.read_text(encoding="utf-8"), str(path))
    ]
    assert offenders == []
