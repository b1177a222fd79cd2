"""A house the next engineer can live in (issue 20): no function in ``app/`` longer than 80
lines, and the workstation window under 900 lines.

When one of these fails, split by job (a helper that does one thing, a collaborator class in
its own module; see docs/ARCHITECTURE-NOTES.md, Application), not by cutting at line 80.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app"
MAX_FUNCTION_LINES = 80
MAX_MAIN_WINDOW_LINES = 900


def _long_functions(root: Path, limit: int) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_in_app_is_longer_than_80_lines():
    long = _long_functions(APP, MAX_FUNCTION_LINES)
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines (split them into helpers that each do one thing):\n" + "\n".join(long)


def test_main_window_stays_under_900_lines():
    n = len((APP / "qt" / "main_window.py").read_text(encoding="utf-8").splitlines())
    assert n < MAX_MAIN_WINDOW_LINES, (
        f"app/qt/main_window.py has {n} lines (limit {MAX_MAIN_WINDOW_LINES}): move a cohesive group of methods "
        "into a collaborator of its own (app/qt/*_controller.py, *_view.py)")


def test_the_check_sees_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "m.py").write_text(f"def f():\n{body}\n\n\ndef g():\n    return 1\n", encoding="utf-8")
    assert _long_functions(tmp_path, MAX_FUNCTION_LINES) == [f"{tmp_path.name}/m.py:1 f ({MAX_FUNCTION_LINES + 1} lines)"]
