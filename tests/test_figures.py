"""Every figure a chapter draws is stored in its notebook and shown on its built page.

Which cells draw a figure is read from the chapter's jupytext source (``notebooks/NN_*.py``),
not from the outputs that are being checked: a code cell draws a figure when it calls
``plt.show()`` or a ``plot_*`` function of :mod:`qdloc.plots` (imported by name,
``from qdloc.plots.dataset import plot_montage``, or through a module alias,
``from qdloc.plots import sweep as ps``). Animations (``to_jshtml``) and widgets are not
figures here.

* the stored notebook ``notebooks/NN_*.ipynb`` (what nbval and ``make preview`` use) holds an
  image output (PNG or SVG) in each such cell;
* the built page ``_build/html/book/chapters/NN_*.html`` (marker ``book``: it needs
  ``make html``) shows as many images from cell outputs as the chapter has figure cells.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import jupytext
import pytest

from tools.chapter_stats import toc_chapters

ROOT = Path(__file__).resolve().parents[1]
IMAGE_MIMES = ("image/png", "image/svg+xml")
#: an image of a cell output on a built page (myst-nb copies it to _images/)
PAGE_IMAGE_RE = re.compile(r"""<img\s[^>]*src=["'](?:\.\./)*_images/[^"']+\.(?:png|svg)["']""")
CHAPTERS = [Path(c).stem for c in toc_chapters()]


def plots_names(tree: ast.AST) -> tuple[set[str], set[str]]:
    """Names of ``plot_*`` functions and module aliases imported from qdloc.plots."""
    functions, modules = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("qdloc.plots"):
            for a in node.names:
                name = a.asname or a.name
                (modules if node.module == "qdloc.plots" else functions).add(name)
        elif isinstance(node, ast.Import):
            modules |= {a.asname for a in node.names if a.name.startswith("qdloc.plots.") and a.asname}
    return {f for f in functions if f.startswith("plot_")}, modules


def draws_figure(source: str, functions: set[str], modules: set[str]) -> bool:
    """Whether a cell's code calls ``plt.show()`` or a qdloc.plots ``plot_*`` function."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and f.id in functions:
            return True
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            if (f.value.id, f.attr) == ("plt", "show"):
                return True
            if f.value.id in modules and f.attr.startswith("plot_"):
                return True
    return False


def figure_cells(py_path: Path) -> list[str]:
    """Sources of the code cells of a jupytext chapter that draw a figure, in order."""
    nb = jupytext.read(py_path)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    functions, modules = plots_names(ast.parse("\n".join(s for s in code if "import" in s)))
    return [s for s in code if draws_figure(s, functions, modules)]


def image_outputs(cell: dict) -> int:
    return sum(any(m in o.get("data", {}) for m in IMAGE_MIMES) for o in cell.get("outputs", []))


def test_the_rule_finds_figure_cells():
    functions, modules = plots_names(ast.parse(
        "from qdloc.plots.dataset import plot_montage, style\nfrom qdloc.plots import sweep as ps\n"
        "import qdloc.plots.training as pt\nimport matplotlib.pyplot as plt"))
    assert functions == {"plot_montage"}
    assert modules == {"ps", "pt"}
    for drawn in ("fig = plot_montage(x)", "ps.plot_auc_maps(t)", "if ok:\n    pt.plot_views(v)",
                  "x = 1\nplt.show()"):
        assert draws_figure(drawn, functions, modules), drawn
    for not_drawn in ("style(x)", "ps.lead_summary(g)", "other.plot_x(1)", "plot_other(1)",
                      "# plt.show()", "HTML(anim.to_jshtml())"):
        assert not draws_figure(not_drawn, functions, modules), not_drawn


def test_every_chapter_is_checked():
    assert len(CHAPTERS) >= 8, CHAPTERS
    assert sum(len(figure_cells(ROOT / "notebooks" / f"{c}.py")) for c in CHAPTERS) >= 20


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_stored_notebook_holds_every_figure(chapter):
    figures = figure_cells(ROOT / "notebooks" / f"{chapter}.py")
    cells = json.loads((ROOT / "notebooks" / f"{chapter}.ipynb").read_text())["cells"]
    by_source = {"".join(c["source"]).strip(): c for c in cells if c["cell_type"] == "code"}
    missing = []
    for source in figures:
        cell = by_source.get(source.strip())
        assert cell is not None, f"{chapter}.ipynb is not in sync with its .py: no cell\n{source}"
        if image_outputs(cell) == 0:
            missing.append(next((ln.strip() for ln in source.splitlines() if "plot_" in ln),
                                source.strip().splitlines()[-1]))
    assert not missing, (f"{chapter}.ipynb: {len(missing)} of {len(figures)} figure cells store no "
                         f"image (re-execute with jupytext --sync --execute): {missing}")


@pytest.mark.book
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_built_page_shows_every_figure(chapter):
    page = ROOT / "_build" / "html" / "book" / "chapters" / f"{chapter}.html"
    if not page.is_file():
        pytest.fail(f"the book is not built ({page} is missing): run `make html`", pytrace=False)
    n_figures = len(figure_cells(ROOT / "notebooks" / f"{chapter}.py"))
    n_images = len(PAGE_IMAGE_RE.findall(page.read_text()))
    assert n_images == n_figures, f"{page.name}: {n_images} images, {n_figures} figure cells in {chapter}.py"
