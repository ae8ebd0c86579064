"""How much code the chapters carry: code lines and loops per chapter (issue 10's budget).

``python tools/chapter_stats.py`` prints one line per chapter and the totals. A code line is
a non-blank line of a code cell of ``notebooks/NN_*.py`` that is not only a comment; a loop is
a ``for``/``while`` statement or a comprehension (list, set, dict, generator). Markdown cells
(``# %% [markdown]``) are prose and do not count.

Checks are counted apart (``check_lines``), not in the budget: the lines of top-level ``assert``
statements (a claim of the prose, asserted where it is computed) and of ``glue``/``glue_all``
calls (the prose's numbers handed to myst-nb). Issue 11 asks for both in every chapter; they
carry no logic of their own (what they glue or assert is computed by ``qdloc``).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The budget for all chapters together.
MAX_CODE_LINES = 900
MAX_LOOPS = 30

_CELL = re.compile(r"^# %%(.*)$")
_LOOPS = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def toc_chapters(toc: Path = ROOT / "_toc.yml") -> list[str]:
    """Chapter notebooks named in _toc.yml (``book/chapters/NN_name`` -> ``notebooks/NN_name.ipynb``)."""
    names = re.findall(r"file:\s*book/chapters/(\d\d_\S+)", toc.read_text())
    return [f"notebooks/{n}.ipynb" for n in names]


def code_cells(path: Path) -> list[str]:
    """The code cells of a jupytext percent script (the header and markdown cells dropped)."""
    cells: list[list[str]] = []
    kind = None
    for line in path.read_text().splitlines():
        m = _CELL.match(line)
        if m:
            kind = "markdown" if "[markdown]" in m.group(1) else "code"
            cells.append([]) if kind == "code" else None
            continue
        if kind == "code":
            cells[-1].append(line)
    return ["\n".join(c) for c in cells]


def _is_check(node: ast.stmt) -> bool:
    """A top-level ``assert``, or an expression statement calling ``glue``/``glue_all``."""
    if isinstance(node, ast.Assert):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        f = node.value.func
        return (f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")) in ("glue", "glue_all")
    return False


def chapter_stats(path: Path) -> dict[str, int]:
    """``{"code_lines": ..., "loops": ..., "check_lines": ...}`` of one chapter script."""
    lines = loops = checks = 0
    for cell in code_cells(path):
        body = "\n".join(ln for ln in cell.splitlines() if not ln.lstrip().startswith(("%", "!")))
        tree = ast.parse(body)
        in_check = set()
        for node in tree.body:
            if _is_check(node):
                in_check.update(range(node.lineno, node.end_lineno + 1))
        for i, ln in enumerate(body.splitlines(), start=1):
            if ln.strip() and not ln.strip().startswith("#"):
                checks += i in in_check
                lines += i not in in_check
        loops += sum(isinstance(node, _LOOPS) for node in ast.walk(tree))
    return {"code_lines": lines, "loops": loops, "check_lines": checks}


def all_stats(notebooks: Path = ROOT / "notebooks") -> dict[str, dict[str, int]]:
    """The statistics of every chapter ``NN_*.py`` in ``notebooks``."""
    return {p.stem: chapter_stats(p) for p in sorted(notebooks.glob("[0-9][0-9]_*.py"))}


def main() -> int:
    stats = all_stats()
    for name, s in stats.items():
        print(f"{name:28s} {s['code_lines']:5d} code lines {s['loops']:4d} loops "
              f"{s['check_lines']:5d} glue/assert lines")
    lines = sum(s["code_lines"] for s in stats.values())
    loops = sum(s["loops"] for s in stats.values())
    checks = sum(s["check_lines"] for s in stats.values())
    print(f"{'all chapters':28s} {lines:5d} code lines {loops:4d} loops {checks:5d} glue/assert lines "
          f"(budget {MAX_CODE_LINES} and {MAX_LOOPS}; checks not counted)")
    return 0 if lines <= MAX_CODE_LINES and loops <= MAX_LOOPS else 1


if __name__ == "__main__":
    sys.exit(main())
