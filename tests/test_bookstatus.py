"""The status page generator: times, results, the cells nbval leaves out, and run_time_s."""

import os
import warnings
from pathlib import Path

import nbformat
import pytest

from tools import nbcompare
from tools.bookstatus import main, nbval_counts, nbval_options, render, run_time_s, status_rows

ROOT = Path(__file__).resolve().parents[1]


def _nb(path, duration, exception=None, cells=()):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 01 · Scanner timing\ntext"),
                *(nbformat.v4.new_code_cell(src) for src in cells)]
    nb.metadata["papermill"] = {"duration": duration, "exception": exception, "end_time": "2026-11-26T05:52:25.1+00:00"}
    nbformat.write(nb, path)


def _stored(path, start="05:13:08.5", end="05:13:11.25"):
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("x = 1", execution_count=1)
    code.metadata["execution"] = {"iopub.execute_input": f"2026-11-30T{start}Z",
                                  "shell.execute_reply": f"2026-11-30T{end}Z"}
    nb.cells = [code]
    nbformat.write(nb, path)


MARKED = ["x = 1", "# NBVAL_IGNORE_OUTPUT\nplot()", "  # NBVAL_IGNORE_OUTPUT  \nt()", "# NBVAL_SKIP\nslow()",
          "# NBVAL_IGNORE_OUTPUT\n# NBVAL_CHECK_OUTPUT\nx", "y = 1  # NBVAL_IGNORE_OUTPUT (not a line of its own)"]


def test_rows_and_page(tmp_path):
    _nb(tmp_path / "01_a.ipynb", 3.04, cells=MARKED)
    _nb(tmp_path / "02_b.ipynb", 1.5, exception=True)
    stored = tmp_path / "stored"
    stored.mkdir()
    _stored(stored / "01_a.ipynb")
    rows = status_rows(tmp_path, notebooks=stored)
    assert [r["chapter"] for r in rows] == ["01_a", "02_b"]
    assert rows[0]["title"] == "01 · Scanner timing" and rows[0]["ok"] and not rows[1]["ok"]
    assert (rows[0]["code_cells"], rows[0]["ignored"], rows[0]["skipped"]) == (6, 2, 1)
    assert rows[0]["stored_s"] == pytest.approx(2.75) and rows[1]["stored_s"] is None
    page = render(rows)
    assert "| 3.0 | ok | 2026-11-26 05:52:25 | 2.8 | 6 | 2 | 1 |" in page
    assert "| 1.5 | FAILED | 2026-11-26 05:52:25 | - | 0 | 0 | 0 |" in page
    assert "Total: 4.5 s for 2 chapters." in page and "except 2 cells whose output is not checked" in page
    # main: the stored chapters of the project (no 01_a there)
    assert main([str(tmp_path)]) == 0
    assert (tmp_path / "status.md").read_text() == render(status_rows(tmp_path)) != page
    assert "| 3.0 | ok | 2026-11-26 05:52:25 | - | 6 | 2 | 1 |" in (tmp_path / "status.md").read_text()


def test_unchanged_page_is_not_rewritten(tmp_path):
    _nb(tmp_path / "01_a.ipynb", 3.0)
    assert main([str(tmp_path)]) == 0
    out = tmp_path / "status.md"
    os.utime(out, (1_000_000, 1_000_000))
    assert main([str(tmp_path)]) == 0 and out.stat().st_mtime == 1_000_000  # make sees no change
    _nb(tmp_path / "01_a.ipynb", 4.0)
    assert main([str(tmp_path)]) == 0 and out.stat().st_mtime != 1_000_000


def test_unexecuted_chapter_is_an_error(tmp_path):
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "01_a.ipynb")
    with pytest.raises(ValueError, match="no papermill metadata"):
        status_rows(tmp_path)
    assert main([str(tmp_path)]) == 2
    assert main([str(tmp_path / "empty")]) == 2


def test_run_time_s(tmp_path):
    _stored(tmp_path / "07_tracking.ipynb", "05:00:00", "05:04:58.5")
    assert run_time_s("07_tracking", tmp_path) == pytest.approx(298.5)
    assert run_time_s("07", tmp_path) == pytest.approx(298.5)
    with pytest.raises(ValueError, match=r"chapter='08': expected the stem or number of one chapter"):
        run_time_s("08", tmp_path)


def test_run_time_s_is_the_status_pages_stored_time():
    rows = status_rows(ROOT / "notebooks", stored=True)
    assert len(rows) >= 8
    for r in rows:
        assert run_time_s(r["chapter"]) == r["duration_s"] > 0


def test_markers_read_as_nbval_reads_them():
    """bookstatus reads nbval's markers without nbval (the preview has none): same options."""
    cells = [nbformat.v4.new_code_cell(src) for src in MARKED]
    tagged = nbformat.v4.new_code_cell("z")
    tagged.metadata["tags"] = ["nbval-ignore-output"]
    cells.append(tagged)
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells += [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    for cell in cells:
        with warnings.catch_warnings():  # nbval warns about IGNORE then CHECK in one cell (MARKED[4])
            warnings.filterwarnings("ignore", "Conflicting comment markers", UserWarning)
            ours, nbval = nbval_options(cell), nbcompare.cell_options(cell)
        assert {k: bool(nbval[k]) for k in ours} == ours, cell.source


def test_the_stored_chapters_ignore_few_cells():
    """The count the status page shows, on the stored chapters: every chapter checks most cells."""
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        counts = nbval_counts(nbformat.read(path, as_version=4))
        assert counts["ignored"] + counts["skipped"] < counts["code_cells"] / 2, (path.name, counts)
