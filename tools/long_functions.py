"""Functions longer than a limit in a source tree: ``python tools/long_functions.py [DIR] [LIMIT]``."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The longest function (decorators, signature, docstring and body) the package allows.
MAX_LINES = 100


def long_functions(root: Path = ROOT / "qdloc", limit: int = MAX_LINES) -> list[tuple[str, int]]:
    """``[("path:line name", lines), ...]`` for every function over ``limit`` lines."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                n = node.end_lineno - start + 1
                if n > limit:
                    found.append((f"{path.relative_to(root.parent)}:{start} {node.name}", n))
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else ROOT / "qdloc"
    limit = int(argv[1]) if len(argv) > 1 else MAX_LINES
    found = long_functions(root, limit)
    for where, n in found:
        print(f"{where}: {n} lines")
    print(f"{len(found)} functions over {limit} lines")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
