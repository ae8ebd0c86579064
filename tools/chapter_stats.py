"""How much code the chapters carry: code lines and loops per chapter (issue 10's budget).

``python tools/chapter_stats.py`` prints one line per chapter and the totals. A code line is
a non-blank line of a code cell of ``notebooks/NN_*.py`` that is not only a comment; a loop is
a ``for``/``while`` statement or a comprehension (list, set, dict, generator). Markdown cells
(``# %% [markdown]``) are prose and do not count.
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


def chapter_stats(path: Path) -> dict[str, int]:
    """``{"code_lines": ..., "loops": ...}`` of one chapter script."""
    lines = loops = 0
    for cell in code_cells(path):
        body = "\n".join(ln for ln in cell.splitlines() if not ln.lstrip().startswith(("%", "!")))
        lines += sum(1 for ln in body.splitlines() if ln.strip() and not ln.strip().startswith("#"))
        loops += sum(isinstance(node, _LOOPS) for node in ast.walk(ast.parse(body)))
    return {"code_lines": lines, "loops": loops}


def all_stats(notebooks: Path = ROOT / "notebooks") -> dict[str, dict[str, int]]:
    """The statistics of every chapter ``NN_*.py`` in ``notebooks``."""
    return {p.stem: chapter_stats(p) for p in sorted(notebooks.glob("[0-9][0-9]_*.py"))}


def main() -> int:
    stats = all_stats()
    for name, s in stats.items():
        print(f"{name:28s} {s['code_lines']:5d} code lines {s['loops']:4d} loops")
    lines = sum(s["code_lines"] for s in stats.values())
    loops = sum(s["loops"] for s in stats.values())
    print(f"{'all chapters':28s} {lines:5d} code lines {loops:4d} loops "
          f"(budget {MAX_CODE_LINES} and {MAX_LOOPS})")
    return 0 if lines <= MAX_CODE_LINES and loops <= MAX_LOOPS else 1


if __name__ == "__main__":
    sys.exit(main())
