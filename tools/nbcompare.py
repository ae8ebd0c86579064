"""Compare an executed chapter with the outputs stored in its notebook, as nbval would.

``make test`` executes each chapter once, with papermill, for the book (``book/chapters/``).
Instead of executing it a second time under ``pytest --nbval``, the executed copy is compared
with the stored notebook (``notebooks/NN_name.ipynb``) cell by cell with nbval's own code:
its markers (``# NBVAL_IGNORE_OUTPUT``, ``# NBVAL_SKIP``, ``# NBVAL_CHECK_OUTPUT``,
``# NBVAL_RAISES_EXCEPTION`` and the matching cell tags), its stream merging
(``coalesce_streams``), its sanitizer file format, and its comparison
(``IPyNbCell.compare_outputs``: every output field but images, metadata and execution counts,
after the sanitizer's substitutions). What nbval reports for a cell, this reports too.

``python tools/nbcompare.py EXECUTED STORED [--sanitize tests/nbval_sanitize.cfg]`` prints
the differences and exits 1 when there are any.
"""

from __future__ import annotations

import copy
import sys
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import nbformat
from nbval.plugin import (
    IPyNbCell,
    coalesce_streams,
    find_comment_markers,
    find_metadata_tags,
    get_sanitize_patterns,
    nocolors,
)

ROOT = Path(__file__).resolve().parents[1]
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"
#: Output fields nbval never compares (nbval.plugin.IPyNbFile.skip_compare without --nbdime).
SKIP_COMPARE = ("metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
                "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg")
#: The cell papermill adds when parameters are passed: not in the stored notebook.
INJECTED = "injected-parameters"


class _Cell:
    """What nbval's ``IPyNbCell.compare_outputs`` reads from its cell, without a pytest session."""

    sanitize = IPyNbCell.sanitize
    compare_outputs = IPyNbCell.compare_outputs
    format_output_compare = IPyNbCell.format_output_compare

    def __init__(self, patterns: dict[str, str]):
        self.parent = SimpleNamespace(skip_compare=SKIP_COMPARE, sanitize_patterns=patterns)
        self.colors = nocolors
        self.config = None
        # no pytest assertion rewriting here: nbval falls back to printing both outputs
        self.ihook = SimpleNamespace(pytest_assertrepr_compare=lambda **kw: [])
        self.comparison_traceback: list[str] = []


def sanitize_patterns(path: str | Path | None = SANITIZE) -> dict[str, str]:
    """The regex -> replacement pairs of an nbval sanitizer file (none for None)."""
    return {} if path is None else dict(get_sanitize_patterns(Path(path).read_text(encoding="utf-8")))


def cell_options(cell) -> dict[str, bool]:
    """nbval's options for a code cell (``check``, ``skip``, ``check_exception``), as nbval sets them."""
    options = defaultdict(bool, find_metadata_tags(cell.metadata))
    options.update(dict(find_comment_markers(cell.source)))
    options.setdefault("check", True)
    return options


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and INJECTED not in c.metadata.get("tags", [])]


def _cell_problems(k: int, ran, ref, patterns: dict[str, str]) -> list[str]:
    options = cell_options(ref)
    if options["skip"]:
        return []
    errors = [o for o in ran.get("outputs", []) if o.get("output_type") == "error"]
    if errors and not options["check_exception"]:
        return [f"cell {k}: raised {errors[0].get('ename')}: {errors[0].get('evalue')}"]
    if ref.get("execution_count") is None:  # nbval: an unrun reference cell is not compared
        return [f"cell {k}: unrun reference cell has outputs"] if ref.get("outputs") else []
    if not options["check"]:
        return []
    cell = _Cell(patterns)
    test = coalesce_streams(copy.deepcopy(ran.get("outputs", [])))
    if cell.compare_outputs(test, coalesce_streams(copy.deepcopy(ref.get("outputs", [])))):
        return []
    return [f"cell {k}: outputs differ\n" + "\n".join(map(str, cell.comparison_traceback))
            + "\ninput:\n" + ref.source]


def compare_notebooks(executed: str | Path, stored: str | Path, sanitize: str | Path | None = SANITIZE) -> list[str]:
    """What nbval would report for ``stored`` if its execution had produced ``executed``.

    Parameters
    ----------
    executed : path
        The executed notebook (papermill's output, e.g. ``book/chapters/06_evaluation.ipynb``).
    stored : path
        The notebook with the stored outputs (``notebooks/06_evaluation.ipynb``).
    sanitize : path or None
        An nbval sanitizer file (``tests/nbval_sanitize.cfg``).

    Returns
    -------
    list of str
        One message per failing cell (numbered as nbval numbers code cells); empty when they agree.
        When the code cells' sources differ the executed copy is not of this notebook, and that
        is the only message.
    """
    ran = _code_cells(nbformat.read(executed, as_version=4))
    ref = _code_cells(nbformat.read(stored, as_version=4))
    patterns = sanitize_patterns(sanitize)
    differ = [k for k, (a, b) in enumerate(zip(ran, ref, strict=False)) if a.source != b.source]
    if len(ran) != len(ref) or differ:
        where = f"cell {differ[0]} differs" if differ else f"{len(ran)} code cells, not {len(ref)}"
        return [f"{executed} was not executed from {stored} as it is now ({where}): run `make book`"]
    return [p for k, (a, b) in enumerate(zip(ran, ref, strict=True)) for p in _cell_problems(k, a, b, patterns)]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    sanitize: str | None = str(SANITIZE)
    if "--sanitize" in argv:
        i = argv.index("--sanitize")
        sanitize = argv[i + 1] if i + 1 < len(argv) else None
        del argv[i:i + 2]
    if len(argv) != 2 or sanitize is None:
        print("usage: python tools/nbcompare.py EXECUTED STORED [--sanitize FILE]", file=sys.stderr)
        return 2
    problems = compare_notebooks(argv[0], argv[1], sanitize)
    for p in problems:
        print(p, end="\n\n")
    print(f"{argv[1]}: {len(problems)} problem(s)" if problems else f"{argv[1]}: outputs agree")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
