"""The chapters as papermill runs them: parameters, results files, reruns at another D."""

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
from tools.chapter_stats import toc_chapters  # noqa: E402


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
