"""The status page generator."""

import nbformat
import pytest

from tools.bookstatus import main, render, status_rows


def _nb(path, duration, exception=None):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 01 · Scanner timing\ntext")]
    nb.metadata["papermill"] = {"duration": duration, "exception": exception, "end_time": "2026-11-26T05:52:25.1+00:00"}
    nbformat.write(nb, path)


def test_rows_and_page(tmp_path):
    _nb(tmp_path / "01_a.ipynb", 3.04)
    _nb(tmp_path / "02_b.ipynb", 1.5, exception=True)
    rows = status_rows(tmp_path)
    assert [r["chapter"] for r in rows] == ["01_a", "02_b"]
    assert rows[0]["title"] == "01 · Scanner timing" and rows[0]["ok"] and not rows[1]["ok"]
    page = render(rows)
    assert "| 3.0 | ok |" in page and "FAILED" in page and "Total: 4.5 s for 2 chapters." in page
    assert main([str(tmp_path)]) == 0 and (tmp_path / "status.md").read_text() == page


def test_unexecuted_chapter_is_an_error(tmp_path, capsys):
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "01_a.ipynb")
    with pytest.raises(ValueError, match="no papermill metadata"):
        status_rows(tmp_path)
    assert main([str(tmp_path)]) == 2
    assert main([str(tmp_path / "empty")]) == 2
