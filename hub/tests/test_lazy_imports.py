"""Imports of hub modules inside functions are few, and each one says why.

An import inside a function hides a dependency from the reader of the module's head, and
is the easy way to hide a circle instead of untangling it (import-linter's layers
contract keeps the layers; this keeps the imports where it can see them at a glance).
At most a handful are allowed, each a deliberate lazy import for start-up time, marked by
a comment on the line above it that starts with ``# Lazy:`` and gives the reason. (The
CLI defers whole command modules through :mod:`spokehub.cli.lazy` instead.)
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

HUB = Path(__file__).resolve().parents[1] / "src" / "spokehub"
MOST = 5
MARK = "# Lazy:"


def function_level_hub_imports(root: Path) -> Iterator[tuple[str, int, str]]:
    """``(file, line, reason)`` for every import of a hub module inside a function under
    ``root``; ``reason`` is the ``# Lazy:`` comment above it, or ``""``."""
    for path in sorted(root.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for func in ast.walk(ast.parse(source, filename=str(path))):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if not _imports_the_hub(node):
                    continue
                above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
                reason = above.removeprefix(MARK).strip() if above.startswith(MARK) else ""
                yield str(path.relative_to(root.parent)), node.lineno, reason


def _imports_the_hub(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] == "spokehub"
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] == "spokehub" for alias in node.names)
    return False


def test_every_function_level_import_of_the_hub_says_why_it_is_lazy() -> None:
    found = sorted(set(function_level_hub_imports(HUB)))
    unexplained = [f"{path}:{line}" for path, line, reason in found if not reason]
    assert unexplained == [], f"import at the module's head, or say '{MARK} <why>' above"
    assert len(found) <= MOST, [f"{path}:{line}" for path, line, _ in found]


def test_the_scan_sees_nested_and_relative_imports(tmp_path: Path) -> None:
    package = tmp_path / "spokehub"
    package.mkdir()
    (package / "m.py").write_text(
        "import json\n"
        "from spokehub import config\n"
        "def f():\n"
        "    import json\n"
        "    # Lazy: keeps start-up short\n"
        "    from .store import engine\n"
        "    def g():\n"
        "        import spokehub.pipeline\n",
        encoding="utf-8",
    )
    assert sorted(set(function_level_hub_imports(package))) == [
        ("spokehub/m.py", 6, "keeps start-up short"),
        ("spokehub/m.py", 8, ""),
    ]
