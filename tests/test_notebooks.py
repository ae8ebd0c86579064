"""The chapters as papermill runs them: parameters, results files, reruns at another D, and the
executed chapters of the book against the outputs stored in notebooks/*.ipynb (nbval's comparison,
tools/nbcompare.py: each chapter is executed once, by `make book`)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
sys.path.insert(0, str(ROOT))
from tools import nbcompare  # noqa: E402
from tools.chapter_stats import toc_chapters  # noqa: E402

EXECUTED = ROOT / "book" / "chapters"
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"
CHAPTERS = toc_chapters()


def run_papermill(nb: str, out: Path, **params) -> Path:
    args = [sys.executable, "-m", "papermill", "--cwd", str(NOTEBOOKS), "-k", "python3", "--no-progress-bar",
            str(NOTEBOOKS / nb), str(out)]
    for k, v in params.items():
        args += ["-p", k, str(v)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def test_every_chapter_is_paired_and_in_the_toc():
    chapters = toc_chapters()
    assert len(chapters) >= 3
    on_disk = sorted(p.relative_to(ROOT).as_posix() for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert sorted(chapters) == on_disk
    for c in chapters:
        nb = nbformat.read(ROOT / c, as_version=4)
        assert (ROOT / c).with_suffix(".py").exists(), f"{c} has no paired .py"
        assert "py:percent" in nb.metadata.get("jupytext", {}).get("formats", ""), c
        tagged = [cell for cell in nb.cells if "parameters" in cell.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{c} needs exactly one cell tagged 'parameters'"
        assert re.search(r"^seed\s*=", tagged[0].source, re.M), f"{c}: parameters cell has no seed"
        # stored outputs exist (the book and nbval rely on them)
        assert any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), c


@pytest.mark.notebook
@pytest.mark.parametrize("D", [0.5, 1.75])
def test_random_walk_chapter_follows_D(tmp_path, D):
    """Rerun chapter 02 with another D via papermill: the measured MSD slope follows it."""
    run_papermill("02_random_walks.ipynb", tmp_path / "02.ipynb", D=D, results_dir=str(tmp_path))
    res = json.loads((tmp_path / "02_random_walks.json").read_text())
    assert res["D_um2_per_s"] == D
    # the chapter's ensemble MSD fit: within 5% of D (its default ensemble is large)
    assert abs(res["D_fit_um2_per_s"] / D - 1) < 0.05, res


@pytest.mark.notebook
def test_readme_papermill_line_runs_as_written():
    """The README's one-line rerun of chapter 03 at D = 1.75, run exactly as printed there."""
    readme = (ROOT / "README.md").read_text()
    lines = [ln for ln in readme.splitlines() if ln.startswith(".venv/bin/papermill") and "03_" in ln]
    assert len(lines) == 1, lines
    line = lines[0]
    out_dir = Path(re.search(r"-p results_dir (\S+)", line).group(1))
    result = out_dir / "03_psf_photon_counts.json"
    if result.exists():
        result.unlink()
    r = subprocess.run(line, shell=True, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(result.read_text())
    assert res["D_um2_per_s"] == 1.75


# ---------------------------------------------------------------- executed chapters vs stored outputs

@pytest.mark.book
@pytest.mark.parametrize("chapter", CHAPTERS, ids=[Path(c).stem for c in CHAPTERS])
def test_executed_chapter_matches_stored_outputs(chapter):
    """What `pytest --nbval` checks, on the chapter that `make book` executed (not a second run)."""
    executed = EXECUTED / Path(chapter).name
    assert executed.exists(), f"{executed} is missing: run `make book` first (make test does)"
    problems = nbcompare.compare_notebooks(executed, ROOT / chapter, SANITIZE)
    assert not problems, "\n\n".join(problems)


def test_the_book_tests_every_chapter():
    assert len(CHAPTERS) >= 8, CHAPTERS


def _pair(tmp_path, cells):
    """A stored notebook and an executed copy: cells are (source, stored outputs, executed outputs)."""
    stored, ran = nbformat.v4.new_notebook(), nbformat.v4.new_notebook()
    for k, (src, ref, out) in enumerate(cells):
        stored.cells.append(nbformat.v4.new_code_cell(src, execution_count=k + 1, outputs=ref))
        ran.cells.append(nbformat.v4.new_code_cell(src, execution_count=k + 1, outputs=out))
    nbformat.write(stored, tmp_path / "stored.ipynb")
    nbformat.write(ran, tmp_path / "ran.ipynb")
    return tmp_path / "ran.ipynb", tmp_path / "stored.ipynb"


def _out(text, name="stdout"):
    return nbformat.v4.new_output("stream", name=name, text=text)


def _result(text, png=None):
    data = {"text/plain": text, **({"image/png": png} if png else {})}
    return nbformat.v4.new_output("execute_result", data=data, execution_count=1)


def test_compare_equal_and_different_outputs(tmp_path):
    same = ("print(1)", [_out("1\n")], [_out("1\n")])
    assert nbcompare.compare_notebooks(*_pair(tmp_path, [same, same]), SANITIZE) == []
    other = ("x", [_result("0.512")], [_result("0.513")])
    problems = nbcompare.compare_notebooks(*_pair(tmp_path, [same, other]), SANITIZE)
    assert len(problems) == 1 and problems[0].startswith("cell 1: outputs differ")
    assert "0.512" in problems[0] and "0.513" in problems[0]
    missing = ("print(2)", [_out("2\n")], [])
    assert "Missing output fields" in nbcompare.compare_notebooks(*_pair(tmp_path, [missing]), SANITIZE)[0]


def test_compare_follows_nbval_markers_and_sanitizer(tmp_path):
    cells = [
        ("# NBVAL_IGNORE_OUTPUT\nt", [_out("3.1 s\n")], [_out("2.9 s\n")]),
        ("# NBVAL_SKIP\nslow()", [_out("a\n")], [_out("b\n")]),
        ("bench()", [_out("12.5 ms per image\n")], [_out("9 ms per image\n")]),  # tests/nbval_sanitize.cfg
        ("plot()", [_result("<Figure>", png="AAAA")], [_result("<Figure>", png="BBBB")]),  # images not compared
        ("print('a'); print('b')", [_out("a\nb\n")], [_out("a\n"), _out("b\n")]),  # streams merged
    ]
    assert nbcompare.compare_notebooks(*_pair(tmp_path, cells), SANITIZE) == []
    assert nbcompare.compare_notebooks(*_pair(tmp_path, cells[2:3]), None) != []  # without the sanitizer


def test_compare_reports_errors_and_stale_copies(tmp_path):
    err = nbformat.v4.new_output("error", ename="ValueError", evalue="bad", traceback=[])
    problems = nbcompare.compare_notebooks(*_pair(tmp_path, [("f()", [], [err])]), SANITIZE)
    assert problems == ["cell 0: raised ValueError: bad"]
    ran, stored = _pair(tmp_path, [("a = 1", [], []), ("b = 2", [], [])])
    nb = nbformat.read(stored, as_version=4)
    nb.cells[1].source = "b = 3"
    nbformat.write(nb, stored)
    (problem,) = nbcompare.compare_notebooks(ran, stored, SANITIZE)
    assert "was not executed from" in problem and "cell 1 differs" in problem
    # papermill's injected parameters cell is not part of the stored notebook
    ran, stored = _pair(tmp_path, [("a = 1", [], [])])
    nb = nbformat.read(ran, as_version=4)
    injected = nbformat.v4.new_code_cell("a = 2")
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(0, injected)
    nbformat.write(nb, ran)
    assert nbcompare.compare_notebooks(ran, stored, SANITIZE) == []


@pytest.mark.notebook
def test_compare_agrees_with_nbval(tmp_path):
    """nbval executing a notebook, and nbcompare on an executed copy, fail the same cells."""
    stored = nbformat.v4.new_notebook()
    sources = ["print(6 * 7)", "print('%.2f' % 0.5)", "# NBVAL_IGNORE_OUTPUT\nprint(1)", "print('%d ms per loop' % 3)"]
    refs = [[_out("42\n")], [_out("0.51\n")], [_out("2\n")], [_out("7 ms per loop\n")]]
    stored.cells = [nbformat.v4.new_code_cell(s, execution_count=k + 1, outputs=o)
                    for k, (s, o) in enumerate(zip(sources, refs, strict=True))]
    nbformat.write(stored, tmp_path / "stored.ipynb")
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q", "--nbval",
                        "--nbval-current-env", "--nbval-sanitize-with", str(SANITIZE), str(tmp_path / "stored.ipynb"),
                        "-o", "addopts=", "--rootdir", str(tmp_path)],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    failed = sorted(int(m) for m in re.findall(r"FAILED .*::Cell (\d+)", r.stdout))
    assert failed == [1], r.stdout[-3000:]
    ran = run_papermill_at(tmp_path / "stored.ipynb", tmp_path / "ran.ipynb")
    problems = nbcompare.compare_notebooks(ran, tmp_path / "stored.ipynb", SANITIZE)
    assert [int(p.split(":")[0].split()[1]) for p in problems] == failed


def run_papermill_at(nb: Path, out: Path) -> Path:
    args = [sys.executable, "-m", "papermill", "--cwd", str(nb.parent), "-k", "python3", "--no-progress-bar",
            str(nb), str(out)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return out
