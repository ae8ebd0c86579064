"""`make preview`: the book from the stored outputs, in a small environment without torch.

Cheap checks of what the preview relies on: its requirements (pinned like the full
environment, no torch, and every third-party module that the API page's autodoc imports at
a qdloc module's top, or mocked), the recipe as make would run it (``make -n``: the stored
chapters copied into a tree of its own, never into book/chapters/, the status page from their
stored execution, the same ``-W -n`` build), and the status page for stored notebooks.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools.bookstatus import main, render, status_rows  # noqa: E402

PREVIEW_STAMP = ".venv-preview/.qdloc-preview-installed"
#: Modules Sphinx mocks for the preview's API page (the Makefile's PREVIEW_MOCK).
MOCKED = {"torch", "torchvision"}


def pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a requirements file, as {lower-case name: version}."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"{path.name}: {line!r} is not pinned with =="
            out[name.strip().lower()] = version.strip()
    return out


def test_preview_requirements_are_pinned_like_the_full_environment_and_have_no_torch():
    preview = pins(ROOT / "requirements-preview.txt")
    full = pins(ROOT / "requirements.txt")
    constraints = pins(ROOT / "constraints.txt")
    assert not {"torch", "torchvision"} & set(preview)
    assert {"jupyter-book", "django-static-mathjax", "numpy", "nbformat"} <= set(preview)
    for name, version in preview.items():
        assert constraints.get(name) == version, name
        assert full.get(name, version) == version, name


def top_level_imports(path: Path) -> set[str]:
    """Top-level names of the modules ``path`` imports at module level (not in functions)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_module_level_import_of_qdloc_is_in_the_preview_or_mocked():
    preview = {name.replace("-", "_") for name in pins(ROOT / "requirements-preview.txt")}
    imported = set().union(*(top_level_imports(p) for p in (ROOT / "qdloc").rglob("*.py")))
    third_party = imported - set(sys.stdlib_module_names) - {"qdloc", "__future__"}
    assert {"numpy", "torch"} <= third_party  # the scan sees the package's imports
    assert third_party - MOCKED <= preview, "add these to requirements-preview.txt or mock them"
    makefile = (ROOT / "Makefile").read_text()
    mock = re.search(r"^PREVIEW_MOCK\s*:=\s*(.*)$", makefile, re.M)
    assert mock and set(mock.group(1).split()) == MOCKED


def make_dry_run(*args: str) -> list[str]:
    """The commands ``make preview`` would run (``-n``), the environment taken as installed."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    command = ["make", "-s", "-n", "-C", str(ROOT), "-o", PREVIEW_STAMP, "preview", *args]
    run = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return run.stdout.splitlines()


def test_preview_recipe_builds_the_stored_chapters_in_a_tree_of_its_own():
    lines = make_dry_run()
    text = "\n".join(lines)
    chapters = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert len(chapters) >= 8
    copy = next(line for line in lines if line.startswith("cp notebooks/"))
    assert copy.split()[1:-1] == [f"notebooks/{c}" for c in chapters]
    assert copy.split()[-1] == "_build/preview/book/chapters/"
    assert "book/chapters" not in text.replace("_build/preview/book/chapters", "")
    assert "papermill" not in text and "pip install" not in text
    assert "tools/bookstatus.py --stored _build/preview/book/chapters" in text
    build = text[text.index("jupyter-book build"):]
    assert build.startswith("jupyter-book build _build/preview --path-output .")
    assert " -W -n " in build.replace("\\\n", " ")
    assert ".venv-preview/bin/jupyter-book" in text and ".venv/bin" not in text


def _stored_nb(path: Path, outputs=None, count=1):
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("x = 1", execution_count=count, outputs=outputs or [])
    code.metadata["execution"] = {"iopub.execute_input": "2026-11-30T05:13:08.500000Z",
                                  "shell.execute_reply": "2026-11-30T05:13:10.000000Z"}
    last = nbformat.v4.new_code_cell("y = 2", execution_count=count)
    last.metadata["execution"] = {"iopub.execute_input": "2026-11-30T05:13:10.100000Z",
                                  "shell.execute_reply": "2026-11-30T05:13:11.250000Z"}
    nb.cells = [nbformat.v4.new_markdown_cell("# 01 · Scanner timing\ntext"), code, last]
    nbformat.write(nb, path)


def test_status_page_of_stored_notebooks(tmp_path):
    _stored_nb(tmp_path / "01_a.ipynb")
    error = nbformat.v4.new_output("error", ename="ValueError", evalue="bad", traceback=[])
    _stored_nb(tmp_path / "02_b.ipynb", outputs=[error])
    _stored_nb(tmp_path / "03_c.ipynb", count=None)
    rows = status_rows(tmp_path, stored=True)
    assert [r["chapter"] for r in rows] == ["01_a", "02_b", "03_c"]
    assert rows[0]["duration_s"] == pytest.approx(2.75)
    assert rows[0]["ok"] and not rows[1]["ok"] and not rows[2]["ok"]
    assert rows[0]["end_time"].startswith("2026-11-30T05:13:11")
    page = render(rows, stored=True)
    assert "executed nothing" in page and "| 2.8 | ok | 2026-11-30 05:13:11 |" in page
    assert page.count("FAILED") == 2 and "papermill at its default" not in page
    assert main(["--stored", str(tmp_path)]) == 0
    assert (tmp_path / "status.md").read_text() == page
    with pytest.raises(ValueError, match="no papermill metadata"):
        status_rows(tmp_path)


def test_stored_notebook_without_execution_records_is_an_error(tmp_path, capsys):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, tmp_path / "01_a.ipynb")
    assert main(["--stored", str(tmp_path)]) == 2
    assert "no stored execution records" in capsys.readouterr().err


def test_the_stored_chapters_have_execution_records():
    rows = status_rows(ROOT / "notebooks", stored=True)
    assert len(rows) >= 8 and all(r["ok"] for r in rows)
